package serial

import (
	"errors"
	"strings"
	"testing"
	"time"

	bugserial "go.bug.st/serial"
	"gopkg.in/yaml.v3"
)

func validConfig() Config {
	c := Config{Port: "/dev/ttyUSB0"}
	c.SetDefaults()
	return c
}

func TestSetDefaults(t *testing.T) {
	c := Config{Port: "/dev/ttyUSB0"}
	c.SetDefaults()
	want := Config{
		Port: "/dev/ttyUSB0", Baud: 9600, DataBits: 8, Parity: "none", StopBits: 1,
		ReadTimeout: time.Second, MaxLine: 256, ReconnectMin: time.Second, ReconnectMax: 30 * time.Second,
	}
	if c != want {
		t.Errorf("SetDefaults:\n got %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}

	c = Config{ReconnectMax: 500 * time.Millisecond}
	c.SetDefaults()
	if c.ReconnectMin != 500*time.Millisecond {
		t.Errorf("reconnect_max 500ms alone: reconnect_min %v", c.ReconnectMin)
	}
	c = Config{ReconnectMin: time.Minute}
	c.SetDefaults()
	if c.ReconnectMax != time.Minute {
		t.Errorf("reconnect_min 1m alone: reconnect_max %v", c.ReconnectMax)
	}
	c = Config{Baud: 4800, MaxLine: 82}
	c.SetDefaults()
	if c.Baud != 4800 || c.MaxLine != 82 {
		t.Errorf("SetDefaults overwrote set fields: %+v", c)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Config)
		key  string
		msg  string // the whole message
	}{
		{"no port", func(c *Config) { c.Port = "" }, "port", "port: missing (the device path, e.g. /dev/ttyUSB0 or a /dev/serial/by-id/ link; see: tally ports)"},
		{"relative port", func(c *Config) { c.Port = "ttyUSB0" }, "port", `port: "ttyUSB0" is not a device path (write the full path, e.g. /dev/ttyUSB0 or a /dev/serial/by-id/ link; see: tally ports)`},
		{"odd baud", func(c *Config) { c.Baud = 12345 }, "baud", "baud: 12345 is not a standard rate (50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000)"},
		{"negative baud", func(c *Config) { c.Baud = -9600 }, "baud", ""},
		{"data bits", func(c *Config) { c.DataBits = 9 }, "data_bits", "data_bits: 9 is not 5, 6, 7 or 8"},
		{"parity", func(c *Config) { c.Parity = "Even" }, "parity", `parity: "Even" is not one of none, even, odd, mark, space`},
		{"stop bits", func(c *Config) { c.StopBits = 3 }, "stop_bits", "stop_bits: 3 is not 1, 1.5 or 2"},
		{"stop bits 1.5", func(c *Config) { c.StopBits = 1.5 }, "stop_bits", ""},
		{"read timeout", func(c *Config) { c.ReadTimeout = -time.Second }, "read_timeout", "read_timeout: -1s is out of range (above 0, at most 10s)"},
		{"read timeout long", func(c *Config) { c.ReadTimeout = time.Minute }, "read_timeout", ""},
		{"max line", func(c *Config) { c.MaxLine = -1 }, "max_line", "max_line: -1 is out of range 1–65536 bytes"},
		{"max line huge", func(c *Config) { c.MaxLine = 1 << 20 }, "max_line", ""},
		{"reconnect min", func(c *Config) { c.ReconnectMin = -1 }, "reconnect_min", ""},
		{"reconnect order", func(c *Config) { c.ReconnectMin, c.ReconnectMax = 10*time.Second, time.Second }, "reconnect_max", "reconnect_max: 1s is below reconnect_min (10s)"},
		{"reconnect max", func(c *Config) { c.ReconnectMax = 2 * time.Hour }, "reconnect_max", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(&c)
			err := c.Validate()
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Validate() = %v, want a *ConfigError", err)
			}
			if ce.Key != tc.key || !strings.HasPrefix(err.Error(), tc.key+": ") {
				t.Errorf("key %q, message %q; want key %q", ce.Key, err, tc.key)
			}
			if tc.msg != "" && err.Error() != tc.msg {
				t.Errorf("message\n got %s\nwant %s", err, tc.msg)
			}
		})
	}
	for _, ok := range []func(c *Config){
		func(c *Config) { c.Baud = 4800 },
		func(c *Config) { c.Baud = 115200; c.Parity = "even"; c.DataBits = 7; c.StopBits = 2 },
		func(c *Config) { c.Port = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0" },
		func(c *Config) { c.ReconnectMin, c.ReconnectMax = 10*time.Millisecond, 10*time.Millisecond },
	} {
		c := validConfig()
		ok(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
}

// The yaml tags decode a driver section strictly, durations as "1s".
func TestConfigYAML(t *testing.T) {
	const doc = `
port: /dev/serial/by-id/usb-u-blox_GNSS_receiver-if00
baud: 4800
data_bits: 7
parity: odd
stop_bits: 2
read_timeout: 500ms
max_line: 128
reconnect_min: 2s
reconnect_max: 1m
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Port: "/dev/serial/by-id/usb-u-blox_GNSS_receiver-if00", Baud: 4800, DataBits: 7, Parity: "odd", StopBits: 2,
		ReadTimeout: 500 * time.Millisecond, MaxLine: 128, ReconnectMin: 2 * time.Second, ReconnectMax: time.Minute,
	}
	if c != want {
		t.Errorf("decoded\n %+v\nwant %+v", c, want)
	}

	var c2 Config
	dec = yaml.NewDecoder(strings.NewReader("port: /dev/ttyS0\nbaudrate: 9600\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&c2); err == nil || !strings.Contains(err.Error(), "baudrate") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestMode(t *testing.T) {
	c := validConfig()
	c.Parity, c.StopBits, c.DataBits, c.Baud = "space", 2, 7, 4800
	m := c.mode()
	if m.BaudRate != 4800 || m.DataBits != 7 || m.Parity != bugserial.SpaceParity || m.StopBits != bugserial.TwoStopBits {
		t.Errorf("mode %+v", m)
	}
}
