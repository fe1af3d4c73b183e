// Package eseal decodes the ASCII protocol spoken by "eSeal" container
// electronic seals, and builds the acknowledgements the seal expects.
//
// # Messages
//
// Every message is one line of printable ASCII framed by "##S," and ",E##",
// with comma-separated fields. A report (a periodic status or an event) has
// exactly 20 fields:
//
//	##S,<devtype>,<device id>,<customer id>,<firmware>,<type>,<index>,
//	  <yyyy-mm-dd>,<hh:mm:ss>,<interval>,<A|V>,<lat>N|S <lon>E|W,
//	  <course>,<speed km/h>,<door Open|Close>,<accel>,<nfc>,<battery V>,<rssi>,E##
//
// for example
//
//	##S,eSeal,1000821,256,3.0.6,Normal,34,2017-08-31,08:14:40,15,A,25.708828N 100.372870W,10,0,Close,0.71,0:0:3:0,3.8,-73,E##
//
// The captured messages are of types Startup (sent at power-up) and Normal
// (periodic); the reference decoder also knows Button-Normal, Termination and
// the events Event-Door, Event-Shock, Event-Drop, Event-Lock and
// Event-RC-Unlock. Any other type with the report layout is decoded as a
// report too. The index is the seal's sequence number; the capture shows it
// restarting at 1 with Startup (index 1 at 02:01, then 34 at 08:14 the same
// day), so it identifies a report only together with the seal's time.
//
// A message whose type ends in " OK" or " ACK" is a reply, not a report:
// "Startup OK" is the seal confirming the configuration it was sent,
// "RC-NFC DEL ACK" confirms a remote command, and "Normal ACK" and the like
// are the server's own acknowledgements (seen when a bus is shared or a
// capture holds both directions). Replies carry no reading and need no ack;
// their arguments are kept verbatim in Message.Args and never validated.
//
// # Acknowledgements
//
// The server acknowledges a report with
//
//	##S,<devtype>,<device id>,<customer id>,<firmware>,<type> ACK,<index>[,<config>],E##\r\n
//
// Startup, Normal, Button-Normal, Termination and every Event-* type are
// acknowledged; a Startup ACK may carry the configuration the seal should
// use (Config.StartupConfig), which the seal echoes in "Startup OK".
//
// Like any device that waits for an ack, the seal is expected to resend a
// report that was not acknowledged, so the ack is written only after the
// reading is accepted: a reading the gateway could not store is sent again
// instead of being lost. Decoder.AckFor builds the ack from a Reading's Raw bytes, so the
// caller keeps nothing between Decode and Accept:
//
//	readings, err := dec.Decode(line, time.Now())
//	for _, r := range readings {
//		if err := sink.Accept(ctx, r); err != nil && !isDuplicate(err) {
//			continue // not stored: no ack, the seal will send it again
//		}
//		port.Write(dec.AckFor(r)) // nil when the type expects no ack
//	}
//
// A duplicate (the seal resent because an ack was lost) is acknowledged
// again, or the seal would keep resending it. A malformed message is
// an error for quarantine and is not acknowledged.
//
// # State
//
// See Message.State for how the door field and the message type map to the
// seal states sealed, opened, tampered and unknown.
package eseal

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tallygw/tally/sensors"
)

// Field positions of a report, after splitting the line on commas.
const (
	fStart = iota
	fDevType
	fDevID
	fCustomer
	fFirmware
	fType
	fIndex
	fDate
	fTime
	fInterval
	fValid
	fPosition
	fCourse
	fSpeed
	fDoor
	fAccel
	fNFC
	fBattery
	fRSSI
	fEnd

	reportFields = fEnd + 1 // 20
)

// fieldNames names report fields in error messages.
var fieldNames = [reportFields]string{
	fStart:    "start",
	fDevType:  "device type",
	fDevID:    "device id",
	fCustomer: "customer id",
	fFirmware: "firmware",
	fType:     "type",
	fIndex:    "index",
	fDate:     "date",
	fTime:     "time",
	fInterval: "interval",
	fValid:    "gps validity",
	fPosition: "position",
	fCourse:   "course",
	fSpeed:    "speed",
	fDoor:     "door",
	fAccel:    "acceleration",
	fNFC:      "nfc",
	fBattery:  "battery",
	fRSSI:     "rssi",
	fEnd:      "end",
}

const (
	startMark = "##S"
	endMark   = "E##"
)

// Message is one decoded e-seal message: a report, or a reply when Report is
// false.
type Message struct {
	DeviceType string // "eSeal"
	DeviceID   string // the seal's id, letters and digits
	CustomerID string
	Firmware   string
	Type       string // "Normal", "Startup", "Event-Door", "Startup OK", …
	Report     bool   // true for a report; false for a reply ("... OK", "... ACK")

	// Report fields; zero in a reply.
	Index      int64     // the seal's sequence number; restarts at 1 with Startup
	DeviceTime string    // date and time as sent, "2017-08-31 08:14:40"
	Time       time.Time // DeviceTime as UTC; zero when it is not a valid date and time
	Interval   int64     // reporting interval, as sent (unit not documented by the vendor)
	GPSValid   bool      // the validity flag is A: position, course and speed come from a fix
	Lat, Lon   float64   // decimal degrees, south and west negative
	CourseDeg  int64
	SpeedKPH   int64
	Door       string // "Open", "Close", or whatever else the seal sent
	Accel      float64
	NFC        string
	BatteryV   float64
	RSSI       int64 // dBm

	// Args holds a reply's fields after Type, verbatim; nil in a report.
	Args []string
}

// Parse decodes one message. A trailing CR or LF is ignored. It returns an
// error saying what is wrong when the line is not a well-formed message:
// framing, field count, a number or coordinate that does not parse or is out
// of range, or a byte that is not printable ASCII.
func Parse(line []byte) (Message, error) {
	line = trimEOL(line)
	for i, c := range line {
		if c < 0x20 || c > 0x7e {
			return Message{}, fmt.Errorf("eseal: byte 0x%02x at offset %d is not printable ASCII", c, i)
		}
	}
	s := string(line)
	if !strings.HasPrefix(s, startMark+",") {
		return Message{}, errors.New(`eseal: missing "##S," at start of message`)
	}
	if !strings.HasSuffix(s, ","+endMark) {
		return Message{}, errors.New(`eseal: missing ",E##" at end of message`)
	}
	f := strings.Split(s, ",")
	if len(f) < fType+2 {
		return Message{}, fmt.Errorf("eseal: %d fields, too few for any message", len(f))
	}
	m := Message{
		DeviceType: f[fDevType],
		DeviceID:   f[fDevID],
		CustomerID: f[fCustomer],
		Firmware:   f[fFirmware],
		Type:       f[fType],
	}
	if m.DeviceType == "" {
		return Message{}, errors.New("eseal: empty device type")
	}
	if !isDeviceID(m.DeviceID) {
		return Message{}, fmt.Errorf("eseal: device id %q is not letters and digits", m.DeviceID)
	}
	if m.Type == "" {
		return Message{}, errors.New("eseal: empty message type")
	}
	if isReply(m.Type) {
		m.Args = f[fType+1 : len(f)-1]
		return m, nil
	}
	if len(f) != reportFields {
		return Message{}, fmt.Errorf("eseal: %s report has %d fields, want %d", m.Type, len(f), reportFields)
	}
	m.Report = true
	if err := parseReport(&m, f); err != nil {
		return Message{}, fmt.Errorf("eseal: %s report: %w", m.Type, err)
	}
	return m, nil
}

func parseReport(m *Message, f []string) error {
	var ok bool
	if m.Index, ok = parseInt(f[fIndex], false); !ok {
		return badField(f, fIndex, "is not a sequence number")
	}
	m.DeviceTime = f[fDate] + " " + f[fTime]
	if t, err := time.Parse(time.DateTime, m.DeviceTime); err == nil {
		m.Time = t
	}
	if m.Interval, ok = parseInt(f[fInterval], false); !ok {
		return badField(f, fInterval, "is not a number")
	}
	switch f[fValid] {
	case "A":
		m.GPSValid = true
	case "V":
	default:
		return badField(f, fValid, "is not A or V")
	}
	if err := parsePosition(m, f[fPosition]); err != nil {
		return err
	}
	if m.CourseDeg, ok = parseInt(f[fCourse], false); !ok || m.CourseDeg > 360 {
		return badField(f, fCourse, "is not a course in degrees (0-360)")
	}
	if m.SpeedKPH, ok = parseInt(f[fSpeed], false); !ok || m.SpeedKPH > 2000 {
		return badField(f, fSpeed, "is not a speed in km/h")
	}
	m.Door = f[fDoor]
	if m.Accel, ok = parseDecimal(f[fAccel], true); !ok {
		return badField(f, fAccel, "is not a number")
	}
	m.NFC = f[fNFC]
	if m.BatteryV, ok = parseDecimal(f[fBattery], false); !ok || m.BatteryV > 100 {
		return badField(f, fBattery, "is not a battery voltage")
	}
	if m.RSSI, ok = parseInt(f[fRSSI], true); !ok || m.RSSI < -200 || m.RSSI > 100 {
		return badField(f, fRSSI, "is not an RSSI in dBm")
	}
	return nil
}

// parsePosition parses "25.708828N 100.372870W".
func parsePosition(m *Message, s string) error {
	latText, lonText, ok := strings.Cut(s, " ")
	if !ok {
		return fmt.Errorf("position %q: want \"<lat>N|S <lon>E|W\"", s)
	}
	lat, err := parseCoord(latText, 'N', 'S', 90)
	if err != nil {
		return fmt.Errorf("position %q: latitude %w", s, err)
	}
	lon, err := parseCoord(lonText, 'E', 'W', 180)
	if err != nil {
		return fmt.Errorf("position %q: longitude %w", s, err)
	}
	m.Lat, m.Lon = lat, lon
	return nil
}

// parseCoord parses unsigned decimal degrees followed by a hemisphere letter.
func parseCoord(s string, pos, neg byte, limit float64) (float64, error) {
	if s == "" {
		return 0, errors.New("is empty")
	}
	hemi := s[len(s)-1]
	if hemi != pos && hemi != neg {
		return 0, fmt.Errorf("%q does not end in %c or %c", s, pos, neg)
	}
	v, ok := parseDecimal(s[:len(s)-1], false)
	if !ok {
		return 0, fmt.Errorf("%q is not decimal degrees", s)
	}
	if v > limit {
		return 0, fmt.Errorf("%q is beyond %g degrees", s, limit)
	}
	if hemi == neg {
		v = -v
	}
	return v, nil
}

func badField(f []string, i int, why string) error {
	return fmt.Errorf("%s %q %s", fieldNames[i], f[i], why)
}

// isReply reports whether a message type is a reply rather than a report.
func isReply(typ string) bool {
	return strings.HasSuffix(typ, " OK") || strings.HasSuffix(typ, " ACK")
}

func isDeviceID(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// parseInt accepts only [-]digits (the sign only when signed is true).
func parseInt(s string, signed bool) (int64, bool) {
	digits := s
	if signed && strings.HasPrefix(digits, "-") {
		digits = digits[1:]
	}
	if !allDigits(digits) {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// parseDecimal accepts only [-]digits[.digits] (the sign only when signed is
// true), so NaN, Inf, exponents and hex floats are rejected.
func parseDecimal(s string, signed bool) (float64, bool) {
	body := s
	if signed && strings.HasPrefix(body, "-") {
		body = body[1:]
	}
	intPart, frac, hasDot := strings.Cut(body, ".")
	if !allDigits(intPart) || hasDot && !allDigits(frac) {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// State returns the seal state a report implies, one of sensors.SealSealed,
// SealOpened, SealTampered or SealUnknown:
//
//   - A type or door value naming a tamper or a cut (a word "tamper",
//     "tampered", "cut" or "wirecut" in it, any case, words split on '-' and
//     ' ') is tampered, whatever the door field says: the seal itself reports
//     that its integrity is gone.
//   - Otherwise the door field decides: Close is sealed, Open is opened,
//     anything else is unknown. The door field is the sensor's reading at
//     the time of the report, so it also decides for the other events:
//     Event-Door, Event-Lock and Event-RC-Unlock report a change the door
//     field already shows (an authorised remote unlock is opened, not
//     tampered, once the door opens); Event-Shock and Event-Drop are
//     handling events, not a breach, and stay in the "event" field for
//     condition rules to judge.
//
// A reply has no state: State returns unknown.
func (m Message) State() string {
	if !m.Report {
		return sensors.SealUnknown
	}
	if namesTamper(m.Type) || namesTamper(m.Door) {
		return sensors.SealTampered
	}
	switch m.Door {
	case "Close":
		return sensors.SealSealed
	case "Open":
		return sensors.SealOpened
	}
	return sensors.SealUnknown
}

func namesTamper(s string) bool {
	for w := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == '-' || r == ' ' }) {
		switch strings.ToLower(w) {
		case "tamper", "tampered", "cut", "wirecut":
			return true
		}
	}
	return false
}

// Acked reports whether the seal expects an ack for this message: a report
// of type Startup, Normal, Button-Normal, Termination or Event-*.
func (m Message) Acked() bool {
	if !m.Report {
		return false
	}
	switch m.Type {
	case "Startup", "Normal", "Button-Normal", "Termination":
		return true
	}
	return strings.HasPrefix(m.Type, "Event-")
}

// Ack returns the acknowledgement the seal expects for m, CRLF included, or
// nil when m's type expects none. A Startup ACK carries no configuration;
// use AckWith to send one.
func (m Message) Ack() []byte {
	return m.AckWith("")
}

// AckWith is Ack with startupConfig appended to a Startup ACK (after the
// index, e.g. "180,30,30,16,1"); other types ignore it. The configuration is
// not checked here: Decoder validates it once, in NewDecoder.
func (m Message) AckWith(startupConfig string) []byte {
	if !m.Acked() {
		return nil
	}
	var b []byte
	b = append(b, startMark...)
	for _, f := range [...]string{m.DeviceType, m.DeviceID, m.CustomerID, m.Firmware} {
		b = append(b, ',')
		b = append(b, f...)
	}
	b = append(b, ',')
	b = append(b, m.Type...)
	b = append(b, " ACK,"...)
	b = strconv.AppendInt(b, m.Index, 10)
	if m.Type == "Startup" && startupConfig != "" {
		b = append(b, ',')
		b = append(b, startupConfig...)
	}
	b = append(b, ","+endMark+"\r\n"...)
	return b
}
