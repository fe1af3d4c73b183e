package sim

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors"
)

// collector is a Sink that keeps what it is given. fail, when set, decides
// which readings to refuse; enough, when set, says when the test has seen
// enough, and closes full.
type collector struct {
	fail   func(sensors.Reading) error
	enough func([]sensors.Reading) bool
	full   chan struct{}

	mu       sync.Mutex // guards readings and enough
	readings []sensors.Reading
}

func newCollector(enough func([]sensors.Reading) bool) *collector {
	return &collector{enough: enough, full: make(chan struct{})}
}

func (c *collector) Accept(ctx context.Context, r sensors.Reading) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if c.fail != nil {
		err = c.fail(r)
	}
	if err == nil {
		c.readings = append(c.readings, r)
	}
	if c.enough != nil && c.enough(c.readings) {
		c.enough = nil
		close(c.full)
	}
	return err
}

func (c *collector) Quarantine(ctx context.Context, sensor, reason string, raw []byte) {}

func (c *collector) all() []sensors.Reading {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sensors.Reading(nil), c.readings...)
}

// run runs v until the sink has enough, at most 1.5 s, and returns when
// Run does.
func run(t *testing.T, v *Voyage, sink *collector) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx, sink) }()
	select {
	case <-sink.full:
	case <-time.After(1500 * time.Millisecond):
		t.Error("the sink did not get enough readings in 1.5 s")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestRun(t *testing.T) {
	const container = "CSQU3054383"
	// 5 ms rounds of 5 days each: the voyage and the seal opening in about
	// 30 ms of wall-clock time.
	v := newVoyage(t, Config{
		SensorPrefix: "box1",
		Container:    container,
		SealID:       "SL42",
		Interval:     5 * time.Millisecond,
		TimeFactor:   float64(5*24*time.Hour) / float64(5*time.Millisecond),
		Seed:         1,
	})
	// Enough: two rounds after the seal was opened.
	sink := newCollector(func(rs []sensors.Reading) bool {
		opened, gps := false, 0
		for _, r := range rs {
			opened = opened || r.Data["event"] == EventOpened
			if opened && r.Kind == sensors.KindGPS {
				gps++
			}
		}
		return gps >= 2
	})
	run(t, v, sink)
	rs := sink.all()

	var gps, temp, seal []sensors.Reading
	for _, r := range rs {
		if r.Container != container {
			t.Fatalf("reading without the container number: %+v", r)
		}
		switch r.Sensor {
		case "box1-gps":
			gps = append(gps, r)
			checkData(t, r, sensors.KindGPS, sensors.ClockGPS, map[string]string{
				"lat": "float64", "lon": "float64", "alt_m": "float64", "speed_mps": "float64",
				"course_deg": "float64", "fix": "string", "sats": "int64", "hdop": "float64",
			})
		case "box1-reefer":
			temp = append(temp, r)
			checkData(t, r, sensors.KindTemperature, sensors.ClockDevice, map[string]string{
				"celsius": "float64", "probe": "string",
			})
		case "box1-seal":
			seal = append(seal, r)
			checkData(t, r, sensors.KindSeal, sensors.ClockDevice, map[string]string{
				"seal_id": "string", "state": "string", "event": "string",
				"battery_v": "float64", "lat": "float64", "lon": "float64",
			})
		default:
			t.Fatalf("unexpected sensor %q", r.Sensor)
		}
	}
	rounds := int(v.Duration()/(5*24*time.Hour)) + 2
	if len(gps) < rounds || len(temp) != len(gps) {
		t.Fatalf("%d gps and %d temperature readings, want the same number, at least %d", len(gps), len(temp), rounds)
	}
	if rs[0].Sensor != "box1-gps" || !rs[0].Time.Equal(testStart) {
		t.Errorf("first reading %s at %v, want gps at departure %v", rs[0].Sensor, rs[0].Time, testStart)
	}
	for i := 1; i < len(gps); i++ {
		if step := gps[i].Time.Sub(gps[i-1].Time); step != 5*24*time.Hour {
			t.Fatalf("gps %d is %v after the one before, want 120h", i, step)
		}
		if !temp[i].Time.Equal(gps[i].Time) {
			t.Fatalf("temperature %d at %v, gps at %v", i, temp[i].Time, gps[i].Time)
		}
	}
	if d := gps[0].Data; d["fix"] != "3d" || temp[0].Data["probe"] != "supply" {
		t.Errorf("fix %v probe %v", d["fix"], temp[0].Data["probe"])
	}
	last := gps[len(gps)-1].Data
	if d := distance(last["lat"].(float64), last["lon"].(float64), maasvlakte[0], maasvlakte[1]); d > 5000 {
		t.Errorf("last fix %.1f km from Maasvlakte", d/1000)
	}

	// Seal: "sealed" first, heartbeats, "opened" once after arrival; the
	// counters run 1, 2, 3, … in time order.
	if len(seal) < 3 {
		t.Fatalf("%d seal readings", len(seal))
	}
	opened := 0
	for i, r := range seal {
		if want := "SL42:" + strconv.Itoa(i+1); r.MsgID != want {
			t.Fatalf("seal reading %d has MsgID %q, want %q", i, r.MsgID, want)
		}
		if i > 0 && r.Time.Before(seal[i-1].Time) {
			t.Fatalf("seal reading %d goes back in time", i)
		}
		ev, st := r.Data["event"], r.Data["state"]
		switch {
		case i == 0:
			if ev != EventSealed || st != sensors.SealSealed || !r.Time.Equal(testStart) {
				t.Errorf("first seal reading %v %v at %v", ev, st, r.Time)
			}
		case ev == EventOpened:
			opened++
			if st != sensors.SealOpened || r.Time.Before(testStart.Add(v.Duration())) {
				t.Errorf("opened event: state %v at %v, arrival %v", st, r.Time, testStart.Add(v.Duration()))
			}
		case ev == EventHeartbeat:
			if (st == sensors.SealOpened) != (opened > 0) {
				t.Errorf("heartbeat %d says %v", i, st)
			}
			if r.Time.Sub(testStart)%(6*time.Hour) != 0 {
				t.Errorf("heartbeat at %v, not on a 6 h mark", r.Time)
			}
		default:
			t.Errorf("seal reading %d: event %v", i, ev)
		}
	}
	if opened != 1 {
		t.Errorf("%d opened events, want 1", opened)
	}
}

func checkData(t *testing.T, r sensors.Reading, kind, clock string, keys map[string]string) {
	t.Helper()
	if r.Kind != kind || r.Clock != clock || r.Time.IsZero() || r.Time.Location() != time.UTC {
		t.Fatalf("%s: kind %q clock %q time %v", r.Sensor, r.Kind, r.Clock, r.Time)
	}
	if len(r.Data) != len(keys) {
		t.Fatalf("%s: data %v, want keys %v", r.Sensor, r.Data, keys)
	}
	for k, typ := range keys {
		var ok bool
		switch typ {
		case "float64":
			_, ok = r.Data[k].(float64)
		case "int64":
			_, ok = r.Data[k].(int64)
		case "string":
			_, ok = r.Data[k].(string)
		}
		if !ok {
			t.Fatalf("%s: %s = %#v, want %s", r.Sensor, k, r.Data[k], typ)
		}
	}
	if (r.MsgID != "") != (kind == sensors.KindSeal) {
		t.Fatalf("%s: MsgID %q", r.Sensor, r.MsgID)
	}
}

func TestRunSinkErrors(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	v, err := New(Config{Start: testStart, Interval: 5 * time.Millisecond, TimeFactor: 100000}, logger)
	if err != nil {
		t.Fatal(err)
	}
	refused := errors.New("disk full")
	sink := newCollector(func(rs []sensors.Reading) bool { return len(rs) >= 8 })
	sink.fail = func(r sensors.Reading) error {
		if r.Kind == sensors.KindTemperature {
			return refused
		}
		return nil
	}
	run(t, v, sink)
	gps := 0
	for _, r := range sink.all() {
		if r.Kind == sensors.KindTemperature {
			t.Fatal("refused reading kept")
		}
		if r.Kind == sensors.KindGPS {
			gps++
		}
	}
	if gps < 3 {
		t.Errorf("%d gps readings: Run stopped at the first refusal", gps)
	}
	if n := strings.Count(logs.String(), "disk full"); n < gps-1 {
		t.Errorf("%d refusals logged for %d rounds:\n%s", n, gps, logs.String())
	}
	if !strings.Contains(logs.String(), "sensor=sim-reefer") {
		t.Errorf("log does not name the sensor:\n%s", logs.String())
	}
}

// A sink that blocks until the context ends must not keep Run alive.
func TestRunCancelWhileBlocked(t *testing.T) {
	v := newVoyage(t, Config{Interval: time.Millisecond})
	entered := make(chan struct{}, 1)
	sink := blocker{entered}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx, sink) }()
	<-entered
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Run still blocked after cancel")
	}
}

type blocker struct{ entered chan struct{} }

func (b blocker) Accept(ctx context.Context, r sensors.Reading) error {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

func (b blocker) Quarantine(ctx context.Context, sensor, reason string, raw []byte) {}

// The seal's messages do not depend on how the rounds cut the voyage.
func TestSealEventsIndependentOfRounds(t *testing.T) {
	v := newVoyage(t, Config{SealHeartbeat: 5 * time.Hour})
	end := v.Duration() + 3*24*time.Hour
	collect := func(step time.Duration) []sealEvent {
		var out []sealEvent
		prev := time.Duration(-1)
		for e := time.Duration(0); ; e += step {
			out = append(out, v.sealEvents(prev, e)...)
			prev = e
			if e > end {
				return out
			}
		}
	}
	ref := collect(time.Minute * 7)
	for _, step := range []time.Duration{time.Hour, 5 * time.Hour, 13 * time.Hour, 29 * 24 * time.Hour} {
		got := collect(step)
		n := min(len(got), len(ref))
		for i := 0; i < n; i++ {
			if got[i] != ref[i] {
				t.Fatalf("step %v: event %d is %+v, want %+v", step, i, got[i], ref[i])
			}
		}
	}
	for i, ev := range ref {
		if ev.counter != int64(i+1) {
			t.Fatalf("event %d has counter %d", i, ev.counter)
		}
	}
}
