package nmea

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// MaxLineLen is the longest sentence accepted, in bytes, from '$' through
// the checksum. NMEA 0183 allows 82 characters; RTK and high-precision
// receivers exceed that, so the limit here is larger.
const MaxLineLen = 256

// Options control how strict parsing is.
type Options struct {
	// AllowNoChecksum accepts standard sentences that carry no "*hh"
	// checksum. Without it such a sentence is an error of class
	// ClassNoChecksum. (Proprietary sentences are ignored either way.)
	AllowNoChecksum bool

	// BuildTime is the reference for GPS week-rollover detection when the
	// receive time is unknown or earlier: a date 1024 weeks (minus a
	// 30-day slack) before the later of BuildTime and the receive time is
	// not trusted. Zero means DefaultBuildTime().
	BuildTime time.Time
}

// Error classes: the Class of a *SentenceError, and the keys of
// Stats.Errors.
const (
	ClassFraming    = "framing"     // no '$', junk before it, glued sentences, control bytes
	ClassTooLong    = "too_long"    // longer than MaxLineLen
	ClassChecksum   = "checksum"    // wrong or malformed checksum
	ClassNoChecksum = "no_checksum" // standard sentence without checksum, not allowed
	ClassFields     = "fields"      // bad address or wrong number of fields
	ClassSyntax     = "syntax"      // a field that does not parse
	ClassRange      = "range"       // a value out of its physical range
)

// SentenceError says why a line was rejected. Its text is short and meant
// for a technician (it becomes the quarantine reason); Class groups errors
// for counting.
type SentenceError struct {
	Class  string // one of the Class constants
	Reason string // e.g. "bad checksum: got 4A, computed 4B"
}

func (e *SentenceError) Error() string { return e.Reason }

func errorf(class, format string, args ...any) *SentenceError {
	return &SentenceError{Class: class, Reason: fmt.Sprintf(format, args...)}
}

// Field is a set of the optional values a Sentence carries.
type Field uint16

// Values a sentence may carry.
const (
	FieldTime     Field = 1 << iota // Sentence.Time
	FieldDate                       // Sentence.Date
	FieldPosition                   // Sentence.Lat, Sentence.Lon
	FieldAltitude                   // Sentence.AltMSL
	FieldSpeed                      // Sentence.SpeedMPS
	FieldCourse                     // Sentence.CourseDeg
	FieldQuality                    // Sentence.Quality
	FieldFixMode                    // Sentence.FixMode
	FieldSats                       // Sentence.Sats
	FieldHDOP                       // Sentence.HDOP
)

// Quality is the kind of fix a receiver reports: the GGA quality field or
// the mode indicator of RMC, GLL, VTG and GNS.
type Quality uint8

// Fix qualities. The numbers are those of the GGA quality field.
const (
	QualityNone      Quality = iota // no fix (GGA 0, mode N)
	QualityGPS                      // autonomous GNSS fix (GGA 1, mode A)
	QualityDGPS                     // differential: DGPS or SBAS (GGA 2 or 9, mode D)
	QualityPPS                      // precise (GGA 3, mode P)
	QualityRTKFixed                 // RTK, integer ambiguities (GGA 4, mode R)
	QualityRTKFloat                 // RTK, float ambiguities (GGA 5, mode F)
	QualityEstimated                // dead reckoning (GGA 6, mode E)
	QualityManual                   // manual input (GGA 7, mode M)
	QualitySimulated                // simulator (GGA 8, mode S)
)

var qualityNames = [...]string{"none", "gps", "dgps", "pps", "rtk-fixed", "rtk-float", "estimated", "manual", "simulated"}

func (q Quality) String() string {
	if int(q) < len(qualityNames) {
		return qualityNames[q]
	}
	return "quality(" + strconv.Itoa(int(q)) + ")"
}

// Valid reports whether q is a real satellite fix. Dead reckoning, manual
// and simulated positions are not.
func (q Quality) Valid() bool {
	return q >= QualityGPS && q <= QualityRTKFloat
}

// rank orders valid qualities from plain to best corrected; used to pick
// the best of several per-constellation mode letters.
func (q Quality) rank() int {
	switch q {
	case QualityGPS:
		return 1
	case QualityDGPS, QualityPPS:
		return 2
	case QualityRTKFloat:
		return 3
	case QualityRTKFixed:
		return 4
	}
	return 0
}

// Sentence is one parsed NMEA 0183 sentence. Which of the optional values
// it carries is in Fields; position, altitude, speed and course are only
// taken from sentences the receiver marks valid (see Valid).
type Sentence struct {
	// Raw is the sentence from '$' through the checksum, without leading
	// whitespace or line ending. It aliases the line passed to
	// ParseSentence.
	Raw []byte

	Talker      string // "GP", "GN", "GL", "GA", "BD", "GB", ...; empty when Proprietary
	Type        string // "GGA", "RMC", ...; for proprietary sentences the whole address ("PMTK001")
	Proprietary bool   // a "$P..." sentence; nothing else is parsed
	Checksum    bool   // the sentence carried a checksum (and it matched)

	Fields Field // which of the values below are present

	// Valid is the receiver's own validity flag: GGA quality 1-5 (or 9),
	// RMC/GLL status A with a mode indicator that is not N/E/M/S, a GNS
	// mode with at least one valid constellation, VTG mode not N/E/M/S,
	// GSA fix mode 2 or 3. ZDA is always valid.
	Valid bool

	Time      time.Duration // UTC time of day since midnight
	Date      time.Time     // UTC date, at midnight
	Lat, Lon  float64       // decimal degrees, WGS84; south and west negative
	AltMSL    float64       // metres above mean sea level (GGA, GNS)
	SpeedMPS  float64       // speed over ground, m/s
	CourseDeg float64       // course over ground, degrees true
	Quality   Quality       // fix quality (GGA) or mode indicator
	FixMode   int           // GSA: 1 no fix, 2 2D, 3 3D
	Sats      int           // satellites used (GGA, GNS)
	HDOP      float64       // horizontal dilution of precision
	SatIDs    []int         // GSA: IDs of the satellites used
	SystemID  int           // GSA (NMEA 4.10): GNSS system id, 0 when absent
}

// Has reports whether s carries all of the values in f.
func (s *Sentence) Has(f Field) bool { return s.Fields&f == f }

// Supported reports whether the sentence is of a type this package decodes
// (GGA, RMC, GLL, VTG, GSA, GNS, ZDA).
func (s *Sentence) Supported() bool {
	if s.Proprietary {
		return false
	}
	switch s.Type {
	case "GGA", "RMC", "GLL", "VTG", "GSA", "GNS", "ZDA":
		return true
	}
	return false
}

// Physical limits beyond which a value is an error.
const (
	maxSpeedMPS = 1000    // far above any receiver's export limit (515 m/s)
	minAltM     = -2000   // below any land or sea surface
	maxAltM     = 100_000 // above any balloon
	maxDOP      = 999.99  // receivers report 99.99 when they have no fix
	maxSats     = 255
	maxSatID    = 999
)

// knotsToMPS converts knots (international nautical miles per hour) to m/s.
const knotsToMPS = 1852.0 / 3600.0

// ParseSentence parses one NMEA 0183 sentence. Whitespace and control
// bytes around the sentence are ignored (receivers pad with spaces, serial
// lines add NULs); anything else before the '$' is an error, as are glued
// sentences, bad checksums, wrong field counts and out-of-range values.
// Errors are *SentenceError.
//
// Proprietary "$P..." sentences are returned with Proprietary set and are
// not parsed further; their checksum is verified when they have one.
// Standard sentences of other types than the seven this package decodes
// are returned with only Talker and Type set (Supported reports false).
func ParseSentence(line []byte, opts Options) (Sentence, error) {
	s := trimSpace(line)
	if len(s) == 0 {
		return Sentence{}, errorf(ClassFraming, "empty line")
	}
	if len(s) > MaxLineLen {
		return Sentence{}, errorf(ClassTooLong, "line too long: %d bytes (max %d)", len(s), MaxLineLen)
	}
	if s[0] != '$' {
		i := bytes.IndexByte(s, '$')
		if i < 0 {
			return Sentence{}, errorf(ClassFraming, "no '$': not an NMEA sentence")
		}
		return Sentence{}, errorf(ClassFraming, "junk before '$': %q", clip(s[:i]))
	}
	if i := bytes.IndexByte(s[1:], '$'); i >= 0 {
		return Sentence{}, errorf(ClassFraming, "glued sentences: second '$' at byte %d", i+1)
	}
	for i, c := range s {
		if c < 0x20 || c > 0x7e {
			return Sentence{}, errorf(ClassFraming, "control or non-ASCII byte 0x%02x at byte %d", c, i)
		}
	}

	body := s[1:]
	hasChecksum := false
	if star := bytes.IndexByte(body, '*'); star >= 0 {
		ck := body[star+1:]
		body = body[:star]
		got, ok := parseHexByte(ck)
		if !ok {
			return Sentence{}, errorf(ClassChecksum, "malformed checksum %q", clip(ck))
		}
		var want byte
		for _, c := range body {
			want ^= c
		}
		if got != want {
			return Sentence{}, errorf(ClassChecksum, "bad checksum: got %02X, computed %02X", got, want)
		}
		hasChecksum = true
	}

	fields := bytes.Split(body, []byte{','})
	addr := fields[0]
	if len(addr) == 0 || !isAlnum(addr) {
		return Sentence{}, errorf(ClassFields, "bad address field %q", clip(addr))
	}
	sen := Sentence{Raw: s, Checksum: hasChecksum}
	if addr[0] == 'P' {
		sen.Proprietary = true
		sen.Type = string(addr)
		return sen, nil
	}
	if !hasChecksum && !opts.AllowNoChecksum {
		return Sentence{}, errorf(ClassNoChecksum, "missing checksum")
	}
	if len(addr) != 5 {
		return Sentence{}, errorf(ClassFields, "bad address field %q", clip(addr))
	}
	sen.Talker = string(addr[:2])
	sen.Type = string(addr[2:])
	p := parser{s: &sen, f: fields[1:]}
	var err error
	switch sen.Type {
	case "GGA":
		err = p.gga()
	case "RMC":
		err = p.rmc()
	case "GLL":
		err = p.gll()
	case "VTG":
		err = p.vtg()
	case "GSA":
		err = p.gsa()
	case "GNS":
		err = p.gns()
	case "ZDA":
		err = p.zda()
	default:
		return sen, nil
	}
	if err != nil {
		return Sentence{}, err
	}
	return sen, nil
}

// parser fills in a Sentence from its data fields (address excluded).
type parser struct {
	s *Sentence
	f [][]byte
}

func (p *parser) count(lo, hi int) error {
	n := len(p.f)
	if n >= lo && n <= hi {
		return nil
	}
	if lo == hi {
		return errorf(ClassFields, "%s: %d fields, want %d", p.s.Type, n, lo)
	}
	return errorf(ClassFields, "%s: %d fields, want %d to %d", p.s.Type, n, lo, hi)
}

// opt returns field i, or nil when the sentence is shorter.
func (p *parser) opt(i int) []byte {
	if i < len(p.f) {
		return p.f[i]
	}
	return nil
}

func (p *parser) fail(class, field, format string, args ...any) error {
	return errorf(class, "%s %s: %s", p.s.Type, field, fmt.Sprintf(format, args...))
}

func (p *parser) time(i int) error {
	b := p.f[i]
	if len(b) == 0 {
		return nil
	}
	d, err := parseTimeOfDay(b)
	if err != nil {
		return p.fail(err.Class, "time", "%s", err.Reason)
	}
	p.s.Time = d
	p.s.Fields |= FieldTime
	return nil
}

func (p *parser) position(i int) error {
	lat, okLat, err := p.coord(i, "latitude", 90, 'N', 'S')
	if err != nil {
		return err
	}
	lon, okLon, err := p.coord(i+2, "longitude", 180, 'E', 'W')
	if err != nil {
		return err
	}
	if okLat != okLon {
		return p.fail(ClassFields, "position", "latitude without longitude")
	}
	if okLat {
		p.s.Lat, p.s.Lon = lat, lon
		p.s.Fields |= FieldPosition
	}
	return nil
}

// coord parses an NMEA (d)ddmm.mmmm value and its hemisphere letter.
func (p *parser) coord(i int, name string, max float64, pos, neg byte) (float64, bool, error) {
	val, hemi := p.f[i], p.f[i+1]
	if len(val) == 0 && len(hemi) == 0 {
		return 0, false, nil
	}
	if len(val) == 0 || len(hemi) != 1 || (hemi[0] != pos && hemi[0] != neg) {
		return 0, false, p.fail(ClassSyntax, name, "%q,%q is not a value and %c/%c", clip(val), clip(hemi), pos, neg)
	}
	intLen := bytes.IndexByte(val, '.')
	if intLen < 0 {
		intLen = len(val)
	}
	maxInt := 4
	if max > 90 {
		maxInt = 5
	}
	if intLen < 3 || intLen > maxInt || !isDecimal(val) || val[0] == '+' || val[0] == '-' {
		return 0, false, p.fail(ClassSyntax, name, "%q is not (d)ddmm.mmmm", clip(val))
	}
	deg, _ := strconv.Atoi(string(val[:intLen-2]))
	min, err := strconv.ParseFloat(string(val[intLen-2:]), 64)
	if err != nil {
		return 0, false, p.fail(ClassSyntax, name, "%q is not (d)ddmm.mmmm", clip(val))
	}
	if min >= 60 {
		return 0, false, p.fail(ClassRange, name, "minutes %s out of range", val[intLen-2:])
	}
	v := float64(deg) + min/60
	if v > max {
		return 0, false, p.fail(ClassRange, name, "%.6f out of range (max %g)", v, max)
	}
	if hemi[0] == neg {
		v = -v
	}
	return v, true, nil
}

func (p *parser) float(i int, name string, lo, hi float64) (float64, bool, error) {
	b := p.opt(i)
	if len(b) == 0 {
		return 0, false, nil
	}
	v, ok := parseFloat(b)
	if !ok {
		return 0, false, p.fail(ClassSyntax, name, "%q is not a number", clip(b))
	}
	if v < lo || v > hi {
		return 0, false, p.fail(ClassRange, name, "%s out of range [%.6g, %.6g]", b, lo, hi)
	}
	return v, true, nil
}

func (p *parser) int(i int, name string, lo, hi int) (int, bool, error) {
	b := p.opt(i)
	if len(b) == 0 {
		return 0, false, nil
	}
	v, ok := parseUint(b)
	if !ok {
		return 0, false, p.fail(ClassSyntax, name, "%q is not an integer", clip(b))
	}
	if v < lo || v > hi {
		return 0, false, p.fail(ClassRange, name, "%d out of range [%d, %d]", v, lo, hi)
	}
	return v, true, nil
}

func (p *parser) altitude(i int) error {
	alt, ok, err := p.float(i, "altitude", minAltM, maxAltM)
	if err != nil || !ok {
		return err
	}
	p.s.AltMSL = alt
	p.s.Fields |= FieldAltitude
	return nil
}

func (p *parser) sats(i int) error {
	n, ok, err := p.int(i, "satellites", 0, maxSats)
	if ok {
		p.s.Sats = n
		p.s.Fields |= FieldSats
	}
	return err
}

func (p *parser) hdop(i int) error {
	v, ok, err := p.float(i, "HDOP", 0, maxDOP)
	if ok {
		p.s.HDOP = v
		p.s.Fields |= FieldHDOP
	}
	return err
}

func (p *parser) speedKnots(i int) error {
	v, ok, err := p.float(i, "speed", 0, maxSpeedMPS/knotsToMPS)
	if ok {
		p.s.SpeedMPS = v * knotsToMPS
		p.s.Fields |= FieldSpeed
	}
	return err
}

func (p *parser) course(i int) error {
	v, ok, err := p.float(i, "course", 0, 360)
	if ok {
		p.s.CourseDeg = v
		p.s.Fields |= FieldCourse
	}
	return err
}

// status parses an A/V status field.
func (p *parser) status(i int) (bool, error) {
	switch string(p.f[i]) {
	case "A":
		return true, nil
	case "V", "":
		return false, nil
	}
	return false, p.fail(ClassSyntax, "status", "%q is not A or V", clip(p.f[i]))
}

// mode parses an optional single-letter mode indicator; it reports
// whether one was present.
func (p *parser) mode(i int) (Quality, bool, error) {
	b := p.opt(i)
	if len(b) == 0 {
		return QualityNone, false, nil
	}
	q, ok := modeQuality(b[0])
	if len(b) != 1 || !ok {
		return QualityNone, false, p.fail(ClassSyntax, "mode", "%q is not a mode indicator", clip(b))
	}
	return q, true, nil
}

func modeQuality(c byte) (Quality, bool) {
	switch c {
	case 'N':
		return QualityNone, true
	case 'A':
		return QualityGPS, true
	case 'D':
		return QualityDGPS, true
	case 'P':
		return QualityPPS, true
	case 'R':
		return QualityRTKFixed, true
	case 'F':
		return QualityRTKFloat, true
	case 'E':
		return QualityEstimated, true
	case 'M':
		return QualityManual, true
	case 'S':
		return QualitySimulated, true
	}
	return QualityNone, false
}

// statusAndMode applies an A/V status and an optional mode indicator.
func (p *parser) statusAndMode(statusField, modeField int) error {
	ok, err := p.status(statusField)
	if err != nil {
		return err
	}
	q, hasMode, err := p.mode(modeField)
	if err != nil {
		return err
	}
	p.s.Valid = ok && (!hasMode || q.Valid())
	if hasMode {
		p.s.Quality = q
		p.s.Fields |= FieldQuality
	}
	return nil
}

// gga: time, lat, N/S, lon, E/W, quality, sats, HDOP, alt, M, geoid
// separation, M, DGPS age, DGPS station. SiRF-TriG receivers append a
// fifteenth field.
func (p *parser) gga() error {
	if err := p.count(14, 15); err != nil {
		return err
	}
	if err := p.time(0); err != nil {
		return err
	}
	q, ok, err := p.int(5, "quality", 0, 9)
	if err != nil {
		return err
	}
	if ok {
		if q == 9 { // some receivers report SBAS as 9
			q = int(QualityDGPS)
		}
		p.s.Quality = Quality(q)
		p.s.Fields |= FieldQuality
	}
	p.s.Valid = p.s.Quality.Valid()
	if err := p.sats(6); err != nil {
		return err
	}
	if err := p.hdop(7); err != nil {
		return err
	}
	if u := p.f[9]; len(u) > 0 && string(u) != "M" {
		return p.fail(ClassSyntax, "altitude unit", "%q is not M", clip(u))
	}
	if !p.s.Valid {
		return nil // the receiver says position and altitude are not a fix
	}
	if err := p.position(1); err != nil {
		return err
	}
	return p.altitude(8)
}

// rmc: time, status, lat, N/S, lon, E/W, speed (knots), course, date,
// magnetic variation, E/W, [mode, [navigation status]].
func (p *parser) rmc() error {
	if err := p.count(11, 13); err != nil {
		return err
	}
	if err := p.time(0); err != nil {
		return err
	}
	if b := p.f[8]; len(b) > 0 {
		d, err := parseDate(b)
		if err != nil {
			return p.fail(err.Class, "date", "%s", err.Reason)
		}
		p.s.Date = d
		p.s.Fields |= FieldDate
	}
	if err := p.statusAndMode(1, 11); err != nil {
		return err
	}
	if !p.s.Valid {
		return nil
	}
	if err := p.position(2); err != nil {
		return err
	}
	if err := p.speedKnots(6); err != nil {
		return err
	}
	return p.course(7)
}

// gll: lat, N/S, lon, E/W, time, status, [mode].
func (p *parser) gll() error {
	if err := p.count(6, 7); err != nil {
		return err
	}
	if err := p.time(4); err != nil {
		return err
	}
	if err := p.statusAndMode(5, 6); err != nil {
		return err
	}
	if !p.s.Valid {
		return nil
	}
	return p.position(0)
}

// vtg: course true, T, course magnetic, M, speed knots, N, speed km/h, K,
// [mode].
func (p *parser) vtg() error {
	if err := p.count(8, 9); err != nil {
		return err
	}
	q, hasMode, err := p.mode(8)
	if err != nil {
		return err
	}
	if hasMode {
		p.s.Quality = q
		p.s.Fields |= FieldQuality
	}
	p.s.Valid = !hasMode || q.Valid()
	if !p.s.Valid {
		return nil
	}
	if err := p.course(0); err != nil {
		return err
	}
	if err := p.speedKnots(4); err != nil {
		return err
	}
	if !p.s.Has(FieldSpeed) {
		v, ok, err := p.float(6, "speed", 0, maxSpeedMPS*3.6)
		if err != nil {
			return err
		}
		if ok {
			p.s.SpeedMPS = v / 3.6
			p.s.Fields |= FieldSpeed
		}
	}
	return nil
}

// gsa: selection mode, fix mode, 12 satellite IDs, PDOP, HDOP, VDOP,
// [system id]. SiRF-TriG receivers put a float in the system id field;
// anything that is not a small integer there is ignored.
func (p *parser) gsa() error {
	if err := p.count(17, 18); err != nil {
		return err
	}
	mode, ok, err := p.int(1, "fix mode", 1, 3)
	if err != nil {
		return err
	}
	if ok {
		p.s.FixMode = mode
		p.s.Fields |= FieldFixMode
	}
	p.s.Valid = mode >= 2
	for i := 2; i < 14; i++ {
		id, ok, err := p.int(i, "satellite id", 0, maxSatID)
		if err != nil {
			return err
		}
		if ok && id > 0 {
			p.s.SatIDs = append(p.s.SatIDs, id)
		}
	}
	if _, _, err := p.float(14, "PDOP", 0, maxDOP); err != nil {
		return err
	}
	if err := p.hdop(15); err != nil {
		return err
	}
	if _, _, err := p.float(16, "VDOP", 0, maxDOP); err != nil {
		return err
	}
	if id, ok := parseUint(p.opt(17)); ok && id >= 1 && id <= 15 {
		p.s.SystemID = id
	}
	return nil
}

// gns: time, lat, N/S, lon, E/W, mode (one letter per constellation),
// sats, HDOP, altitude MSL, geoid separation, DGPS age, DGPS station,
// [navigation status].
func (p *parser) gns() error {
	if err := p.count(12, 13); err != nil {
		return err
	}
	if err := p.time(0); err != nil {
		return err
	}
	best := QualityNone
	for _, c := range p.f[5] {
		q, ok := modeQuality(c)
		if !ok {
			return p.fail(ClassSyntax, "mode", "%q is not a mode indicator", clip(p.f[5]))
		}
		if q.rank() > best.rank() {
			best = q
		}
	}
	if len(p.f[5]) > 0 {
		p.s.Quality = best
		p.s.Fields |= FieldQuality
	}
	p.s.Valid = best.Valid()
	if err := p.sats(6); err != nil {
		return err
	}
	if err := p.hdop(7); err != nil {
		return err
	}
	if !p.s.Valid {
		return nil
	}
	if err := p.position(1); err != nil {
		return err
	}
	return p.altitude(8)
}

// zda: time, day, month, year, local zone hours, local zone minutes.
func (p *parser) zda() error {
	if err := p.count(6, 6); err != nil {
		return err
	}
	if err := p.time(0); err != nil {
		return err
	}
	p.s.Valid = true
	day, month, year := p.f[1], p.f[2], p.f[3]
	if len(day) == 0 && len(month) == 0 && len(year) == 0 {
		return nil
	}
	d, dok := parseUint(day)
	m, mok := parseUint(month)
	y, yok := parseUint(year)
	if !dok || !mok || !yok || len(year) != 4 {
		return p.fail(ClassSyntax, "date", "%q/%q/%q is not dd/mm/yyyy", clip(day), clip(month), clip(year))
	}
	date, err := civilDate(y, m, d)
	if err != nil {
		return p.fail(err.Class, "date", "%s", err.Reason)
	}
	p.s.Date = date
	p.s.Fields |= FieldDate
	return nil
}

// parseTimeOfDay parses hhmmss[.s...] with integer arithmetic, so that
// "132820.60" is exactly 13:28:20.600.
func parseTimeOfDay(b []byte) (time.Duration, *SentenceError) {
	if len(b) < 6 || !isDigits(b[:6]) || (len(b) > 6 && (b[6] != '.' || !isDigits(b[7:]))) {
		return 0, errorf(ClassSyntax, "%q is not hhmmss.ss", clip(b))
	}
	h := int(b[0]-'0')*10 + int(b[1]-'0')
	m := int(b[2]-'0')*10 + int(b[3]-'0')
	s := int(b[4]-'0')*10 + int(b[5]-'0')
	if h > 23 || m > 59 || s > 60 {
		return 0, errorf(ClassRange, "%s out of range", b)
	}
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second
	if len(b) > 7 {
		frac := b[7:]
		scale := time.Second
		for _, c := range frac {
			scale /= 10
			if scale == 0 {
				break
			}
			d += time.Duration(c-'0') * scale
		}
	}
	return d, nil
}

// parseDate parses an RMC ddmmyy date. Two-digit years 80-99 are 19xx
// (GPS time starts in 1980), 00-79 are 20xx.
func parseDate(b []byte) (time.Time, *SentenceError) {
	if len(b) != 6 || !isDigits(b) {
		return time.Time{}, errorf(ClassSyntax, "%q is not ddmmyy", clip(b))
	}
	d := int(b[0]-'0')*10 + int(b[1]-'0')
	m := int(b[2]-'0')*10 + int(b[3]-'0')
	y := int(b[4]-'0')*10 + int(b[5]-'0')
	if y >= 80 {
		y += 1900
	} else {
		y += 2000
	}
	return civilDate(y, m, d)
}

func civilDate(y, m, d int) (time.Time, *SentenceError) {
	if y < 1980 || y > 2200 || m < 1 || m > 12 || d < 1 || d > 31 {
		return time.Time{}, errorf(ClassRange, "%04d-%02d-%02d out of range", y, m, d)
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d {
		return time.Time{}, errorf(ClassRange, "%04d-%02d-%02d is not a date", y, m, d)
	}
	return t, nil
}

// parseFloat accepts [+-]digits[.digits] (at least one digit), nothing
// else: no exponents, NaN, Inf, hex or underscores.
func parseFloat(b []byte) (float64, bool) {
	if !isDecimal(b) {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(b), 64)
	return v, err == nil
}

func isDecimal(b []byte) bool {
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	digits, dots := 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// parseUint parses up to 9 decimal digits.
func parseUint(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 || !isDigits(b) {
		return 0, false
	}
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n, true
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isAlnum(b []byte) bool {
	for _, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func parseHexByte(b []byte) (byte, bool) {
	if len(b) != 2 {
		return 0, false
	}
	hi, ok1 := hexVal(b[0])
	lo, ok2 := hexVal(b[1])
	return hi<<4 | lo, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// trimSpace removes whitespace and control bytes (CR, LF, NUL, ...) from
// both ends.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && b[0] <= ' ' {
		b = b[1:]
	}
	for len(b) > 0 && b[len(b)-1] <= ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// clip shortens input quoted in an error message.
func clip(b []byte) []byte {
	const max = 16
	if len(b) > max {
		return b[:max]
	}
	return b
}
