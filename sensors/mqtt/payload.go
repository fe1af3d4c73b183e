package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tallygw/tally/sensors"
	"github.com/tallygw/tally/sensors/iso6346"
)

// Quarantine reason classes: the Class of a *PayloadError, and the keys of
// Stats.Quarantined.
const (
	ClassTooLarge     = "too_large"     // payload above max_payload
	ClassUTF8         = "utf8"          // payload is not valid UTF-8
	ClassJSON         = "json"          // malformed JSON, not one object, duplicate key
	ClassSchema       = "schema"        // unknown field, missing field, wrong type
	ClassRange        = "range"         // value out of range, unknown word
	ClassContainer    = "container"     // container number with a bad format or check digit
	ClassNMEA         = "nmea"          // an NMEA sentence the nmea decoder rejected
	ClassUnknownTopic = "unknown_topic" // topic matches no configured filter
	ClassTopic        = "topic"         // topic levels that do not make a sensor id
	ClassLimit        = "limit"         // more topic-derived NMEA sensors than the subscriber keeps
)

// PayloadError says why a payload was not decoded. Reason is short and
// meant for a technician (it becomes the quarantine reason); Class groups
// errors for counting.
type PayloadError struct {
	Class  string // one of the Class constants
	Reason string // e.g. `field "celsius": 212 is out of range [-100, 150]`
}

func (e *PayloadError) Error() string { return e.Reason }

func payloadErr(class, format string, args ...any) *PayloadError {
	return &PayloadError{Class: class, Reason: fmt.Sprintf(format, args...)}
}

// Ranges of the JSON fields. GPS limits are those of sensors/nmea.
const (
	minCelsius  = -100
	maxCelsius  = 150
	maxBatteryV = 100
	minAltM     = -2000
	maxAltM     = 100_000
	maxSpeedMPS = 1000
	maxDOP      = 999.99
	maxSats     = 255
	maxIDLen    = 64  // seal_id, probe, event
	maxMsgIDLen = 128 // msg_id
)

// Fields of each schema, in the order docs/MQTT.md lists them. The common
// ones (time, clock, msg_id, container, extra) are allowed in every schema.
var (
	commonFields      = []string{"time", "clock", "msg_id", "container", "extra"}
	temperatureFields = append([]string{"celsius", "probe", "humidity_pct"}, commonFields...)
	gpsFields         = append([]string{"lat", "lon", "alt_m", "speed_mps", "course_deg", "fix", "sats", "hdop"}, commonFields...)
	sealFields        = append([]string{"seal_id", "state", "event", "battery_v", "lat", "lon"}, commonFields...)
)

// Values of the gps "fix" field, as sensors/nmea names them.
var fixes = []string{"none", "2d", "3d", "dgps", "rtk-fixed", "rtk-float"}

// sealWords maps the words seal readers use for a state, lower case, to
// the normalised state.
var sealWords = map[string]string{
	"sealed": sensors.SealSealed, "closed": sensors.SealSealed, "close": sensors.SealSealed,
	"locked": sensors.SealSealed, "lock": sensors.SealSealed, "secured": sensors.SealSealed,
	"armed": sensors.SealSealed,

	"opened": sensors.SealOpened, "open": sensors.SealOpened, "unlocked": sensors.SealOpened,
	"unlock": sensors.SealOpened, "unsealed": sensors.SealOpened, "disarmed": sensors.SealOpened,

	"tampered": sensors.SealTampered, "tamper": sensors.SealTampered, "cut": sensors.SealTampered,
	"wirecut": sensors.SealTampered, "broken": sensors.SealTampered, "breach": sensors.SealTampered,
	"breached": sensors.SealTampered,

	"unknown": sensors.SealUnknown,
}

// DecodeTemperature decodes a temperature payload (docs/MQTT.md) into a
// reading of kind temperature. The reading's Sensor is left empty; Raw is
// payload itself (not copied).
func DecodeTemperature(payload []byte) (sensors.Reading, error) {
	o, err := parseObject(payload, temperatureFields)
	if err != nil {
		return sensors.Reading{}, err
	}
	r := sensors.Reading{Kind: sensors.KindTemperature, Raw: payload, Data: make(map[string]any, 3)}
	o.number(r.Data, "celsius", true, minCelsius, maxCelsius)
	o.str(r.Data, "probe", false, maxIDLen)
	o.number(r.Data, "humidity_pct", false, 0, 100)
	o.common(&r)
	return o.result(r)
}

// DecodeGPS decodes a gps payload (docs/MQTT.md) into a reading of kind
// gps. The reading's Sensor is left empty; Raw is payload itself.
func DecodeGPS(payload []byte) (sensors.Reading, error) {
	o, err := parseObject(payload, gpsFields)
	if err != nil {
		return sensors.Reading{}, err
	}
	r := sensors.Reading{Kind: sensors.KindGPS, Raw: payload, Data: make(map[string]any, 8)}
	o.number(r.Data, "lat", true, -90, 90)
	o.number(r.Data, "lon", true, -180, 180)
	o.number(r.Data, "alt_m", false, minAltM, maxAltM)
	o.number(r.Data, "speed_mps", false, 0, maxSpeedMPS)
	o.number(r.Data, "course_deg", false, 0, 360)
	if s, ok := o.str(nil, "fix", false, maxIDLen); ok {
		f := strings.ToLower(s)
		if !contains(fixes, f) {
			o.fail(ClassRange, "field \"fix\": %q is not one of %s", s, strings.Join(fixes, ", "))
		}
		r.Data["fix"] = f
	}
	o.integer(r.Data, "sats", false, 0, maxSats)
	o.number(r.Data, "hdop", false, 0, maxDOP)
	o.common(&r)
	return o.result(r)
}

// DecodeSeal decodes a seal payload (docs/MQTT.md) into a reading of kind
// seal, its state normalised to sealed, opened, tampered or unknown. The
// reading's Sensor is left empty; Raw is payload itself.
func DecodeSeal(payload []byte) (sensors.Reading, error) {
	o, err := parseObject(payload, sealFields)
	if err != nil {
		return sensors.Reading{}, err
	}
	r := sensors.Reading{Kind: sensors.KindSeal, Raw: payload, Data: make(map[string]any, 6)}
	o.str(r.Data, "seal_id", true, maxIDLen)
	if s, ok := o.str(nil, "state", true, maxIDLen); ok {
		st, known := sealWords[strings.ToLower(strings.TrimSpace(s))]
		if !known {
			o.fail(ClassRange, "field \"state\": %q is not a seal state (sealed, opened, tampered, unknown, or a word docs/MQTT.md lists)", s)
		}
		r.Data["state"] = st
	}
	o.str(r.Data, "event", false, maxIDLen)
	o.number(r.Data, "battery_v", false, 0, maxBatteryV)
	_, hasLat := o.number(r.Data, "lat", false, -90, 90)
	_, hasLon := o.number(r.Data, "lon", false, -180, 180)
	if hasLat != hasLon {
		o.fail(ClassSchema, "fields \"lat\" and \"lon\" come together (one is missing)")
	}
	o.common(&r)
	return o.result(r)
}

// decodeFunc returns the JSON decoder named by a Topic.Decoder, nil for nmea.
func decodeFunc(name string) func([]byte) (sensors.Reading, error) {
	switch name {
	case DecoderTemperature:
		return DecodeTemperature
	case DecoderGPS:
		return DecodeGPS
	case DecoderSeal:
		return DecodeSeal
	}
	return nil
}

// object is a parsed JSON object: its members in order, and the first
// error found while reading them.
type object struct {
	members []member
	err     *PayloadError
}

type member struct {
	name string
	raw  json.RawMessage
}

// parseObject checks that payload is valid UTF-8 holding exactly one JSON
// object without duplicate or unknown members, and returns its members.
func parseObject(payload []byte, allowed []string) (*object, error) {
	if !utf8.Valid(payload) {
		return nil, payloadErr(ClassUTF8, "payload is not valid UTF-8 (first bad byte at offset %d)", badUTF8Offset(payload))
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, payloadErr(ClassJSON, "payload is empty (want a JSON object)")
		}
		return nil, jsonErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, payloadErr(ClassJSON, "payload is %s, not a JSON object", tokenType(tok))
	}
	o := &object{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(err)
		}
		name, _ := tok.(string) // Token returns object keys as strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonErr(err)
		}
		for _, m := range o.members {
			if m.name == name {
				return nil, payloadErr(ClassJSON, "field %s appears twice", quoteName(name))
			}
		}
		if !contains(allowed, name) {
			return nil, payloadErr(ClassSchema, "unknown field %s (fields: %s; put device-specific fields under \"extra\")", quoteName(name), strings.Join(allowed, ", "))
		}
		o.members = append(o.members, member{name, raw})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, jsonErr(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, payloadErr(ClassJSON, "data after the JSON object at byte %d", dec.InputOffset())
	}
	return o, nil
}

// jsonErr turns an encoding/json error into a quarantine reason.
func jsonErr(err error) *PayloadError {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return payloadErr(ClassJSON, "malformed JSON at byte %d: %s", se.Offset, se.Error())
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return payloadErr(ClassJSON, "malformed JSON: unexpected end of payload")
	}
	return payloadErr(ClassJSON, "malformed JSON: %s", err.Error())
}

func tokenType(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return "malformed"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "malformed"
}

// rawType names the JSON type of a raw value, for error messages.
func rawType(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// quoteName quotes a member name for a message, clipped to 64 bytes.
func quoteName(s string) string {
	if len(s) > 64 {
		s = s[:64]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		return strconv.Quote(s) + "…"
	}
	return strconv.Quote(s)
}

// badUTF8Offset returns the offset of the first byte that is not part of
// valid UTF-8.
func badUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// result returns r, or the first error found.
func (o *object) result(r sensors.Reading) (sensors.Reading, error) {
	if o.err != nil {
		return sensors.Reading{}, o.err
	}
	return r, nil
}

// fail records the first error.
func (o *object) fail(class, format string, args ...any) {
	if o.err == nil {
		o.err = payloadErr(class, format, args...)
	}
}

// get returns the raw value of a member; null counts as absent.
func (o *object) get(name string, required bool) (json.RawMessage, bool) {
	for _, m := range o.members {
		if m.name == name {
			if string(m.raw) == "null" {
				break
			}
			return m.raw, true
		}
	}
	if required {
		o.fail(ClassSchema, "field %q is missing", name)
	}
	return nil, false
}

// number reads a number within [lo, hi] into data[name] (when data is not nil).
func (o *object) number(data map[string]any, name string, required bool, lo, hi float64) (float64, bool) {
	raw, ok := o.get(name, required)
	if !ok {
		return 0, false
	}
	if t := rawType(raw); t != "a number" {
		o.fail(ClassSchema, "field %q must be a number, not %s", name, t)
		return 0, false
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		o.fail(ClassRange, "field %q: %s is out of range [%g, %g]", name, clipRaw(raw), lo, hi)
		return 0, false
	}
	if v < lo || v > hi {
		o.fail(ClassRange, "field %q: %s is out of range [%g, %g]", name, clipRaw(raw), lo, hi)
		return 0, false
	}
	if v == 0 {
		v = 0 // no negative zero in the signed record
	}
	if data != nil {
		data[name] = v
	}
	return v, true
}

// integer reads an integer within [lo, hi] into data[name] as int64.
func (o *object) integer(data map[string]any, name string, required bool, lo, hi int64) (int64, bool) {
	raw, ok := o.get(name, required)
	if !ok {
		return 0, false
	}
	if t := rawType(raw); t != "a number" {
		o.fail(ClassSchema, "field %q must be an integer, not %s", name, t)
		return 0, false
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		if bytes.ContainsAny(raw, ".eE") {
			o.fail(ClassSchema, "field %q must be an integer, not %s", name, clipRaw(raw))
		} else {
			o.fail(ClassRange, "field %q: %s is out of range [%d, %d]", name, clipRaw(raw), lo, hi)
		}
		return 0, false
	}
	if v < lo || v > hi {
		o.fail(ClassRange, "field %q: %d is out of range [%d, %d]", name, v, lo, hi)
		return 0, false
	}
	if data != nil {
		data[name] = v
	}
	return v, true
}

// str reads a non-empty string of at most maxLen bytes without control
// characters into data[name].
func (o *object) str(data map[string]any, name string, required bool, maxLen int) (string, bool) {
	raw, ok := o.get(name, required)
	if !ok {
		return "", false
	}
	if t := rawType(raw); t != "a string" {
		o.fail(ClassSchema, "field %q must be a string, not %s", name, t)
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		o.fail(ClassJSON, "field %q: %v", name, err)
		return "", false
	}
	switch {
	case s == "":
		o.fail(ClassSchema, "field %q is empty", name)
		return "", false
	case len(s) > maxLen:
		o.fail(ClassRange, "field %q is %d bytes long (at most %d)", name, len(s), maxLen)
		return "", false
	case !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError):
		o.fail(ClassUTF8, "field %q is not valid text (an escaped lone surrogate?)", name)
		return "", false
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		o.fail(ClassRange, "field %q contains control characters", name)
		return "", false
	}
	if data != nil {
		data[name] = s
	}
	return s, true
}

// common reads the fields every schema has: time, clock, msg_id,
// container and extra.
func (o *object) common(r *sensors.Reading) {
	if s, ok := o.str(nil, "time", false, 64); ok {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			o.fail(ClassRange, "field \"time\": %q is not an RFC 3339 time (like 2026-03-01T12:00:00Z)", s)
		} else if err := sensors.CheckDeviceTime(t); err != nil {
			o.fail(ClassRange, "field \"time\": %v", err)
		} else {
			r.Time = t.UTC()
			r.Clock = sensors.ClockDevice
		}
	}
	if s, ok := o.str(nil, "clock", false, 16); ok {
		switch {
		case s != sensors.ClockGPS && s != sensors.ClockNTP && s != sensors.ClockRTC && s != sensors.ClockDevice:
			o.fail(ClassRange, "field \"clock\": %q is not gps, ntp, rtc or device", s)
		case r.Time.IsZero() && o.err == nil:
			o.fail(ClassSchema, "field \"clock\" is set but \"time\" is not")
		default:
			r.Clock = s
		}
	}
	if raw, ok := o.get("msg_id", false); ok {
		switch rawType(raw) {
		case "a string":
			r.MsgID, _ = o.str(nil, "msg_id", false, maxMsgIDLen)
		case "a number":
			if !isInteger(raw) || len(raw) > maxMsgIDLen {
				o.fail(ClassSchema, "field \"msg_id\" must be a string or an integer, not %s", clipRaw(raw))
			} else {
				r.MsgID = string(raw)
			}
		default:
			o.fail(ClassSchema, "field \"msg_id\" must be a string or an integer, not %s", rawType(raw))
		}
	}
	if s, ok := o.str(nil, "container", false, 16); ok {
		if err := iso6346.Validate(s); err != nil {
			o.fail(ClassContainer, "field \"container\": %v", err)
		} else {
			r.Container = s
		}
	}
	if raw, ok := o.get("extra", false); ok && rawType(raw) != "an object" {
		o.fail(ClassSchema, "field \"extra\" must be an object, not %s", rawType(raw))
	}
}

// isInteger reports whether a JSON number is written as an integer.
func isInteger(raw []byte) bool {
	return !bytes.ContainsAny(raw, ".eE")
}

// clipRaw returns a JSON value for an error message, at most 32 bytes.
func clipRaw(raw []byte) string {
	if len(raw) > 32 {
		return string(raw[:32]) + "…"
	}
	return string(raw)
}
