package nmea

import (
	"errors"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/tallygw/tally/sensors"
)

// Values of the "fix" key of gps readings, and of status readings.
const (
	FixNone     = "none"      // no fix (status readings only)
	Fix2D       = "2d"        // autonomous 2D fix
	Fix3D       = "3d"        // autonomous 3D fix
	FixDGPS     = "dgps"      // differential fix (DGPS, SBAS)
	FixRTKFixed = "rtk-fixed" // RTK with fixed integer ambiguities
	FixRTKFloat = "rtk-float" // RTK with float ambiguities
)

// Events of status readings (Data["event"]).
const (
	EventFixLost     = "fix_lost"
	EventFixRegained = "fix_regained"
)

// Values of Data["time_note"] on gps readings whose Time is zero.
const (
	NoteRollover    = "week-rollover suspected"
	NoteDateUnknown = "date unknown"
	NoteTimeUnknown = "time unknown"
)

// RolloverAge is how far before the reference time (the later of the
// receive time and Options.BuildTime) a GPS date must be to be taken for
// a week-number rollover: 1024 weeks less 30 days of slack for a gateway
// clock that runs slow.
const RolloverAge = 1024*7*24*time.Hour - 30*24*time.Hour

// releaseTime is the floor of DefaultBuildTime: when this code was written.
var releaseTime = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// DefaultBuildTime is the build time used when Options.BuildTime is zero:
// the VCS commit time recorded in the binary, or the date this package was
// released when the binary carries none (tests, builds outside a
// repository), whichever is later.
func DefaultBuildTime() time.Time { return defaultBuildTime() }

var defaultBuildTime = sync.OnceValue(func() time.Time {
	t := releaseTime
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key != "vcs.time" {
				continue
			}
			if vt, err := time.Parse(time.RFC3339, s.Value); err == nil && vt.After(t) {
				t = vt.UTC()
			}
		}
	}
	return t
})

// Epoch limits: an epoch that grows past them (a receiver that never sends
// a time) is closed early so memory stays bounded.
const (
	maxEpochSentences = 64
	maxEpochBytes     = 8 << 10
)

// Stats counts what a Decoder saw.
type Stats struct {
	Sentences   uint64            `json:"sentences"`   // sentences of the decoded types, parsed and used
	Proprietary uint64            `json:"proprietary"` // proprietary "$P..." sentences, ignored
	Unknown     uint64            `json:"unknown"`     // standard sentences of other types (GSV, GST, TXT, ...), ignored
	Empty       uint64            `json:"empty"`       // blank lines, ignored
	Positions   uint64            `json:"positions"`   // gps readings produced
	Status      uint64            `json:"status"`      // status readings produced (fix lost / regained)
	Errors      map[string]uint64 `json:"errors"`      // rejected lines, by error class (Class constants)
}

// fixState is what the decoder last knew about the fix.
type fixState uint8

const (
	fixUnknown fixState = iota
	fixValid
	fixInvalid
)

// Decoder turns NMEA lines from one GPS receiver into readings. It merges
// the sentences of one fix epoch (same UTC time of day) into one reading
// of kind gps; an epoch closes when a sentence with another time arrives,
// or on Flush. Sentences without a time (VTG, GSA) belong to the epoch
// they arrive in. Where sentences of an epoch disagree, GGA wins over GNS,
// RMC, GLL, VTG and GSA, in that order.
//
// Only valid fixes become gps readings (see Sentence.Valid). Their Data:
//
//	lat, lon    float64  decimal degrees WGS84, south and west negative (always)
//	fix         string   FixDGPS, FixRTKFixed or FixRTKFloat when the fix is
//	                     corrected, else Fix2D or Fix3D (GSA fix mode; without
//	                     GSA, 3d when the fix has an altitude) (always)
//	alt_m       float64  metres above mean sea level (GGA, GNS)
//	speed_mps   float64  speed over ground (RMC, VTG)
//	course_deg  float64  course over ground, degrees true (RMC, VTG)
//	sats        int64    satellites used: the distinct satellites GSA lists,
//	                     else the largest GGA/GNS count
//	hdop        float64  horizontal dilution of precision (GGA, GNS, GSA)
//	time_note   string   why Time is zero: NoteRollover, NoteDateUnknown,
//	                     NoteTimeUnknown
//
// Time is the epoch's GPS time (Clock "gps"): its UTC time of day on the
// date from the epoch's ZDA or valid RMC, or carried over from the previous
// epoch when that is at most an hour earlier (moved on a day past
// midnight; refused when the receive times show a longer gap). It stays
// zero without a date, and
// when the date is RolloverAge or more before the later of the receive
// time and Options.BuildTime: a receiver hit by a GPS week-number
// rollover reports dates 1024 weeks in the past.
//
// Raw holds the epoch's sentences of the decoded types ('$' through
// checksum; GSV, proprietary and other ignored sentences are not part of
// it) joined by "\r\n".
//
// Losing the fix, and getting one after having had none, produce a reading
// of kind status before the epoch's gps reading, with Data {"event":
// EventFixLost or EventFixRegained, "fix": FixNone or the new fix}; its
// Time follows the same rules (fix_lost has none). A stream that starts
// with a fix gives no event.
//
// A Decoder is safe for concurrent use (Stats may be called while another
// goroutine decodes).
type Decoder struct {
	sensor string
	opts   Options

	mu       sync.Mutex // guards the fields below
	cur      epoch
	date     time.Time     // last known date, carried to epochs without one
	dateTOD  time.Duration // time of day of the epoch date came from
	dateRecv time.Time     // receive time of that epoch
	haveDate bool
	fix      fixState
	stats    Stats
}

var _ sensors.LineDecoder = (*Decoder)(nil)

// NewDecoder returns a Decoder for the GPS receiver sensorID.
func NewDecoder(sensorID string, opts Options) *Decoder {
	if opts.BuildTime.IsZero() {
		opts.BuildTime = DefaultBuildTime()
	}
	return &Decoder{sensor: sensorID, opts: opts, stats: Stats{Errors: map[string]uint64{}}}
}

// Decode takes one line and the gateway time it was received. It returns
// the readings of the epoch the line closed, if any, or an error
// (*SentenceError) whose text is the quarantine reason. Proprietary and
// unknown sentences and blank lines are counted and otherwise ignored.
func (d *Decoder) Decode(line []byte, recv time.Time) ([]sensors.Reading, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(trimSpace(line)) == 0 {
		d.stats.Empty++
		return nil, nil
	}
	s, err := ParseSentence(line, d.opts)
	if err != nil {
		class := ClassSyntax
		if se, ok := errors.AsType[*SentenceError](err); ok {
			class = se.Class
		}
		d.stats.Errors[class]++
		return nil, err
	}
	switch {
	case s.Proprietary:
		d.stats.Proprietary++
		return nil, nil
	case !s.Supported():
		d.stats.Unknown++
		return nil, nil
	}
	d.stats.Sentences++

	var out []sensors.Reading
	e := &d.cur
	if e.n > 0 && (s.Has(FieldTime) && e.hasTime && s.Time != e.tod ||
		e.n >= maxEpochSentences || len(e.raw)+len(s.Raw) > maxEpochBytes) {
		out = d.closeEpoch()
	}
	e.add(&s, recv)
	return out, nil
}

// Flush closes the open epoch and returns its readings. The decoder keeps
// the last known date and fix state for lines that follow.
func (d *Decoder) Flush() []sensors.Reading {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closeEpoch()
}

// Stats returns a copy of the counters.
func (d *Decoder) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	s.Errors = maps.Clone(d.stats.Errors)
	return s
}

// closeEpoch turns the open epoch into readings and starts a new one.
func (d *Decoder) closeEpoch() []sensors.Reading {
	e := d.cur
	d.cur = epoch{}
	if e.n == 0 {
		return nil
	}

	date, haveDate := e.date, e.hasDate
	if !haveDate && e.hasTime {
		date, haveDate = d.carryDate(&e)
	}
	if e.hasTime {
		d.date, d.dateTOD, d.dateRecv, d.haveDate = date, e.tod, e.recv, haveDate
	}

	if !e.fixInfo {
		return nil // only GSA/VTG/ZDA: nothing said about the fix
	}
	valid := e.pos.ok
	prev := d.fix
	if valid {
		d.fix = fixValid
	} else {
		d.fix = fixInvalid
	}

	base := sensors.Reading{Sensor: d.sensor, Raw: e.raw}
	var note string
	if valid {
		switch {
		case !e.hasTime:
			note = NoteTimeUnknown
		case !haveDate:
			note = NoteDateUnknown
		default:
			t := date.Add(e.tod)
			ref := d.opts.BuildTime
			if e.recv.After(ref) {
				ref = e.recv
			}
			if ref.Sub(t) >= RolloverAge {
				note = NoteRollover
			} else {
				base.Time, base.Clock = t, sensors.ClockGPS
			}
		}
	}

	var out []sensors.Reading
	switch {
	case valid && prev == fixInvalid:
		r := base
		r.Raw = slices.Clone(e.raw) // the gps reading below has its own
		r.Kind = sensors.KindStatus
		r.Data = map[string]any{"event": EventFixRegained, "fix": e.fixString()}
		out = append(out, r)
	case !valid && prev == fixValid:
		r := base
		r.Kind = sensors.KindStatus
		r.Data = map[string]any{"event": EventFixLost, "fix": FixNone}
		out = append(out, r)
	}
	d.stats.Status += uint64(len(out))
	if !valid {
		return out
	}

	data := map[string]any{
		"lat": e.pos.v.lat,
		"lon": e.pos.v.lon,
		"fix": e.fixString(),
	}
	if e.alt.ok {
		data["alt_m"] = e.alt.v
	}
	if e.speed.ok {
		data["speed_mps"] = e.speed.v
	}
	if e.course.ok {
		data["course_deg"] = e.course.v
	}
	if n, ok := e.satsUsed(); ok {
		data["sats"] = int64(n)
	}
	if e.hdop.ok {
		data["hdop"] = e.hdop.v
	}
	if note != "" {
		data["time_note"] = note
	}
	r := base
	r.Kind = sensors.KindGPS
	r.Data = data
	d.stats.Positions++
	return append(out, r)
}

// maxCarry is how far the time of day may move on from the epoch the last
// date came from for that date to be carried over.
const maxCarry = time.Hour

// carryDate returns the date of the last dated epoch for epoch e, moved on
// a day when e's time of day wrapped past midnight. It refuses when e is
// more than maxCarry after that epoch or before it, or when the receive
// times say more time passed than the times of day do (the receiver was
// off for days): a wrong date is worse than none.
func (d *Decoder) carryDate(e *epoch) (time.Time, bool) {
	if !d.haveDate {
		return time.Time{}, false
	}
	date := d.date
	delta := e.tod - d.dateTOD
	if delta < -12*time.Hour {
		delta += 24 * time.Hour
		date = date.AddDate(0, 0, 1)
	}
	if delta < -time.Minute || delta > maxCarry {
		return time.Time{}, false
	}
	if !e.recv.IsZero() && !d.dateRecv.IsZero() {
		if gap := e.recv.Sub(d.dateRecv) - delta; gap < -time.Minute || gap > time.Minute {
			return time.Time{}, false
		}
	}
	return date, true
}

// Source ranks: when sentences of one epoch disagree, the value from the
// better-ranked sentence wins (GGA over GNS over RMC over GLL over VTG
// over GSA); among equals, the first.
var sourceRank = map[string]int{"GGA": 1, "GNS": 2, "RMC": 3, "GLL": 4, "VTG": 5, "GSA": 6}

// ranked is a value with the rank of the sentence it came from.
type ranked[T any] struct {
	v    T
	rank int
	ok   bool
}

func (r *ranked[T]) offer(v T, rank int) {
	if !r.ok || rank < r.rank {
		r.v, r.rank, r.ok = v, rank, true
	}
}

type latLon struct{ lat, lon float64 }

type satKey struct {
	talker string
	system int
	id     int
}

// epoch accumulates the sentences of one fix epoch.
type epoch struct {
	n       int
	raw     []byte
	recv    time.Time // receive time of the first sentence
	tod     time.Duration
	hasTime bool
	date    time.Time
	hasDate bool
	fixInfo bool // a GGA, GNS, RMC or GLL was seen

	pos     ranked[latLon] // from valid sentences only
	alt     ranked[float64]
	speed   ranked[float64]
	course  ranked[float64]
	quality ranked[Quality]
	hdop    ranked[float64]
	sats    ranked[int] // GGA/GNS count; the largest when several talkers report
	fixMode int         // best GSA fix mode
	used    map[satKey]struct{}
}

func (e *epoch) add(s *Sentence, recv time.Time) {
	if e.n > 0 {
		e.raw = append(e.raw, '\r', '\n')
	} else {
		e.recv = recv
	}
	e.raw = append(e.raw, s.Raw...)
	e.n++

	if s.Has(FieldTime) && !e.hasTime {
		e.tod, e.hasTime = s.Time, true
	}
	// Dates come from ZDA (four-digit year, preferred) and from RMC with
	// status A: receivers without a fix fill RMC with a default date
	// (1980-01-05 on MediaTek), and gpsd ignores those too.
	if s.Has(FieldDate) && (s.Type == "ZDA" || s.Valid && !e.hasDate) {
		e.date, e.hasDate = s.Date, true
	}
	rank := sourceRank[s.Type]
	switch s.Type {
	case "GGA", "GNS", "RMC", "GLL":
		e.fixInfo = true
	}
	if !s.Valid {
		return
	}
	if s.Has(FieldHDOP) {
		e.hdop.offer(s.HDOP, rank)
	}
	if s.Has(FieldPosition) {
		e.pos.offer(latLon{s.Lat, s.Lon}, rank)
	}
	if s.Has(FieldAltitude) {
		e.alt.offer(s.AltMSL, rank)
	}
	if s.Has(FieldSpeed) {
		e.speed.offer(s.SpeedMPS, rank)
	}
	if s.Has(FieldCourse) {
		e.course.offer(s.CourseDeg, rank)
	}
	if s.Has(FieldQuality) && s.Type != "VTG" {
		e.quality.offer(s.Quality, rank)
	}
	if s.Has(FieldSats) && (!e.sats.ok || s.Sats > e.sats.v) {
		e.sats = ranked[int]{v: s.Sats, rank: rank, ok: true}
	}
	if s.Has(FieldFixMode) && s.FixMode > e.fixMode {
		e.fixMode = s.FixMode
	}
	if len(s.SatIDs) > 0 {
		if e.used == nil {
			e.used = map[satKey]struct{}{}
		}
		for _, id := range s.SatIDs {
			e.used[satKey{s.Talker, s.SystemID, id}] = struct{}{}
		}
	}
}

// satsUsed is the number of distinct satellites the GSA sentences list,
// else the GGA/GNS count (GGA is capped at 12 by many receivers, and
// per-constellation talkers each count their own).
func (e *epoch) satsUsed() (int, bool) {
	if len(e.used) > 0 {
		return len(e.used), true
	}
	return e.sats.v, e.sats.ok
}

// fixString describes a valid fix: the correction kind when there is one,
// else the dimension (GSA fix mode, else 3D when an altitude came with it).
func (e *epoch) fixString() string {
	switch e.quality.v {
	case QualityDGPS:
		return FixDGPS
	case QualityRTKFixed:
		return FixRTKFixed
	case QualityRTKFloat:
		return FixRTKFloat
	}
	switch {
	case e.fixMode == 2:
		return Fix2D
	case e.fixMode == 3 || e.alt.ok:
		return Fix3D
	}
	return Fix2D
}
