package uplink

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tallygw/tally/internal/secret"
	"github.com/tallygw/tally/sensors"
)

// Defaults applied by SetDefaults to zero Config fields.
const (
	DefaultMaxInflight  = 64
	DefaultKeepAlive    = 30 * time.Second
	DefaultReconnectMin = time.Second
	DefaultReconnectMax = 60 * time.Second
	DefaultPoll         = 500 * time.Millisecond
)

// Limits checked by Validate.
const (
	// MaxInflightLimit is the number of MQTT packet identifiers.
	MaxInflightLimit = 65535
	// MaxReconnect bounds reconnect_max.
	MaxReconnect = time.Hour
	// MaxPoll bounds poll.
	MaxPoll = time.Minute
	// MaxKeepAlive is the largest keep-alive MQTT can carry (uint16 seconds).
	MaxKeepAlive = 65535 * time.Second
)

// Config is the uplink section of the daemon's config file. The loader
// decodes it strictly (unknown keys are errors). Call SetDefaults, then
// Validate, before New.
//
//	uplink:
//	  broker: mqtts://platform.example.net:8883
//	  client_id: tally-uplink-gw-0042      # default tally-uplink-<gateway id>
//	  username: gw-0042
//	  password_file: /etc/tally/uplink.password   # mode 0600
//	  ca_file: /etc/tally/platform-ca.pem           # default: system roots
//	  cert_file: /etc/tally/uplink.crt              # client certificate, with key_file
//	  key_file: /etc/tally/uplink.key               # mode 0600
//	  topic_prefix: tally/gw-0042          # default tally/<gateway id>
//	  rate: 0                              # messages/s, 0 = as fast as the broker acknowledges
//	  max_inflight: 64                     # unacknowledged publishes at a time
//	  keep_alive: 30s
//	  reconnect_min: 1s
//	  reconnect_max: 60s
//	  poll: 500ms                          # how often to look for new readings when caught up
type Config struct {
	// Broker is the upstream broker URL: tcp://host:1883, or ssl://host:8883
	// and mqtts://host:8883 for TLS. The port defaults to 1883 (tcp) or
	// 8883 (TLS).
	Broker string `yaml:"broker"`
	// ClientID is the MQTT client identifier; it must be unique on the
	// broker (a second client with the same id disconnects the first).
	ClientID string `yaml:"client_id"`
	// Username and PasswordFile authenticate to the broker. The password
	// is the file's content without its trailing newline; the file must
	// not be readable by group or others.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	// CAFile is the PEM bundle that verifies the broker's certificate;
	// empty means the system roots. CertFile and KeyFile are a client
	// certificate for brokers that authenticate devices by certificate.
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// TopicPrefix is prepended to "/readings" and "/checkpoints".
	TopicPrefix string `yaml:"topic_prefix"`
	// Rate is the most messages published per second (readings and
	// checkpoints together, re-sends included); 0 is no limit. Useful on
	// metered satellite links after a long outage.
	Rate float64 `yaml:"rate"`
	// MaxInflight bounds the publishes sent but not yet acknowledged.
	MaxInflight int `yaml:"max_inflight"`
	// KeepAlive is the MQTT keep-alive interval, in whole seconds: a
	// silent broker is declared gone after about 1.5 times this.
	KeepAlive time.Duration `yaml:"keep_alive"`
	// ReconnectMin and ReconnectMax bound the delay between connection
	// attempts; it doubles from ReconnectMin up to ReconnectMax, with jitter.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// Poll is how often the store is checked for new readings once
	// everything stored has been forwarded.
	Poll time.Duration `yaml:"poll"`
}

// ConfigError reports an invalid Config at a key ("broker").
type ConfigError = sensors.ConfigError

func configErr(key, format string, args ...any) error {
	return sensors.ConfigErr("", key, format, args...)
}

// SetDefaults fills the zero fields of c. The client id and topic prefix
// default from the gateway id. A reconnect_max below the default
// reconnect_min, given alone, lowers reconnect_min to it.
func (c *Config) SetDefaults(gatewayID string) {
	if c.ClientID == "" {
		c.ClientID = "tally-uplink-" + gatewayID
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = "tally/" + gatewayID
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	sensors.DefaultReconnect(&c.ReconnectMin, &c.ReconnectMax, DefaultReconnectMin, DefaultReconnectMax)
	if c.Poll == 0 {
		c.Poll = DefaultPoll
	}
}

// Validate reports the first problem in c as a *ConfigError naming the
// key. It opens nothing: files are read, and their modes checked, by New.
func (c Config) Validate() error {
	u, err := c.brokerURL()
	if err != nil {
		return err
	}
	tlsScheme := u.Scheme != "tcp"
	switch {
	case c.ClientID == "":
		return configErr("client_id", "is empty (the default is tally-uplink-<gateway id>)")
	case !utf8.ValidString(c.ClientID) || len(c.ClientID) > 65535:
		return configErr("client_id", "must be valid UTF-8, at most 65535 bytes")
	case c.PasswordFile != "" && c.Username == "":
		return configErr("username", "is required with password_file (MQTT sends a password only with a user name)")
	case !tlsScheme && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != ""):
		key := "ca_file"
		if c.CAFile == "" {
			key = "cert_file"
		}
		return configErr(key, "is set but broker %s is plain tcp://; write ssl:// or mqtts:// to use TLS", c.Broker)
	case (c.CertFile == "") != (c.KeyFile == ""):
		if c.CertFile == "" {
			return configErr("cert_file", "is required with key_file (the client certificate, PEM)")
		}
		return configErr("key_file", "is required with cert_file (the client certificate's private key, PEM)")
	}
	if err := validTopicPrefix(c.TopicPrefix); err != nil {
		return &ConfigError{Key: "topic_prefix", Err: err}
	}
	switch {
	case c.Rate < 0:
		return configErr("rate", "%g must not be negative (0 is no limit)", c.Rate)
	case c.MaxInflight < 1 || c.MaxInflight > MaxInflightLimit:
		return configErr("max_inflight", "%d is out of range 1–%d", c.MaxInflight, MaxInflightLimit)
	case c.KeepAlive < time.Second || c.KeepAlive > MaxKeepAlive || c.KeepAlive%time.Second != 0:
		return configErr("keep_alive", "%v must be whole seconds from 1s to %v", c.KeepAlive, MaxKeepAlive)
	case c.ReconnectMin <= 0:
		return configErr("reconnect_min", "%v must be above 0", c.ReconnectMin)
	case c.ReconnectMax < c.ReconnectMin:
		return configErr("reconnect_max", "%v is below reconnect_min (%v)", c.ReconnectMax, c.ReconnectMin)
	case c.ReconnectMax > MaxReconnect:
		return configErr("reconnect_max", "%v is above %v", c.ReconnectMax, MaxReconnect)
	case c.Poll <= 0 || c.Poll > MaxPoll:
		return configErr("poll", "%v is out of range (above 0, at most %v)", c.Poll, MaxPoll)
	}
	return nil
}

// brokerURL parses Broker and fills in the default port.
func (c Config) brokerURL() (*url.URL, error) {
	if c.Broker == "" {
		return nil, configErr("broker", "missing (the upstream broker, e.g. mqtts://platform.example.net:8883)")
	}
	u, err := url.Parse(c.Broker)
	if err != nil {
		return nil, configErr("broker", "%q is not a URL (write e.g. mqtts://platform.example.net:8883)", c.Broker)
	}
	var port string
	switch u.Scheme {
	case "tcp":
		port = "1883"
	case "ssl", "mqtts":
		port = "8883"
	default:
		return nil, configErr("broker", "%q: scheme must be tcp://, ssl:// or mqtts://", c.Broker)
	}
	if u.Hostname() == "" {
		return nil, configErr("broker", "%q has no host (write e.g. %s://platform.example.net:%s)", c.Broker, u.Scheme, port)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, configErr("broker", "%q: write only scheme, host and port (user name and password have their own keys)", c.Broker)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	u.Path = ""
	return u, nil
}

// validTopicPrefix checks a topic prefix: a valid topic name (MQTT
// 3.1.1 §4.7) without wildcards, not ending in a slash.
func validTopicPrefix(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("is empty (the default is tally/<gateway id>)")
	case !utf8.ValidString(p) || strings.ContainsRune(p, 0):
		return fmt.Errorf("%q must be valid UTF-8 without NUL", p)
	case strings.ContainsAny(p, "+#"):
		return fmt.Errorf("%q must not contain the wildcards + or #", p)
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("%q must not end in / (topics are <prefix>/readings and <prefix>/checkpoints)", p)
	case len(p) > 65000:
		return fmt.Errorf("is too long")
	}
	return nil
}

// readSecret reads a password or private key file, refusing one that group
// or others can read.
func readSecret(key, path string) ([]byte, error) {
	b, err := secret.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{Key: key, Err: err}
	}
	return b, nil
}

// password returns the password from PasswordFile ("" when none).
func (c Config) password() (string, error) {
	if c.PasswordFile == "" {
		return "", nil
	}
	pw, err := secret.Password(c.PasswordFile)
	if err != nil {
		return "", &ConfigError{Key: "password_file", Err: err}
	}
	return pw, nil
}

// tlsConfig builds the TLS client configuration for a TLS broker URL.
func (c Config) tlsConfig(host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, &ConfigError{Key: "ca_file", Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, configErr("ca_file", "%s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		keyPEM, err := readSecret("key_file", c.KeyFile)
		if err != nil {
			return nil, err
		}
		certPEM, err := os.ReadFile(c.CertFile)
		if err != nil {
			return nil, &ConfigError{Key: "cert_file", Err: err}
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, configErr("cert_file", "%s with key %s: %w", c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
