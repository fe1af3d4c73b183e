// Package broker runs the optional embedded MQTT broker (mochi-mqtt) for
// gateways without mosquitto. It requires a username and password for every
// client, unless the configuration explicitly allows anonymous clients and
// the client connects from loopback. The daemon's own subscriber gets
// credentials of its own, generated at every start.
package broker

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tallygw/tally/internal/secret"
)

// User is a client allowed to connect.
type User struct {
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"` // the password, alone on the first line; mode 0600
}

// Config is the embedded broker's configuration.
type Config struct {
	Listen                 string `yaml:"listen"`                   // host:port, default 127.0.0.1:1883
	AllowAnonymousLoopback bool   `yaml:"allow_anonymous_loopback"` // anonymous clients from 127.0.0.0/8 and ::1
	Users                  []User `yaml:"users"`
	TLSCertFile            string `yaml:"tls_cert_file"` // serve TLS when both are set
	TLSKeyFile             string `yaml:"tls_key_file"`
}

// Broker is a running embedded broker.
type Broker struct {
	srv      *mqtt.Server
	addr     string
	internal User // the daemon's own subscriber
	password string
	log      *slog.Logger
	closed   sync.Once
	closeErr error
}

// Credentials are what a client needs to connect.
type Credentials struct {
	URL, Username, Password string
}

// New validates cfg, reads the password files and binds the listener.
// resolve maps a password_file name to a path (relative to the data dir).
func New(cfg Config, resolve func(string) string, logger *slog.Logger) (*Broker, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:1883"
	}
	if len(cfg.Users) == 0 && !cfg.AllowAnonymousLoopback {
		return nil, fmt.Errorf("broker: no users and allow_anonymous_loopback is false: nobody but tally itself could publish; add users (username, password_file) or allow anonymous clients on loopback")
	}
	users := map[string][]byte{}
	for i, u := range cfg.Users {
		if u.Username == "" || u.PasswordFile == "" {
			return nil, fmt.Errorf("broker: users[%d]: username and password_file are required", i)
		}
		pw, err := secret.Password(resolve(u.PasswordFile))
		if err != nil {
			return nil, fmt.Errorf("broker: users[%d] (%s): password file: %w", i, u.Username, err)
		}
		users[u.Username] = []byte(pw)
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	b := &Broker{internal: User{Username: "tally-internal"}, password: hex.EncodeToString(secret), log: logger}
	users[b.internal.Username] = []byte(b.password)

	// mochi keeps QoS 1/2 messages for a subscriber only up to its in-flight
	// limit and drops the rest: raise it to the protocol's maximum (65535
	// packet ids) and count drops (Dropped, status) — a subscriber that
	// stalls for longer loses messages the publishers were told were
	// delivered. Use mosquitto with persistence where that matters.
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumInflight = 65535
	caps.MaximumClientWritesPending = 1 << 16
	quiet := slog.New(noDisconnectNoise{logger.Handler()})
	b.srv = mqtt.New(&mqtt.Options{InlineClient: false, Logger: quiet, Capabilities: caps})
	if err := b.srv.AddHook(&authHook{users: users, anonymousLoopback: cfg.AllowAnonymousLoopback, log: logger}, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	lc := listeners.Config{ID: "tcp", Address: cfg.Listen}
	scheme := "tcp"
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(resolve(cfg.TLSCertFile), resolve(cfg.TLSKeyFile))
		if err != nil {
			return nil, fmt.Errorf("broker: TLS certificate: %w", err)
		}
		lc.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "ssl"
	}
	ln := listeners.NewTCP(lc)
	if err := b.srv.AddListener(ln); err != nil {
		return nil, fmt.Errorf("broker: listen on %s: %w (is mosquitto already running there? set broker.listen)", cfg.Listen, err)
	}
	b.addr = scheme + "://" + ln.Address()
	return b, nil
}

// Serve starts accepting clients; it does not block.
func (b *Broker) Serve() error {
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.log.Info("embedded MQTT broker listening", "url", b.addr)
	return nil
}

// Close stops the broker. Safe to call more than once.
func (b *Broker) Close() error {
	b.closed.Do(func() { b.closeErr = b.srv.Close() })
	return b.closeErr
}

// Internal returns the credentials of the daemon's own subscriber.
func (b *Broker) Internal() Credentials {
	return Credentials{URL: b.addr, Username: b.internal.Username, Password: b.password}
}

// Status is the embedded broker's part of the status page.
type Status struct {
	URL     string `json:"url"`
	Clients int64  `json:"clients"`
	Dropped int64  `json:"dropped_total"` // QoS 1/2 messages dropped: a subscriber's in-flight limit was reached
}

// Status returns the broker's counters.
func (b *Broker) Status() Status {
	return Status{URL: b.addr, Clients: atomic.LoadInt64(&b.srv.Info.ClientsConnected), Dropped: atomic.LoadInt64(&b.srv.Info.InflightDropped)}
}

// URL is the broker's address for clients, e.g. tcp://127.0.0.1:1883.
func (b *Broker) URL() string { return b.addr }

// authHook checks usernames and passwords; anonymous clients only from
// loopback and only when allowed.
type authHook struct {
	mqtt.HookBase
	users             map[string][]byte
	anonymousLoopback bool
	log               *slog.Logger
}

func (h *authHook) ID() string { return "tally-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	if user == "" {
		if h.anonymousLoopback && isLoopback(cl.Net.Remote) {
			return true
		}
		h.log.Warn("broker refused an anonymous client", "remote", cl.Net.Remote, "client_id", cl.ID,
			"hint", "clients need a username and password (broker.users); anonymous access is only for loopback with broker.allow_anonymous_loopback")
		return false
	}
	want, ok := h.users[user]
	if !ok || subtle.ConstantTimeCompare(want, pk.Connect.Password) != 1 {
		h.log.Warn("broker refused a client: bad username or password", "remote", cl.Net.Remote, "client_id", cl.ID, "username", user)
		return false
	}
	return true
}

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool { return true }

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// noDisconnectNoise passes on mochi's warnings and errors except the
// message-less warning it logs for every client that disconnects.
type noDisconnectNoise struct{ slog.Handler }

func (h noDisconnectNoise) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h noDisconnectNoise) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "" && r.Level < slog.LevelError {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h noDisconnectNoise) WithAttrs(a []slog.Attr) slog.Handler {
	return noDisconnectNoise{h.Handler.WithAttrs(a)}
}
func (h noDisconnectNoise) WithGroup(n string) slog.Handler {
	return noDisconnectNoise{h.Handler.WithGroup(n)}
}
