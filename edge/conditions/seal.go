package conditions

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tallygw/tally/sensors"
)

// seal reports seal state changes, and openings outside the allowed zones
// or time.
type seal struct {
	name         string
	pats         []string
	posPats      []string
	maxAge       time.Duration
	allowedZones []string
	zones        map[string]*zone
	from, until  time.Time // zero when unset

	marks     map[string]*sealState // by sensor "\x00" seal id
	markOrder []*sealState
	positions map[string]*fix // latest GPS reading by sensor
	latest    time.Time       // latest time of a reading the rule took
}

type sealState struct {
	sensor, id string
	mark
}

// fix is one GPS position.
type fix struct {
	sensor   string
	lat, lon float64
	at       time.Time
	seq      int64
}

func newSeal(r Rule, zones map[string]*zone) *seal {
	from, until, _ := r.window("") // validated
	return &seal{
		name: r.Name, pats: r.Sensors, posPats: r.PositionSensors, maxAge: r.MaxPositionAge,
		allowedZones: r.AllowedZones, zones: zones, from: from, until: until,
		marks: map[string]*sealState{}, positions: map[string]*fix{},
	}
}

func (s *seal) observe(in *input, emit func(Event)) {
	r := in.r
	switch {
	case r.Kind == sensors.KindGPS && matchAny(s.posPats, r.Sensor):
		if lat, lon, ok := latLon(r); ok {
			f := s.positions[r.Sensor]
			if f == nil {
				f = &fix{sensor: r.Sensor}
				s.positions[r.Sensor] = f
			}
			f.lat, f.lon, f.at, f.seq = lat, lon, in.at, in.seq
		}
	case r.Kind == sensors.KindSeal && matchAny(s.pats, r.Sensor):
		s.sealReading(in, emit)
	default:
		return
	}
	if in.at.After(s.latest) {
		s.latest = in.at
	}
}

func (s *seal) sealReading(in *input, emit func(Event)) {
	r := in.r
	state, _ := r.Data["state"].(string)
	if state == "" {
		return
	}
	id, _ := r.Data["seal_id"].(string)
	k := r.Sensor + "\x00" + id
	m := s.marks[k]
	if m != nil && m.state == state {
		return
	}
	prev := "none"
	if m == nil {
		m = &sealState{sensor: r.Sensor, id: id}
		s.marks[k] = m
		s.markOrder = append(s.markOrder, m)
	} else {
		prev = m.state
	}
	m.state, m.seq, m.at, m.clock = state, in.seq, in.at, in.clock

	values := map[string]any{"state": state, "previous_state": prev}
	if id != "" {
		values["seal_id"] = id
	}
	if ev, ok := r.Data["event"].(string); ok && ev != "" {
		values["seal_event"] = ev
	}
	lat, lon, source, posAt, known := s.position(in)
	if known {
		values["lat"], values["lon"], values["position_source"] = lat, lon, source
		if source != r.Sensor {
			values["position_age_s"] = seconds(absDuration(in.at.Sub(posAt)))
		}
	}
	name := r.Sensor
	if id != "" {
		name = "seal " + id + " on " + r.Sensor
	}
	emit(Event{
		Rule: s.name, Kind: KindSealChange, Sensor: r.Sensor, Container: r.Container,
		At: in.at, Clock: in.clock, FromSeq: in.seq, ToSeq: in.seq, Values: values,
		Detail: fmt.Sprintf("%s: %s → %s", name, prev, state),
	})
	if state != sensors.SealOpened && state != sensors.SealTampered {
		return
	}

	reasons := s.breach(in.at, lat, lon, known)
	if len(reasons) == 0 {
		return
	}
	bv := make(map[string]any, len(values)+3)
	for k, v := range values {
		bv[k] = v
	}
	bv["reason"] = strings.Join(reasons, "; ")
	if len(s.allowedZones) > 0 {
		bv["allowed_zones"] = strings.Join(s.allowedZones, ", ")
	}
	if !s.from.IsZero() {
		bv["allowed_from"] = stamp(s.from)
	}
	if !s.until.IsZero() {
		bv["allowed_until"] = stamp(s.until)
	}
	where := "position unknown"
	if known {
		where = fmt.Sprintf("at %.5f, %.5f", lat, lon)
	}
	emit(Event{
		Rule: s.name, Kind: KindSealBreach, Sensor: r.Sensor, Container: r.Container,
		At: in.at, Clock: in.clock, FromSeq: in.seq, ToSeq: in.seq, Values: bv,
		Detail: fmt.Sprintf("%s %s %s %s: %s", name, state, where, stamp(in.at), bv["reason"]),
	})
}

// position is the seal reading's own position, else the latest fresh
// position of a position sensor.
func (s *seal) position(in *input) (lat, lon float64, source string, at time.Time, ok bool) {
	if lat, lon, ok := latLon(in.r); ok {
		return lat, lon, in.r.Sensor, in.at, true
	}
	var best *fix
	for _, f := range s.positions {
		if absDuration(in.at.Sub(f.at)) > s.maxAge {
			continue
		}
		if best == nil || f.at.After(best.at) || f.at.Equal(best.at) && f.sensor < best.sensor {
			best = f
		}
	}
	if best == nil {
		return 0, 0, "", time.Time{}, false
	}
	return best.lat, best.lon, best.sensor, best.at, true
}

// breach lists why an opening at t and the position is not allowed; none
// when it is. With neither zones nor a time window configured no opening is
// allowed. An unknown position is a breach when zones are configured.
func (s *seal) breach(t time.Time, lat, lon float64, known bool) []string {
	var why []string
	if len(s.allowedZones) == 0 && s.from.IsZero() && s.until.IsZero() {
		return []string{"no allowed zone or time is configured"}
	}
	if len(s.allowedZones) > 0 {
		inside := false
		if known {
			for _, name := range s.allowedZones {
				if z := s.zones[name]; z != nil && z.contains(lat, lon) {
					inside = true
					break
				}
			}
		}
		switch {
		case !known:
			why = append(why, "position unknown")
		case !inside:
			why = append(why, "outside the allowed zones")
		}
	}
	if !s.from.IsZero() && t.Before(s.from) || !s.until.IsZero() && t.After(s.until) {
		why = append(why, "outside the allowed time")
	}
	return why
}

func (s *seal) advance(time.Time, func(Event)) {}

func (s *seal) horizon() int64 {
	h := int64(math.MaxInt64)
	for _, m := range s.markOrder {
		h = min(h, m.seq)
	}
	for _, f := range s.positions {
		if s.latest.Sub(f.at) <= s.maxAge { // older ones can no longer be used
			h = min(h, f.seq)
		}
	}
	return h
}

func (s *seal) conditions(out *[]Condition) {
	for _, m := range s.markOrder {
		name := m.sensor
		if m.id != "" {
			name = "seal " + m.id + " on " + m.sensor
		}
		*out = append(*out, Condition{
			Rule: s.name, Kind: KindSealChange, Sensor: m.sensor, Since: m.at, FromSeq: m.seq,
			Detail: fmt.Sprintf("%s %s since %s", name, m.state, stamp(m.at)),
		})
	}
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
