package mqtt

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func validConfig() Config {
	c := Config{
		Broker: "tcp://127.0.0.1:1883",
		Topics: []Topic{{Filter: "reefer/+/temp", Sensor: "reefer-{1}", Decoder: "temperature"}},
	}
	c.SetDefaults()
	return c
}

func TestSetDefaults(t *testing.T) {
	c := Config{Broker: "tcp://b:1883"}
	c.SetDefaults()
	qos := 1
	want := Config{Broker: "tcp://b:1883", QoS: &qos, KeepAlive: 30 * time.Second,
		ReconnectMin: time.Second, ReconnectMax: time.Minute, MaxPayload: 64 << 10, MaxInflight: 1000}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("SetDefaults:\n got %+v\nwant %+v", c, want)
	}
	zero := 0
	c = Config{QoS: &zero, ReconnectMax: 500 * time.Millisecond}
	c.SetDefaults()
	if *c.QoS != 0 || c.ReconnectMin != 500*time.Millisecond {
		t.Errorf("qos 0 / reconnect_max alone: %+v", c)
	}
	c = Config{ReconnectMin: 2 * time.Minute}
	c.SetDefaults()
	if c.ReconnectMax != 2*time.Minute {
		t.Errorf("reconnect_min alone: reconnect_max %v", c.ReconnectMax)
	}
}

// TestYAML decodes the documented config shape strictly.
func TestYAML(t *testing.T) {
	const doc = `
broker: ssl://broker.port.example:8883
client_id: tally-gw-0042
username: gw-0042
password_file: /etc/tally/mqtt.password
ca_file: /etc/tally/broker-ca.pem
cert_file: /etc/tally/gw.crt
key_file: /etc/tally/gw.key
qos: 2
clean_session: false
keep_alive: 45s
reconnect_min: 2s
reconnect_max: 5m
max_payload: 32768
max_inflight: 500
accept_retained: true
topics:
  - filter: reefer/+/temp
    sensor: reefer-{1}
    decoder: temperature
    container: CSQU3054383
  - filter: yard/seals/+/state
    sensor: seal-{1}
    decoder: seal
  - filter: tracker/+/nmea
    sensor: gps-{1}
    decoder: nmea
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if *c.QoS != 2 || c.KeepAlive != 45*time.Second || c.ReconnectMax != 5*time.Minute || len(c.Topics) != 3 || c.Topics[0].Container != "CSQU3054383" {
		t.Errorf("decoded %+v", c)
	}
	dec = yaml.NewDecoder(strings.NewReader("broker: tcp://b:1\npassword: secret\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("unknown key password: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Config)
		key  string
		msg  string // substring
	}{
		{"no broker", func(c *Config) { c.Broker = "" }, "broker", "missing"},
		{"http broker", func(c *Config) { c.Broker = "http://b:80" }, "broker", `scheme "http"`},
		{"no port", func(c *Config) { c.Broker = "tcp://b" }, "broker", "no host:port"},
		{"bad port", func(c *Config) { c.Broker = "tcp://b:99999" }, "broker", "port"},
		{"user in url", func(c *Config) { c.Broker = "tcp://u:secret@b:1883" }, "broker", "password_file"},
		{"path", func(c *Config) { c.Broker = "tcp://b:1883/x" }, "broker", "only scheme://host:port"},
		{"client id space", func(c *Config) { c.ClientID = "tally gw" }, "client_id", "printable"},
		{"client id long", func(c *Config) { c.ClientID = strings.Repeat("a", 129) }, "client_id", "longer than 128"},
		{"password without user", func(c *Config) { c.PasswordFile = "/p" }, "password_file", "username"},
		{"ca on plain", func(c *Config) { c.CAFile = "/ca.pem" }, "ca_file", "plain MQTT"},
		{"insecure on plain", func(c *Config) { c.InsecureSkipVerify = true }, "insecure_skip_verify", "plain"},
		{"cert without key", func(c *Config) { c.Broker = "ssl://b:8883"; c.CertFile = "/c" }, "key_file", "missing"},
		{"qos 3", func(c *Config) { q := 3; c.QoS = &q }, "qos", "3 is not 0, 1 or 2"},
		{"keep alive", func(c *Config) { c.KeepAlive = 1500 * time.Millisecond }, "keep_alive", "whole number"},
		{"keep alive long", func(c *Config) { c.KeepAlive = 24 * time.Hour }, "keep_alive", "out of range"},
		{"reconnect order", func(c *Config) { c.ReconnectMin, c.ReconnectMax = time.Minute, time.Second }, "reconnect_max", "below reconnect_min"},
		{"max payload", func(c *Config) { c.MaxPayload = 2 << 20 }, "max_payload", "out of range"},
		{"max inflight", func(c *Config) { c.MaxInflight = 70000 }, "max_inflight", "out of range"},
		{"no topics", func(c *Config) { c.Topics = nil }, "topics", "missing"},
		{"empty filter", func(c *Config) { c.Topics[0].Filter = "" }, "topics[0].filter", "missing"},
		{"hash inside", func(c *Config) { c.Topics[0].Filter = "a/#/b" }, "topics[0].filter", "last level"},
		{"plus glued", func(c *Config) { c.Topics[0].Filter = "a/b+/c" }, "topics[0].filter", "stand alone"},
		{"shared", func(c *Config) { c.Topics[0].Filter = "$share/g/a/+" }, "topics[0].filter", "shared subscription"},
		{"overlap", func(c *Config) {
			c.Topics = append(c.Topics, Topic{Filter: "reefer/#", Sensor: "r", Decoder: "temperature"})
		}, "topics[1].filter", "overlaps topics[0].filter"},
		{"same filter", func(c *Config) { c.Topics = append(c.Topics, c.Topics[0]) }, "topics[1].filter", "overlaps"},
		{"no sensor", func(c *Config) { c.Topics[0].Sensor = "" }, "topics[0].sensor", "missing"},
		{"ref zero", func(c *Config) { c.Topics[0].Sensor = "r-{0}" }, "topics[0].sensor", "{0} is not {1}"},
		{"ref too far", func(c *Config) { c.Topics[0].Sensor = "r-{2}" }, "topics[0].sensor", "the filter has 1"},
		{"unclosed", func(c *Config) { c.Topics[0].Sensor = "r-{1" }, "topics[0].sensor", "without '}'"},
		{"bad chars", func(c *Config) { c.Topics[0].Sensor = "reefer {1}" }, "topics[0].sensor", "valid sensor id"},
		{"no decoder", func(c *Config) { c.Topics[0].Decoder = "" }, "topics[0].decoder", "missing"},
		{"bad decoder", func(c *Config) { c.Topics[0].Decoder = "json" }, "topics[0].decoder", `"json" is not one of temperature, gps, seal, nmea`},
		{"bad container", func(c *Config) { c.Topics[0].Container = "CSQU3054384" }, "topics[0].container", "check digit"},
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
			if ce.Key != tc.key || !strings.HasPrefix(err.Error(), tc.key+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got key %q, %q; want key %q, message containing %q", ce.Key, err, tc.key, tc.msg)
			}
		})
	}
	for _, ok := range []func(c *Config){
		func(c *Config) { c.Broker = "mqtts://broker.example:8883"; c.CAFile = "/ca.pem" },
		func(c *Config) { c.Broker = "ssl://[::1]:8883"; c.InsecureSkipVerify = true },
		func(c *Config) { c.Username = "gw"; c.PasswordFile = "/etc/tally/mqtt.pass" },
		func(c *Config) { q := 0; c.QoS = &q },
		func(c *Config) {
			c.Topics = []Topic{{Filter: "#", Sensor: "all", Decoder: "seal"}, {Filter: "$SYS/#", Sensor: "sys", Decoder: "seal"}}
		},
		func(c *Config) {
			c.Topics = append(c.Topics, Topic{Filter: "reefer/+/humidity", Sensor: "h-{1}", Decoder: "temperature"},
				Topic{Filter: "site/+/+/gps", Sensor: "{2}.{1}", Decoder: "nmea"}, Topic{Filter: "$SYS/#", Sensor: "sys", Decoder: "seal"})
		},
	} {
		c := validConfig()
		ok(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
}

func TestNewPasswordFile(t *testing.T) {
	dir := t.TempDir()
	cfg := validConfig()
	cfg.Username = "gw"
	cfg.PasswordFile = filepath.Join(dir, "pass")

	if err := os.WriteFile(cfg.PasswordFile, []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(cfg, "gw1", nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "password_file" || !strings.Contains(err.Error(), "chmod 600 "+cfg.PasswordFile) || !strings.Contains(err.Error(), "0644") {
		t.Errorf("world-readable password file: %v", err)
	}

	if err := os.Chmod(cfg.PasswordFile, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, "gw1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.password != "s3cret" || s.ClientID() != "tally-gw1" {
		t.Errorf("password %q client id %q", s.password, s.ClientID())
	}

	for _, bad := range []string{"", "\n", "a\nb\n"} {
		if err := os.WriteFile(cfg.PasswordFile, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := New(cfg, "gw1", nil); !errors.As(err, &ce) || ce.Key != "password_file" {
			t.Errorf("password file %q: %v", bad, err)
		}
	}
	cfg.PasswordFile = filepath.Join(dir, "missing")
	if _, err := New(cfg, "gw1", nil); !errors.As(err, &ce) || ce.Key != "password_file" {
		t.Errorf("missing password file: %v", err)
	}
}

func TestNewClientID(t *testing.T) {
	cfg := validConfig()
	if _, err := New(cfg, "", nil); err == nil || !strings.HasPrefix(err.Error(), "client_id: ") {
		t.Errorf("no client_id and no name: %v", err)
	}
	cfg.ClientID = "fixed"
	s, err := New(cfg, "gw1", nil)
	if err != nil || s.ClientID() != "fixed" {
		t.Errorf("given client_id: %v, %v", s, err)
	}
}

func TestNewTLSFiles(t *testing.T) {
	cfg := validConfig()
	cfg.Broker = "ssl://localhost:8883"
	cfg.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(cfg.CAFile, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(cfg, "gw", nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "ca_file" || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("bad ca_file: %v", err)
	}
}
