package conditions

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigErrors(t *testing.T) {
	zones := []Zone{rotterdam}
	temp := func(mut func(*Rule)) Config {
		r := Rule{Name: "warm", Type: TypeTemperature, Sensors: []string{"reefer-1"}, AboveC: ptr(8.0), Duration: time.Hour}
		mut(&r)
		return Config{Zones: zones, Rules: []Rule{{Name: "quiet", Type: TypeSilence, Sensors: []string{"*"}, After: time.Hour}, r}}
	}
	tests := []struct {
		name string
		cfg  Config
		key  string
		msg  string
	}{
		{"no name", temp(func(r *Rule) { r.Name = "" }), "rules[1].name", "missing"},
		{"bad name", temp(func(r *Rule) { r.Name = "warm rule" }), "rules[1].name", "letters"},
		{"duplicate name", temp(func(r *Rule) { r.Name = "quiet" }), "rules[1].name", "twice"},
		{"bad type", temp(func(r *Rule) { r.Type = "humidity" }), "rules[1].type", "want temperature"},
		{"no sensors", temp(func(r *Rule) { r.Sensors = nil }), "rules[1].sensors", "at least one"},
		{"bad pattern", temp(func(r *Rule) { r.Sensors = []string{"reefer-["} }), "rules[1].sensors[0]", "pattern"},
		{"no threshold", temp(func(r *Rule) { r.AboveC = nil }), "rules[1].above_c", "above_c or below_c"},
		{"two thresholds", temp(func(r *Rule) { r.BelowC = ptr(2.0) }), "rules[1].below_c", "only one"},
		{"NaN threshold", temp(func(r *Rule) { r.AboveC = ptr(math.NaN()) }), "rules[1].above_c", "not a number"},
		{"negative hysteresis", temp(func(r *Rule) { r.HysteresisC = -1 }), "rules[1].hysteresis_c", "0 to 100"},
		{"negative duration", temp(func(r *Rule) { r.Duration = -time.Minute }), "rules[1].duration", "negative"},
		{"bad mode", temp(func(r *Rule) { r.Mode = "total" }), "rules[1].mode", "consecutive or cumulative"},
		{"window without cumulative", temp(func(r *Rule) { r.Window = time.Hour }), "rules[1].window", "cumulative"},
		{"cumulative without duration", temp(func(r *Rule) { r.Mode = ModeCumulative; r.Duration = 0 }), "rules[1].duration", "cumulative"},
		{"duration over window", temp(func(r *Rule) { r.Mode = ModeCumulative; r.Window = time.Minute }), "rules[1].duration", "window"},
		{"key of another type", temp(func(r *Rule) { r.After = time.Hour }), "rules[1].after", "not a key of a temperature rule"},
		{"silence without after", Config{Rules: []Rule{{Name: "q", Type: TypeSilence, Sensors: []string{"*"}}}}, "rules[0].after", "how long"},
		{"unknown allowed zone", Config{Rules: []Rule{{Name: "s", Type: TypeSeal, Sensors: []string{"*"}, AllowedZones: []string{"Hamburg"}}}}, "rules[0].allowed_zones[0]", `"Hamburg"`},
		{"bad allowed_from", Config{Rules: []Rule{{Name: "s", Type: TypeSeal, Sensors: []string{"*"}, AllowedFrom: "tomorrow"}}}, "rules[0].allowed_from", "RFC 3339"},
		{"until before from", Config{Rules: []Rule{{Name: "s", Type: TypeSeal, Sensors: []string{"*"}, AllowedFrom: "2026-03-02T00:00:00Z", AllowedUntil: "2026-03-01T00:00:00Z"}}}, "rules[0].allowed_until", "before"},
		{"geofence without zones", Config{Rules: []Rule{{Name: "f", Type: TypeGeofence, Sensors: []string{"*"}}}}, "rules[0].zones", "no zones"},
		{"geofence unknown zone", Config{Zones: zones, Rules: []Rule{{Name: "f", Type: TypeGeofence, Sensors: []string{"*"}, Zones: []string{"Rotterdam", "Antwerp"}}}}, "rules[0].zones[1]", "Antwerp"},
		{"bad confirm", Config{Zones: zones, Rules: []Rule{{Name: "f", Type: TypeGeofence, Sensors: []string{"*"}, Confirm: -1}}}, "rules[0].confirm", "1 to 1000"},
		{"negative max_jump", Config{Rules: []Rule{{Name: "c", Type: TypeClock, Sensors: []string{"*"}, MaxJump: -time.Second}}}, "rules[0].max_jump", "negative"},
		{"zone without shape", Config{Zones: []Zone{{Name: "x"}}}, "zones[0].circle", "exactly one"},
		{"zone with two shapes", Config{Zones: []Zone{{Name: "x", Circle: &Circle{Lat: 1, Lon: 1, RadiusM: 1}, Polygon: [][]float64{{0, 0}, {1, 0}, {1, 1}}}}}, "zones[0].circle", "exactly one"},
		{"zone without name", Config{Zones: []Zone{{Circle: &Circle{Lat: 1, Lon: 1, RadiusM: 1}}}}, "zones[0].name", "printable"},
		{"duplicate zone", Config{Zones: []Zone{rotterdam, rotterdam}}, "zones[1].name", "twice"},
		{"zero radius", Config{Zones: []Zone{{Name: "x", Circle: &Circle{Lat: 1, Lon: 1}}}}, "zones[0].circle.radius_m", "radius"},
		{"latitude out of range", Config{Zones: []Zone{{Name: "x", Circle: &Circle{Lat: 91, Lon: 1, RadiusM: 1}}}}, "zones[0].circle", "latitude 91"},
		{"lat/lon swapped", Config{Zones: []Zone{{Name: "x", Polygon: [][]float64{{4, 51}, {4, 52}, {200, 52}}}}}, "zones[0].polygon[2]", "longitude 200"},
		{"degenerate polygon", Config{Zones: []Zone{{Name: "x", Polygon: [][]float64{{4, 51}, {4, 52}, {4, 51}}}}}, "zones[0].polygon", "3 distinct"},
		{"short position", Config{Zones: []Zone{{Name: "x", MultiPolygon: [][][][]float64{{{{4, 51}, {4}, {5, 52}}}}}}}, "zones[0].multipolygon[0][0][1]", "[longitude, latitude]"},
		{"missing zones file", Config{ZonesFile: "testdata/nope.geojson"}, "zones_file", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("New: %v, want a *ConfigError", err)
			}
			if ce.Key != tt.key || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("error %q, want key %q and a message containing %q", err, tt.key, tt.msg)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	r := Rule{Type: TypeTemperature}.withDefaults()
	if r.Mode != ModeConsecutive || r.MaxGap != DefaultMaxGap {
		t.Errorf("temperature defaults %+v", r)
	}
	r = Rule{Type: TypeSeal}.withDefaults()
	if len(r.PositionSensors) != 1 || r.PositionSensors[0] != "*" || r.MaxPositionAge != DefaultMaxPositionAge {
		t.Errorf("seal defaults %+v", r)
	}
	if r := (Rule{Type: TypeClock}).withDefaults(); r.MaxJump != DefaultMaxJump {
		t.Errorf("clock defaults %+v", r)
	}
	if r := (Rule{Type: TypeGeofence}).withDefaults(); r.Confirm != 1 {
		t.Errorf("geofence defaults %+v", r)
	}
	// Validate checks without reading zones_file; names from the file are
	// then not checked.
	cfg := Config{ZonesFile: "testdata/zones.geojson", Rules: []Rule{{Name: "f", Type: TypeGeofence, Sensors: []string{"*"}, Zones: []string{"Suez Canal"}}}}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if _, err := New(cfg); err != nil {
		t.Errorf("New: %v", err)
	}
	cfg.Rules[0].Zones = []string{"Panama Canal"}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "rules[0].zones[0]") {
		t.Errorf("New with an unknown zone: %v", err)
	}
}
