package modbus

import (
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPointValue(t *testing.T) {
	tests := []struct {
		name  string
		point Point
		words []uint16
		want  float64
	}{
		{"signed tenths", Point{Signed: true, Scale: 0.1}, []uint16{0xFF38}, -20.0},
		{"unsigned tenths", Point{Scale: 0.1}, []uint16{0xFF38}, 6533.6},
		{"no scale", Point{}, []uint16{250}, 250},
		{"scale one", Point{Scale: 1}, []uint16{0x8000}, 32768},
		{"signed minimum", Point{Signed: true}, []uint16{0x8000}, -32768},
		{"decimal scale stays decimal", Point{Scale: 0.1}, []uint16{253}, 25.3},
		{"hundredths", Point{Scale: 0.01}, []uint16{2150}, 21.5},
		{"thousandths", Point{Scale: 0.001}, []uint16{3}, 0.003},
		{"halves", Point{Scale: 0.5}, []uint16{41}, 20.5},
		{"multiplier", Point{Scale: 2}, []uint16{21}, 42},
		{"negative scale", Point{Scale: -0.1}, []uint16{200}, -20},
		{"32-bit big-endian words", Point{Words: 2}, []uint16{0x0001, 0x0000}, 65536},
		{"32-bit signed", Point{Words: 2, Signed: true, Scale: 0.01}, []uint16{0xFFFF, 0xF830}, -20},
		{"32-bit unsigned max", Point{Words: 2}, []uint16{0xFFFF, 0xFFFF}, 4294967295},
		{"32-bit signed min", Point{Words: 2, Signed: true}, []uint16{0x8000, 0x0000}, -2147483648},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.point.Value(tc.words)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Value(%04X) = %v, want %v", tc.words, got, tc.want)
			}
		})
	}
}

func TestPointValueWordCount(t *testing.T) {
	for _, tc := range []struct {
		p     Point
		words []uint16
	}{
		{Point{Field: "celsius"}, nil},
		{Point{Field: "celsius"}, []uint16{1, 2}},
		{Point{Field: "celsius", Words: 2}, []uint16{1}},
		{Point{Field: "celsius", Words: 3}, []uint16{1, 2, 3}},
	} {
		if v, err := tc.p.Value(tc.words); err == nil {
			t.Errorf("Point{Words: %d}.Value(%v) = %v, want an error", tc.p.Words, tc.words, v)
		}
	}
}

func TestData(t *testing.T) {
	points := []Point{
		{Field: FieldCelsius, Function: 4, Register: 1, Signed: true, Scale: 0.1, Unit: "°C"},
		{Field: FieldHumidityPct, Function: 4, Register: 2, Scale: 0.1, Unit: "%RH"},
		{Field: "dew_point_c", Function: 3, Register: 0x10, Words: 2, Signed: true, Scale: 0.01},
	}
	regs := map[Address]uint16{
		{4, 1}: 0xFF38, {4, 2}: 600,
		{3, 0x10}: 0xFFFF, {3, 0x11}: 0xFC18,
		{3, 1}: 1234, // same address, other function: must not be used
	}
	got, err := Data(points, regs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{FieldCelsius: -20.0, FieldHumidityPct: 60.0, "dew_point_c": -10.0}
	if !maps.Equal(got, want) {
		t.Errorf("Data = %v, want %v", got, want)
	}

	delete(regs, Address{3, 0x11})
	if _, err := Data(points, regs); err == nil || !strings.Contains(err.Error(), "register 17 (function 3) was not read") {
		t.Errorf("Data with a register missing: err = %v", err)
	}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name   string
		points []Point
		want   []Request
	}{
		{
			"temperature and humidity in one request",
			[]Point{{Function: 4, Register: 2}, {Function: 4, Register: 1}},
			[]Request{{Slave: 1, Function: 4, Start: 1, Count: 2}},
		},
		{
			"gap is not read across",
			[]Point{{Function: 3, Register: 0}, {Function: 3, Register: 5}},
			[]Request{{Slave: 1, Function: 3, Start: 0, Count: 1}, {Slave: 1, Function: 3, Start: 5, Count: 1}},
		},
		{
			"functions apart, 32-bit words joined",
			[]Point{{Function: 4, Register: 0}, {Function: 3, Register: 0x10, Words: 2}, {Function: 3, Register: 0x12}},
			[]Request{{Slave: 1, Function: 3, Start: 0x10, Count: 3}, {Slave: 1, Function: 4, Start: 0, Count: 1}},
		},
		{
			"overlap",
			[]Point{{Function: 3, Register: 7, Words: 2}, {Function: 3, Register: 8}},
			[]Request{{Slave: 1, Function: 3, Start: 7, Count: 2}},
		},
		{
			"split at 125 registers",
			contiguous(126),
			[]Request{{Slave: 1, Function: 3, Start: 0, Count: 125}, {Slave: 1, Function: 3, Start: 125, Count: 1}},
		},
		{
			"a 32-bit value is not split",
			append(contiguous(124), Point{Function: 3, Register: 124, Words: 2}),
			[]Request{{Slave: 1, Function: 3, Start: 0, Count: 124}, {Slave: 1, Function: 3, Start: 124, Count: 2}},
		},
		{
			"last register",
			[]Point{{Function: 4, Register: 65534, Words: 2}},
			[]Request{{Slave: 1, Function: 4, Start: 65534, Count: 2}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := plan(1, tc.points)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("plan = %v, want %v", got, tc.want)
			}
			for _, r := range got {
				if err := r.Validate(); err != nil {
					t.Errorf("planned an invalid request: %v", err)
				}
			}
		})
	}
}

// contiguous returns n one-register holding points at registers 0..n-1.
func contiguous(n int) []Point {
	ps := make([]Point, n)
	for i := range ps {
		ps[i] = Point{Function: 3, Register: uint16(i)}
	}
	return ps
}

// A typical temperature/humidity transmitter config yields the vector
// request 01 04 00 01 00 02 20 0B byte for byte.
func TestPlanVectorRequest(t *testing.T) {
	reqs := plan(1, []Point{
		{Field: FieldCelsius, Function: 4, Register: 1, Signed: true, Scale: 0.1},
		{Field: FieldHumidityPct, Function: 4, Register: 2, Scale: 0.1},
	})
	frame, err := reqs[0].Encode()
	if err != nil || len(reqs) != 1 || string(frame) != string(unhex(t, "01 04 00 01 00 02 20 0B")) {
		t.Errorf("plan = %v, frame % X, %v; want the vector 01 04 00 01 00 02 20 0B", reqs, frame, err)
	}
}

func validConfig() Config {
	return Config{Devices: []Device{{
		Name:  "supply",
		Slave: 1,
		Points: []Point{
			{Field: FieldCelsius, Function: 4, Register: 1, Signed: true, Scale: 0.1, Unit: "C"},
		},
	}}}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		text   string // "" when valid
	}{
		{"valid", func(c *Config) {}, ""},
		{"humidity only", func(c *Config) {
			c.Devices[0].Points[0] = Point{Field: FieldHumidityPct, Function: 3, Scale: 0.1, Unit: "%RH"}
		}, ""},
		{"other kind", func(c *Config) { c.Devices[0].Kind = "pressure"; c.Devices[0].Points[0].Field = "kpa" }, ""},
		{"negative baud", func(c *Config) { c.Baud = -1 }, "baud: -1"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout: -1s"},
		{"retries", func(c *Config) { c.Retries = 11 }, "retries: 11"},
		{"no devices", func(c *Config) { c.Devices = nil }, "devices: none"},
		{"no name", func(c *Config) { c.Devices[0].Name = "" }, "devices[0]: name: empty"},
		{"broadcast", func(c *Config) { c.Devices[0].Slave = 0 }, `devices[0] ("supply"): slave: 0 out of range 1–247`},
		{"reserved slave", func(c *Config) { c.Devices[0].Slave = 250 }, "slave: 250"},
		{"negative interval", func(c *Config) { c.Devices[0].Interval = -1 }, "interval"},
		{"no points", func(c *Config) { c.Devices[0].Points = nil }, "points: none"},
		{"bad function", func(c *Config) { c.Devices[0].Points[0].Function = 6 }, `devices[0] ("supply"): points[0].function: 6, want 3`},
		{"bad words", func(c *Config) { c.Devices[0].Points[0].Words = 4 }, "points[0].words: 4"},
		{"past last register", func(c *Config) { c.Devices[0].Points[0].Register = 65535; c.Devices[0].Points[0].Words = 2 }, "runs past 65535"},
		{"empty field", func(c *Config) { c.Devices[0].Points[0].Field = "" }, "points[0].field: empty"},
		{"reserved field", func(c *Config) { c.Devices[0].Points[0].Field = "probe" }, "reserved"},
		{"fahrenheit", func(c *Config) { c.Devices[0].Points[0].Unit = "F" }, "points[0].unit: \"F\" does not fit field celsius"},
		{"NaN scale", func(c *Config) { c.Devices[0].Points[0].Scale = nan() }, "scale: NaN"},
		{"duplicate field", func(c *Config) {
			c.Devices[0].Points = append(c.Devices[0].Points, c.Devices[0].Points[0])
		}, `points[1].field: "celsius" already used by points[0]`},
		{"duplicate name", func(c *Config) {
			d := c.Devices[0]
			d.Slave = 2
			c.Devices = append(c.Devices, d)
		}, `devices[1].name: "supply" already used by devices[0]`},
		{"shared slave is fine", func(c *Config) {
			d := c.Devices[0]
			d.Name = "return"
			c.Devices = append(c.Devices, d)
		}, ""},
		{"kind not inferable", func(c *Config) { c.Devices[0].Points[0].Field = "kpa" }, "kind: empty"},
		{"temperature without celsius", func(c *Config) {
			c.Devices[0].Kind = "temperature"
			c.Devices[0].Points[0] = Point{Field: FieldHumidityPct, Function: 3}
		}, "kind: temperature readings need a celsius point"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.change(&c)
			err := c.Validate()
			if tc.text == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Validate = %v, want an error saying %q", err, tc.text)
			}
		})
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestFrameGap(t *testing.T) {
	tests := []struct {
		baud int
		want time.Duration
	}{
		{1200, 32083333 * time.Nanosecond},
		{9600, 4010416 * time.Nanosecond},
		{19200, 2005208 * time.Nanosecond},
		{38400, 1750 * time.Microsecond},
		{115200, 1750 * time.Microsecond},
	}
	for _, tc := range tests {
		if got := FrameGap(tc.baud); got != tc.want {
			t.Errorf("FrameGap(%d) = %v, want %v", tc.baud, got, tc.want)
		}
	}
}

func TestAdvance(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := time.Second
	tests := []struct {
		name     string
		due, now time.Time
		want     time.Time
	}{
		{"on time", t0, t0.Add(s / 10), t0.Add(s)},
		{"late, next tick still ahead", t0, t0.Add(s / 2), t0.Add(s)},
		{"exactly one interval late", t0, t0.Add(s), t0.Add(2 * s)},
		{"several ticks missed", t0, t0.Add(3*s + s/2), t0.Add(4 * s)},
	}
	for _, tc := range tests {
		if got := advance(tc.due, s, tc.now); !got.Equal(tc.want) {
			t.Errorf("%s: advance = %v, want %v", tc.name, got.Sub(t0), tc.want.Sub(t0))
		}
	}
}
