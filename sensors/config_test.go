package sensors

import (
	"errors"
	"testing"
	"time"
)

func TestDefaultReconnect(t *testing.T) {
	const defMin, defMax = time.Second, time.Minute
	for _, tc := range []struct{ min, max, wantMin, wantMax time.Duration }{
		{0, 0, defMin, defMax},
		{0, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond}, // max alone is honoured
		{2 * time.Minute, 0, 2 * time.Minute, 2 * time.Minute},                      // max at least min
		{3 * time.Second, 10 * time.Second, 3 * time.Second, 10 * time.Second},
	} {
		min, max := tc.min, tc.max
		DefaultReconnect(&min, &max, defMin, defMax)
		if min != tc.wantMin || max != tc.wantMax {
			t.Errorf("DefaultReconnect(%v, %v) = %v, %v; want %v, %v", tc.min, tc.max, min, max, tc.wantMin, tc.wantMax)
		}
	}
}

func TestConfigError(t *testing.T) {
	err := ConfigErr("lines", "fields.t.type", "%q is not a type", "x")
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "fields.t.type" || err.Error() != `lines: fields.t.type: "x" is not a type` || errors.Unwrap(err).Error() != `"x" is not a type` {
		t.Fatalf("%v", err)
	}
	if got := ConfigErr("", "baud", "required").Error(); got != "baud: required" {
		t.Fatalf("%q", got)
	}
}
