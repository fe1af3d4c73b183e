package uplink

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tallygw/tally/internal/testca"
)

func TestConfigYAML(t *testing.T) {
	src := `
broker: mqtts://platform.example.net
username: gw-7
password_file: /etc/tally/uplink.password
ca_file: /etc/tally/ca.pem
rate: 50
max_inflight: 16
keep_alive: 20s
reconnect_min: 2s
reconnect_max: 5m
poll: 250ms
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	c.SetDefaults("gw-7")
	want := Config{
		Broker: "mqtts://platform.example.net", ClientID: "tally-uplink-gw-7", Username: "gw-7",
		PasswordFile: "/etc/tally/uplink.password", CAFile: "/etc/tally/ca.pem", TopicPrefix: "tally/gw-7",
		Rate: 50, MaxInflight: 16, KeepAlive: 20 * time.Second, ReconnectMin: 2 * time.Second,
		ReconnectMax: 5 * time.Minute, Poll: 250 * time.Millisecond,
	}
	if c != want {
		t.Errorf("decoded\n%+v\nwant\n%+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	u, err := c.brokerURL()
	if err != nil || u.String() != "mqtts://platform.example.net:8883" {
		t.Errorf("broker URL %v, %v", u, err)
	}
	dec = yaml.NewDecoder(strings.NewReader("broker: tcp://h:1883\nqos: 2\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&Config{}); err == nil {
		t.Error("unknown key accepted")
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.SetDefaults("gw-1")
	want := Config{ClientID: "tally-uplink-gw-1", TopicPrefix: "tally/gw-1", MaxInflight: 64, KeepAlive: 30 * time.Second,
		ReconnectMin: time.Second, ReconnectMax: time.Minute, Poll: 500 * time.Millisecond}
	if c != want {
		t.Errorf("defaults %+v", c)
	}
	c = Config{ReconnectMax: 300 * time.Millisecond}
	c.SetDefaults("gw-1")
	if c.ReconnectMin != 300*time.Millisecond {
		t.Errorf("reconnect_max alone below the default minimum: min %v", c.ReconnectMin)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		key  string
		msg  string
	}{
		{"ok", func(c *Config) {}, "", ""},
		{"ok tls", func(c *Config) { c.Broker, c.CertFile, c.KeyFile = "ssl://h:8883", "c.pem", "k.pem" }, "", ""},
		{"no broker", func(c *Config) { c.Broker = "" }, "broker", "missing"},
		{"scheme", func(c *Config) { c.Broker = "http://h:1883" }, "broker", "tcp://, ssl:// or mqtts://"},
		{"no scheme", func(c *Config) { c.Broker = "h:1883" }, "broker", "scheme"},
		{"no host", func(c *Config) { c.Broker = "tcp://:1883" }, "broker", "no host"},
		{"path", func(c *Config) { c.Broker = "tcp://h:1883/x" }, "broker", "only scheme, host and port"},
		{"user in url", func(c *Config) { c.Broker = "tcp://u:p@h:1883" }, "broker", "only scheme, host and port"},
		{"password without user", func(c *Config) { c.PasswordFile = "/p" }, "username", "required with password_file"},
		{"ca with tcp", func(c *Config) { c.CAFile = "/ca.pem" }, "ca_file", "plain tcp://"},
		{"cert with tcp", func(c *Config) { c.CertFile, c.KeyFile = "c", "k" }, "cert_file", "plain tcp://"},
		{"cert without key", func(c *Config) { c.Broker, c.CertFile = "mqtts://h", "c.pem" }, "key_file", "required with cert_file"},
		{"key without cert", func(c *Config) { c.Broker, c.KeyFile = "mqtts://h", "k.pem" }, "cert_file", "required with key_file"},
		{"wildcard prefix", func(c *Config) { c.TopicPrefix = "tally/#" }, "topic_prefix", "wildcards"},
		{"slash prefix", func(c *Config) { c.TopicPrefix = "tally/" }, "topic_prefix", "must not end in /"},
		{"rate", func(c *Config) { c.Rate = -1 }, "rate", "negative"},
		{"inflight", func(c *Config) { c.MaxInflight = 70000 }, "max_inflight", "out of range"},
		{"keep alive fraction", func(c *Config) { c.KeepAlive = 1500 * time.Millisecond }, "keep_alive", "whole seconds"},
		{"reconnect order", func(c *Config) { c.ReconnectMin, c.ReconnectMax = 5*time.Second, 2*time.Second }, "reconnect_max", "below reconnect_min"},
		{"reconnect max", func(c *Config) { c.ReconnectMax = 2 * time.Hour }, "reconnect_max", "above"},
		{"poll", func(c *Config) { c.Poll = 2 * time.Minute }, "poll", "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Broker: "tcp://broker.example:1883"}
			c.SetDefaults("gw-1")
			tt.edit(&c)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tt.key || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Validate = %v; want key %s and %q", err, tt.key, tt.msg)
			}
		})
	}
}

func TestSecretFileMode(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Config{Broker: "tcp://h:1883", Username: "gw", PasswordFile: pw}
	_, err := c.password()
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "password_file" || !strings.Contains(err.Error(), "chmod 600 "+pw) {
		t.Fatalf("group-readable password file: %v", err)
	}
	if err := os.Chmod(pw, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := c.password(); err != nil || got != "s3cret" {
		t.Fatalf("password() = %q, %v", got, err)
	}
	if err := os.WriteFile(pw, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.password(); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty password file: %v", err)
	}

	tc := testca.New(t)
	c = Config{Broker: "mqtts://h", CAFile: tc.CA, CertFile: tc.ClientCert, KeyFile: tc.ClientKey}
	if err := os.Chmod(tc.ClientKey, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := c.tlsConfig("h"); !errors.As(err, &ce) || ce.Key != "key_file" || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable key file: %v", err)
	}
	if err := os.Chmod(tc.ClientKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if tcfg, err := c.tlsConfig("h"); err != nil || len(tcfg.Certificates) != 1 || tcfg.RootCAs == nil {
		t.Fatalf("tlsConfig: %v", err)
	}
	if err := os.WriteFile(tc.CA, bytes.Repeat([]byte("x"), 10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.tlsConfig("h"); !errors.As(err, &ce) || ce.Key != "ca_file" {
		t.Fatalf("CA file without certificates: %v", err)
	}
}
