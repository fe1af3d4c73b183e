package conditions

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors"
)

func TestEventReading(t *testing.T) {
	ev := Event{
		Rule: "fence", Kind: KindGeofenceEnter, Sensor: "gps-1", Container: "CSQU3054383",
		At: t0, Clock: sensors.ClockGPS, FromSeq: 7, ToSeq: 9,
		Values: map[string]any{"zone": "Rotterdam", "lat": 51.97, "lon": 4.04, "readings": int64(3)},
		Detail: "gps-1 entered Rotterdam",
	}
	r := ev.Reading()
	if r.Sensor != EventSensor || r.Kind != sensors.KindEvent || !r.Time.Equal(t0) || r.Clock != sensors.ClockGPS || r.Container != "CSQU3054383" {
		t.Errorf("reading %+v", r)
	}
	want := map[string]any{
		"rule": "fence", "kind": KindGeofenceEnter, "sensor": "gps-1", "detail": "gps-1 entered Rotterdam",
		"from_seq": int64(7), "to_seq": int64(9), "at": "2026-03-01T06:00:00Z",
		"zone": "Rotterdam", "lat": 51.97, "lon": 4.04, "readings": int64(3),
	}
	if !reflect.DeepEqual(r.Data, want) {
		t.Errorf("data %v\nwant %v", r.Data, want)
	}
	if r.MsgID != "fence/geofence_enter/gps-1/7/Rotterdam" {
		t.Errorf("msg id %q", r.MsgID)
	}
	// Every value is a type the envelope encodes.
	for k, v := range r.Data {
		switch v.(type) {
		case float64, int64, string, bool:
		default:
			t.Errorf("data[%s] is a %T", k, v)
		}
	}
	// The key survives the types a decoder may give the numbers (CBOR
	// unsigned, JSON float).
	k, ok := keyOfReading(&r)
	if !ok || k != ev.key() {
		t.Fatalf("key %v %v", k, ok)
	}
	for _, from := range []any{uint64(7), float64(7), int(7)} {
		r.Data["from_seq"] = from
		if k, ok := keyOfReading(&r); !ok || k != ev.key() {
			t.Errorf("from_seq as %T: key %v %v", from, k, ok)
		}
	}
	r.Data["from_seq"] = 7.5
	if _, ok := keyOfReading(&r); ok {
		t.Error("from_seq 7.5 taken for a key")
	}
	// Without a sensor clock the event claims no sensor time.
	ev.Clock = ""
	if r := ev.Reading(); !r.Time.IsZero() || r.Clock != "" || r.Data["at"] != "2026-03-01T06:00:00Z" {
		t.Errorf("gateway-time event reading %+v", r)
	}
}

// Two engines fed the same stream give the same events; State is a
// JSON-able snapshot.
func TestDeterministic(t *testing.T) {
	acts := mixedStream()
	a, b := record(t, mixedConfig(), acts), record(t, mixedConfig(), acts)
	if !reflect.DeepEqual(a.g.events, b.g.events) {
		t.Fatal("two runs differ")
	}
	// Mid-stream, something is in force.
	e := newGateway(t, mixedConfig())
	e.play(acts[:len(acts)/4])
	st := e.e.State()
	if len(st.Conditions) == 0 || st.LastSeq != int64(len(e.log)-1) || st.Horizon > st.LastSeq {
		t.Errorf("state %+v", st)
	}
	if _, err := json.Marshal(st); err != nil {
		t.Error(err)
	}
}

// The set of emitted keys is pruned and does not grow with the stream.
func TestEmittedPruned(t *testing.T) {
	cfg := warmRule(func(r *Rule) { r.Duration = 0 })
	g := newGateway(t, cfg)
	for i := 0; i < 20000; i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		g.accept(temp("reefer-1", at, []float64{4, 9}[i%2]), at)
	}
	if n := len(only(g.events, KindExcursion)); n != 10000 {
		t.Fatalf("%d excursions", n)
	}
	if n := len(g.e.emitted); n > 4096 {
		t.Errorf("%d keys kept", n)
	}
}

// FuzzEngine feeds readings made of arbitrary bytes — odd kinds, odd data
// types, NaNs, times going back — through every rule: never a panic, and
// replaying the stream gives no event twice.
func FuzzEngine(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b"))
	f.Add([]byte("temperature gps seal status  \xff\xff\xff\x00\x00\x80\x7f"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := newGateway(t, mixedConfig())
		kinds := []string{sensors.KindTemperature, sensors.KindGPS, sensors.KindSeal, sensors.KindStatus, sensors.KindEvent, "humidity"}
		ids := []string{"reefer-1", "gps-1", "gps-2", "seal-1", "rules"}
		values := []any{9.0, 4.0, math.NaN(), math.Inf(1), "9", int64(8), uint64(1 << 63), nil, true, -300.0, 51.97, 4.04}
		states := []any{sensors.SealSealed, sensors.SealOpened, sensors.SealTampered, "", 7, statusFixLost, statusFixRegained}
		at := t0
		for len(data) >= 6 {
			b := data[:6]
			data = data[6:]
			at = at.Add(time.Duration(int8(b[0])) * time.Minute)
			r := sensors.Reading{
				Sensor: ids[int(b[1])%len(ids)],
				Kind:   kinds[int(b[2])%len(kinds)],
				Data: map[string]any{
					"celsius": values[int(b[3])%len(values)],
					"lat":     values[int(b[4])%len(values)],
					"lon":     values[int(b[5])%len(values)],
					"state":   states[int(b[3])%len(states)],
					"event":   states[int(b[4])%len(states)],
					"rule":    "warm", "kind": KindExcursion,
					"from_seq": values[int(b[5])%len(values)],
				},
			}
			if b[0]&1 == 0 {
				r.Time, r.Clock = at, sensors.ClockGPS
			}
			g.accept(r, at.Add(time.Duration(b[5])*time.Second))
			if b[1]&3 == 0 {
				g.tick(at.Add(time.Duration(b[2]) * time.Minute))
			}
		}
		seen := map[eventKey]bool{}
		for _, e := range g.events {
			if seen[e.key()] {
				t.Fatalf("event twice: %s", dump([]Event{e}))
			}
			seen[e.key()] = true
		}
		h := newGateway(t, mixedConfig())
		for _, o := range g.log {
			h.e.Replay(o)
		}
		if evs := h.e.Resume(); len(evs) != 0 {
			t.Fatalf("replay of a complete log: Resume returned %s", dump(evs))
		}
	})
}

// BenchmarkObserve measures the engine on a steady stream: a reefer and a
// GPS reading at a time, one rule of every type, no events.
func BenchmarkObserve(b *testing.B) {
	e, err := New(mixedConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	seq := int64(0)
	for i := 0; b.Loop(); i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		var r sensors.Reading
		if i%2 == 0 {
			r = temp("reefer-1", at, 4)
		} else {
			r = gps("gps-1", at, 51.5, 3.0)
		}
		if evs := e.Observe(Observed{Seq: seq, Reading: r, Recv: at}); len(evs) != 0 && i > 2 {
			b.Fatalf("events %s", dump(evs))
		}
		seq++
	}
}
