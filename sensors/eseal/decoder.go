package eseal

import (
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tallygw/tally/sensors"
)

// Config configures a Decoder.
type Config struct {
	// StartupConfig is appended to the ack of a Startup report, after the
	// index, e.g. "180,30,30,16,1"; the seal echoes it in "Startup OK".
	// Empty sends a Startup ACK with the index only. Printable ASCII
	// without '#'.
	StartupConfig string `yaml:"startup_config"`
}

// ConfigError reports an invalid Config at a key ("startup_config").
type ConfigError = sensors.ConfigError

// Validate checks c. Errors are *ConfigError.
func (c Config) Validate() error {
	for i := 0; i < len(c.StartupConfig); i++ {
		ch := c.StartupConfig[i]
		if ch < 0x20 || ch > 0x7e || ch == '#' {
			return sensors.ConfigErr("eseal", "startup_config", "byte %q at offset %d not allowed (printable ASCII without '#')", ch, i)
		}
	}
	return nil
}

var _ sensors.LineDecoder = (*Decoder)(nil)

// Decoder turns e-seal lines into seal readings. It implements
// sensors.LineDecoder. Decode and AckFor keep no state between calls, so a
// Decoder may be shared; Ignored may be read from any goroutine.
type Decoder struct {
	sensor  string
	cfg     Config
	ignored atomic.Uint64
}

// NewDecoder returns a Decoder for the configured sensor id, after checking
// cfg. Config errors are *ConfigError.
func NewDecoder(sensorID string, cfg Config) (*Decoder, error) {
	if sensorID == "" {
		return nil, errors.New("eseal: empty sensor id")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Decoder{sensor: sensorID, cfg: cfg}, nil
}

// Decode decodes one line. A report yields one reading of kind seal; a
// reply ("Startup OK", "... ACK") yields no reading and no error and is
// counted in Ignored; anything else is an error whose text is the
// quarantine reason.
//
// The reading's Data holds seal_id (string), state (see Message.State),
// event (the message type), index (int64), battery_v (float64), rssi
// (int64), door and nfc (strings as sent), accel (float64) and gps_valid
// (bool); when gps_valid is true also lat, lon (decimal degrees),
// speed_mps and course_deg (float64), which mean nothing without a fix.
//
// Time is the seal's date and time, taken as UTC, with Clock "device"; it
// is zero when the seal sent no valid date. The validity flag describes the
// position fix, and the protocol does not say the timestamp is the fix
// time, so the clock is never reported as "gps".
//
// MsgID is "<device id>:<index>:<date>T<time>". The index alone does not
// identify a message: it restarts at 1 with every Startup, so two different
// reports of one seal share an index after a reboot. A retransmission
// (same seal, same index, same time) has the same MsgID and is
// deduplicated.
//
// Raw is a copy of line; AckFor needs it.
func (d *Decoder) Decode(line []byte, recv time.Time) ([]sensors.Reading, error) {
	m, err := Parse(line)
	if err != nil {
		return nil, err
	}
	if !m.Report {
		d.ignored.Add(1)
		return nil, nil
	}
	data := map[string]any{
		"seal_id":   m.DeviceID,
		"state":     m.State(),
		"event":     m.Type,
		"index":     m.Index,
		"battery_v": m.BatteryV,
		"rssi":      m.RSSI,
		"door":      m.Door,
		"nfc":       m.NFC,
		"accel":     m.Accel,
		"gps_valid": m.GPSValid,
	}
	if m.GPSValid {
		data["lat"] = m.Lat
		data["lon"] = m.Lon
		data["speed_mps"] = float64(m.SpeedKPH) / 3.6
		data["course_deg"] = float64(m.CourseDeg)
	}
	r := sensors.Reading{
		Sensor: d.sensor,
		Kind:   sensors.KindSeal,
		MsgID:  m.DeviceID + ":" + strconv.FormatInt(m.Index, 10) + ":" + strings.Replace(m.DeviceTime, " ", "T", 1),
		Data:   data,
		Raw:    append([]byte(nil), line...),
	}
	if !m.Time.IsZero() {
		r.Time = m.Time
		r.Clock = sensors.ClockDevice
	}
	return []sensors.Reading{r}, nil
}

// Flush returns nil: a line is decoded whole, nothing is held back.
func (d *Decoder) Flush() []sensors.Reading { return nil }

// AckFor returns the bytes to write back to the seal once r has been
// accepted (or found to be a duplicate of an accepted reading), or nil when
// r's message type expects no ack or r is not a seal reading with its Raw
// bytes. It re-parses r.Raw, so the caller keeps nothing between Decode and
// Accept and the ack never travels in the signed Data.
func (d *Decoder) AckFor(r sensors.Reading) []byte {
	if r.Kind != sensors.KindSeal || len(r.Raw) == 0 {
		return nil
	}
	m, err := Parse(r.Raw)
	if err != nil {
		return nil
	}
	return m.AckWith(d.cfg.StartupConfig)
}

// Ignored returns how many replies (messages that carry no reading) Decode
// has skipped.
func (d *Decoder) Ignored() uint64 { return d.ignored.Load() }
