package conditions

import (
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors"
)

// action is one thing that happens to the gateway: a reading accepted at
// recv, or (reading nil) a Tick at recv.
type action struct {
	r    *sensors.Reading
	recv time.Time
}

// mixedConfig has one rule of every type.
func mixedConfig() Config {
	return Config{
		Zones: []Zone{rotterdam},
		Rules: []Rule{
			{Name: "warm", Type: TypeTemperature, Sensors: []string{"reefer-*"}, AboveC: ptr(8.0),
				Duration: 30 * time.Minute, HysteresisC: 0.5, MaxGap: 10 * time.Minute},
			{Name: "warm-3h", Type: TypeTemperature, Sensors: []string{"reefer-*"}, AboveC: ptr(8.0),
				Duration: 45 * time.Minute, Mode: ModeCumulative, Window: 3 * time.Hour, MaxGap: 10 * time.Minute},
			{Name: "quiet", Type: TypeSilence, Sensors: []string{"reefer-*", "gps-*"}, After: 15 * time.Minute},
			{Name: "seal", Type: TypeSeal, Sensors: []string{"seal-*"}, AllowedZones: []string{"Rotterdam"}},
			{Name: "fence", Type: TypeGeofence, Sensors: []string{"gps-1"}},
			{Name: "fix", Type: TypeGPSFix, Sensors: []string{"gps-*"}},
			{Name: "clock", Type: TypeClock, Sensors: []string{"gps-*"}},
		},
	}
}

// mixedStream is 12 hours of a container arriving at Rotterdam: readings
// every 5 minutes, two excursions and a sensor hovering at the limit, a
// second GPS that falls silent in the middle of the first excursion, a fix
// lost and regained, a clock jump, the seal sealed and then opened at the
// berth, and a Tick after every round.
func mixedStream() []action {
	var out []action
	add := func(r sensors.Reading, recv time.Time) { out = append(out, action{r: &r, recv: recv}) }
	for i := 0; i < 144; i++ {
		at := t0.Add(time.Duration(i) * 5 * time.Minute)
		v := 4.0
		switch {
		case i >= 20 && i < 40:
			v = 9
		case i >= 60 && i < 80:
			v = []float64{7.6, 8.2}[i%2]
		case i >= 100 && i < 112:
			v = 10
		}
		add(temp("reefer-1", at, v), at)
		offset := 200 * time.Millisecond
		if i >= 90 {
			offset = 5 * time.Second
		}
		switch {
		case i == 50:
			add(sensors.Reading{Sensor: "gps-1", Kind: sensors.KindStatus, Data: map[string]any{"event": statusFixLost}}, at)
		case i > 50 && i < 55:
		case i == 55:
			add(sensors.Reading{Sensor: "gps-1", Kind: sensors.KindStatus, Time: at, Clock: sensors.ClockGPS,
				Data: map[string]any{"event": statusFixRegained, "fix": "3d"}}, at.Add(offset))
			fallthrough
		default:
			add(gps("gps-1", at, 51.97, 3.3+float64(i)*0.005), at.Add(offset))
		}
		if i <= 30 {
			add(gps("gps-2", at, 51.0, 2.0), at.Add(offset+800*time.Millisecond)) // its silence is found by Tick
		}
		switch i {
		case 25:
			add(sealReading("seal-1", "TS7", sensors.SealSealed, at), at)
		case 140:
			add(sealReading("seal-1", "TS7", sensors.SealOpened, at), at)
		}
		out = append(out, action{recv: at.Add(150 * time.Second)}) // Tick
	}
	return out
}

// run records what an uninterrupted gateway does, action by action.
type run struct {
	g        *gateway
	logAfter []int        // log length after each action
	evAfter  []int        // events appended after each action
	evBefore []int        // before each action
	seq      []int64      // seq of each action's reading
	cp       []Checkpoint // checkpoint after each action
}

func record(t *testing.T, cfg Config, acts []action) *run {
	rn := &run{g: newGateway(t, cfg)}
	for _, a := range acts {
		rn.evBefore = append(rn.evBefore, len(rn.g.events))
		rn.seq = append(rn.seq, int64(len(rn.g.log)))
		if a.r != nil {
			rn.g.accept(*a.r, a.recv)
		} else {
			rn.g.tick(a.recv)
		}
		rn.logAfter = append(rn.logAfter, len(rn.g.log))
		rn.evAfter = append(rn.evAfter, len(rn.g.events))
		rn.cp = append(rn.cp, rn.g.e.Checkpoint())
	}
	return rn
}

// restart crashes the recorded run and starts a fresh engine. keep is the
// log length that survived, events the events appended up to then, cp the
// checkpoint to replay from (nil for a replay from seq 0). It returns the
// gateway with the replay done and the events Resume returned appended.
func restart(t *testing.T, cfg Config, rn *run, keep int, events int, cp *Checkpoint) (*gateway, []Event) {
	t.Helper()
	g := newGateway(t, cfg)
	g.log = slices.Clone(rn.g.log[:keep])
	g.events = slices.Clone(rn.g.events[:events])
	from := int64(0)
	if cp != nil {
		g.e.BeginReplay(*cp)
		from = cp.From
	}
	for _, o := range g.log[from:] {
		g.e.Replay(o)
	}
	resumed := g.e.Resume()
	last := time.Time{}
	if keep > 0 {
		last = g.log[keep-1].Recv
	}
	g.appendEvents(resumed, last)
	return g, resumed
}

func (g *gateway) play(acts []action) {
	for _, a := range acts {
		if a.r != nil {
			g.accept(*a.r, a.recv)
		} else {
			g.tick(a.recv)
		}
	}
}

func sameEvents(t *testing.T, what string, got, want []Event) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	n := 0
	for n < len(got) && n < len(want) && reflect.DeepEqual(got[n], want[n]) {
		n++
	}
	t.Fatalf("%s: %d events, want %d; first difference at %d:\ngot %s\nwant %s", what, len(got), len(want), n,
		dump(got[n:min(len(got), n+3)]), dump(want[n:min(len(want), n+3)]))
}

func TestRestartMixedStream(t *testing.T) {
	cfg := mixedConfig()
	acts := mixedStream()
	ref := record(t, cfg, acts)
	want := ref.g.events

	// The stream exercises every rule.
	seen := map[string]int{}
	for _, e := range want {
		seen[e.Kind]++
	}
	for _, k := range []string{KindExcursion, KindExcursionEnd, KindSilence, KindSealChange, KindGeofenceEnter, KindGPSFixLost, KindGPSFixRegained, KindClockJump} {
		if seen[k] == 0 {
			t.Errorf("the stream has no %s event: %s", k, dump(want))
		}
	}
	if seen[KindSealBreach] != 0 {
		t.Errorf("opened at the berth: breach %s", dump(only(want, KindSealBreach)))
	}
	// Some checkpoint replays start inside the first excursion (20 … 40
	// rounds) after it ended: the seal's state and gps-2's silence hold
	// From there. Such a replay sees the excursion begin late and must not
	// report it again.
	inside := false
	for i, cp := range ref.cp {
		at := ref.g.log[cp.From].Recv
		if at.After(t0.Add(20*5*time.Minute)) && at.Before(t0.Add(40*5*time.Minute)) && acts[i].recv.After(t0.Add(45*5*time.Minute)) {
			inside = true
		}
	}
	if !inside {
		t.Fatal("no checkpoint starts in the middle of the first excursion; the test lost its point")
	}

	for i := range acts {
		// Crash after action i; restart with a replay from seq 0.
		g, resumed := restart(t, cfg, ref, ref.logAfter[i], ref.evAfter[i], nil)
		if len(resumed) != 0 {
			t.Fatalf("crash after action %d, full replay: Resume returned %s", i, dump(resumed))
		}
		g.play(acts[i+1:])
		sameEvents(t, "full replay after action "+strconv.Itoa(i), g.events, want)

		// The same from the checkpoint stored six actions earlier.
		j := max(0, i-6)
		cp := ref.cp[j]
		g, resumed = restart(t, cfg, ref, ref.logAfter[i], ref.evAfter[i], &cp)
		if len(resumed) != 0 {
			t.Fatalf("crash after action %d, replay from %+v: Resume returned %s", i, cp, dump(resumed))
		}
		g.play(acts[i+1:])
		sameEvents(t, "checkpoint replay after action "+strconv.Itoa(i), g.events, want)

		// Crash after the reading was stored but before its events were:
		// Resume returns exactly them.
		if acts[i].r == nil || ref.evAfter[i] == ref.evBefore[i] {
			continue
		}
		lost := want[ref.evBefore[i]:ref.evAfter[i]]
		for _, c := range []*Checkpoint{nil, &cp} {
			g, resumed = restart(t, cfg, ref, int(ref.seq[i])+1, ref.evBefore[i], c)
			sameEvents(t, "Resume after losing action "+strconv.Itoa(i)+"'s events", resumed, lost)
			g.play(acts[i+1:])
			sameEvents(t, "replay after losing action "+strconv.Itoa(i)+"'s events", g.events, want)
		}
	}
}

// Restart in the middle of an excursion gives exactly one excursion event:
// the scenario of the issue, spelled out.
func TestRestartMidExcursion(t *testing.T) {
	cfg := warmRule(nil) // above 8 °C for 30 min
	values := cat(repeat(4, 3), repeat(9, 20), repeat(4, 3))
	var acts []action
	for i, v := range values {
		at := t0.Add(time.Duration(i) * 5 * time.Minute)
		r := temp("reefer-1", at, v)
		acts = append(acts, action{r: &r, recv: at})
	}
	for _, crash := range []int{5, 9, 10, 15} { // before, at and after the firing reading
		first := newGateway(t, cfg)
		first.play(acts[:crash])
		second := newGateway(t, cfg)
		second.log, second.events = slices.Clone(first.log), slices.Clone(first.events)
		for _, o := range second.log {
			second.e.Replay(o)
		}
		if evs := second.e.Resume(); len(evs) != 0 {
			t.Fatalf("crash after %d readings: Resume returned %s", crash, dump(evs))
		}
		second.play(acts[crash:])
		if got := kinds(second.events); !slices.Equal(got, []string{KindExcursion, KindExcursionEnd}) {
			t.Errorf("crash after %d readings: events in the log %s", crash, dump(second.events))
		}
		// Both runs' event readings are in the log: one excursion.
		n := 0
		for _, o := range second.log {
			if o.Reading.Kind == sensors.KindEvent && o.Reading.Data["kind"] == KindExcursion {
				n++
			}
		}
		if n != 1 {
			t.Errorf("crash after %d readings: %d excursion event readings in the log", crash, n)
		}
	}
}

// Observe and Tick end a replay the daemon forgot to Resume.
func TestObserveEndsReplay(t *testing.T) {
	cfg := warmRule(func(r *Rule) { r.Duration = 0 })
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Replay(Observed{Seq: 0, Reading: temp("reefer-1", t0, 9), Recv: t0})
	if !e.State().Replaying {
		t.Fatal("not replaying")
	}
	evs := e.Observe(Observed{Seq: 1, Reading: temp("reefer-1", t0.Add(time.Minute), 9), Recv: t0.Add(time.Minute)})
	if len(evs) != 1 || evs[0].FromSeq != 0 || e.State().Replaying {
		t.Fatalf("events %s", dump(evs))
	}
	// Readings out of order are ignored.
	if evs := e.Observe(Observed{Seq: 1, Reading: temp("reefer-1", t0, 20)}); evs != nil {
		t.Fatalf("a repeated seq gave %s", dump(evs))
	}
}
