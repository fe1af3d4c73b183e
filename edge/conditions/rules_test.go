package conditions

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors"
)

func TestSilence(t *testing.T) {
	cfg := Config{Rules: []Rule{{Name: "quiet", Type: TypeSilence, Sensors: []string{"gps-1", "reefer-*"}, After: 15 * time.Minute}}}
	g := newGateway(t, cfg)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	g.accept(temp("reefer-1", at(0), 4), at(0))
	g.accept(gps("gps-1", at(0), 1, 1), at(0))
	// Tick before the limit: nothing; exactly at it: the silence.
	if evs := g.tick(at(14)); len(evs) != 0 {
		t.Fatalf("tick at 14 min: %s", dump(evs))
	}
	g.accept(gps("gps-1", at(10), 1, 1), at(10))
	evs := g.tick(at(15))
	if len(evs) != 1 || evs[0].Kind != KindSilence || evs[0].Sensor != "reefer-1" || !evs[0].At.Equal(at(15)) || evs[0].FromSeq != 0 {
		t.Fatalf("tick at 15 min: %s", dump(evs))
	}
	// One event per silence, however many ticks.
	for m := 16; m < 40; m++ {
		if evs := g.tick(at(m)); len(only(evs, KindSilence)) != 0 && evs[0].Sensor == "reefer-1" {
			t.Fatalf("second silence event at %d min: %s", m, dump(evs))
		}
	}
	// gps-1 went silent at 25 min (noticed by the ticks above).
	if n := len(only(g.events, KindSilence)); n != 2 {
		t.Fatalf("silences %s", dump(g.events))
	}
	// A reading of gps-1 brings it back; reefer-1's silence goes on.
	evs = g.accept(gps("gps-1", at(41), 1, 1), at(41))
	if len(evs) != 1 || evs[0].Kind != KindSensorBack || evs[0].Sensor != "gps-1" || evs[0].Values["silent_s"] != 31*60.0 {
		t.Fatalf("back: %s", dump(evs))
	}
	// Readings alone (no Tick) notice a silence too: reefer-2 reports once,
	// then gps-1's readings carry the clock past its limit.
	g.accept(temp("reefer-2", at(42), 4), at(42))
	var got []Event
	for m := 43; m <= 60; m++ {
		got = append(got, g.accept(gps("gps-1", at(m), 1, 1), at(m))...)
	}
	if len(got) != 1 || got[0].Sensor != "reefer-2" || !got[0].At.Equal(at(57)) {
		t.Fatalf("silence from readings: %s", dump(got))
	}
	// Event readings are not sensors.
	st := g.e.State()
	for _, c := range st.Conditions {
		if c.Sensor == EventSensor {
			t.Errorf("the rules' own event readings are watched: %+v", c)
		}
	}
}

func TestSilenceOnOwnLateReading(t *testing.T) {
	cfg := Config{Rules: []Rule{{Name: "quiet", Type: TypeSilence, Sensors: []string{"*"}, After: time.Hour}}}
	g := newGateway(t, cfg)
	g.accept(temp("reefer-1", t0, 4), t0)
	evs := g.accept(temp("reefer-1", t0.Add(3*time.Hour), 4), t0.Add(3*time.Hour))
	if got := kinds(evs); !slices.Equal(got, []string{KindSilence, KindSensorBack}) {
		t.Fatalf("events %s", dump(evs))
	}
}

// The destination zone for the seal tests: a circle around Maasvlakte.
var rotterdam = Zone{Name: "Rotterdam", Circle: &Circle{Lat: 51.97, Lon: 4.04, RadiusM: 5000}}

func TestSeal(t *testing.T) {
	rule := Rule{Name: "seal", Type: TypeSeal, Sensors: []string{"seal-*"}, AllowedZones: []string{"Rotterdam"}, PositionSensors: []string{"gps-*"}}
	cfg := Config{Zones: []Zone{rotterdam}, Rules: []Rule{rule}}
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

	t.Run("opened inside the destination is no breach", func(t *testing.T) {
		g := newGateway(t, cfg)
		evs := g.accept(sealReading("seal-1", "TS1", sensors.SealSealed, at(0), 30.6, 122.08), at(0))
		if len(evs) != 1 || evs[0].Kind != KindSealChange || evs[0].Values["previous_state"] != "none" {
			t.Fatalf("first reading: %s", dump(evs))
		}
		if evs := g.accept(sealReading("seal-1", "TS1", sensors.SealSealed, at(6), 20, 110), at(6)); len(evs) != 0 {
			t.Fatalf("heartbeat: %s", dump(evs))
		}
		evs = g.accept(sealReading("seal-1", "TS1", sensors.SealOpened, at(700), 51.9701, 4.0399), at(700))
		if got := kinds(evs); !slices.Equal(got, []string{KindSealChange}) {
			t.Fatalf("opened at the berth: %s", dump(evs))
		}
		if evs[0].Values["previous_state"] != sensors.SealSealed || evs[0].Values["state"] != sensors.SealOpened {
			t.Errorf("values %v", evs[0].Values)
		}
	})
	t.Run("opened outside is a breach", func(t *testing.T) {
		g := newGateway(t, cfg)
		g.accept(sealReading("seal-1", "TS1", sensors.SealSealed, at(0), 30.6, 122.08), at(0))
		evs := g.accept(sealReading("seal-1", "TS1", sensors.SealOpened, at(400), 21.5, 38.9), at(400)) // Red Sea
		if got := kinds(evs); !slices.Equal(got, []string{KindSealChange, KindSealBreach}) {
			t.Fatalf("events %s", dump(evs))
		}
		if evs[1].Values["reason"] != "outside the allowed zones" || evs[1].FromSeq != 2 {
			t.Errorf("breach %s", dump(evs[1:]))
		}
	})
	t.Run("position from a GPS sensor", func(t *testing.T) {
		g := newGateway(t, cfg)
		g.accept(sealReading("seal-1", "TS1", sensors.SealSealed, at(0)), at(0))
		g.accept(gps("gps-1", at(699), 51.97, 4.04), at(699))
		g.accept(gps("other", at(700), 21.5, 38.9), at(700)) // not a position sensor
		evs := g.accept(sealReading("seal-1", "TS1", sensors.SealOpened, at(700)), at(700))
		if got := kinds(evs); !slices.Equal(got, []string{KindSealChange}) || evs[0].Values["position_source"] != "gps-1" {
			t.Fatalf("events %s", dump(evs))
		}
	})
	t.Run("stale position is unknown: breach", func(t *testing.T) {
		g := newGateway(t, cfg)
		g.accept(gps("gps-1", at(690), 51.97, 4.04), at(690))
		evs := g.accept(sealReading("seal-1", "TS1", sensors.SealTampered, at(700)), at(700))
		if got := kinds(evs); !slices.Equal(got, []string{KindSealChange, KindSealBreach}) || evs[1].Values["reason"] != "position unknown" {
			t.Fatalf("events %s", dump(evs))
		}
	})
	t.Run("time window", func(t *testing.T) {
		r := rule
		r.AllowedFrom = "2026-03-29T00:00:00Z"
		r.AllowedUntil = "2026-04-02T00:00:00Z"
		g := newGateway(t, Config{Zones: []Zone{rotterdam}, Rules: []Rule{r}})
		g.accept(sealReading("seal-1", "TS1", sensors.SealSealed, at(0)), at(0))
		early := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
		evs := g.accept(sealReading("seal-1", "TS1", sensors.SealOpened, early, 51.97, 4.04), early)
		if len(evs) != 2 || evs[1].Values["reason"] != "outside the allowed time" {
			t.Fatalf("early: %s", dump(evs))
		}
		g.accept(sealReading("seal-1", "TS1", sensors.SealSealed, early.Add(time.Hour), 51.97, 4.04), early.Add(time.Hour))
		on := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC) // inclusive
		if evs := g.accept(sealReading("seal-1", "TS1", sensors.SealOpened, on, 51.97, 4.04), on); len(evs) != 1 {
			t.Fatalf("in time: %s", dump(evs))
		}
	})
	t.Run("nothing allowed", func(t *testing.T) {
		g := newGateway(t, Config{Rules: []Rule{{Name: "seal", Type: TypeSeal, Sensors: []string{"*"}}}})
		evs := g.accept(sealReading("seal-1", "TS1", sensors.SealOpened, at(0), 1, 1), at(0))
		if len(evs) != 2 || !strings.Contains(evs[1].Values["reason"].(string), "no allowed zone") {
			t.Fatalf("events %s", dump(evs))
		}
	})
}

func TestGeofence(t *testing.T) {
	// A square port with a square hole (a closed terminal), and a circle.
	port := Zone{Name: "port", MultiPolygon: [][][][]float64{{
		{{4, 51}, {5, 51}, {5, 52}, {4, 52}, {4, 51}},
		{{4.4, 51.4}, {4.6, 51.4}, {4.6, 51.6}, {4.4, 51.6}},
	}}}
	anch := Zone{Name: "anchorage", Circle: &Circle{Lat: 51.5, Lon: 3.5, RadiusM: 10000}}
	cfg := Config{Zones: []Zone{port, anch}, Rules: []Rule{{Name: "fence", Type: TypeGeofence, Sensors: []string{"gps-*"}}}}
	g := newGateway(t, cfg)
	var evs []Event
	pos := [][2]float64{
		{51.5, 3.5},  // anchorage (first reading inside: enter)
		{51.5, 3.6},  // still
		{51.5, 4.2},  // port
		{51.5, 4.5},  // the hole: out of port
		{51.4, 4.5},  // on the hole's edge: in port
		{52, 4.7},    // on the port's outer edge: in
		{52.5, 4.7},  // out
		{52.5, 4.71}, // out
	}
	for i, p := range pos {
		at := t0.Add(time.Duration(i) * time.Minute)
		evs = append(evs, g.accept(gps("gps-1", at, p[0], p[1]), at)...)
	}
	type ze struct{ kind, zone string }
	var got []ze
	for _, e := range evs {
		got = append(got, ze{e.Kind, e.Values["zone"].(string)})
	}
	// Zones are evaluated in config order (port, then anchorage) for each
	// reading.
	want := []ze{
		{KindGeofenceEnter, "anchorage"},
		{KindGeofenceEnter, "port"}, {KindGeofenceExit, "anchorage"},
		{KindGeofenceExit, "port"},  // into the hole
		{KindGeofenceEnter, "port"}, // on the hole's edge
		{KindGeofenceExit, "port"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %s\nwant %v", dump(evs), want)
	}

	// The first reading outside gives nothing.
	g = newGateway(t, cfg)
	if evs := g.accept(gps("gps-2", t0, 0, 0), t0); len(evs) != 0 {
		t.Fatalf("first reading outside: %s", dump(evs))
	}
}

func TestGeofenceConfirm(t *testing.T) {
	cfg := Config{Zones: []Zone{rotterdam}, Rules: []Rule{{Name: "fence", Type: TypeGeofence, Sensors: []string{"*"}, Confirm: 3}}}
	g := newGateway(t, cfg)
	in, out := [2]float64{51.97, 4.04}, [2]float64{51.5, 3.0}
	seq := [][2]float64{out, in, out, in, in, out, in, in, in, in}
	var evs []Event
	for i, p := range seq {
		at := t0.Add(time.Duration(i) * time.Minute)
		evs = append(evs, g.accept(gps("gps-1", at, p[0], p[1]), at)...)
	}
	if len(evs) != 1 || evs[0].Kind != KindGeofenceEnter || !evs[0].At.Equal(t0.Add(6*time.Minute)) || evs[0].FromSeq != 6 || evs[0].ToSeq != 8 {
		t.Fatalf("events %s, want one entry at the 7th reading confirmed by the 9th", dump(evs))
	}
}

func TestGPSFix(t *testing.T) {
	cfg := Config{Rules: []Rule{{Name: "fix", Type: TypeGPSFix, Sensors: []string{"gps-1"}}}}
	g := newGateway(t, cfg)
	status := func(ev string, recv time.Time) sensors.Reading {
		r := sensors.Reading{Sensor: "gps-1", Kind: sensors.KindStatus, Data: map[string]any{"event": ev}}
		if ev == statusFixRegained {
			r.Time, r.Clock = recv, sensors.ClockGPS
			r.Data["fix"] = "3d"
		}
		return r
	}
	var evs []Event
	evs = append(evs, g.accept(gps("gps-1", t0, 1, 1), t0)...)
	evs = append(evs, g.accept(status(statusFixLost, t0.Add(time.Minute)), t0.Add(time.Minute))...)
	evs = append(evs, g.accept(status(statusFixLost, t0.Add(2*time.Minute)), t0.Add(2*time.Minute))...) // repeated: nothing
	evs = append(evs, g.accept(status(statusFixRegained, t0.Add(11*time.Minute)), t0.Add(11*time.Minute))...)
	if got := kinds(evs); !slices.Equal(got, []string{KindGPSFixLost, KindGPSFixRegained}) {
		t.Fatalf("events %s", dump(evs))
	}
	if evs[1].FromSeq != evs[0].FromSeq || evs[1].Values["lost_s"] != 600.0 || evs[1].Clock != sensors.ClockGPS {
		t.Errorf("regained %s", dump(evs[1:]))
	}
	if evs[0].Clock != "" || !evs[0].Reading().Time.IsZero() {
		t.Errorf("fix_lost has no sensor time: its event must not claim one")
	}
}

func TestClockJump(t *testing.T) {
	cfg := Config{Rules: []Rule{{Name: "clock", Type: TypeClock, Sensors: []string{"gps-*"}}}}
	g := newGateway(t, cfg)
	var evs []Event
	offsets := []time.Duration{500 * time.Millisecond, 600 * time.Millisecond, 2600 * time.Millisecond, 2700 * time.Millisecond, -time.Hour}
	for i, off := range offsets {
		gt := t0.Add(time.Duration(i) * time.Second)
		evs = append(evs, g.accept(gps("gps-1", gt, 1, 1), gt.Add(off))...)
	}
	// 0.6 → 2.6 is exactly 2 s: not more than max_jump. 2.7 → -3600 is.
	if len(evs) != 1 || evs[0].Kind != KindClockJump || evs[0].Values["previous_offset_s"] != 2.7 || evs[0].Values["offset_s"] != -3600.0 {
		t.Fatalf("events %s", dump(evs))
	}
}

// A cumulative rule without window sums since the voyage started: since a
// voyage seal last changed to sealed.
func TestVoyageReset(t *testing.T) {
	cfg := Config{Rules: []Rule{{
		Name: "voyage-warm", Type: TypeTemperature, Sensors: []string{"reefer-1"}, AboveC: ptr(8.0),
		Duration: 30 * time.Minute, Mode: ModeCumulative, MaxGap: time.Hour, VoyageSeals: []string{"seal-*"},
	}}}
	g := newGateway(t, cfg)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	var evs []Event
	step := func(m int, v float64) { evs = append(evs, g.accept(temp("reefer-1", at(m), v), at(m))...) }
	// Voyage 1: 20 min in excursion, then a new voyage: the 20 min are
	// forgotten; 20 more do not fire; 10 after that do.
	g.accept(sealReading("seal-1", "A", sensors.SealSealed, at(0)), at(0))
	step(0, 9)
	step(20, 4)
	g.accept(sealReading("seal-1", "A", sensors.SealOpened, at(100)), at(100))
	g.accept(sealReading("seal-1", "B", sensors.SealSealed, at(110)), at(110))
	step(110, 9)
	step(130, 4)
	if len(evs) != 0 {
		t.Fatalf("events %s: the first voyage's time counted", dump(evs))
	}
	step(140, 9)
	step(150, 4)
	if len(evs) != 1 || !evs[0].At.Equal(at(150)) {
		t.Fatalf("events %s", dump(evs))
	}
	// The next voyage ends the fired excursion.
	g.accept(sealReading("seal-1", "C", sensors.SealSealed, at(200)), at(200))
	if got := kinds(g.events); !slices.Equal(got, []string{KindExcursion, KindExcursionEnd}) || g.events[1].Values["reason"] != "new voyage" {
		t.Fatalf("events %s", dump(g.events))
	}
}
