package lines

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tallygw/tally/sensors"
)

var recv = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func ptr(v float64) *float64 { return &v }

// Realistic serial thermometer formats.
var (
	// "T=23.5C": a bare probe.
	simpleCfg = Config{
		Pattern: `^T=(?P<t>[-+]?\d+(?:\.\d+)?)C$`,
		Kind:    "temperature",
		Fields:  map[string]Field{"t": {Name: "celsius", Min: ptr(-60), Max: ptr(150)}},
	}
	// "+0023.5,45.2\r": fixed-width signed temperature, humidity, CRLF.
	csvCfg = Config{
		Pattern: `^(?P<t>[-+]\d{4}\.\d),(?P<h>\d{1,3}\.\d)$`,
		Kind:    "temperature",
		Fields: map[string]Field{
			"t": {Name: "celsius", Type: "float"},
			"h": {Name: "humidity_pct", Min: ptr(0), Max: ptr(100)},
		},
	}
	// "TEMP:-18.3 HUM:65": reefer display output, integer humidity,
	// humidity missing while the hygrometer warms up.
	labelledCfg = Config{
		Pattern: `^TEMP:(?P<t>\S+)(?: HUM:(?P<h>\S+))?$`,
		Kind:    "temperature",
		Fields: map[string]Field{
			"t": {Name: "celsius"},
			"h": {Name: "humidity_pct", Type: "int", Min: ptr(0), Max: ptr(100)},
		},
	}
	// "R 0235": tenths of a degree, space padded.
	tenthsCfg = Config{
		Pattern: `^R(?P<t>[ \d-]{5})$`,
		Kind:    "temperature",
		Fields:  map[string]Field{"t": {Name: "celsius", Scale: 0.1}},
	}
	// "F=74.3": Fahrenheit converted to Celsius, (F-32)*5/9.
	fahrenheitCfg = Config{
		Pattern: `F=(?P<f>[-\d.]+)`,
		Kind:    "temperature",
		Fields:  map[string]Field{"f": {Name: "celsius", Scale: 5.0 / 9, Offset: -32 * 5.0 / 9}},
	}
	// "2024-05-01 11:59:58;P2;#117;-18.25": logger with clock, probe and sequence.
	loggerCfg = Config{
		Pattern: `^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d);(?P<probe>[^;]*);#(?P<seq>\d+);(?P<t>[^;]+)$`,
		Kind:    "temperature",
		Fields: map[string]Field{
			"t":     {Name: "celsius", Min: ptr(-40), Max: ptr(40)},
			"probe": {Name: "probe", Type: "string"},
		},
		TimeGroup:  "ts",
		TimeLayout: time.DateTime,
		MsgIDGroup: "seq",
	}
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		line  string
		data  map[string]any
		time  time.Time
		msgID string
	}{
		{"simple", simpleCfg, "T=23.5C", map[string]any{"celsius": 23.5}, time.Time{}, ""},
		{"simple negative", simpleCfg, "T=-5C", map[string]any{"celsius": -5.0}, time.Time{}, ""},
		{"simple CRLF", simpleCfg, "T=23.5C\r\n", map[string]any{"celsius": 23.5}, time.Time{}, ""},
		{"simple at max", simpleCfg, "T=150C", map[string]any{"celsius": 150.0}, time.Time{}, ""},
		{"csv CR", csvCfg, "+0023.5,45.2\r", map[string]any{"celsius": 23.5, "humidity_pct": 45.2}, time.Time{}, ""},
		{"csv negative", csvCfg, "-0018.3,90.0", map[string]any{"celsius": -18.3, "humidity_pct": 90.0}, time.Time{}, ""},
		{"labelled", labelledCfg, "TEMP:-18.3 HUM:65", map[string]any{"celsius": -18.3, "humidity_pct": int64(65)}, time.Time{}, ""},
		{"labelled no humidity", labelledCfg, "TEMP:-18.3", map[string]any{"celsius": -18.3}, time.Time{}, ""},
		{"tenths", tenthsCfg, "R 0235", map[string]any{"celsius": 23.5}, time.Time{}, ""},
		{"tenths padded negative", tenthsCfg, "R  -12", map[string]any{"celsius": -1.2000000000000002}, time.Time{}, ""},
		{"fahrenheit", fahrenheitCfg, "probe1 F=212.0 ok", map[string]any{"celsius": 100.0}, time.Time{}, ""},
		{
			"logger", loggerCfg, "2024-05-01 11:59:58;P2;#117;-18.25",
			map[string]any{"celsius": -18.25, "probe": "P2"},
			time.Date(2024, 5, 1, 11, 59, 58, 0, time.UTC), "117",
		},
		{
			"logger empty probe", loggerCfg, "2024-05-01 11:59:58;;#118;4",
			map[string]any{"celsius": 4.0, "probe": ""},
			time.Date(2024, 5, 1, 11, 59, 58, 0, time.UTC), "118",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New("thermo-1", tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := d.Decode([]byte(tt.line), recv)
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.line, err)
			}
			want := sensors.Reading{
				Sensor: "thermo-1",
				Kind:   "temperature",
				Time:   tt.time,
				MsgID:  tt.msgID,
				Data:   tt.data,
				Raw:    []byte(tt.line),
			}
			if !tt.time.IsZero() {
				want.Clock = "device"
			}
			if len(rs) != 1 || !reflect.DeepEqual(rs[0], want) {
				t.Errorf("Decode(%q):\n got %+v\nwant %+v", tt.line, rs, want)
			}
			if got := d.Flush(); got != nil {
				t.Errorf("Flush = %v", got)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	badSimple := simpleCfg
	badSimple.Pattern = `^T=(?P<t>\S*)C$`
	tests := []struct {
		name   string
		cfg    Config
		line   string
		reason string
	}{
		{"no match", simpleCfg, "T=23.5F", `lines: no match for pattern "^T=(?P<t>[-+]?\\d+(?:\\.\\d+)?)C$"`},
		{"empty line", simpleCfg, "", "no match for pattern"},
		{"garbage", csvCfg, "\x00\xff+0023.5,45.2", "no match for pattern"},
		{"not a number", badSimple, "T=abcC", `lines: field celsius: "abc" is not a number`},
		{"empty number", badSimple, "T=C", `field celsius: "" is not a number`},
		{"NaN", badSimple, "T=NaNC", `field celsius: "NaN" is not a number`},
		{"Inf", badSimple, "T=+InfC", `field celsius: "+Inf" is not a number`},
		{"hex", badSimple, "T=0x1p3C", `field celsius: "0x1p3" is not a number`},
		{"two dots", badSimple, "T=2.3.5C", `field celsius: "2.3.5" is not a number`},
		{"overflow", badSimple, "T=1e400C", `field celsius: "1e400" is out of range`},
		{"above max", simpleCfg, "T=250C", "lines: field celsius: 250 above max 150"},
		{"below min", simpleCfg, "T=-61.5C", "field celsius: -61.5 below min -60"},
		{"humidity above max", csvCfg, "+0023.5,145.2", "field humidity_pct: 145.2 above max 100"},
		{"int not integer", labelledCfg, "TEMP:1 HUM:6.5", `field humidity_pct: "6.5" is not an integer`},
		{"int out of range", labelledCfg, "TEMP:1 HUM:99999999999999999999", `field humidity_pct: "99999999999999999999" is out of range`},
		{"int above max", labelledCfg, "TEMP:1 HUM:101", "field humidity_pct: 101 above max 100"},
		{"bad float before int", labelledCfg, "TEMP:x HUM:y", `field celsius: "x" is not a number`},
		{"scaled garbage", tenthsCfg, "R  - -", `field celsius: "  - -" is not a number`},
		{"bad time", loggerCfg, "2024-13-01 11:59:58;P2;#117;-18.25", `lines: time "2024-13-01 11:59:58" does not match layout "2006-01-02 15:04:05"`},
		{"time before 1970", loggerCfg, "0001-01-01 00:00:00;;#0;0", `lines: time 0001-01-01T00:00:00Z is before 1970: the sensor's clock is not set`},
		{"invalid UTF-8 string", loggerCfg, "2024-05-01 11:59:58;P\xff;#117;-18.25", `field probe: "P\xff" is not valid UTF-8`},
		{"above max logger", loggerCfg, "2024-05-01 11:59:58;P2;#117;41", "field celsius: 41 above max 40"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New("thermo-1", tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := d.Decode([]byte(tt.line), recv)
			if err == nil {
				t.Fatalf("Decode(%q) = %+v, want error %q", tt.line, rs, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Decode(%q) error\n %s\nwant it to contain\n %s", tt.line, err, tt.reason)
			}
			if rs != nil {
				t.Errorf("Decode returned readings with an error: %v", rs)
			}
		})
	}
}

func TestScaleOverflow(t *testing.T) {
	cfg := Config{Pattern: `(?P<v>.+)`, Kind: "temperature", Fields: map[string]Field{"v": {Name: "celsius", Scale: 1e300}}}
	d, err := New("s", cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Decode([]byte("1e300"), recv)
	if err == nil || !strings.Contains(err.Error(), "out of range after scale") {
		t.Errorf("error %v, want out of range after scale", err)
	}
}

func TestNoGroupTookPart(t *testing.T) {
	cfg := Config{Pattern: `^X(?P<v>\d+)?$`, Kind: "temperature", Fields: map[string]Field{"v": {Name: "celsius"}}}
	d, err := New("s", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode([]byte("X"), recv); err == nil || !strings.Contains(err.Error(), "none of the mapped groups") {
		t.Errorf("error %v, want none of the mapped groups", err)
	}
}

func TestDecodeCopiesLine(t *testing.T) {
	d, err := New("s", simpleCfg)
	if err != nil {
		t.Fatal(err)
	}
	buf := []byte("T=1C")
	rs, err := d.Decode(buf, recv)
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXX")
	if string(rs[0].Raw) != "T=1C" {
		t.Errorf("Raw aliases the caller's buffer: %q", rs[0].Raw)
	}
}

func TestConfigErrors(t *testing.T) {
	valid := func(edit func(*Config)) Config {
		c := Config{
			Pattern: `^(?P<ts>\S+ \S+);(?P<t>\S+);(?P<n>\d+)$`,
			Kind:    "temperature",
			Fields:  map[string]Field{"t": {Name: "celsius"}},
		}
		edit(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		key  string
		text string
	}{
		{"empty pattern", valid(func(c *Config) { c.Pattern = "" }), "pattern", "lines: pattern: empty"},
		{"bad pattern", valid(func(c *Config) { c.Pattern = `(?P<t>[0-9` }), "pattern", "missing closing ]"},
		{"no kind", valid(func(c *Config) { c.Kind = "" }), "kind", `lines: kind: "" is not a reading kind`},
		{"bad kind", valid(func(c *Config) { c.Kind = "Temp C" }), "kind", `"Temp C"`},
		{"no fields", valid(func(c *Config) { c.Fields = nil }), "fields", "no group is mapped"},
		{"missing group", valid(func(c *Config) { c.Fields["x"] = Field{Name: "humidity_pct"} }), "fields.x", `lines: fields.x: pattern has no group named "x"`},
		{"duplicate group", valid(func(c *Config) { c.Pattern = `(?P<t>\d)(?P<t>\d)` }), "fields.t", `pattern has 2 groups named "t"`},
		{"empty name", valid(func(c *Config) { c.Fields["t"] = Field{} }), "fields.t.name", "empty"},
		{"same name twice", valid(func(c *Config) { c.Fields["n"] = Field{Name: "celsius"} }), "fields.t.name", `"celsius" is already filled by group "n"`},
		{"unknown type", valid(func(c *Config) { c.Fields["t"] = Field{Name: "celsius", Type: "double"} }), "fields.t.type", `lines: fields.t.type: unknown type "double" (want float, int or string)`},
		{"scale on int", valid(func(c *Config) { c.Fields["n"] = Field{Name: "count", Type: "int", Scale: 2} }), "fields.n.scale", "float fields only"},
		{"offset on string", valid(func(c *Config) { c.Fields["n"] = Field{Name: "probe", Type: "string", Offset: 1} }), "fields.n.offset", "float fields only"},
		{"min on string", valid(func(c *Config) { c.Fields["n"] = Field{Name: "probe", Type: "string", Min: ptr(1)} }), "fields.n.min", "applies to numbers"},
		{"max on string", valid(func(c *Config) { c.Fields["n"] = Field{Name: "probe", Type: "string", Max: ptr(1)} }), "fields.n.max", "applies to numbers"},
		{"NaN scale", valid(func(c *Config) { c.Fields["t"] = Field{Name: "celsius", Scale: math.NaN()} }), "fields.t.scale", "not a finite number"},
		{"Inf offset", valid(func(c *Config) { c.Fields["t"] = Field{Name: "celsius", Offset: math.Inf(1)} }), "fields.t.offset", "not a finite number"},
		{"NaN min", valid(func(c *Config) { c.Fields["t"] = Field{Name: "celsius", Min: ptr(math.NaN())} }), "fields.t.min", "not a finite number"},
		{"min above max", valid(func(c *Config) { c.Fields["t"] = Field{Name: "celsius", Min: ptr(10), Max: ptr(5)} }), "fields.t.max", "5 is below min 10"},
		{"layout without group", valid(func(c *Config) { c.TimeLayout = time.DateTime }), "time_group", "empty, but time_layout is set"},
		{"group without layout", valid(func(c *Config) { c.TimeGroup = "ts" }), "time_layout", "empty, but time_group is set"},
		{"missing time group", valid(func(c *Config) { c.TimeGroup, c.TimeLayout = "when", time.DateTime }), "time_group", `no group named "when"`},
		{"layout without date", valid(func(c *Config) { c.TimeGroup, c.TimeLayout = "ts", "15:04:05" }), "time_layout", "does not give a full date"},
		{"layout without year", valid(func(c *Config) { c.TimeGroup, c.TimeLayout = "ts", time.Stamp }), "time_layout", "does not give a full date"},
		{"layout nonsense", valid(func(c *Config) { c.TimeGroup, c.TimeLayout = "ts", "when" }), "time_layout", "does not give a full date"},
		{"missing msg id group", valid(func(c *Config) { c.MsgIDGroup = "seq" }), "msg_id_group", `no group named "seq"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New("thermo-1", tt.cfg)
			if err == nil {
				t.Fatalf("New: no error, want one naming %s", tt.key)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is %T, want *ConfigError", err, err)
			}
			if ce.Key != tt.key {
				t.Errorf("Key = %q, want %q (error %v)", ce.Key, tt.key, err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q, want it to contain %q", err, tt.text)
			}
			if verr := tt.cfg.Validate(); verr == nil || verr.Error() != err.Error() {
				t.Errorf("Validate = %v, want %v", verr, err)
			}
		})
	}
	if _, err := New("", simpleCfg); err == nil {
		t.Error("New with empty sensor id: no error")
	}
	for _, cfg := range []Config{simpleCfg, csvCfg, labelledCfg, tenthsCfg, fahrenheitCfg, loggerCfg,
		valid(func(c *Config) { c.TimeGroup, c.TimeLayout, c.MsgIDGroup = "ts", time.RFC3339, "n" })} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate(%q): %v", cfg.Pattern, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"2024-05-01 11:59:58;P2;#117;-18.25",
		"2024-05-01 11:59:58;;#1;4",
		"2024-13-01 11:59:58;P2;#117;-18.25",
		"2024-05-01 11:59:58;P\xff;#117;1e400",
		"2024-05-01 11:59:58;P2;#99999999999999999999;NaN",
		"0001-01-01 00:00:00;;#0;0", "1969-12-31 23:59:59;;#0;0",
		"T=23.5C", "+0023.5,45.2\r", "TEMP:-18.3 HUM:65", "",
	} {
		f.Add([]byte(s))
	}
	d, err := New("thermo-1", loggerCfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		rs, err := d.Decode(line, recv)
		if err != nil {
			if rs != nil {
				t.Fatalf("readings %v with error %v", rs, err)
			}
			return
		}
		if len(rs) != 1 {
			t.Fatalf("%d readings", len(rs))
		}
		r := rs[0]
		c, ok := r.Data["celsius"].(float64)
		if !ok || math.IsNaN(c) || c < -40 || c > 40 {
			t.Fatalf("celsius = %v", r.Data["celsius"])
		}
		if p, ok := r.Data["probe"].(string); ok && !utf8.ValidString(p) {
			t.Fatalf("probe %q not UTF-8", p)
		}
		if !utf8.ValidString(r.MsgID) || r.Time.IsZero() || r.Clock != "device" {
			t.Fatalf("reading %+v", r)
		}
	})
}
