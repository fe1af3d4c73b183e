package conditions

import (
	"fmt"
	"math"
	"time"

	"github.com/tallygw/tally/sensors"
)

// Values of Data["event"] in the status readings of GPS drivers
// (sensors/nmea).
const (
	statusFixLost     = "fix_lost"
	statusFixRegained = "fix_regained"
)

// gpsFix reports GPS receivers losing and regaining their fix, from the
// status readings the drivers emit.
type gpsFix struct {
	name  string
	pats  []string
	state map[string]*fixState
	order []*fixState
}

type fixState struct {
	sensor string
	lost   bool
	seq    int64     // the fix_lost reading, while lost
	at     time.Time // its rule time
	recv   time.Time // and receive time
}

func newGPSFix(r Rule) *gpsFix {
	return &gpsFix{name: r.Name, pats: r.Sensors, state: map[string]*fixState{}}
}

func (g *gpsFix) observe(in *input, emit func(Event)) {
	r := in.r
	if r.Kind != sensors.KindStatus || !matchAny(g.pats, r.Sensor) {
		return
	}
	event, _ := r.Data["event"].(string)
	if event != statusFixLost && event != statusFixRegained {
		return
	}
	s := g.state[r.Sensor]
	if s == nil {
		s = &fixState{sensor: r.Sensor}
		g.state[r.Sensor] = s
		g.order = append(g.order, s)
	}
	switch {
	case event == statusFixLost && !s.lost:
		s.lost, s.seq, s.at, s.recv = true, in.seq, in.at, in.recv
		emit(Event{
			Rule: g.name, Kind: KindGPSFixLost, Sensor: r.Sensor, Container: r.Container,
			At: in.at, Clock: in.clock, FromSeq: in.seq, ToSeq: in.seq,
			Values: map[string]any{},
			Detail: fmt.Sprintf("%s lost its fix", r.Sensor),
		})
	case event == statusFixRegained:
		from := in.seq
		values := map[string]any{}
		detail := fmt.Sprintf("%s has a fix again", r.Sensor)
		if s.lost {
			from = s.seq
			lost := in.recv.Sub(s.recv)
			values["lost_s"] = seconds(lost)
			detail = fmt.Sprintf("%s has a fix again after %s without", r.Sensor, human(lost))
		}
		if f, ok := r.Data["fix"].(string); ok && f != "" {
			values["fix"] = f
		}
		s.lost = false
		emit(Event{
			Rule: g.name, Kind: KindGPSFixRegained, Sensor: r.Sensor, Container: r.Container,
			At: in.at, Clock: in.clock, FromSeq: from, ToSeq: in.seq,
			Values: values, Detail: detail,
		})
	}
}

func (g *gpsFix) advance(time.Time, func(Event)) {}

func (g *gpsFix) horizon() int64 {
	h := int64(math.MaxInt64)
	for _, s := range g.order {
		if s.lost {
			h = min(h, s.seq)
		}
	}
	return h
}

func (g *gpsFix) conditions(out *[]Condition) {
	for _, s := range g.order {
		if s.lost {
			*out = append(*out, Condition{
				Rule: g.name, Kind: KindGPSFixLost, Sensor: s.sensor, Since: s.at, FromSeq: s.seq,
				Detail: "no GPS fix since " + stamp(s.at),
			})
		}
	}
}

// clock compares the gateway clock with GPS time: the offset of a GPS
// reading is its receive time minus its GPS time.
type clock struct {
	name    string
	pats    []string
	maxJump time.Duration
	last    map[string]*offset
	order   []*offset
}

type offset struct {
	sensor string
	seq    int64
	d      time.Duration
}

func newClock(r Rule) *clock {
	return &clock{name: r.Name, pats: r.Sensors, maxJump: r.MaxJump, last: map[string]*offset{}}
}

func (c *clock) observe(in *input, emit func(Event)) {
	r := in.r
	if r.Kind != sensors.KindGPS || r.Clock != sensors.ClockGPS || r.Time.IsZero() || !matchAny(c.pats, r.Sensor) {
		return
	}
	d := in.recv.Sub(r.Time)
	o := c.last[r.Sensor]
	if o == nil {
		o = &offset{sensor: r.Sensor}
		c.last[r.Sensor] = o
		c.order = append(c.order, o)
	} else if jump := d - o.d; absDuration(jump) > c.maxJump {
		emit(Event{
			Rule: c.name, Kind: KindClockJump, Sensor: r.Sensor, Container: r.Container,
			At: r.Time, Clock: sensors.ClockGPS, FromSeq: o.seq, ToSeq: in.seq,
			Values: map[string]any{
				"offset_s":          seconds(d),
				"previous_offset_s": seconds(o.d),
				"jump_s":            seconds(jump),
				"max_jump_s":        seconds(c.maxJump),
			},
			Detail: fmt.Sprintf("gateway clock jumped %+.3f s against GPS time from %s (offset %+.3f s, was %+.3f s)",
				jump.Seconds(), r.Sensor, d.Seconds(), o.d.Seconds()),
		})
	}
	o.seq, o.d = in.seq, d
}

func (c *clock) advance(time.Time, func(Event)) {}

func (c *clock) horizon() int64 {
	h := int64(math.MaxInt64)
	for _, o := range c.order {
		h = min(h, o.seq)
	}
	return h
}

func (c *clock) conditions(*[]Condition) {}
