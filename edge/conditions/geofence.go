package conditions

import (
	"fmt"
	"math"
	"time"

	"github.com/tallygw/tally/sensors"
)

// geofence reports GPS sensors entering and leaving zones.
type geofence struct {
	name    string
	pats    []string
	zones   []*zone
	confirm int
	tracks  map[string]*track
	order   []*track
}

// track is one GPS sensor's side of each zone.
type track struct {
	sensor, container string
	z                 []side // by zone index
}

type side struct {
	known  bool
	inside bool
	seq    int64 // the reading that began the present side
	since  time.Time
	// Readings on the other side so far, and the first of them.
	cand    int
	candSeq int64
	candAt  time.Time
	candClk string
	candLat float64
	candLon float64
}

func newGeofence(r Rule, zones map[string]*zone, order []string) *geofence {
	g := &geofence{name: r.Name, pats: r.Sensors, confirm: r.Confirm, tracks: map[string]*track{}}
	names := r.Zones
	if len(names) == 0 {
		names = order
	}
	for _, n := range names {
		g.zones = append(g.zones, zones[n])
	}
	return g
}

func (g *geofence) observe(in *input, emit func(Event)) {
	r := in.r
	if r.Kind != sensors.KindGPS || !matchAny(g.pats, r.Sensor) {
		return
	}
	lat, lon, ok := latLon(r)
	if !ok {
		return
	}
	t := g.tracks[r.Sensor]
	if t == nil {
		t = &track{sensor: r.Sensor, z: make([]side, len(g.zones))}
		g.tracks[r.Sensor] = t
		g.order = append(g.order, t)
	}
	if r.Container != "" {
		t.container = r.Container
	}
	for i, z := range g.zones {
		s := &t.z[i]
		inside := z.contains(lat, lon)
		switch {
		case !s.known:
			// The first reading sets the side; inside, it is an entry.
			s.known, s.inside, s.seq, s.since = true, inside, in.seq, in.at
			if inside {
				g.emit(emit, t, z, KindGeofenceEnter, in.seq, in.seq, in.at, in.clock, lat, lon, 1)
			}
			continue
		case inside == s.inside:
			s.cand = 0
			continue
		}
		if s.cand == 0 {
			s.candSeq, s.candAt, s.candClk, s.candLat, s.candLon = in.seq, in.at, in.clock, lat, lon
		}
		s.cand++
		if s.cand < g.confirm {
			continue
		}
		s.inside, s.seq, s.since, s.cand = inside, s.candSeq, s.candAt, 0
		kind := KindGeofenceExit
		if inside {
			kind = KindGeofenceEnter
		}
		g.emit(emit, t, z, kind, s.candSeq, in.seq, s.candAt, s.candClk, s.candLat, s.candLon, g.confirm)
	}
}

func (g *geofence) emit(emit func(Event), t *track, z *zone, kind string, from, to int64, at time.Time, clock string, lat, lon float64, readings int) {
	verb := "left"
	if kind == KindGeofenceEnter {
		verb = "entered"
	}
	emit(Event{
		Rule: g.name, Kind: kind, Sensor: t.sensor, Container: t.container,
		At: at, Clock: clock, FromSeq: from, ToSeq: to,
		Values: map[string]any{"zone": z.name, "lat": lat, "lon": lon, "readings": int64(readings)},
		Detail: fmt.Sprintf("%s %s %s at %.5f, %.5f", t.sensor, verb, z.name, lat, lon),
	})
}

func (g *geofence) advance(time.Time, func(Event)) {}

// horizon: an inside side depends on the reading that began it (a replay
// from later would report a new entry); an outside side on nothing but the
// next reading; pending readings on the other side on the first of them.
func (g *geofence) horizon() int64 {
	h := int64(math.MaxInt64)
	for _, t := range g.order {
		for _, s := range t.z {
			if s.known && s.inside {
				h = min(h, s.seq)
			}
			if s.cand > 0 {
				h = min(h, s.candSeq)
			}
		}
	}
	return h
}

func (g *geofence) conditions(out *[]Condition) {
	for _, t := range g.order {
		for i, s := range t.z {
			if s.known && s.inside {
				*out = append(*out, Condition{
					Rule: g.name, Kind: KindGeofenceEnter, Sensor: t.sensor, Since: s.since, FromSeq: s.seq,
					Detail: fmt.Sprintf("in %s since %s", g.zones[i].name, stamp(s.since)),
				})
			}
		}
	}
}
