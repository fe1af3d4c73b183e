package sim

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors"
)

func ptr[T any](v T) *T { return &v }

func TestDeterministic(t *testing.T) {
	c := Config{Seed: 42, Container: "CSQU3054383"}
	a, b := newVoyage(t, c), newVoyage(t, c)
	other := newVoyage(t, Config{Seed: 43})
	differ := 0
	for e := time.Duration(0); e < a.Duration()+48*time.Hour; e += 37 * time.Minute {
		sa, sb := a.At(e), b.At(e)
		if !reflect.DeepEqual(sa, sb) {
			t.Fatalf("At(%v) differs between two voyages of one config:\n%+v\n%+v", e, sa, sb)
		}
		if sa != a.At(e) {
			t.Fatalf("At(%v) differs between two calls", e)
		}
		if so := other.At(e); so.ReeferC != sa.ReeferC {
			differ++
		}
	}
	if differ == 0 {
		t.Error("seeds 42 and 43 give the same temperatures")
	}
	// Readings too, seal ids and message ids included.
	ra, rb := a.readings(-1, 0), b.readings(-1, 0)
	if !reflect.DeepEqual(ra, rb) {
		t.Errorf("first round differs:\n%+v\n%+v", ra, rb)
	}
}

// excursions counts the temperature excursions over the whole voyage and
// two days at the berth, with hysteresis: one starts above setpoint+4 °C and
// ends below setpoint+2 °C (mirrored for a cold excursion).
func excursions(v *Voyage, sign float64) (n int, first time.Duration, peak float64) {
	in := false
	for e := time.Duration(0); e < v.Duration()+48*time.Hour; e += 5 * time.Minute {
		d := sign * (v.At(e).ReeferC - v.setpoint)
		peak = math.Max(peak, d)
		switch {
		case !in && d > 4:
			in = true
			if n == 0 {
				first = e
			}
			n++
		case in && d < 2:
			in = false
		}
	}
	return n, first, peak
}

func TestExcursion(t *testing.T) {
	tests := []struct {
		name  string
		exc   *Excursion
		want  int
		start float64 // fraction of the voyage
		peak  float64
	}{
		{"default", nil, 1, DefaultExcursionStart, DefaultExcursionPeakC},
		{"early short", &Excursion{Start: 0.1, Duration: 2 * time.Hour, PeakC: 10}, 1, 0.1, 10},
		{"at arrival", &Excursion{Start: 1, Duration: 12 * time.Hour, PeakC: 6}, 1, 1, 6},
		{"cold", &Excursion{Start: 0.3, Duration: 8 * time.Hour, PeakC: -7}, 1, 0.3, -7},
		{"none", &Excursion{}, 0, 0, 0},
		{"zero peak", &Excursion{Start: 0.5, Duration: 5 * time.Hour}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVoyage(t, Config{Seed: 5, Excursion: tt.exc})
			sign := 1.0
			if tt.peak < 0 {
				sign = -1
			}
			n, first, peak := excursions(v, sign)
			if n != tt.want {
				t.Fatalf("%d excursions, want %d", n, tt.want)
			}
			if n == 0 {
				if peak > noiseClamp+1e-9 {
					t.Errorf("temperature strays %.2f °C from the setpoint with no excursion", peak)
				}
				return
			}
			// It starts where configured, within the time it takes to warm 4 °C.
			at := tt.start * float64(v.Duration())
			if f := float64(first); f < at || f > at+float64(6*time.Hour) {
				t.Errorf("excursion found at %v, configured at %v", first, time.Duration(at))
			}
			if want := math.Abs(tt.peak); math.Abs(peak-want) > noiseClamp {
				t.Errorf("peak %.2f °C off setpoint, want %.1f ± %.1f", peak, want, noiseClamp)
			}
		})
	}
}

func TestReeferNoise(t *testing.T) {
	v := newVoyage(t, Config{Seed: 9, SetpointC: ptr(2.5), Excursion: &Excursion{}})
	var n, sum, sq float64
	for e := time.Duration(0); e < v.Duration(); e += 7 * time.Minute {
		d := v.At(e).ReeferC - 2.5
		if math.Abs(d) > noiseClamp {
			t.Fatalf("At(%v): %.2f °C off the setpoint", e, d)
		}
		n++
		sum += d
		sq += d * d
	}
	mean, sd := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
	if math.Abs(mean) > 0.1 || sd < 0.1 || sd > 0.4 {
		t.Errorf("noise mean %.3f sd %.3f, want about 0 and 0.26", mean, sd)
	}
}

func TestSealAndBattery(t *testing.T) {
	v := newVoyage(t, Config{})
	open := v.Duration() + sealOpenDelay
	for _, tt := range []struct {
		e    time.Duration
		want string
	}{
		{0, sensors.SealSealed},
		{v.Duration() / 2, sensors.SealSealed},
		{v.Duration(), sensors.SealSealed},
		{open - time.Nanosecond, sensors.SealSealed},
		{open, sensors.SealOpened},
		{open + 90*24*time.Hour, sensors.SealOpened},
	} {
		if got := v.At(tt.e).Seal; got != tt.want {
			t.Errorf("At(%v).Seal = %q, want %q", tt.e, got, tt.want)
		}
	}
	b0, b1 := v.At(0).BatteryV, v.At(v.Duration()).BatteryV
	if b0 != 3.6 || b1 >= b0 || b0-b1 > 0.2 {
		t.Errorf("battery %.3f V at departure, %.3f V on arrival: want 3.6 V draining slowly", b0, b1)
	}
}

func TestAtBeforeDeparture(t *testing.T) {
	v := newVoyage(t, Config{})
	s := v.At(-time.Hour)
	if s.Elapsed != 0 || !s.Time.Equal(testStart) {
		t.Errorf("At(-1h) = %v at %v, want departure", s.Elapsed, s.Time)
	}
}

func TestDefaults(t *testing.T) {
	before := time.Now()
	v, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := v.cfg
	if got := v.Sensors(); !reflect.DeepEqual(got, []string{"sim-gps", "sim-reefer", "sim-seal"}) {
		t.Errorf("Sensors() = %q", got)
	}
	if c.Interval != time.Second || c.TimeFactor != 3600 || c.Knots != 16 || *c.SetpointC != -18 ||
		*c.Excursion != (Excursion{0.6, 6 * time.Hour, 8}) || c.SealHeartbeat != 6*time.Hour || c.Container != "" {
		t.Errorf("defaults: %+v", c)
	}
	if c.Start.Before(before.Add(-time.Second)) || c.Start.After(time.Now()) || c.Start.Location() != time.UTC {
		t.Errorf("default start %v, want now in UTC", c.Start)
	}
	if !sealIDRE.MatchString(c.SealID) {
		t.Errorf("default seal id %q", c.SealID)
	}
	// Each voyage gets its own seal; the same voyage the same seal.
	other := newVoyage(t, Config{Start: testStart.Add(time.Hour)})
	same := newVoyage(t, Config{Start: testStart})
	if newVoyage(t, Config{}).cfg.SealID != same.cfg.SealID || other.cfg.SealID == same.cfg.SealID {
		t.Error("seal id does not follow the voyage")
	}
	// The caller's setpoint is copied, not aliased.
	sp := 4.0
	w := newVoyage(t, Config{SetpointC: &sp})
	sp = 30
	if w.setpoint != 4 || *w.cfg.SetpointC != 4 {
		t.Error("setpoint aliased")
	}
}

func TestValidate(t *testing.T) {
	bad := []struct {
		c   Config
		key string
	}{
		{Config{SensorPrefix: "has space"}, "sensor_prefix"},
		{Config{SensorPrefix: "-lead"}, "sensor_prefix"},
		{Config{SealID: "a:b"}, "seal_id"},
		{Config{Interval: -time.Second}, "interval"},
		{Config{Interval: time.Microsecond}, "interval"},
		{Config{TimeFactor: -1}, "time_factor"},
		{Config{TimeFactor: math.NaN()}, "time_factor"},
		{Config{TimeFactor: math.Inf(1)}, "time_factor"},
		{Config{Knots: 0.5}, "knots"},
		{Config{Knots: 45}, "knots"},
		{Config{Knots: math.NaN()}, "knots"},
		{Config{SetpointC: ptr(-60.0)}, "setpoint_c"},
		{Config{SetpointC: ptr(math.NaN())}, "setpoint_c"},
		{Config{SealHeartbeat: time.Second}, "seal_heartbeat"},
		{Config{Container: "CSQU3054384"}, "container"},
		{Config{Container: "csqu3054383"}, "container"},
		{Config{Container: "CSQX3054383"}, "container"},
		{Config{Container: "CSQU305438"}, "container"},
		{Config{Excursion: &Excursion{Start: 1.5, Duration: time.Hour, PeakC: 8}}, "excursion.start"},
		{Config{Excursion: &Excursion{Start: math.NaN()}}, "excursion.start"},
		{Config{Excursion: &Excursion{Start: 0.5, Duration: -time.Hour}}, "excursion.duration"},
		{Config{Excursion: &Excursion{Start: 0.5, Duration: time.Hour, PeakC: 80}}, "excursion.peak_c"},
		{Config{Interval: time.Hour, TimeFactor: 1000}, "time_factor"}, // 41 days a round
	}
	for _, tt := range bad {
		_, err := New(tt.c, nil)
		if err == nil || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tt.c, err, tt.key)
		}
	}
	good := []Config{
		{},
		{SensorPrefix: "reefer_7.a", Container: "CSQU3054383", SealID: "SL-0042", Interval: time.Millisecond,
			TimeFactor: 1, Knots: 40, SetpointC: ptr(0.0), SealHeartbeat: time.Minute,
			Excursion: &Excursion{Start: 0, Duration: 168 * time.Hour, PeakC: -40}},
		{Interval: time.Hour, TimeFactor: 720}, // exactly 30 days a round
	}
	for _, c := range good {
		if _, err := New(c, nil); err != nil {
			t.Errorf("New(%+v): %v", c, err)
		}
	}
}
