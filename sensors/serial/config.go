package serial

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	bugserial "go.bug.st/serial"

	"github.com/tallygw/tally/sensors"
)

// Defaults applied by SetDefaults to zero Config fields.
const (
	DefaultBaud         = 9600
	DefaultDataBits     = 8
	DefaultParity       = "none"
	DefaultStopBits     = 1
	DefaultReadTimeout  = time.Second
	DefaultMaxLine      = 256
	DefaultReconnectMin = time.Second
	DefaultReconnectMax = 30 * time.Second
)

// Limits checked by Validate.
const (
	// MaxLineLimit bounds max_line.
	MaxLineLimit = 65536
	// MaxReadTimeout bounds read_timeout: the read loops notice a cancelled
	// context only between reads, so shutdown waits up to one timeout.
	MaxReadTimeout = 10 * time.Second
	// MaxReconnect bounds reconnect_max.
	MaxReconnect = time.Hour
)

// standardBauds are the rates Validate accepts: the speeds Linux termios
// names (B50 … B4000000). Adapters may support fewer.
var standardBauds = []int{
	50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600,
	19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600,
	1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000,
}

// parities are the values of Config.Parity.
var parities = []string{"none", "even", "odd", "mark", "space"}

// Config is one serial line. The yaml tags are the keys of a serial
// sensor's section in the daemon's config file; the loader decodes it
// strictly (unknown keys are errors). Call SetDefaults, then Validate,
// before opening anything.
type Config struct {
	// Port is the device path: /dev/ttyUSB0, /dev/ttyAMA0, or better a
	// stable /dev/serial/by-id/ link, which is resolved again on every
	// (re)open so an adapter that comes back under another name is found.
	Port string `yaml:"port"`
	// Baud is the line speed in bit/s, one of StandardBauds(). GPS
	// receivers talk NMEA at 4800 (older) or 9600 (most current ones).
	Baud int `yaml:"baud"`
	// DataBits is 5, 6, 7 or 8.
	DataBits int `yaml:"data_bits"`
	// Parity is none, even, odd, mark or space.
	Parity string `yaml:"parity"`
	// StopBits is 1, 1.5 or 2. Linux has no 1.5 stop bits setting
	// (see Validate).
	StopBits float64 `yaml:"stop_bits"`
	// ReadTimeout bounds one read; the read loops check for shutdown and
	// for a vanished device node in between, so it is also how long
	// shutdown may wait.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// MaxLine is the longest line, in bytes without its line ending, the
	// line drivers accept; longer lines are quarantined.
	MaxLine int `yaml:"max_line"`
	// ReconnectMin and ReconnectMax bound the delay between attempts to
	// (re)open the port; it doubles from ReconnectMin up to ReconnectMax,
	// with jitter.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
}

// StandardBauds returns the rates Validate accepts, slowest first: the
// speeds Linux termios names (50 … 4000000). Adapters may support fewer.
func StandardBauds() []int { return slices.Clone(standardBauds) }

// ConfigError reports an invalid Config at a key ("baud").
type ConfigError = sensors.ConfigError

func configErr(key, format string, args ...any) error {
	return sensors.ConfigErr("", key, format, args...)
}

// SetDefaults fills the zero fields of c with the defaults. Port has no
// default. A reconnect_max below the default reconnect_min, given alone,
// lowers reconnect_min to it; a reconnect_min above the default
// reconnect_max, given alone, raises reconnect_max to it.
func (c *Config) SetDefaults() {
	if c.Baud == 0 {
		c.Baud = DefaultBaud
	}
	if c.DataBits == 0 {
		c.DataBits = DefaultDataBits
	}
	if c.Parity == "" {
		c.Parity = DefaultParity
	}
	if c.StopBits == 0 {
		c.StopBits = DefaultStopBits
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.MaxLine == 0 {
		c.MaxLine = DefaultMaxLine
	}
	sensors.DefaultReconnect(&c.ReconnectMin, &c.ReconnectMax, DefaultReconnectMin, DefaultReconnectMax)
}

// Validate reports the first problem in c as a *ConfigError naming the
// key. It does not touch the device: a port that does not exist yet (an
// adapter not plugged in) is not a config error.
func (c Config) Validate() error {
	switch {
	case c.Port == "":
		return configErr("port", "missing (the device path, e.g. /dev/ttyUSB0 or a /dev/serial/by-id/ link; see: tally ports)")
	case !filepath.IsAbs(c.Port):
		return configErr("port", "%q is not a device path (write the full path, e.g. /dev/%s or a /dev/serial/by-id/ link; see: tally ports)", c.Port, filepath.Base(c.Port))
	case !slices.Contains(standardBauds, c.Baud):
		return configErr("baud", "%d is not a standard rate (%s)", c.Baud, joinInts(standardBauds))
	case c.DataBits < 5 || c.DataBits > 8:
		return configErr("data_bits", "%d is not 5, 6, 7 or 8", c.DataBits)
	case !slices.Contains(parities, c.Parity):
		return configErr("parity", "%q is not one of %s", c.Parity, strings.Join(parities, ", "))
	case c.StopBits != 1 && c.StopBits != 1.5 && c.StopBits != 2:
		return configErr("stop_bits", "%s is not 1, 1.5 or 2", strconv.FormatFloat(c.StopBits, 'g', -1, 64))
	case c.StopBits == 1.5:
		// go.bug.st/serial refuses 1.5 on every Unix: termios has only
		// CSTOPB (two stop bits), which a 16550-style UART sends as 1.5
		// when the characters have 5 data bits.
		return configErr("stop_bits", "1.5 is not supported by Linux serial drivers (termios has 1 or 2; with data_bits 5, stop_bits 2 is sent as 1.5 by most UARTs)")
	case c.ReadTimeout <= 0 || c.ReadTimeout > MaxReadTimeout:
		return configErr("read_timeout", "%v is out of range (above 0, at most %v)", c.ReadTimeout, MaxReadTimeout)
	case c.MaxLine < 1 || c.MaxLine > MaxLineLimit:
		return configErr("max_line", "%d is out of range 1–%d bytes", c.MaxLine, MaxLineLimit)
	case c.ReconnectMin <= 0:
		return configErr("reconnect_min", "%v must be above 0", c.ReconnectMin)
	case c.ReconnectMax < c.ReconnectMin:
		return configErr("reconnect_max", "%v is below reconnect_min (%v)", c.ReconnectMax, c.ReconnectMin)
	case c.ReconnectMax > MaxReconnect:
		return configErr("reconnect_max", "%v is above %v", c.ReconnectMax, MaxReconnect)
	}
	return nil
}

// mode is the go.bug.st/serial line setting for a validated c.
func (c Config) mode() *bugserial.Mode {
	m := &bugserial.Mode{BaudRate: c.Baud, DataBits: c.DataBits, StopBits: bugserial.OneStopBit}
	switch c.Parity {
	case "even":
		m.Parity = bugserial.EvenParity
	case "odd":
		m.Parity = bugserial.OddParity
	case "mark":
		m.Parity = bugserial.MarkParity
	case "space":
		m.Parity = bugserial.SpaceParity
	default:
		m.Parity = bugserial.NoParity
	}
	switch c.StopBits {
	case 1.5:
		m.StopBits = bugserial.OnePointFiveStopBits
	case 2:
		m.StopBits = bugserial.TwoStopBits
	}
	return m
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
