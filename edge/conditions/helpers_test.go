package conditions

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors"
)

// t0 is the start of every hand-made stream.
var t0 = time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// gateway plays the daemon: it appends readings to a log, runs each through
// the engine and appends the events the engine returns, which come back
// through the engine as event readings, as in the real daemon.
type gateway struct {
	t      testing.TB
	e      *Engine
	log    []Observed
	events []Event // every event appended, in order
}

func newGateway(t testing.TB, cfg Config) *gateway {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &gateway{t: t, e: e}
}

// accept appends r, received at recv, and the events it causes.
func (g *gateway) accept(r sensors.Reading, recv time.Time) []Event {
	o := Observed{Seq: int64(len(g.log)), Reading: r, Recv: recv}
	g.log = append(g.log, o)
	evs := g.e.Observe(o)
	g.appendEvents(evs, recv)
	return evs
}

// tick runs Tick and appends its events.
func (g *gateway) tick(now time.Time) []Event {
	evs := g.e.Tick(now)
	g.appendEvents(evs, now)
	return evs
}

func (g *gateway) appendEvents(evs []Event, recv time.Time) {
	for _, ev := range evs {
		g.events = append(g.events, ev)
		o := Observed{Seq: int64(len(g.log)), Reading: ev.Reading(), Recv: recv}
		g.log = append(g.log, o)
		if more := g.e.Observe(o); len(more) != 0 {
			g.t.Fatalf("an event reading caused events: %v", more)
		}
	}
}

// kinds lists the kinds of events, for comparisons.
func kinds(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// only returns the events of one kind.
func only(evs []Event, kind string) []Event {
	var out []Event
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func dump(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "\n  %s %s %s at %s seq %d..%d %v", e.Rule, e.Kind, e.Sensor, e.At.Format(time.RFC3339Nano), e.FromSeq, e.ToSeq, e.Values)
	}
	return b.String()
}

func temp(sensor string, at time.Time, c float64) sensors.Reading {
	return sensors.Reading{
		Sensor: sensor, Kind: sensors.KindTemperature, Time: at, Clock: sensors.ClockDevice,
		Data: map[string]any{"celsius": c, "probe": "supply"},
	}
}

func gps(sensor string, at time.Time, lat, lon float64) sensors.Reading {
	return sensors.Reading{
		Sensor: sensor, Kind: sensors.KindGPS, Time: at, Clock: sensors.ClockGPS,
		Data: map[string]any{"lat": lat, "lon": lon, "fix": "3d"},
	}
}

func sealReading(sensor, id, state string, at time.Time, pos ...float64) sensors.Reading {
	r := sensors.Reading{
		Sensor: sensor, Kind: sensors.KindSeal, Time: at, Clock: sensors.ClockDevice,
		Data: map[string]any{"seal_id": id, "state": state, "event": state},
	}
	if len(pos) == 2 {
		r.Data["lat"], r.Data["lon"] = pos[0], pos[1]
	}
	return r
}

// feedTemps accepts one temperature reading every step from t0, with the
// values given, and returns the events.
func (g *gateway) feedTemps(sensor string, step time.Duration, values ...float64) []Event {
	var out []Event
	for i, v := range values {
		at := t0.Add(time.Duration(i) * step)
		out = append(out, g.accept(temp(sensor, at, v), at)...)
	}
	return out
}

// repeat returns n copies of v.
func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func cat(parts ...[]float64) []float64 {
	var out []float64
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
