package conditions

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tallygw/tally/sensors"
)

// temperature evaluates one temperature rule over every series (sensor and
// probe) it matches.
type temperature struct {
	name        string
	pats        []string
	probes      []string
	voyageSeals []string
	above       bool
	threshold   float64
	hyst        float64
	limit       time.Duration
	cumulative  bool
	window      time.Duration // cumulative; 0 = since the voyage started
	maxGap      time.Duration

	series map[seriesKey]*tseries
	order  []*tseries // first seen first

	// Voyage seals (cumulative without window).
	seals   map[string]*mark // by sensor "\x00" seal id
	resetAt time.Time        // the latest voyage start; zero before any
}

type seriesKey struct{ sensor, probe string }

// treading is one temperature reading of a series.
type treading struct {
	seq   int64
	at    time.Time
	clock string
	v     float64
}

// tseries is the state of one sensor and probe.
type tseries struct {
	sensor, probe, container string
	have                     bool
	last                     treading

	// in is the excursion state after last, with hysteresis.
	in bool
	// start is the reading that put the series in excursion (valid while
	// in). A run (consecutive) or stretch (cumulative) is counted from it.
	start treading
	// from is the seq that identifies the run or stretch in events: the
	// start reading's, or a voyage seal reading's when a new voyage began
	// during the stretch.
	from int64

	// consecutive
	peak  float64 // worst value held during the run
	fired bool    // the run reached the duration

	// cumulative
	segs []segment // counted time in excursion, oldest first
	ep   *episode  // the sum reached the duration and has not dropped back
}

// segment is time in excursion counted for a cumulative rule: the part of
// one stretch between gaps, voyage starts and the window's start.
type segment struct {
	from int64 // the stretch's from
	need int64 // seq of the stretch's start reading: a replay must include it
	a, b time.Time
	peak float64
}

// episode is a cumulative excursion that fired.
type episode struct {
	from    int64 // the stretch in which the sum reached the duration
	need    int64 // smallest need of the segments summed when it fired
	peak    float64
	accrued time.Duration // time in excursion counted since it fired
}

// mark is the last known state of a seal.
type mark struct {
	state string
	seq   int64 // the reading that set the state
	at    time.Time
	clock string
}

func newTemperature(r Rule) *temperature {
	t := &temperature{
		name:        r.Name,
		pats:        r.Sensors,
		probes:      r.Probes,
		voyageSeals: r.VoyageSeals,
		limit:       r.Duration,
		cumulative:  r.Mode == ModeCumulative,
		window:      r.Window,
		maxGap:      r.MaxGap,
		hyst:        r.HysteresisC,
		series:      map[seriesKey]*tseries{},
		seals:       map[string]*mark{},
	}
	if r.AboveC != nil {
		t.above, t.threshold = true, *r.AboveC
	} else {
		t.threshold = *r.BelowC
	}
	return t
}

// enters reports whether v puts a series in excursion: at or past the
// threshold.
func (t *temperature) enters(v float64) bool {
	if t.above {
		return v >= t.threshold
	}
	return v <= t.threshold
}

// leaves reports whether v ends an excursion: back past the threshold by
// more than the hysteresis.
func (t *temperature) leaves(v float64) bool {
	if t.above {
		return v < t.threshold-t.hyst
	}
	return v > t.threshold+t.hyst
}

// worse returns the value further into excursion.
func (t *temperature) worse(a, b float64) float64 {
	if t.above {
		return math.Max(a, b)
	}
	return math.Min(a, b)
}

func (t *temperature) observe(in *input, emit func(Event)) {
	r := in.r
	if r.Kind == sensors.KindSeal && t.cumulative && len(t.voyageSeals) > 0 && matchAny(t.voyageSeals, r.Sensor) {
		t.sealReading(in, emit)
		return
	}
	if r.Kind != sensors.KindTemperature || !matchAny(t.pats, r.Sensor) {
		return
	}
	v, ok := floatValue(r.Data["celsius"])
	if !ok {
		return
	}
	probe, _ := r.Data["probe"].(string)
	if len(t.probes) > 0 && !slices.Contains(t.probes, probe) {
		return
	}
	k := seriesKey{r.Sensor, probe}
	s := t.series[k]
	if s == nil {
		s = &tseries{sensor: r.Sensor, probe: probe}
		t.series[k] = s
		t.order = append(t.order, s)
	}
	if r.Container != "" {
		s.container = r.Container
	}
	cur := treading{seq: in.seq, at: in.at, clock: in.clock, v: v}
	if t.cumulative {
		t.stepCumulative(s, cur, emit)
	} else {
		t.stepConsecutive(s, cur, emit)
	}
}

// gap reports whether the interval from the last reading to cur is a gap:
// longer than max_gap, or going back in time.
func (t *temperature) gap(s *tseries, cur treading) (time.Duration, bool) {
	d := cur.at.Sub(s.last.at)
	return d, d < 0 || d > t.maxGap
}

func (t *temperature) stepConsecutive(s *tseries, cur treading, emit func(Event)) {
	if s.have && s.in {
		if d, gap := t.gap(s, cur); gap {
			// The run ends where the counted time ends: at the last
			// reading before the gap.
			if s.fired {
				t.emitEnd(s, emit, s.last.at, s.last.clock, cur.seq, s.last.at.Sub(s.start.at), s.peak,
					"gap", fmt.Sprintf("no reading for %s (max_gap %s)", human(d), human(t.maxGap)), d)
			}
			s.in, s.fired = false, false
		} else {
			s.peak = t.worse(s.peak, s.last.v)
			if dur := cur.at.Sub(s.start.at); !s.fired && dur >= t.limit {
				s.fired = true
				t.emitStart(s, emit, s.start.at.Add(t.limit), s.start.clock, cur.seq, dur, s.peak)
			}
		}
	}
	s.have = true
	if s.in && t.leaves(cur.v) {
		if s.fired {
			t.emitEnd(s, emit, cur.at, cur.clock, cur.seq, cur.at.Sub(s.start.at), s.peak,
				"recovered", fmt.Sprintf("back at %.1f °C", cur.v), 0)
		}
		s.in, s.fired = false, false
	}
	if !s.in && t.enters(cur.v) {
		s.in, s.start, s.from, s.peak, s.fired = true, cur, cur.seq, cur.v, false
		if t.limit == 0 {
			s.fired = true
			t.emitStart(s, emit, cur.at, cur.clock, cur.seq, 0, cur.v)
		}
	}
	s.last = cur
}

func (t *temperature) stepCumulative(s *tseries, cur treading, emit func(Event)) {
	if s.have {
		_, gap := t.gap(s, cur)
		switch {
		case gap:
			s.in = false // unknown across a gap: a new stretch needs a reading at the threshold
		case s.in:
			a := s.last.at
			if a.Before(t.resetAt) {
				a = t.resetAt
			}
			if cur.at.After(a) {
				t.count(s, a, cur.at, s.last.v)
			}
		}
		t.trim(s, cur.at)
		total := t.total(s, cur.at)
		switch {
		case s.ep == nil && total >= t.limit:
			at := firstTime(s.last.at, cur.at, func(τ time.Time) bool { return t.total(s, τ) >= t.limit })
			ep := &episode{from: s.from, need: math.MaxInt64, peak: s.last.v, accrued: cur.at.Sub(at)}
			if n := len(s.segs); n > 0 {
				ep.from = s.segs[n-1].from
			}
			lo := t.windowStart(at)
			for _, g := range s.segs {
				if g.b.After(lo) {
					ep.need = min(ep.need, g.need)
					ep.peak = t.worse(ep.peak, g.peak)
				}
			}
			s.ep = ep
			t.emitStart(s, emit, at, cur.clock, cur.seq, total, ep.peak)
		case s.ep != nil && t.window > 0 && total < t.limit:
			at := firstTime(s.last.at, cur.at, func(τ time.Time) bool { return t.total(s, τ) < t.limit })
			t.emitEnd(s, emit, at, cur.clock, cur.seq, t.limit+s.ep.accrued, s.ep.peak,
				"window", fmt.Sprintf("less than %s in excursion within the last %s", human(t.limit), human(t.window)), 0)
			s.ep = nil
		}
	}
	s.have = true
	if s.in && t.leaves(cur.v) {
		s.in = false
	}
	if !s.in && t.enters(cur.v) {
		s.in, s.start, s.from = true, cur, cur.seq
	}
	s.last = cur
}

// count adds [a, b) in excursion at value v to the current stretch.
func (t *temperature) count(s *tseries, a, b time.Time, v float64) {
	if n := len(s.segs); n > 0 && a.Before(s.segs[n-1].b) {
		a = s.segs[n-1].b // a sensor clock that went back: count no instant twice
		if !b.After(a) {
			return
		}
	}
	if n := len(s.segs); n > 0 && s.segs[n-1].from == s.from && s.segs[n-1].b.Equal(a) {
		g := &s.segs[n-1]
		g.b, g.peak = b, t.worse(g.peak, v)
	} else {
		s.segs = append(s.segs, segment{from: s.from, need: s.start.seq, a: a, b: b, peak: v})
	}
	if s.ep != nil {
		s.ep.accrued += b.Sub(a)
		s.ep.peak = t.worse(s.ep.peak, v)
	}
}

// windowStart is where the sum ending at τ begins: the window's start or the
// voyage's, whichever is later.
func (t *temperature) windowStart(τ time.Time) time.Time {
	lo := t.resetAt
	if t.window > 0 {
		if w := τ.Add(-t.window); w.After(lo) {
			lo = w
		}
	}
	return lo
}

// total is the time in excursion summed over the window ending at τ.
func (t *temperature) total(s *tseries, τ time.Time) time.Duration {
	lo := t.windowStart(τ)
	var sum time.Duration
	for _, g := range s.segs {
		a, b := g.a, g.b
		if a.Before(lo) {
			a = lo
		}
		if b.After(τ) {
			b = τ
		}
		if b.After(a) {
			sum += b.Sub(a)
		}
	}
	return sum
}

// trim drops segments that ended before the window ending at now.
func (t *temperature) trim(s *tseries, now time.Time) {
	if t.window == 0 {
		return
	}
	lo := now.Add(-t.window)
	i := 0
	for i < len(s.segs) && !s.segs[i].b.After(lo) {
		i++
	}
	s.segs = s.segs[i:]
}

// firstTime returns the earliest τ in [lo, hi] at which ok holds, to the
// nanosecond; ok must be monotone over the interval and hold at hi.
func firstTime(lo, hi time.Time, ok func(time.Time) bool) time.Time {
	l, h := time.Duration(0), hi.Sub(lo)
	if h < 0 {
		return hi
	}
	for l < h {
		m := l + (h-l)/2
		if ok(lo.Add(m)) {
			h = m
		} else {
			l = m + 1
		}
	}
	return lo.Add(l)
}

// sealReading starts a new voyage when a voyage seal changes to sealed.
func (t *temperature) sealReading(in *input, emit func(Event)) {
	state, _ := in.r.Data["state"].(string)
	if state == "" {
		return
	}
	id, _ := in.r.Data["seal_id"].(string)
	k := in.r.Sensor + "\x00" + id
	m := t.seals[k]
	if m != nil && m.state == state {
		return
	}
	if m == nil {
		m = &mark{}
		t.seals[k] = m
	}
	m.state, m.seq, m.at, m.clock = state, in.seq, in.at, in.clock
	if state != sensors.SealSealed || !in.at.After(t.resetAt) {
		return
	}
	t.resetAt = in.at
	for _, s := range t.order {
		if s.ep != nil {
			t.emitEnd(s, emit, in.at, in.clock, in.seq, t.limit+s.ep.accrued, s.ep.peak,
				"new voyage", fmt.Sprintf("seal %s on %s sealed for a new voyage", id, in.r.Sensor), 0)
			s.ep = nil
		}
		s.segs = nil
		if s.in {
			s.from = in.seq // the stretch goes on, counted anew
		}
	}
}

func (t *temperature) direction() (word, sign string) {
	if t.above {
		return "above", "≥"
	}
	return "below", "≤"
}

func (t *temperature) baseValues(s *tseries, dur time.Duration, peak float64) map[string]any {
	word, _ := t.direction()
	v := map[string]any{
		"threshold_c":  t.threshold,
		"direction":    word,
		"hysteresis_c": t.hyst,
		"peak_c":       peak,
		"duration_s":   seconds(dur),
		"limit_s":      seconds(t.limit),
		"mode":         ModeConsecutive,
		"max_gap_s":    seconds(t.maxGap),
	}
	if t.cumulative {
		v["mode"] = ModeCumulative
		if t.window > 0 {
			v["window_s"] = seconds(t.window)
		}
		if !t.resetAt.IsZero() {
			v["voyage_start"] = stamp(t.resetAt)
		}
	}
	if s.probe != "" {
		v["probe"] = s.probe
	}
	return v
}

// emitStart reports that a series reached the duration.
func (t *temperature) emitStart(s *tseries, emit func(Event), at time.Time, clock string, to int64, dur time.Duration, peak float64) {
	word, _ := t.direction()
	from := s.from
	if s.ep != nil {
		from = s.ep.from
	}
	var detail string
	if t.cumulative {
		span := "since the voyage started"
		if t.window > 0 {
			span = "within " + human(t.window)
		} else if t.resetAt.IsZero() {
			span = "since the first reading"
		}
		detail = fmt.Sprintf("%s: %s in total %s %.1f °C %s (peak %.1f °C)",
			label(s.sensor, s.probe), human(t.limit), word, t.threshold, span, peak)
	} else {
		detail = fmt.Sprintf("%s: %s %.1f °C for %s since %s (peak %.1f °C)",
			label(s.sensor, s.probe), word, t.threshold, human(t.limit), stamp(s.start.at), peak)
	}
	emit(Event{
		Rule: t.name, Kind: KindExcursion, Sensor: s.sensor, Container: s.container,
		At: at, Clock: clock, FromSeq: from, ToSeq: to,
		Values: t.baseValues(s, dur, peak), Detail: detail,
	})
}

// emitEnd reports the end of an excursion that fired.
func (t *temperature) emitEnd(s *tseries, emit func(Event), at time.Time, clock string, to int64, dur time.Duration, peak float64, reason, why string, gap time.Duration) {
	word, _ := t.direction()
	from := s.from
	if s.ep != nil {
		from = s.ep.from
	}
	v := t.baseValues(s, dur, peak)
	v["reason"] = reason
	if gap != 0 {
		v["gap_s"] = seconds(gap)
	}
	emit(Event{
		Rule: t.name, Kind: KindExcursionEnd, Sensor: s.sensor, Container: s.container,
		At: at, Clock: clock, FromSeq: from, ToSeq: to, Values: v,
		Detail: fmt.Sprintf("%s: excursion %s %.1f °C over after %s in excursion (peak %.1f °C): %s",
			label(s.sensor, s.probe), word, t.threshold, human(dur), peak, why),
	})
}

func (t *temperature) advance(time.Time, func(Event)) {}

func (t *temperature) horizon() int64 {
	h := int64(math.MaxInt64)
	for _, s := range t.order {
		h = min(h, s.last.seq)
		if s.in {
			h = min(h, s.start.seq)
		}
		for _, g := range s.segs {
			h = min(h, g.need)
		}
		if s.ep != nil {
			h = min(h, s.ep.need)
		}
	}
	for _, m := range t.seals {
		h = min(h, m.seq)
	}
	return h
}

func (t *temperature) conditions(out *[]Condition) {
	word, _ := t.direction()
	for _, s := range t.order {
		switch {
		case !t.cumulative && s.in:
			state := "not yet for " + human(t.limit)
			if s.fired {
				state = "fired"
			}
			*out = append(*out, Condition{
				Rule: t.name, Kind: KindExcursion, Sensor: s.sensor, Since: s.start.at, FromSeq: s.from,
				Detail: fmt.Sprintf("%s %s %.1f °C since %s, last %.1f °C (%s)", label(s.sensor, s.probe), word, t.threshold, stamp(s.start.at), s.last.v, state),
			})
		case t.cumulative && (s.ep != nil || len(s.segs) > 0):
			total := t.total(s, s.last.at)
			state := "under the limit"
			var since time.Time
			from := s.from
			if len(s.segs) > 0 {
				since, from = s.segs[0].a, s.segs[0].from
			}
			if s.ep != nil {
				state, from = "fired", s.ep.from
			}
			*out = append(*out, Condition{
				Rule: t.name, Kind: KindExcursion, Sensor: s.sensor, Since: since, FromSeq: from,
				Detail: fmt.Sprintf("%s: %s of %s %s %.1f °C counted (%s)", label(s.sensor, s.probe), human(total), human(t.limit), word, t.threshold, state),
			})
		}
	}
}
