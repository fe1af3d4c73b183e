// Package lines decodes simple ASCII line protocols, such as those of serial
// thermometers, described by configuration instead of code.
//
// A Config gives a Go regular expression (regexp/syntax) with named groups
// and maps each group to a reading field:
//
//	pattern: '^T=(?P<t>[-+]?\d+(?:\.\d+)?)C$'
//	kind: temperature
//	fields:
//	  t: {name: celsius}
//
// turns the line "T=23.5C" into a temperature reading with Data
// {"celsius": 23.5}. A field converts its group's text to a float64 (the
// default), an int64 or a string; a float is then multiplied by Scale and
// Offset is added (tenths of a degree: scale 0.1), and Min and Max reject
// values outside the sensor's range.
//
// The pattern is matched against the line without its trailing CR and LF
// bytes, and the leftmost match is used: anchor the pattern with ^ and $ to
// reject lines with anything around the expected text. A group that did not
// take part in the match (inside an optional part) leaves its field out; a
// group that matched text that does not convert is an error. Numbers may be
// surrounded by spaces (fixed-width devices pad them) and are decimal:
// "+0023.5", "-18.3", "1e2"; NaN, infinities and hex are errors.
//
// An optional time group and a Go time layout give the reading the device's
// time (Clock "device"); a layout without a zone is read as UTC. An optional
// message id group gives the device's own sequence number for deduplication.
package lines

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tallygw/tally/sensors"
)

// Field types.
const (
	TypeFloat  = "float"
	TypeInt    = "int"
	TypeString = "string"
)

// Config describes one line format. The yaml tags are the keys of the
// driver's section in the daemon's config file.
type Config struct {
	// Pattern is a Go regular expression with named groups, (?P<name>...).
	Pattern string `yaml:"pattern"`
	// Kind is the reading kind, e.g. "temperature" (sensors.Kind*).
	Kind string `yaml:"kind"`
	// Fields maps a group name of Pattern to the reading field it fills.
	Fields map[string]Field `yaml:"fields"`
	// TimeGroup, optional, names the group holding the device's time, and
	// TimeLayout is its Go time layout ("2006-01-02 15:04:05"). The layout
	// must give at least a date; without a zone the time is UTC.
	TimeGroup  string `yaml:"time_group"`
	TimeLayout string `yaml:"time_layout"`
	// MsgIDGroup, optional, names the group holding the device's own
	// message id or sequence number (Reading.MsgID).
	MsgIDGroup string `yaml:"msg_id_group"`
}

// Field maps one group to a reading field.
type Field struct {
	// Name is the key in Reading.Data, e.g. "celsius", "humidity_pct".
	Name string `yaml:"name"`
	// Type is float (the default when empty), int or string.
	Type string `yaml:"type"`
	// Scale multiplies a float field; 0 (unset) means 1.
	Scale float64 `yaml:"scale"`
	// Offset is added to a float field after Scale.
	Offset float64 `yaml:"offset"`
	// Min and Max, optional, bound a float or int field after Scale and
	// Offset; a value outside them is an error.
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
}

// ConfigError reports an invalid Config at a key ("fields.t.type").
type ConfigError = sensors.ConfigError

func configErr(key, format string, args ...any) error {
	return sensors.ConfigErr("lines", key, format, args...)
}

// Validate checks c without building a Decoder. Errors are *ConfigError.
func (c Config) Validate() error {
	_, err := compile(c)
	return err
}

// Decoder decodes lines of one configured format. It implements
// sensors.LineDecoder, holds no state between lines and is safe for
// concurrent use.
type Decoder struct {
	sensor string
	kind   string
	re     *regexp.Regexp
	fields []field // in the order of their groups in the pattern
	timeAt int     // subexpression index of the time group, 0 when none
	layout string
	msgAt  int // subexpression index of the message id group, 0 when none
}

var _ sensors.LineDecoder = (*Decoder)(nil)

// field is a validated Field.
type field struct {
	at       int // subexpression index
	name     string
	typ      string
	scale    float64
	offset   float64
	min, max *float64
}

// New returns a Decoder for the configured sensor id, after checking cfg.
// Config errors are *ConfigError and name the key.
func New(sensorID string, cfg Config) (*Decoder, error) {
	if sensorID == "" {
		return nil, errors.New("lines: empty sensor id")
	}
	d, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	d.sensor = sensorID
	return d, nil
}

func compile(c Config) (*Decoder, error) {
	if c.Pattern == "" {
		return nil, configErr("pattern", "empty")
	}
	re, err := regexp.Compile(c.Pattern)
	if err != nil {
		return nil, &ConfigError{Key: "pattern", Err: err}
	}
	if !validKind(c.Kind) {
		return nil, configErr("kind", "%q is not a reading kind (lower-case letters, digits, _), e.g. %q", c.Kind, sensors.KindTemperature)
	}
	d := &Decoder{kind: c.Kind, re: re, layout: c.TimeLayout}

	// group returns the index of the one group called name.
	group := func(key, name string) (int, error) {
		n := 0
		for _, s := range re.SubexpNames() {
			if s == name {
				n++
			}
		}
		switch {
		case name == "":
			return 0, configErr(key, "empty group name")
		case n == 0:
			return 0, configErr(key, "pattern has no group named %q (write (?P<%s>...))", name, name)
		case n > 1:
			return 0, configErr(key, "pattern has %d groups named %q; which one is meant is ambiguous", n, name)
		}
		return re.SubexpIndex(name), nil
	}

	if len(c.Fields) == 0 {
		return nil, configErr("fields", "no group is mapped to a reading field")
	}
	byName := map[string]string{} // reading field → group
	for _, g := range slices.Sorted(maps.Keys(c.Fields)) {
		f := c.Fields[g]
		key := "fields." + g
		at, err := group(key, g)
		if err != nil {
			return nil, err
		}
		if f.Name == "" {
			return nil, configErr(key+".name", "empty (the reading field this group fills, e.g. celsius)")
		}
		if prev, ok := byName[f.Name]; ok {
			return nil, configErr(key+".name", "%q is already filled by group %q", f.Name, prev)
		}
		byName[f.Name] = g
		cf := field{at: at, name: f.Name, typ: f.Type, scale: f.Scale, offset: f.Offset, min: f.Min, max: f.Max}
		if cf.typ == "" {
			cf.typ = TypeFloat
		}
		switch cf.typ {
		case TypeFloat:
			if cf.scale == 0 {
				cf.scale = 1
			}
			if !finite(cf.scale) {
				return nil, configErr(key+".scale", "%v is not a finite number", f.Scale)
			}
			if !finite(cf.offset) {
				return nil, configErr(key+".offset", "%v is not a finite number", f.Offset)
			}
		case TypeInt, TypeString:
			if f.Scale != 0 {
				return nil, configErr(key+".scale", "applies to float fields only, this one is %s", cf.typ)
			}
			if f.Offset != 0 {
				return nil, configErr(key+".offset", "applies to float fields only, this one is %s", cf.typ)
			}
		default:
			return nil, configErr(key+".type", "unknown type %q (want float, int or string)", f.Type)
		}
		if cf.typ == TypeString && f.Min != nil {
			return nil, configErr(key+".min", "applies to numbers, this field is a string")
		}
		if cf.typ == TypeString && f.Max != nil {
			return nil, configErr(key+".max", "applies to numbers, this field is a string")
		}
		if f.Min != nil && !finite(*f.Min) {
			return nil, configErr(key+".min", "%v is not a finite number", *f.Min)
		}
		if f.Max != nil && !finite(*f.Max) {
			return nil, configErr(key+".max", "%v is not a finite number", *f.Max)
		}
		if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
			return nil, configErr(key+".max", "%v is below min %v", *f.Max, *f.Min)
		}
		d.fields = append(d.fields, cf)
	}
	slices.SortFunc(d.fields, func(a, b field) int { return cmp.Compare(a.at, b.at) })

	switch {
	case c.TimeGroup != "" && c.TimeLayout == "":
		return nil, configErr("time_layout", "empty, but time_group is set (a Go layout such as %q)", time.DateTime)
	case c.TimeGroup == "" && c.TimeLayout != "":
		return nil, configErr("time_group", "empty, but time_layout is set")
	case c.TimeGroup != "":
		if d.timeAt, err = group("time_group", c.TimeGroup); err != nil {
			return nil, err
		}
		if !hasDate(c.TimeLayout) {
			return nil, configErr("time_layout", "%q does not give a full date (year, month, day)", c.TimeLayout)
		}
	}
	if c.MsgIDGroup != "" {
		if d.msgAt, err = group("msg_id_group", c.MsgIDGroup); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func validKind(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// hasDate reports whether layout keeps the date of a time it formats.
func hasDate(layout string) bool {
	ref := time.Date(2031, 11, 27, 13, 14, 15, 0, time.UTC)
	t, err := time.Parse(layout, ref.Format(layout))
	return err == nil && t.Year() == ref.Year() && t.YearDay() == ref.YearDay()
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Decode decodes one line into one reading, or returns an error whose text
// is the quarantine reason: the line does not match the pattern, a group does
// not convert, a value is out of range, or the time does not match the
// layout. Raw is a copy of line.
func (d *Decoder) Decode(line []byte, recv time.Time) ([]sensors.Reading, error) {
	body := line
	for len(body) > 0 && (body[len(body)-1] == '\n' || body[len(body)-1] == '\r') {
		body = body[:len(body)-1]
	}
	loc := d.re.FindSubmatchIndex(body)
	if loc == nil {
		return nil, fmt.Errorf("lines: no match for pattern %q", d.re.String())
	}
	// sub returns the text of group i and whether it took part in the match.
	sub := func(i int) (string, bool) {
		if loc[2*i] < 0 {
			return "", false
		}
		return string(body[loc[2*i]:loc[2*i+1]]), true
	}

	data := make(map[string]any, len(d.fields))
	for _, f := range d.fields {
		s, ok := sub(f.at)
		if !ok {
			continue
		}
		v, err := f.convert(s)
		if err != nil {
			return nil, fmt.Errorf("lines: field %s: %w", f.name, err)
		}
		data[f.name] = v
	}
	if len(data) == 0 {
		return nil, errors.New("lines: line matched but none of the mapped groups took part")
	}
	r := sensors.Reading{
		Sensor: d.sensor,
		Kind:   d.kind,
		Data:   data,
		Raw:    append([]byte(nil), line...),
	}
	if d.timeAt > 0 {
		if s, ok := sub(d.timeAt); ok {
			t, err := time.Parse(d.layout, strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("lines: time %q does not match layout %q", s, d.layout)
			}
			if err := sensors.CheckDeviceTime(t); err != nil {
				return nil, fmt.Errorf("lines: %w", err)
			}
			r.Time, r.Clock = t, sensors.ClockDevice
		}
	}
	if d.msgAt > 0 {
		if s, ok := sub(d.msgAt); ok {
			if !utf8.ValidString(s) {
				return nil, fmt.Errorf("lines: message id %q is not valid UTF-8", s)
			}
			r.MsgID = s
		}
	}
	return []sensors.Reading{r}, nil
}

// Flush returns nil: a line is decoded whole, nothing is held back.
func (d *Decoder) Flush() []sensors.Reading { return nil }

func (f field) convert(s string) (any, error) {
	switch f.typ {
	case TypeString:
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("%q is not valid UTF-8", s)
		}
		return s, nil
	case TypeInt:
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("%q is out of range", s)
		}
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", s)
		}
		return v, f.check(float64(v))
	}
	t := strings.TrimSpace(s)
	if t == "" || strings.ContainsFunc(t, func(r rune) bool { return !strings.ContainsRune("0123456789+-.eE", r) }) {
		return nil, fmt.Errorf("%q is not a number", s)
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("%q is out of range", s)
		}
		return nil, fmt.Errorf("%q is not a number", s)
	}
	v = v*f.scale + f.offset
	if !finite(v) {
		return nil, fmt.Errorf("%q is out of range after scale and offset", s)
	}
	return v, f.check(v)
}

func (f field) check(v float64) error {
	switch {
	case f.min != nil && v < *f.min:
		return fmt.Errorf("%s below min %s", fmtNum(v), fmtNum(*f.min))
	case f.max != nil && v > *f.max:
		return fmt.Errorf("%s above max %s", fmtNum(v), fmtNum(*f.max))
	}
	return nil
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
