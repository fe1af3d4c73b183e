package mqtt

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tallygw/tally/sensors"
	"github.com/tallygw/tally/sensors/iso6346"
)

// Defaults applied by SetDefaults to zero Config fields.
const (
	DefaultQoS          = 1
	DefaultKeepAlive    = 30 * time.Second
	DefaultReconnectMin = time.Second
	DefaultReconnectMax = 60 * time.Second
	DefaultMaxPayload   = 64 << 10
	DefaultMaxInflight  = 1000
	// DefaultClientIDPrefix is put before the name given to New when
	// client_id is not set: "tally-" + gateway id.
	DefaultClientIDPrefix = "tally-"
)

// Limits checked by Validate.
const (
	// MaxPayloadLimit bounds max_payload: every message in flight is held
	// in memory until the sink answers, max_inflight of them at most.
	MaxPayloadLimit = 1 << 20
	// MaxInflightLimit bounds max_inflight: MQTT packet identifiers are
	// 16 bits, so a broker cannot have more unacknowledged messages out.
	MaxInflightLimit = 65535
	// MaxReconnect bounds reconnect_max.
	MaxReconnect = time.Hour
	// MaxKeepAlive is the longest keep-alive MQTT can carry (16 bits of
	// seconds).
	MaxKeepAlive = 65535 * time.Second
	// MaxClientIDLen bounds client_id. MQTT 3.1.1 only promises 23 bytes
	// of [0-9a-zA-Z]; mosquitto and most brokers take far longer ones.
	MaxClientIDLen = 128
)

// Decoders: the values of Topic.Decoder.
const (
	DecoderTemperature = "temperature"
	DecoderGPS         = "gps"
	DecoderSeal        = "seal"
	DecoderNMEA        = "nmea"
)

var decoders = []string{DecoderTemperature, DecoderGPS, DecoderSeal, DecoderNMEA}

// Config is the MQTT subscriber: one connection to one broker, and the
// topics whose messages become readings. The yaml tags are the keys of the
// daemon config's mqtt section; the loader decodes it strictly (unknown keys
// are errors). Call SetDefaults, then Validate, before New.
type Config struct {
	// Broker is the broker's address: tcp://host:port (or mqtt://) for
	// plain MQTT, ssl://host:port (or mqtts://, tls://) for MQTT over TLS.
	Broker string `yaml:"broker"`
	// ClientID identifies the gateway's session on the broker. It must stay
	// the same across restarts, or the broker forgets the messages it queued
	// for us. Empty: New derives "tally-" + the name it is given (the
	// gateway id).
	ClientID string `yaml:"client_id"`
	// Username, if set, is sent with the password read from PasswordFile.
	Username string `yaml:"username"`
	// PasswordFile holds the password (one line; a final newline is
	// dropped). It is read by New and must not be readable by group or
	// others. Passwords never go into the config file itself.
	PasswordFile string `yaml:"password_file"`
	// Password is set by the daemon, never from YAML: the credentials of
	// its own embedded broker. PasswordFile wins when both are set.
	Password string `yaml:"-"`
	// CAFile is a PEM bundle of the CAs that sign the broker's certificate
	// (TLS brokers only). Empty: the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the gateway's client certificate and key,
	// PEM, for brokers that authenticate clients by certificate.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify turns off checking the broker's certificate. For a
	// bench test only: anyone on the path can pose as the broker. It is
	// logged as a warning at start and on every connection.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// QoS is the subscription QoS, 0, 1 or 2. Default 1. With 0 the broker
	// neither queues nor redelivers: messages can be lost.
	QoS *int `yaml:"qos"`
	// CleanSession false (the default) keeps a persistent session: the
	// broker keeps our subscriptions and queues messages while the gateway
	// is away, and redelivers those not yet acknowledged.
	CleanSession bool `yaml:"clean_session"`
	// KeepAlive is the MQTT keep-alive: a dead connection is noticed
	// within KeepAlive plus 10 s. Whole seconds.
	KeepAlive time.Duration `yaml:"keep_alive"`
	// ReconnectMin and ReconnectMax bound the delay between connection
	// attempts; it doubles from ReconnectMin up to ReconnectMax, with
	// jitter.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// MaxPayload is the largest payload decoded, in bytes; larger messages
	// are quarantined (their first bytes kept) and acknowledged.
	MaxPayload int `yaml:"max_payload"`
	// MaxInflight bounds the messages received and not yet answered by the
	// sink. When it is reached the subscriber stops reading from the
	// broker until readings are accepted.
	MaxInflight int `yaml:"max_inflight"`
	// AcceptRetained decodes retained messages too. By default a message
	// the broker sends because it is retained (the last value on a topic,
	// sent again on every subscribe) is skipped, counted and acknowledged:
	// it was, or will be, received live.
	AcceptRetained bool `yaml:"accept_retained"`
	// Topics map topic filters to sensors and payload decoders. Their
	// filters must not overlap.
	Topics []Topic `yaml:"topics"`
}

// Topic is one subscription: which messages, which sensor they come from
// and how their payload is decoded.
type Topic struct {
	// Filter is an MQTT topic filter; '+' matches one level, a final '#'
	// any number of levels.
	Filter string `yaml:"filter"`
	// Sensor is the sensor id of the readings: a literal id, or a template
	// in which {1}, {2}, … stand for the topic levels matched by the first,
	// second, … '+' of Filter. Filter reefer/+/temp with sensor reefer-{1}
	// gives sensor reefer-7 for topic reefer/7/temp.
	Sensor string `yaml:"sensor"`
	// Decoder is the payload format: temperature, gps, seal (JSON; see
	// docs/MQTT.md) or nmea (NMEA 0183 sentences, one per line).
	Decoder string `yaml:"decoder"`
	// Container is the ISO 6346 number of the container the sensors are
	// on, recorded with their readings unless a payload names one.
	Container string `yaml:"container"`
}

// ConfigError reports an invalid Config at a key ("broker").
type ConfigError = sensors.ConfigError

func configErr(key, format string, args ...any) error {
	return sensors.ConfigErr("", key, format, args...)
}

// SetDefaults fills the zero fields of c with the defaults. Broker and
// Topics have none; ClientID is derived by New. A reconnect_max below the
// default reconnect_min, given alone, lowers reconnect_min to it; a
// reconnect_min above the default reconnect_max, given alone, raises
// reconnect_max to it.
func (c *Config) SetDefaults() {
	if c.QoS == nil {
		q := DefaultQoS
		c.QoS = &q
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	sensors.DefaultReconnect(&c.ReconnectMin, &c.ReconnectMax, DefaultReconnectMin, DefaultReconnectMax)
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
}

// qos returns the configured QoS, the default when unset.
func (c *Config) qos() byte {
	if c.QoS == nil {
		return DefaultQoS
	}
	return byte(*c.QoS)
}

// tlsScheme reports whether the broker URL asks for TLS.
func tlsScheme(scheme string) bool {
	return scheme == "ssl" || scheme == "tls" || scheme == "mqtts"
}

// Validate reports the first problem in c as a *ConfigError naming the key.
// It opens no file and no socket: New reads the password and TLS files.
// An empty client_id is valid here (New derives it).
func (c Config) Validate() error {
	if err := validateBroker(c.Broker); err != nil {
		return err
	}
	u, _ := url.Parse(c.Broker)
	secure := tlsScheme(u.Scheme)
	if c.ClientID != "" {
		if err := validateClientID(c.ClientID); err != nil {
			return &ConfigError{Key: "client_id", Err: err}
		}
	}
	switch {
	case c.Username != "" && !printable(c.Username):
		return configErr("username", "contains control characters")
	case c.PasswordFile != "" && c.Username == "":
		return configErr("password_file", "is set but username is not (MQTT sends a password only with a user name)")
	case c.CAFile != "" && !secure:
		return configErr("ca_file", "is set but broker %s is plain MQTT: use ssl://host:8883 for TLS", c.Broker)
	case c.CertFile != "" && !secure:
		return configErr("cert_file", "is set but broker %s is plain MQTT: use ssl://host:8883 for TLS", c.Broker)
	case c.KeyFile != "" && !secure:
		return configErr("key_file", "is set but broker %s is plain MQTT: use ssl://host:8883 for TLS", c.Broker)
	case c.CertFile != "" && c.KeyFile == "":
		return configErr("key_file", "missing: cert_file %s needs the key that goes with it", c.CertFile)
	case c.KeyFile != "" && c.CertFile == "":
		return configErr("cert_file", "missing: key_file %s needs the certificate that goes with it", c.KeyFile)
	case c.InsecureSkipVerify && !secure:
		return configErr("insecure_skip_verify", "is set but broker %s is plain MQTT (there is no certificate to skip)", c.Broker)
	case c.QoS != nil && (*c.QoS < 0 || *c.QoS > 2):
		return configErr("qos", "%d is not 0, 1 or 2", *c.QoS)
	case c.KeepAlive < time.Second || c.KeepAlive > MaxKeepAlive:
		return configErr("keep_alive", "%v is out of range (1s to %v)", c.KeepAlive, MaxKeepAlive)
	case c.KeepAlive%time.Second != 0:
		return configErr("keep_alive", "%v is not a whole number of seconds (MQTT counts keep-alive in seconds)", c.KeepAlive)
	case c.ReconnectMin <= 0:
		return configErr("reconnect_min", "%v must be above 0", c.ReconnectMin)
	case c.ReconnectMax < c.ReconnectMin:
		return configErr("reconnect_max", "%v is below reconnect_min (%v)", c.ReconnectMax, c.ReconnectMin)
	case c.ReconnectMax > MaxReconnect:
		return configErr("reconnect_max", "%v is above %v", c.ReconnectMax, MaxReconnect)
	case c.MaxPayload < 1 || c.MaxPayload > MaxPayloadLimit:
		return configErr("max_payload", "%d is out of range 1–%d bytes", c.MaxPayload, MaxPayloadLimit)
	case c.MaxInflight < 1 || c.MaxInflight > MaxInflightLimit:
		return configErr("max_inflight", "%d is out of range 1–%d messages", c.MaxInflight, MaxInflightLimit)
	case len(c.Topics) == 0:
		return configErr("topics", "missing: list the topic filters to subscribe to, each with its sensor and decoder")
	}
	filters := make([][]string, len(c.Topics))
	for i, t := range c.Topics {
		key := fmt.Sprintf("topics[%d]", i)
		levels, err := parseFilter(t.Filter)
		if err != nil {
			return &ConfigError{Key: key + ".filter", Err: err}
		}
		for j := range i {
			if filtersOverlap(filters[j], levels) {
				return configErr(key+".filter", "%q overlaps topics[%d].filter %q: a message on a topic both match would be delivered twice and its decoder would be ambiguous (make the filters disjoint)", t.Filter, j, c.Topics[j].Filter)
			}
		}
		filters[i] = levels
		if _, err := parseTemplate(t.Sensor, countPlus(levels)); err != nil {
			return &ConfigError{Key: key + ".sensor", Err: err}
		}
		if !slices.Contains(decoders, t.Decoder) {
			if t.Decoder == "" {
				return configErr(key+".decoder", "missing (one of %s)", strings.Join(decoders, ", "))
			}
			return configErr(key+".decoder", "%q is not one of %s", t.Decoder, strings.Join(decoders, ", "))
		}
		if t.Container != "" {
			if err := iso6346.Validate(t.Container); err != nil {
				return &ConfigError{Key: key + ".container", Err: err}
			}
		}
	}
	return nil
}

func validateBroker(s string) error {
	const hint = "write tcp://host:1883 for MQTT, ssl://host:8883 for MQTT over TLS"
	if s == "" {
		return configErr("broker", "missing (%s)", hint)
	}
	u, err := url.Parse(s)
	if err != nil {
		return configErr("broker", "%q is not a URL (%s)", s, hint)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts":
	default:
		return configErr("broker", "%q: scheme %q is not tcp, mqtt, ssl, tls or mqtts (%s)", s, u.Scheme, hint)
	}
	if u.User != nil {
		return configErr("broker", "%q carries user information: put the user in username and the password in password_file", redactURL(u))
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return configErr("broker", "%q: only scheme://host:port is allowed (%s)", s, hint)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return configErr("broker", "%q has no host:port (%s)", s, hint)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return configErr("broker", "%q: port %q is not 1–65535", s, port)
	}
	return nil
}

func redactURL(u *url.URL) string {
	v := *u
	v.User = url.User("…")
	return v.String()
}

func validateClientID(id string) error {
	switch {
	case len(id) > MaxClientIDLen:
		return fmt.Errorf("%d bytes is longer than %d", len(id), MaxClientIDLen)
	case !utf8.ValidString(id) || !printable(id) || strings.ContainsAny(id, " \t"):
		return fmt.Errorf("%q: use printable characters without spaces (letters, digits, '-', '_', '.' are safest)", id)
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}
