package conditions

import (
	"fmt"
	"math"
	"time"
)

// silence watches sensors for readings that stop coming. It runs on the
// gateway clock: receive times and Tick.
type silence struct {
	name    string
	pats    []string
	after   time.Duration
	sensors map[string]*heard
	order   []*heard // first heard first
}

type heard struct {
	sensor, container string
	seq               int64     // the sensor's last reading
	recv              time.Time // and when it was received
	silent            bool      // a silence was reported and the sensor has not been heard since
}

func newSilence(r Rule) *silence {
	return &silence{name: r.Name, pats: r.Sensors, after: r.After, sensors: map[string]*heard{}}
}

func (s *silence) observe(in *input, emit func(Event)) {
	id := in.r.Sensor
	if !matchAny(s.pats, id) {
		return
	}
	h := s.sensors[id]
	if h == nil {
		h = &heard{sensor: id}
		s.sensors[id] = h
		s.order = append(s.order, h)
	} else if h.silent {
		quiet := in.recv.Sub(h.recv)
		emit(Event{
			Rule: s.name, Kind: KindSensorBack, Sensor: id, Container: h.container,
			At: in.recv, FromSeq: h.seq, ToSeq: in.seq,
			Values: map[string]any{"silent_s": seconds(quiet), "after_s": seconds(s.after), "last_seen": stamp(h.recv)},
			Detail: fmt.Sprintf("%s reports again after %s without a reading", id, human(quiet)),
		})
	}
	if in.r.Container != "" {
		h.container = in.r.Container
	}
	h.seq, h.silent = in.seq, false
	if in.recv.After(h.recv) {
		h.recv = in.recv
	}
}

// advance reports every watched sensor not heard from for at least after.
func (s *silence) advance(now time.Time, emit func(Event)) {
	var evs []Event
	for _, h := range s.order {
		if h.silent || now.Sub(h.recv) < s.after {
			continue
		}
		h.silent = true
		evs = append(evs, Event{
			Rule: s.name, Kind: KindSilence, Sensor: h.sensor, Container: h.container,
			At: h.recv.Add(s.after), FromSeq: h.seq, ToSeq: h.seq,
			Values: map[string]any{"after_s": seconds(s.after), "last_seen": stamp(h.recv)},
			Detail: fmt.Sprintf("no reading from %s for %s (last at %s)", h.sensor, human(s.after), stamp(h.recv)),
		})
	}
	sortEvents(evs)
	for _, ev := range evs {
		emit(ev)
	}
}

func (s *silence) horizon() int64 {
	h := int64(math.MaxInt64)
	for _, x := range s.order {
		h = min(h, x.seq)
	}
	return h
}

func (s *silence) conditions(out *[]Condition) {
	for _, h := range s.order {
		if h.silent {
			*out = append(*out, Condition{
				Rule: s.name, Kind: KindSilence, Sensor: h.sensor, Since: h.recv.Add(s.after), FromSeq: h.seq,
				Detail: fmt.Sprintf("no reading since %s", stamp(h.recv)),
			})
		}
	}
}
