// Package sensors defines the Reading a sensor produced, before the gateway
// signs it, and the small interfaces drivers use to hand readings on.
//
// The drivers live in sub-packages (nmea, modbus, eseal, lines, serial, mqtt,
// sim). Parsers there are pure functions over bytes; I/O lives apart from
// them. This package and its sub-packages import nothing from edge or anchor.
package sensors

import (
	"context"
	"fmt"
	"time"
)

// Kinds of reading. Kind-specific fields in Reading.Data use the keys below.
const (
	KindGPS         = "gps"         // lat, lon, alt_m, speed_mps, course_deg, fix, sats, hdop
	KindTemperature = "temperature" // celsius, probe (optional humidity_pct)
	KindHumidity    = "humidity"    // humidity_pct
	KindSeal        = "seal"        // seal_id, state, event, battery_v (optional lat, lon)
	KindEvent       = "event"       // rule, detail, from_seq, to_seq
	KindStatus      = "status"      // driver status changes (fix lost/regained, port lost/back)
)

// Clock provenance for Reading.Time.
const (
	ClockGPS    = "gps"
	ClockNTP    = "ntp"
	ClockRTC    = "rtc"
	ClockDevice = "device"
)

// Seal states after normalisation.
const (
	SealSealed   = "sealed"
	SealOpened   = "opened"
	SealTampered = "tampered"
	SealUnknown  = "unknown"
)

// Reading is one observation from one sensor, as the driver decoded it.
// The gateway adds its receive time, sequence number and salt when it signs.
type Reading struct {
	Sensor    string         // configured sensor id
	Kind      string         // one of the Kind constants
	Time      time.Time      // the sensor's own time; zero when it has none
	Clock     string         // where Time came from (Clock constants); empty when Time is zero
	Container string         // ISO 6346 container number, optional
	MsgID     string         // the sensor's own message id or sequence, for deduplication; optional
	Data      map[string]any // kind-specific fields: float64, int64, string, bool
	Raw       []byte         // the raw frame bytes, when the source had one
}

// EarliestDeviceTime is the earliest sensor time a decoder accepts: the Unix
// epoch, where a clock that was never set starts. Earlier times (year 1 is
// Go's zero time, which Reading uses for "no time") are out of range.
var EarliestDeviceTime = time.Unix(0, 0).UTC()

// CheckDeviceTime returns an error, fit for a quarantine reason, when t
// cannot be a sensor's time: before EarliestDeviceTime.
func CheckDeviceTime(t time.Time) error {
	if t.Before(EarliestDeviceTime) {
		return fmt.Errorf("time %s is before 1970: the sensor's clock is not set", t.UTC().Format(time.RFC3339))
	}
	return nil
}

// Sink receives what a driver decoded. Accept blocks until the reading is
// durable (or refused) and returns an error when it was not accepted.
// Quarantine records input that could not be decoded, with the reason.
type Sink interface {
	Accept(ctx context.Context, r Reading) error
	Quarantine(ctx context.Context, sensor, reason string, raw []byte)
}

// LineDecoder is implemented by drivers whose frames are text lines (NMEA,
// e-seal, line sensors). Decode takes one line without its line ending and
// the gateway time it was received; it returns zero or more readings, or an
// error whose text is the quarantine reason. Flush returns what is held back
// at the end of a stream (an NMEA epoch not yet closed).
type LineDecoder interface {
	Decode(line []byte, recv time.Time) ([]Reading, error)
	Flush() []Reading
}

// AsyncSink is a Sink that can also take a reading without blocking the
// caller until it is durable: done is called exactly once, with nil when the
// reading was accepted (or was a duplicate of one already stored), or with
// the error that kept it out. MQTT acknowledges a message from done.
type AsyncSink interface {
	Sink
	AcceptAsync(ctx context.Context, r Reading, done func(error))
}

// Fields returns r's data with the sensor's time (RFC 3339, UTC) and clock,
// message id and container added under "time", "clock", "msg_id" and
// "container" when present: the flat form of docs/MQTT.md's payloads and of
// `tally decode` output.
func Fields(r Reading) map[string]any {
	m := make(map[string]any, len(r.Data)+4)
	for k, v := range r.Data {
		m[k] = v
	}
	if !r.Time.IsZero() {
		m["time"] = r.Time.UTC().Format(time.RFC3339Nano)
		m["clock"] = r.Clock
	}
	if r.MsgID != "" {
		m["msg_id"] = r.MsgID
	}
	if r.Container != "" {
		m["container"] = r.Container
	}
	return m
}
