// Package config loads a gateway's YAML configuration strictly: unknown keys
// and wrong types are errors naming the file, line and key; defaults are
// applied in one place (SetDefaults); Validate runs before anything is
// opened.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tallygw/tally/edge/broker"
	"github.com/tallygw/tally/edge/conditions"
	"github.com/tallygw/tally/edge/uplink"
	"github.com/tallygw/tally/sensors"
	"github.com/tallygw/tally/sensors/eseal"
	"github.com/tallygw/tally/sensors/iso6346"
	"github.com/tallygw/tally/sensors/lines"
	"github.com/tallygw/tally/sensors/modbus"
	"github.com/tallygw/tally/sensors/mqtt"
	"github.com/tallygw/tally/sensors/serial"
	"github.com/tallygw/tally/sensors/sim"
)

// Config is a whole gateway configuration.
type Config struct {
	Gateway    Gateway            `yaml:"gateway"`
	DataDir    string             `yaml:"data_dir"`
	Keys       Keys               `yaml:"keys"`
	Store      Store              `yaml:"store"`
	Checkpoint Checkpoint         `yaml:"checkpoint"`
	HTTP       HTTP               `yaml:"http"`
	Log        Log                `yaml:"log"`
	Shutdown   Shutdown           `yaml:"shutdown"`
	Sensors    []Sensor           `yaml:"sensors"`
	Conditions *conditions.Config `yaml:"conditions"`
	Broker     *broker.Config     `yaml:"broker"`
	Uplink     *uplink.Config     `yaml:"uplink"`
	Anchor     *Anchor            `yaml:"anchor"`

	file  string          // the file it was loaded from
	lines map[string]int  // key path -> line, for validation errors
	root  *yaml.Node      // kept for Line lookups
	set   map[string]bool // key paths present in the file
}

// Gateway identifies this gateway.
type Gateway struct {
	ID        string `yaml:"id"`
	Container string `yaml:"container"`
}

// Keys are the private key files, relative to data_dir unless absolute.
type Keys struct {
	Ed25519 string `yaml:"ed25519"`
	MLDSA65 string `yaml:"mldsa65"`
}

// Store tunes the SQLite store.
type Store struct {
	Path          string `yaml:"path"`
	MaxBatch      int    `yaml:"max_batch"`
	QueueLen      int    `yaml:"queue_len"`
	QuarantineMax int    `yaml:"quarantine_max"`
	DiskBudgetMB  int64  `yaml:"disk_budget_mb"`
}

// Checkpoint says how often checkpoints are signed.
type Checkpoint struct {
	Interval    Duration `yaml:"interval"`
	MaxReadings int64    `yaml:"max_readings"`
}

// HTTP is the local status endpoint.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Shutdown bounds graceful shutdown.
type Shutdown struct {
	Timeout Duration `yaml:"timeout"`
}

// Sensor is one configured sensor: an id, a driver, and that driver's
// settings (serial settings for every serial driver).
type Sensor struct {
	ID      string         `yaml:"id"`
	Driver  string         `yaml:"driver"`
	Enabled *bool          `yaml:"enabled"`
	Serial  *serial.Config `yaml:"serial"`
	Sim     *sim.Config    `yaml:"sim"`
	NMEA    *NMEASensor    `yaml:"nmea"`
	Modbus  *modbus.Config `yaml:"modbus"`
	ESeal   *eseal.Config  `yaml:"eseal"`
	Lines   *lines.Config  `yaml:"lines"`
	MQTT    *mqtt.Config   `yaml:"mqtt"`
	Publish *SimPublish    `yaml:"publish"`

	embedded bool // mqtt.broker was "embedded"
}

// SimPublish makes the simulator publish its readings over MQTT (to the
// embedded broker) instead of handing them to the gateway directly, as real
// MQTT sensors do.
type SimPublish struct {
	TopicPrefix string `yaml:"topic_prefix"` // topics <prefix>/<sensor>/<kind>; default "sim"
}

// EmbeddedBroker reports whether the sensor subscribes to the gateway's own
// embedded broker (mqtt.broker: embedded).
func (s Sensor) EmbeddedBroker() bool { return s.embedded }

// NMEASensor configures a GPS receiver.
type NMEASensor struct {
	AllowNoChecksum bool     `yaml:"allow_no_checksum"`
	MinInterval     Duration `yaml:"min_interval"`
	MinDistanceM    float64  `yaml:"min_distance_m"`
}

// Drivers is every sensor driver this build knows.
var Drivers = []string{"sim", "nmea", "modbus", "eseal", "lines", "mqtt"}

// serialDrivers read a serial port and need a serial section.
var serialDrivers = map[string]bool{"nmea": true, "modbus": true, "eseal": true, "lines": true}

// Duration is a time.Duration written as "30s", "5m", "1h".
type Duration time.Duration

// UnmarshalYAML accepts Go duration strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration (write e.g. 500ms, 30s, 5m, 1h)", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Error is a configuration error at a place in a file.
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted key path, e.g. sensors[0].driver
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads, strictly decodes, defaults and validates the file. dataDir,
// when not empty, overrides data_dir.
func Load(path, dataDir string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, raw, dataDir)
}

// Parse is Load over bytes; file names the source in errors.
func Parse(file string, raw []byte, dataDir string) (*Config, error) {
	c := &Config{file: file, lines: map[string]int{}, set: map[string]bool{}}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, &Error{File: file, Line: yamlLine(err.Error()), Msg: "not valid YAML: " + stripLine(err.Error())}
	}
	c.root = &root
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, &Error{File: file, Msg: "the file is empty; start from configs/tally.yaml"}
	}
	if err := c.walk(root.Content[0], reflect.TypeOf(Config{}), ""); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			line := yamlLine(te.Errors[0])
			return nil, &Error{File: file, Line: line, Key: c.keyAt(line), Msg: explainType(stripLine(te.Errors[0]))}
		}
		return nil, &Error{File: file, Msg: err.Error()}
	}
	if dataDir != "" {
		c.DataDir = dataDir
		c.set["data_dir"] = true
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

var lineRE = regexp.MustCompile(`line (\d+):? ?`)

func yamlLine(msg string) int {
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func stripLine(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	return lineRE.ReplaceAllString(msg, "")
}

var typeRE = regexp.MustCompile("cannot unmarshal !!(\\w+) `(.*)` into (\\S+)")

func explainType(msg string) string {
	m := typeRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	want := m[3]
	switch {
	case strings.Contains(want, "int"):
		want = "a whole number"
	case strings.Contains(want, "float"):
		want = "a number"
	case want == "bool":
		want = "true or false"
	case want == "string":
		want = "a string"
	case strings.HasPrefix(want, "[]"):
		want = "a list"
	default:
		want = "a mapping of keys (" + want + ")"
	}
	return fmt.Sprintf("%q is not %s", m[2], want)
}

// walk checks every mapping key against the struct's yaml tags and records
// the line of each key path.
func (c *Config) walk(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeOf(time.Duration(0)) || t == reflect.TypeOf(Duration(0)) {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!int" && n.Value != "0" {
			return &Error{File: c.file, Line: n.Line, Key: path, Msg: fmt.Sprintf("%s has no unit; write e.g. %ss or %sms", n.Value, n.Value, n.Value)}
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return &Error{File: c.file, Line: n.Line, Key: path, Msg: "must be a mapping of keys: " + strings.Join(yamlKeys(t), ", ")}
		}
		fields := map[string]reflect.StructField{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if tag := strings.Split(f.Tag.Get("yaml"), ",")[0]; tag != "" && f.IsExported() {
				fields[tag] = f
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := join(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				return &Error{File: c.file, Line: k.Line, Key: key, Msg: "unknown key; allowed here: " + strings.Join(yamlKeys(t), ", ")}
			}
			if c.set[key] {
				return &Error{File: c.file, Line: k.Line, Key: key, Msg: "key appears twice"}
			}
			c.set[key] = true
			c.lines[key] = k.Line
			if v.Line != k.Line {
				c.lines[key+"#value"] = v.Line
			}
			if err := c.walk(v, f.Type, key); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return &Error{File: c.file, Line: n.Line, Key: path, Msg: "must be a mapping"}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := join(path, n.Content[i].Value)
			c.lines[key] = n.Content[i].Line
			if err := c.walk(n.Content[i+1], t.Elem(), key); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return &Error{File: c.file, Line: n.Line, Key: path, Msg: "must be a list"}
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			c.lines[p] = item.Line
			if err := c.walk(item, t.Elem(), p); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func yamlKeys(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && t.Field(i).IsExported() {
			out = append(out, tag)
		}
	}
	sort.Strings(out)
	return out
}

// keyAt returns the key path whose key or value is on line.
func (c *Config) keyAt(line int) string {
	best := ""
	for k, l := range c.lines {
		if l != line {
			continue
		}
		k = strings.TrimSuffix(k, "#value")
		if len(k) > len(best) {
			best = k
		}
	}
	return best
}

// File is the file the configuration came from.
func (c *Config) File() string { return c.file }

// Errorf returns an *Error for key, with the key's line when it is in the file.
func (c *Config) Errorf(key, format string, args ...any) error {
	line := c.lines[key]
	if line == 0 {
		// Fall back to the nearest enclosing key that is in the file.
		for p := key; p != ""; {
			i := strings.LastIndexAny(p, ".[")
			if i < 0 {
				break
			}
			p = p[:i]
			if l := c.lines[p]; l > 0 {
				line = l
				break
			}
		}
	}
	return &Error{File: c.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// SetDefaults fills every unset value. It is the one place defaults live.
func (c *Config) SetDefaults() {
	if c.DataDir == "" {
		c.DataDir = "/var/lib/tally"
	}
	if c.Keys.Ed25519 == "" {
		c.Keys.Ed25519 = "ed25519.key"
	}
	if c.Keys.MLDSA65 == "" {
		c.Keys.MLDSA65 = "mldsa65.key"
	}
	if c.Store.Path == "" {
		c.Store.Path = "tally.db"
	}
	if c.Store.MaxBatch == 0 {
		c.Store.MaxBatch = 2048
	}
	if c.Store.QueueLen == 0 {
		c.Store.QueueLen = 8192
	}
	if c.Store.QuarantineMax == 0 {
		c.Store.QuarantineMax = 10000
	}
	if c.Checkpoint.Interval == 0 {
		c.Checkpoint.Interval = Duration(time.Minute)
	}
	if c.Checkpoint.MaxReadings == 0 {
		c.Checkpoint.MaxReadings = 10000
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:8480"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Shutdown.Timeout == 0 {
		c.Shutdown.Timeout = Duration(15 * time.Second)
	}
	if c.Broker != nil {
		if c.Broker.Listen == "" {
			c.Broker.Listen = "127.0.0.1:1883"
		}
		for i := range c.Broker.Users {
			c.Broker.Users[i].PasswordFile = c.near(c.Broker.Users[i].PasswordFile)
		}
		c.Broker.TLSCertFile, c.Broker.TLSKeyFile = c.near(c.Broker.TLSCertFile), c.near(c.Broker.TLSKeyFile)
	}
	if u := c.Uplink; u != nil {
		u.PasswordFile, u.CAFile, u.CertFile, u.KeyFile = c.near(u.PasswordFile), c.near(u.CAFile), c.near(u.CertFile), c.near(u.KeyFile)
		u.SetDefaults(c.Gateway.ID)
	}
	c.anchorDefaults()
	if c.Conditions != nil && c.Conditions.ZonesFile != "" && !filepath.IsAbs(c.Conditions.ZonesFile) {
		// Relative to the configuration file, like every other file it names.
		c.Conditions.ZonesFile = filepath.Join(filepath.Dir(c.file), c.Conditions.ZonesFile)
	}
	for i := range c.Sensors {
		s := &c.Sensors[i]
		if s.Enabled == nil {
			t := true
			s.Enabled = &t
		}
		if serialDrivers[s.Driver] && s.Serial != nil {
			if s.Serial.Baud == 0 && s.Driver == "nmea" {
				s.Serial.Baud = 4800 // NMEA 0183's standard rate
			}
			s.Serial.SetDefaults()
		}
		switch s.Driver {
		case "nmea":
			if s.NMEA == nil {
				s.NMEA = &NMEASensor{}
			}
		case "eseal":
			if s.ESeal == nil {
				s.ESeal = &eseal.Config{}
			}
		case "modbus":
			if s.Modbus != nil && s.Serial != nil {
				s.Modbus.Baud = s.Serial.Baud
			}
		}
		if s.Driver == "mqtt" && s.MQTT != nil {
			m := s.MQTT
			if m.Broker == "embedded" && c.Broker != nil {
				s.embedded = true
				m.Broker = "tcp://" + c.Broker.Listen
			}
			if m.ClientID == "" {
				m.ClientID = "tally-" + c.Gateway.ID + "-" + s.ID
			}
			m.PasswordFile, m.CAFile, m.CertFile, m.KeyFile = c.near(m.PasswordFile), c.near(m.CAFile), c.near(m.CertFile), c.near(m.KeyFile)
			m.SetDefaults()
		}
		if s.Publish != nil && s.Publish.TopicPrefix == "" {
			s.Publish.TopicPrefix = "sim"
		}
		if s.Driver == "sim" {
			if s.Sim == nil {
				s.Sim = &sim.Config{}
			}
			if s.Sim.SensorPrefix == "" {
				s.Sim.SensorPrefix = s.ID
			}
			if s.Sim.Container == "" {
				s.Sim.Container = c.Gateway.Container
			}
		}
	}
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate checks every value; it opens nothing.
func (c *Config) Validate() error {
	if c.Gateway.ID == "" {
		return c.Errorf("gateway.id", "is required: a short name for this gateway (letters, digits, . _ -), e.g. gw-yard-07")
	}
	if !idRE.MatchString(c.Gateway.ID) {
		return c.Errorf("gateway.id", "%q is not allowed: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", c.Gateway.ID)
	}
	if c.Gateway.Container != "" {
		if err := iso6346.Validate(c.Gateway.Container); err != nil {
			return c.Errorf("gateway.container", "%v", err)
		}
	}
	if c.Store.MaxBatch < 1 || c.Store.MaxBatch > 100000 {
		return c.Errorf("store.max_batch", "%d is out of range 1..100000", c.Store.MaxBatch)
	}
	if c.Store.QueueLen < 1 {
		return c.Errorf("store.queue_len", "%d must be at least 1", c.Store.QueueLen)
	}
	if c.Store.DiskBudgetMB < 0 {
		return c.Errorf("store.disk_budget_mb", "%d must not be negative (0: no budget)", c.Store.DiskBudgetMB)
	}
	if c.Store.QuarantineMax < 1 {
		return c.Errorf("store.quarantine_max", "%d must be at least 1", c.Store.QuarantineMax)
	}
	if c.Checkpoint.Interval.D() < 100*time.Millisecond {
		return c.Errorf("checkpoint.interval", "%s is too short: at least 100ms", c.Checkpoint.Interval.D())
	}
	if c.Checkpoint.MaxReadings < 1 {
		return c.Errorf("checkpoint.max_readings", "%d must be at least 1", c.Checkpoint.MaxReadings)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil && c.HTTP.Listen != "off" {
		return c.Errorf("http.listen", "%q is not host:port (e.g. 127.0.0.1:8480) or off", c.HTTP.Listen)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return c.Errorf("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return c.Errorf("log.format", "%q is not one of text, json", c.Log.Format)
	}
	if c.Shutdown.Timeout.D() < time.Second {
		return c.Errorf("shutdown.timeout", "%s is too short: at least 1s", c.Shutdown.Timeout.D())
	}
	if c.Uplink != nil {
		if err := c.sub("uplink", c.Uplink.Validate()); err != nil {
			return err
		}
	}
	if err := c.validateAnchor(); err != nil {
		return err
	}
	if c.Conditions != nil {
		if err := c.Conditions.Validate(); err != nil {
			var ce *conditions.ConfigError
			if errors.As(err, &ce) {
				return c.Errorf("conditions."+ce.Key, "%s", ce.Msg)
			}
			return c.Errorf("conditions", "%v", err)
		}
	}
	seen := map[string]bool{}
	for i, s := range c.Sensors {
		p := fmt.Sprintf("sensors[%d]", i)
		if s.ID == "" {
			return c.Errorf(p+".id", "is required")
		}
		if !idRE.MatchString(s.ID) {
			return c.Errorf(p+".id", "%q is not allowed: use letters, digits, '.', '_' or '-'", s.ID)
		}
		if seen[s.ID] {
			return c.Errorf(p+".id", "%q is used by two sensors", s.ID)
		}
		seen[s.ID] = true
		if s.Publish != nil && (s.Driver != "sim" || c.Broker == nil) {
			return c.Errorf(p+".publish", "is for the sim driver with the gateway's own broker (a top-level broker section)")
		}
		switch s.Driver {
		case "sim":
			if err := s.Sim.Validate(); err != nil {
				return c.Errorf(p+".sim", "%s", strings.TrimPrefix(err.Error(), "sim config: "))
			}
		case "nmea", "modbus", "eseal", "lines":
			if err := c.validateSerialSensor(p, s); err != nil {
				return err
			}
		case "mqtt":
			if s.MQTT == nil {
				return c.Errorf(p+".mqtt", "is required for driver mqtt: broker and topics")
			}
			if s.MQTT.Broker == "embedded" {
				return c.Errorf(p+".mqtt.broker", "embedded needs the gateway's own broker: add a top-level broker section")
			}
			if err := c.sub(p+".mqtt", s.MQTT.Validate()); err != nil {
				return err
			}
		case "":
			return c.Errorf(p+".driver", "is required; one of: %s", strings.Join(Drivers, ", "))
		default:
			return c.Errorf(p+".driver", "%q is not a known driver; one of: %s", s.Driver, strings.Join(Drivers, ", "))
		}
	}
	return nil
}

// sub turns a driver package's validation error into an *Error at the
// right key and line. Driver packages name keys relative to their section.
func (c *Config) sub(section string, err error) error {
	if err == nil {
		return nil
	}
	var key string
	var inner error = err
	if e, ok := err.(*sensors.ConfigError); ok {
		key, inner = e.Key, e.Err
	}
	if key == "" {
		return c.Errorf(section, "%v", inner)
	}
	return c.Errorf(section+"."+key, "%v", inner)
}

func (c *Config) validateSerialSensor(p string, s Sensor) error {
	if s.Serial == nil {
		return c.Errorf(p+".serial", "is required for driver %s: at least serial.port, e.g. /dev/serial/by-id/usb-...; list ports with: tally ports", s.Driver)
	}
	if err := c.sub(p+".serial", s.Serial.Validate()); err != nil {
		return err
	}
	switch s.Driver {
	case "nmea":
		if s.NMEA.MinInterval.D() < 0 || s.NMEA.MinDistanceM < 0 {
			return c.Errorf(p+".nmea", "min_interval and min_distance_m must not be negative")
		}
	case "modbus":
		if s.Modbus == nil {
			return c.Errorf(p+".modbus", "is required for driver modbus: the devices to poll")
		}
		if c.set[p+".modbus.baud"] {
			return c.Errorf(p+".modbus.baud", "set the line speed in serial.baud")
		}
		if err := s.Modbus.Validate(); err != nil {
			return c.Errorf(p+".modbus", "%v", err)
		}
	case "eseal":
		if err := c.sub(p+".eseal", s.ESeal.Validate()); err != nil {
			return err
		}
	case "lines":
		if s.Lines == nil {
			return c.Errorf(p+".lines", "is required for driver lines: pattern, kind and fields")
		}
		if err := c.sub(p+".lines", s.Lines.Validate()); err != nil {
			return err
		}
	}
	return nil
}

// near resolves a file name relative to the configuration file's folder
// (password, certificate and zone files live next to the config).
func (c *Config) near(name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(filepath.Dir(c.file), name)
}

// Path resolves a file name relative to the data directory.
func (c *Config) Path(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(c.DataDir, name)
}

// Origin is the gateway's log origin, the first line of its checkpoints.
func (c *Config) Origin() string { return "tally/" + c.Gateway.ID }
