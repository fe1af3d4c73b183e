package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tallygw/tally/internal/secret"
	"github.com/tallygw/tally/sensors"
)

// QuarantineRawMax is how many bytes of a bad payload are handed to the
// sink's quarantine.
const QuarantineRawMax = 1024

// Timings that are not configurable.
const (
	// connectTimeout bounds one connection attempt: TCP, TLS and CONNACK.
	connectTimeout = 30 * time.Second
	// shutdownQuiesce is how long Run, once its context is done, waits for
	// the sink to answer the readings in flight so that their messages can
	// still be acknowledged before it disconnects.
	shutdownQuiesce = 2 * time.Second
	// redeliverQuiesce is how long a reconnect made to get refused messages
	// redelivered waits for the other messages in flight first.
	redeliverQuiesce = time.Second
	// disconnectQuiesce is what paho gets to send DISCONNECT.
	disconnectQuiesce = 250 // milliseconds
	// nmeaIdleFlush closes an NMEA sensor's open epoch when no message has
	// come from it for this long, so that the last fix is recorded and its
	// messages acknowledged.
	nmeaIdleFlush = 2 * time.Second
	// maxNMEASensors bounds the NMEA decoders kept (one per sensor id).
	maxNMEASensors = 1024
)

// Subscriber subscribes to the configured topics and hands the readings
// decoded from their messages to a sink, acknowledging each message to the
// broker only once the sink has accepted all its readings. Build one with
// New; Run it once at a time.
type Subscriber struct {
	cfg      Config
	logger   *slog.Logger
	password string
	tls      *tls.Config // nil for plain MQTT
	routes   []route

	running atomic.Bool

	connected   atomic.Bool
	connects    atomic.Uint64
	messages    atomic.Uint64
	readings    atomic.Uint64
	refused     atomic.Uint64
	acked       atomic.Uint64
	retained    atomic.Uint64
	redelivered atomic.Uint64
	inflight    atomic.Int64
	refusing    atomic.Bool // the last answer from the sink was a refusal

	mu          sync.Mutex // guards the fields below
	quarantined map[string]uint64
	lastErr     string
	lastErrAt   time.Time
}

// route is a validated Topic.
type route struct {
	Topic
	filter []string
	tpl    template
	decode func([]byte) (sensors.Reading, error) // nil for nmea
}

// Stats counts what a Subscriber did. The JSON names are those of the
// daemon's status page.
type Stats struct {
	Connected   bool              `json:"connected"`     // connected to the broker now
	Connects    uint64            `json:"connects"`      // successful connections
	Messages    uint64            `json:"messages"`      // messages received
	Readings    uint64            `json:"readings"`      // readings the sink accepted
	Refused     uint64            `json:"refused"`       // readings the sink refused (their messages not acknowledged)
	Quarantined map[string]uint64 `json:"quarantined"`   // messages (NMEA: lines) quarantined, by Class
	Acked       uint64            `json:"acked"`         // QoS 1/2 messages acknowledged to the broker
	Retained    uint64            `json:"retained"`      // retained messages skipped (accept_retained off)
	Redelivered uint64            `json:"redelivered"`   // redeliveries of a message still in flight, joined to it
	InFlight    int64             `json:"in_flight"`     // messages received and not yet answered
	LastError   string            `json:"last_error"`    // the last connection, subscription or sink error
	LastErrorAt time.Time         `json:"last_error_at"` // when it happened
}

// New checks cfg, reads the password and TLS files and returns a
// Subscriber. It applies cfg's defaults; an empty client_id becomes
// "tally-" + name (name is the gateway id). It opens no connection.
// Errors about the configuration are *ConfigError.
func New(cfg Config, name string, logger *slog.Logger) (*Subscriber, error) {
	cfg.SetDefaults()
	cfg.Topics = slices.Clone(cfg.Topics)
	if cfg.ClientID == "" {
		if name == "" {
			return nil, configErr("client_id", "missing, and no name was given to derive one from")
		}
		cfg.ClientID = DefaultClientIDPrefix + name
		if err := validateClientID(cfg.ClientID); err != nil {
			return nil, &ConfigError{Key: "client_id", Err: fmt.Errorf("derived from name: %w", err)}
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Subscriber{
		cfg:         cfg,
		logger:      logger.With("driver", "mqtt", "broker", cfg.Broker),
		quarantined: map[string]uint64{},
	}
	s.password = cfg.Password
	if cfg.PasswordFile != "" {
		p, err := readPasswordFile(cfg.PasswordFile)
		if err != nil {
			return nil, err
		}
		s.password = p
	}
	u, _ := url.Parse(cfg.Broker) // checked by Validate
	if tlsScheme(u.Scheme) {
		tc, err := s.tlsConfig(u.Hostname())
		if err != nil {
			return nil, err
		}
		s.tls = tc
	}
	for _, t := range cfg.Topics {
		levels, _ := parseFilter(t.Filter)                   // checked by Validate
		tpl, _ := parseTemplate(t.Sensor, countPlus(levels)) // checked by Validate
		s.routes = append(s.routes, route{Topic: t, filter: levels, tpl: tpl, decode: decodeFunc(t.Decoder)})
	}
	if cfg.InsecureSkipVerify {
		s.logger.Warn("mqtt: insecure_skip_verify is on: the broker's certificate is NOT checked, anyone on the network path can pose as the broker and feed or read sensor data; turn it off and set ca_file")
	}
	if cfg.qos() == 0 {
		s.logger.Warn("mqtt: qos 0: the broker neither queues nor redelivers messages for the gateway; readings sent while it is away or restarting are lost")
	}
	if cfg.CleanSession {
		s.logger.Warn("mqtt: clean_session is on: the broker drops our session on disconnect, so messages published while the gateway is away are lost")
	}
	return s, nil
}

// ClientID is the client id the subscriber connects with.
func (s *Subscriber) ClientID() string { return s.cfg.ClientID }

func readPasswordFile(path string) (string, error) {
	p, err := secret.Password(path)
	if err != nil {
		return "", &ConfigError{Key: "password_file", Err: err}
	}
	return p, nil
}

func (s *Subscriber) tlsConfig(host string) (*tls.Config, error) {
	c := s.cfg
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: c.InsecureSkipVerify}
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
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, configErr("cert_file", "loading %s and key_file %s: %w", c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
		if fi, err := os.Stat(c.KeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			s.logger.Warn("mqtt: key_file can be read by group or others; make it readable by the tally user only", "key_file", c.KeyFile, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
		}
	}
	return tc, nil
}

// Stats returns a snapshot of the counters.
func (s *Subscriber) Stats() Stats {
	st := Stats{
		Connected:   s.connected.Load(),
		Connects:    s.connects.Load(),
		Messages:    s.messages.Load(),
		Readings:    s.readings.Load(),
		Refused:     s.refused.Load(),
		Acked:       s.acked.Load(),
		Retained:    s.retained.Load(),
		Redelivered: s.redelivered.Load(),
		InFlight:    s.inflight.Load(),
	}
	s.mu.Lock()
	st.Quarantined = make(map[string]uint64, len(s.quarantined))
	for k, v := range s.quarantined {
		st.Quarantined[k] = v
	}
	st.LastError, st.LastErrorAt = s.lastErr, s.lastErrAt
	s.mu.Unlock()
	return st
}

func (s *Subscriber) setErr(msg string) {
	s.mu.Lock()
	s.lastErr, s.lastErrAt = msg, time.Now()
	s.mu.Unlock()
}

// Run connects to the broker, subscribes and hands readings to sink until
// ctx is done, reconnecting with backoff whenever the connection fails. A
// sink that implements sensors.AsyncSink takes readings through
// AcceptAsync (no goroutine per reading); any other sink's Accept runs in
// a goroutine per reading, at most max_inflight messages' worth.
//
// A message is acknowledged to the broker once the sink has accepted every
// reading decoded from it, or once bad input in it has been quarantined.
// A message with a reading the sink refused is not acknowledged: the broker
// redelivers it on the next connection, which Run makes after a backoff.
//
// When ctx is done Run stops taking messages, gives the sink up to 2 s to
// answer the readings in flight (acknowledging them), disconnects and
// returns nil. Run returns an error only when it is already running.
func (s *Subscriber) Run(ctx context.Context, sink sensors.Sink) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("mqtt: Run called while the subscriber is already running")
	}
	defer s.running.Store(false)
	r := &run{
		s:         s,
		ctx:       ctx,
		sink:      sink,
		slots:     make(chan struct{}, s.cfg.MaxInflight),
		acks:      make(chan ackItem, s.cfg.MaxInflight),
		redeliver: make(chan struct{}, 1),
		lost:      make(chan error, 1),
		byID:      map[uint16]*pending{},
		nmea:      map[string]*nmeaState{},
	}
	r.async, _ = sink.(sensors.AsyncSink)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { r.ackLoop(stop) })
	wg.Go(func() { r.flushLoop(stop) })
	r.loop()
	close(stop)
	wg.Wait()
	r.accepts.Wait()
	return nil
}

// run is the state of one Run.
type run struct {
	s      *Subscriber
	ctx    context.Context
	sink   sensors.Sink
	async  sensors.AsyncSink // sink, when it is one
	client paho.Client

	slots     chan struct{} // one token per message in flight
	acks      chan ackItem  // finished messages, to acknowledge in order
	redeliver chan struct{} // signalled when the sink refused a reading
	lost      chan error    // signalled by paho when the connection is lost

	caps []string // scratch for topic matching; router goroutine only

	accepts sync.WaitGroup // goroutines calling a plain Sink's Accept

	mu            sync.Mutex          // guards byID and handshakeStop
	byID          map[uint16]*pending // QoS 1/2 messages in flight by packet id
	handshakeStop func() bool         // stops closing the connection being set up when ctx ends

	nmeaMu sync.Mutex            // guards nmea (the map, not the states)
	nmea   map[string]*nmeaState // per sensor id
}

// loop connects, waits for the connection to end and reconnects, until
// ctx is done.
func (r *run) loop() {
	s := r.s
	cfg := s.cfg
	r.client = paho.NewClient(r.options())
	wait := cfg.ReconnectMin       // before the next connection attempt
	refuseWait := cfg.ReconnectMin // before reconnecting to get refused messages back
	readingsAtRedeliver := s.readings.Load()
	attempt := 0
	for {
		drain(r.lost)
		attempt++
		err := r.connect()
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			r.connectFailed(err, attempt, wait)
			if !sleep(r.ctx, jitter(wait)) {
				return
			}
			wait = min(2*wait, cfg.ReconnectMax)
			continue
		}
		attempt = 0
		connectedAt := time.Now()
		r.subscribe()

		var lost error
		select {
		case <-r.ctx.Done():
			r.shutdown()
			return
		case lost = <-r.lost:
		case <-r.redeliver:
			if n := s.readings.Load(); n > readingsAtRedeliver {
				refuseWait = cfg.ReconnectMin // the sink works again
			}
			s.logger.Warn("mqtt: the sink refused readings; their messages stay unacknowledged until the broker redelivers them after a reconnect", "reconnect_in", refuseWait.Round(time.Millisecond))
			t := time.NewTimer(jitter(refuseWait))
			select {
			case <-r.ctx.Done():
				t.Stop()
				r.shutdown()
				return
			case lost = <-r.lost:
				t.Stop()
			case <-t.C:
			}
			if lost == nil {
				refuseWait = min(2*refuseWait, cfg.ReconnectMax)
				readingsAtRedeliver = s.readings.Load()
				r.waitIdle(r.ctx, redeliverQuiesce)
				r.client.Disconnect(disconnectQuiesce)
				s.connected.Store(false)
				drain(r.redeliver)
				s.logger.Info("mqtt: reconnecting so that the broker redelivers the refused messages")
				continue
			}
		}
		s.connected.Store(false)
		s.setErr("connection lost: " + lost.Error())
		if time.Since(connectedAt) > cfg.ReconnectMax {
			wait = cfg.ReconnectMin // it was up for a while: not a flapping connection
		}
		s.logger.Warn("mqtt: connection lost; reconnecting", "err", lost, "retry_in", wait.Round(time.Millisecond))
		if !sleep(r.ctx, jitter(wait)) {
			return
		}
		wait = min(2*wait, cfg.ReconnectMax)
	}
}

func drain[T any](c chan T) {
	select {
	case <-c:
	default:
	}
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// jitter returns d less up to a fifth of it, at random.
func jitter(d time.Duration) time.Duration {
	return d - rand.N(d/5+1)
}

func (r *run) options() *paho.ClientOptions {
	cfg := r.s.cfg
	o := paho.NewClientOptions()
	o.AddBroker(cfg.Broker)
	o.SetClientID(cfg.ClientID)
	if cfg.Username != "" {
		o.SetUsername(cfg.Username)
		o.SetPassword(r.s.password)
	}
	o.SetProtocolVersion(4) // MQTT 3.1.1, no silent fallback to 3.1
	o.SetCleanSession(cfg.CleanSession)
	o.SetKeepAlive(cfg.KeepAlive)
	o.SetConnectTimeout(connectTimeout)
	o.SetAutoReconnect(false) // loop reconnects, with our backoff and log lines
	o.SetConnectRetry(false)
	o.SetResumeSubs(false) // subscribe resubscribes on every connection
	o.SetAutoAckDisabled(true)
	// Handlers run one at a time on paho's router goroutine, in arrival
	// order: per-sensor order is kept (NMEA epochs span messages), and a
	// handler waiting for an in-flight slot stops paho reading from the
	// socket, which bounds memory. With OrderMatters false paho would start
	// a goroutine per message whether or not we can take it.
	o.SetOrderMatters(true)
	o.SetDefaultPublishHandler(r.handle)
	o.SetConnectionLostHandler(func(_ paho.Client, err error) {
		if err == nil {
			err = errors.New("connection lost")
		}
		select {
		case r.lost <- err:
		default:
		}
	})
	o.SetCustomOpenConnectionFn(r.dial)
	return o
}

// dial opens the network connection for paho: TCP, then TLS when the
// broker URL asks for it. Until the MQTT handshake is over the connection
// is closed as soon as ctx is done.
func (r *run) dial(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
	d := net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(r.ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(r.ctx, func() { conn.Close() })
	r.mu.Lock()
	r.handshakeStop = stop
	r.mu.Unlock()
	if r.s.tls == nil {
		return conn, nil
	}
	tc := tls.Client(conn, r.s.tls)
	hctx, cancel := context.WithTimeout(r.ctx, connectTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// connect makes one connection attempt.
func (r *run) connect() error {
	s := r.s
	if s.cfg.InsecureSkipVerify {
		s.logger.Warn("mqtt: connecting WITHOUT checking the broker's certificate (insecure_skip_verify)")
	}
	tok := r.client.Connect()
	select {
	case <-tok.Done():
	case <-r.ctx.Done():
		<-tok.Done() // dial and handshake end with ctx
	}
	r.mu.Lock()
	if r.handshakeStop != nil {
		r.handshakeStop()
		r.handshakeStop = nil
	}
	r.mu.Unlock()
	ct := tok.(*paho.ConnectToken)
	if err := tok.Error(); err != nil {
		return &connectError{code: ct.ReturnCode(), err: err}
	}
	s.connects.Add(1)
	s.connected.Store(true)
	s.logger.Info("mqtt: connected", "client_id", s.cfg.ClientID, "session_present", ct.SessionPresent())
	if !ct.SessionPresent() && !s.cfg.CleanSession && s.connects.Load() > 1 {
		s.logger.Warn("mqtt: the broker had no session for this client_id: messages published while the gateway was disconnected were not queued (was the broker restarted without persistence, or its session expired?)", "client_id", s.cfg.ClientID)
	}
	return nil
}

// connectError is a failed connection attempt: code is the CONNACK return
// code, or paho's network-error code.
type connectError struct {
	code byte
	err  error
}

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// connectFailed logs a failed attempt: what happened and what to check.
func (r *run) connectFailed(err error, attempt int, wait time.Duration) {
	s := r.s
	reason, check, refused := explainConnect(err, s.cfg)
	s.setErr(reason + " (check " + check + ")")
	args := []any{"reason", reason, "check", check, "client_id", s.cfg.ClientID, "attempt", attempt, "retry_in", wait.Round(time.Millisecond)}
	if s.cfg.Username != "" {
		args = append(args, "username", s.cfg.Username)
	}
	if refused {
		s.logger.Error("mqtt: the broker refused the connection", args...)
	} else {
		s.logger.Warn("mqtt: cannot connect to the broker", append(args, "err", err)...)
	}
}

// explainConnect turns a failed attempt into a reason and what to check;
// refused is true when the broker answered with a refusal.
func explainConnect(err error, cfg Config) (reason, check string, refused bool) {
	var ce *connectError
	code := byte(0)
	if errors.As(err, &ce) {
		code = ce.code
	}
	u, _ := url.Parse(cfg.Broker)
	hostPort := ""
	if u != nil {
		hostPort = u.Host
	}
	switch code {
	case 1:
		return "unacceptable protocol version (CONNACK 1)", "that the broker speaks MQTT 3.1.1 on " + hostPort, true
	case 2:
		return "identifier rejected (CONNACK 2)", fmt.Sprintf("the broker's client id rules (length, characters, allowed prefixes) for client_id %q", cfg.ClientID), true
	case 3:
		return "server unavailable (CONNACK 3)", "the broker's own log: it is up but not taking clients", true
	case 4:
		return "bad username or password (CONNACK 4)", fmt.Sprintf("username %q and the password in password_file against the broker's password file", cfg.Username), true
	case 5:
		if cfg.Username == "" {
			return "not authorised (CONNACK 5)", "the broker wants a login: set username and password_file (or allow_anonymous on the broker), and its ACL for client_id " + strconv.Quote(cfg.ClientID), true
		}
		return "not authorised (CONNACK 5)", fmt.Sprintf("username %q and the password in password_file against the broker's password file (mosquitto answers a wrong password this way), and the broker's ACL for this user and client_id %q", cfg.Username, cfg.ClientID), true
	}
	var (
		dnsErr  *net.DNSError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		record  tls.RecordHeaderError
		netErr  net.Error
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused by " + hostPort, "that the broker runs and listens on " + hostPort + " (broker address, port, firewall)", false
	case errors.As(err, &dnsErr):
		return "cannot resolve the broker's host name", "the host name in broker and the gateway's DNS", false
	case errors.As(err, &unknown):
		return "the broker's certificate is signed by an unknown authority", "ca_file: it must hold the CA that signed the broker's certificate", false
	case errors.As(err, &host):
		return "the broker's certificate is not valid for " + host.Host, "the host name in broker: use one the certificate names", false
	case errors.As(err, &invalid):
		return "the broker's certificate is not valid now (" + invalid.Error() + ")", "the gateway's clock (is it set?) and the certificate's validity dates", false
	case errors.As(err, &record):
		return "the broker does not speak TLS on " + hostPort, "the scheme and port in broker: tcp:// for plain MQTT, ssl:// for the TLS port", false
	case errors.As(err, &netErr) && netErr.Timeout():
		return "connection to " + hostPort + " timed out", "the network path and firewall to " + hostPort, false
	case errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "EOF"):
		return "the broker closed the connection during the handshake", "the scheme and port in broker (TLS or not), and the broker's log (connection limits, TLS client certificates)", false
	}
	return err.Error(), "the broker address and that the broker is reachable", false
}

// subscribe subscribes to every filter and logs what the broker granted.
func (r *run) subscribe() {
	s := r.s
	want := s.cfg.qos()
	filters := make(map[string]byte, len(s.routes))
	for _, rt := range s.routes {
		filters[rt.Filter] = want
	}
	tok := r.client.SubscribeMultiple(filters, nil) // nil: messages go to the default handler, once each
	select {
	case <-tok.Done():
	case <-r.ctx.Done():
		return
	case <-time.After(connectTimeout):
		s.setErr("no answer to SUBSCRIBE")
		s.logger.Error("mqtt: the broker did not answer SUBSCRIBE", "check", "the broker's log")
		return
	}
	if err := tok.Error(); err != nil {
		s.setErr("subscribe: " + err.Error())
		s.logger.Warn("mqtt: subscribe failed", "err", err)
		return
	}
	granted := tok.(*paho.SubscribeToken).Result()
	for f, q := range granted {
		switch {
		case q == 0x80:
			s.setErr("the broker refused the subscription to " + f)
			s.logger.Error("mqtt: the broker refused a subscription", "filter", f, "check", "the broker's ACL for username "+strconv.Quote(s.cfg.Username)+" and client_id "+strconv.Quote(s.cfg.ClientID))
		case q < want:
			s.logger.Warn("mqtt: the broker granted a lower QoS than asked: messages on these topics may be lost", "filter", f, "qos", q, "asked", want)
		}
	}
	s.logger.Info("mqtt: subscribed", "filters", len(filters), "qos", want)
}
