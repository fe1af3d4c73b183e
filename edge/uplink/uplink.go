// Package uplink forwards the gateway's signed log to an upstream MQTT
// broker (the port's or the shipping line's platform): store and forward.
//
// The uplink reads one ordered stream from the store: every reading's
// envelope (the COSE_Sign1 bytes, verbatim) to <topic_prefix>/readings and
// every checkpoint's signed note to <topic_prefix>/checkpoints, a checkpoint
// of tree size N right after reading N-1, the reading that completes it.
// Each is published with QoS 1, not retained, in that order, over one MQTT
// 3.1.1 connection. At most max_inflight publishes are unacknowledged at a
// time, and rate caps messages per second. Anchor receipts will join the
// stream as a third kind of item (see kind in stream.go).
//
// Positions are kept in the store as cursors ("uplink.readings",
// "uplink.checkpoints"): each moves past an item only once the broker's
// PUBACK for it, and for every item before it, has arrived; an
// unacknowledged item is never skipped. They are written at most once a
// second, on every connection loss and on shutdown. After an outage of any
// length (broker down, link down, gateway restart, power cut) forwarding
// resumes from the cursors: nothing is lost and nothing is reordered.
// Readings pile up in the store meanwhile; Forwarded tells retention which
// of them are safe upstream.
//
// Delivery is at least once, as MQTT QoS 1 is. Within one process an item
// whose PUBACK arrived is never published again; when a connection drops,
// only the items still unacknowledged (at most max_inflight) are published
// again, in order, on the next connection. Those the broker had received
// before the drop then arrive twice. After a crash or power cut, items
// acknowledged in the last second before it (the cursor write interval)
// are sent again as well. A graceful stop waits briefly for outstanding
// acknowledgements, so a restart normally sends nothing twice. Consumers
// keep the first copy of each (gateway, seq) reading and (origin, size)
// checkpoint; the payloads are signed, so a copy is byte-identical.
// Dropping duplicates never reorders: the first copies arrive in stream
// order.
//
// MQTT 3.1.1 has no negative acknowledgement: a broker whose ACL forbids
// the topics may acknowledge and drop (mosquitto does). Check the ACL when
// the platform sees nothing although the uplink reports forwarding.
//
// The uplink never blocks ingest: it reads through the store's reader
// connections, and writes only its two cursors, at most once a second.
package uplink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/tallygw/tally/edge/store"
)

// Internal timings.
const (
	// cursorEvery is the most often cursors are written to the store.
	cursorEvery = time.Second
	// drainTimeout bounds how long a stop waits for outstanding PUBACKs.
	drainTimeout = 2 * time.Second
	// connectTimeout bounds one connection attempt (TCP, TLS, CONNACK).
	connectTimeout = 15 * time.Second
	// writeTimeout bounds handing one packet to the connection.
	writeTimeout = 30 * time.Second
	// minAckTimeout is the least time the oldest publish may wait for its
	// PUBACK before the connection is declared broken.
	minAckTimeout = time.Minute
	// repeatLog is how often an unchanged connection failure is logged again.
	repeatLog = 10 * time.Minute
	// minBatch is the fewest readings read from the store at once.
	minBatch = 256
)

// Status is the uplink's view for the status page and metrics. Counters
// count since the process started.
type Status struct {
	Broker         string    `json:"broker"`
	ClientID       string    `json:"client_id"`
	Connected      bool      `json:"connected"`
	ConnectedSince time.Time `json:"connected_since,omitzero"`
	// DisconnectedSince is when the current outage began (zero while
	// connected or before the first connection).
	DisconnectedSince time.Time `json:"disconnected_since,omitzero"`
	// Cursor is the next reading seq to be confirmed upstream: readings
	// 0..Cursor-1 are (or were deleted before the uplink saw them).
	Cursor int64 `json:"cursor"`
	// CheckpointCursor is one above the largest checkpoint size confirmed.
	CheckpointCursor int64 `json:"checkpoint_cursor"`
	// Backlog is the readings not yet confirmed: log size - Cursor.
	Backlog int64 `json:"backlog"`
	// InFlight is the publishes sent and not yet acknowledged.
	InFlight int `json:"in_flight"`
	// ForwardedReadings and ForwardedCheckpoints count items confirmed.
	ForwardedReadings    int64 `json:"forwarded_readings_total"`
	ForwardedCheckpoints int64 `json:"forwarded_checkpoints_total"`
	// Published counts PUBLISH packets sent, Republished those sent again
	// after a connection loss (each possibly a duplicate upstream).
	Published   int64 `json:"published_total"`
	Republished int64 `json:"republished_total"`
	// Skipped counts readings deleted from the store before the uplink
	// could forward them (uplink enabled after retention deleted them).
	Skipped         int64     `json:"skipped_total"`
	Connects        int64     `json:"connects_total"`
	ConnectFailures int64     `json:"connect_failures_total"`
	Outages         int64     `json:"outages_total"`
	LastForward     time.Time `json:"last_forward,omitzero"`
	LastError       string    `json:"last_error,omitempty"`
	LastErrorAt     time.Time `json:"last_error_at,omitzero"`
}

// Uplink forwards the store's log upstream. Build it with New and run it
// with Run.
type Uplink struct {
	cfg      Config
	st       *store.Store
	logger   *slog.Logger
	broker   string      // URL with the port filled in
	password string      // from password_file
	tls      *tls.Config // nil for tcp://
	topics   [numKinds]string
	scanCP   func(ctx context.Context, from int64, fn func(store.Checkpoint) error) error

	running   atomic.Bool
	forwarded atomic.Int64 // the readings cursor as last written to the store

	mu     sync.Mutex // guards saved and status
	saved  [numKinds]int64
	status Status
}

// checkpointRanger is a store that can list checkpoints from a size on;
// the uplink uses it when the store has it, and otherwise walks them all.
type checkpointRanger interface {
	CheckpointsFrom(ctx context.Context, from int64, fn func(store.Checkpoint) error) error
}

// New checks cfg (applying defaults), reads the password and TLS files and
// the stored cursors, and returns an Uplink for the gateway's store. It
// connects to nothing.
func New(cfg Config, gatewayID string, st *store.Store, logger *slog.Logger) (*Uplink, error) {
	cfg.SetDefaults(gatewayID)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	u := &Uplink{cfg: cfg, st: st, logger: logger}
	bu, err := cfg.brokerURL()
	if err != nil {
		return nil, err
	}
	u.broker = bu.String()
	if u.password, err = cfg.password(); err != nil {
		return nil, err
	}
	if bu.Scheme != "tcp" {
		if u.tls, err = cfg.tlsConfig(bu.Hostname()); err != nil {
			return nil, err
		}
	}
	for k := range numKinds {
		u.topics[k] = cfg.TopicPrefix + k.topic()
	}
	u.scanCP = scanCheckpoints(st.Checkpoints)
	if r, ok := any(st).(checkpointRanger); ok {
		u.scanCP = r.CheckpointsFrom
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for k := range numKinds {
		pos, err := st.Cursor(ctx, k.cursorName())
		if err != nil {
			return nil, fmt.Errorf("uplink: %w", err)
		}
		u.saved[k] = pos
	}
	u.forwarded.Store(u.saved[kindReading])
	u.status = Status{
		Broker: u.broker, ClientID: cfg.ClientID,
		Cursor: u.saved[kindReading], CheckpointCursor: u.saved[kindCheckpoint],
	}
	return u, nil
}

// Forwarded returns n such that readings 0..n-1 are confirmed upstream and
// that position is recorded in the store: retention may delete them. It
// lags confirmation by at most a second.
func (u *Uplink) Forwarded() int64 { return u.forwarded.Load() }

// Status returns a snapshot for the status page.
func (u *Uplink) Status() Status {
	u.mu.Lock()
	s := u.status
	u.mu.Unlock()
	s.Backlog = max(0, u.st.Size()-s.Cursor)
	return s
}

func (u *Uplink) update(f func(*Status)) {
	u.mu.Lock()
	f(&u.status)
	u.mu.Unlock()
}

func (u *Uplink) setError(err error) {
	u.update(func(s *Status) { s.LastError, s.LastErrorAt = err.Error(), time.Now() })
}

// Run forwards until ctx is done, then waits up to two seconds for
// outstanding acknowledgements, records the cursors and returns nil.
// Broker and store failures are logged and retried, never returned.
func (u *Uplink) Run(ctx context.Context) error {
	if !u.running.CompareAndSwap(false, true) {
		return errors.New("uplink: Run is already running")
	}
	defer u.running.Store(false)
	r := u.newRun()
	if size := u.st.Size(); r.conf[kindReading] > size {
		u.logger.Warn("uplink cursor is beyond the end of the log (was the database restored from an older copy?); forwarding resumes when the log reaches it",
			"cursor", r.conf[kindReading], "size", size)
	}
	u.logger.Info("uplink starting", "broker", u.broker, "client_id", u.cfg.ClientID, "topic_prefix", u.cfg.TopicPrefix,
		"cursor", r.conf[kindReading], "backlog", max(0, u.st.Size()-r.conf[kindReading]))
	defer r.stop()

	backoff := u.cfg.ReconnectMin
	var lastLogged string
	var lastLoggedAt, outageStart time.Time
	for {
		err := r.connect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			u.update(func(s *Status) { s.ConnectFailures++ })
			u.setError(err)
			wait := backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, u.cfg.ReconnectMax)
			if msg := err.Error(); msg != lastLogged || time.Since(lastLoggedAt) >= repeatLog {
				lastLogged, lastLoggedAt = msg, time.Now()
				r.logConnectError(err, wait)
			} else {
				u.logger.Debug("uplink connection attempt failed", "err", err, "retry_in", wait.Round(time.Millisecond))
			}
			if !sleep(ctx, wait) {
				return nil
			}
			continue
		}
		backoff, lastLogged = u.cfg.ReconnectMin, ""
		backlog := max(0, u.st.Size()-r.conf[kindReading])
		if outageStart.IsZero() {
			u.logger.Info("uplink connected", "broker", u.broker, "client_id", u.cfg.ClientID, "cursor", r.conf[kindReading], "backlog", backlog)
		} else {
			u.logger.Info("uplink reconnected; outage over", "broker", u.broker, "outage", time.Since(outageStart).Round(time.Second),
				"cursor", r.conf[kindReading], "backlog", backlog, "republish", r.unpublished())
		}
		err = r.session(ctx)
		r.teardown()
		if ctx.Err() != nil {
			return nil
		}
		outageStart = time.Now()
		u.setError(err)
		u.update(func(s *Status) { s.Outages++ })
		u.logger.Warn("uplink connection lost; readings stay in the store and are forwarded when the broker is back",
			"broker", u.broker, "err", err, "cursor", r.conf[kindReading], "backlog", max(0, u.st.Size()-r.conf[kindReading]),
			"unacknowledged", r.unpublished())
	}
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// flight is one stream item in the window.
type flight struct {
	item
	tok   mqtt.Token // nil: to be published on the current connection
	sent  time.Time
	sends int
	acked bool
}

// run is the state of one Run; only its goroutine touches it.
type run struct {
	u      *Uplink
	feed   *feed
	bucket *bucket // nil: no rate limit

	buf     []item    // read from the store, not yet in the window
	win     []*flight // stream order; len <= max_inflight
	nextPub int       // win[nextPub:] still need publishing on this connection

	conf    [numKinds]int64 // confirmed: every item with a key below is acknowledged
	saved   [numKinds]int64 // as written to the store
	savedAt time.Time

	nextFetch  time.Time
	ackTimeout time.Duration

	client mqtt.Client // nil between connections
	lost   chan error  // the current connection's loss
}

func (u *Uplink) newRun() *run {
	u.mu.Lock()
	saved := u.saved
	u.mu.Unlock()
	r := &run{u: u, conf: saved, saved: saved, bucket: newBucket(u.cfg.Rate), ackTimeout: max(minAckTimeout, 2*u.cfg.KeepAlive)}
	// The readings cursor at R means every stream item before reading R is
	// confirmed, checkpoints of sizes below R included. The checkpoints
	// cursor lags it only after a crash between the two cursor writes.
	r.conf[kindCheckpoint] = max(r.conf[kindCheckpoint], r.conf[kindReading])
	r.feed = &feed{
		readings: u.st.Readings,
		batch:    max(minBatch, 2*u.cfg.MaxInflight),
		next:     r.conf[kindReading],
		followers: []follower{
			newCheckpointFollower(r.conf[kindCheckpoint], u.scanCP, u.st.LatestCheckpoint),
		},
		skipped: func(first, n int64) {
			u.update(func(s *Status) { s.Skipped += n })
			u.logger.Warn("uplink skipped readings already deleted from the store (retention ran before the uplink was enabled)",
				"from_seq", first, "count", n)
		},
	}
	return r
}

// unpublished is the number of window items not acknowledged.
func (r *run) unpublished() int {
	n := 0
	for _, f := range r.win {
		if !f.acked {
			n++
		}
	}
	return n
}

func (r *run) connect(ctx context.Context) error {
	u := r.u
	lost := make(chan error, 1)
	opts := mqtt.NewClientOptions().
		AddBroker(u.broker).
		SetClientID(u.cfg.ClientID).
		SetUsername(u.cfg.Username).
		SetPassword(u.password).
		SetTLSConfig(u.tls).
		SetProtocolVersion(4).
		SetCleanSession(true). // re-sending is ours: only what is unacknowledged, in order
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(u.cfg.KeepAlive).
		SetPingTimeout(min(u.cfg.KeepAlive, 10*time.Second)).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(writeTimeout).
		SetOrderMatters(false).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		c.Disconnect(0)
		return ctx.Err()
	}
	if err := tok.Error(); err != nil {
		var code byte = 0xff
		if ct, ok := tok.(*mqtt.ConnectToken); ok {
			code = ct.ReturnCode()
		}
		return connectError(code, err)
	}
	r.client, r.lost = c, lost
	r.nextPub = 0
	now := time.Now()
	u.update(func(s *Status) {
		s.Connected, s.ConnectedSince, s.DisconnectedSince = true, now, time.Time{}
		s.Connects++
	})
	return nil
}

func (r *run) logConnectError(err error, retry time.Duration) {
	var ce *ConnectError
	if errors.As(err, &ce) && ce.Refused() {
		r.u.logger.Error("uplink broker refused the connection", "broker", r.u.broker, "connack", ce.Code, "reason", ce.Reason,
			"check", ce.Hint, "retry_in", retry.Round(time.Millisecond))
		return
	}
	hint := ""
	if errors.As(err, &ce) {
		hint = ce.Hint
	}
	r.u.logger.Warn("uplink cannot connect to the broker; readings stay in the store", "broker", r.u.broker, "err", err,
		"check", hint, "retry_in", retry.Round(time.Millisecond))
}

// teardown closes the connection and settles the window: an item whose
// PUBACK arrived stays acknowledged, every other one is published again on
// the next connection.
func (r *run) teardown() {
	if r.client == nil {
		return
	}
	r.client.Disconnect(250)
	// Disconnecting completes every outstanding token; wait for that so a
	// PUBACK that raced the loss is not sent again needlessly.
	deadline := time.NewTimer(time.Second)
	defer deadline.Stop()
	expired := false
	for _, f := range r.win {
		if f.tok == nil || f.acked {
			continue
		}
		if !expired {
			select {
			case <-f.tok.Done():
			case <-deadline.C:
				expired = true
			}
		}
		f.acked = isDone(f.tok) && f.tok.Error() == nil
		f.tok = nil
	}
	r.client, r.lost, r.nextPub = nil, nil, 0
	r.confirm() // only acknowledged heads remain to move past: no error
	now := time.Now()
	r.u.update(func(s *Status) {
		s.Connected, s.ConnectedSince, s.DisconnectedSince, s.InFlight = false, time.Time{}, now, 0
	})
	r.save(context.Background(), true)
}

// stop records the cursors when Run ends.
func (r *run) stop() {
	r.teardown()
	r.save(context.Background(), true)
	r.u.logger.Info("uplink stopped", "cursor", r.conf[kindReading], "backlog", max(0, r.u.st.Size()-r.conf[kindReading]))
}

// session forwards over the current connection until it fails (returning
// why) or ctx is done (returning nil after waiting for outstanding acks).
func (r *run) session(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if err := r.confirm(); err != nil {
			return err
		}
		now := time.Now()
		wake := now.Add(time.Hour)
		// Publish what the window and the rate allow.
		for r.canPublish() {
			if r.bucket != nil {
				if d := r.bucket.delay(now); d > 0 {
					wake = now.Add(d)
					break
				}
				r.bucket.take()
			}
			if err := r.publishNext(now); err != nil {
				return err
			}
		}
		// Read more once the buffer is empty.
		if len(r.buf) == 0 && len(r.win) < r.u.cfg.MaxInflight {
			if !now.Before(r.nextFetch) {
				items, err := r.feed.fetch(ctx)
				switch {
				case ctx.Err() != nil:
					return r.drain(ctx)
				case err != nil:
					r.u.setError(err)
					r.u.logger.Error("uplink cannot read the store; retrying", "err", err)
					r.nextFetch = now.Add(r.u.cfg.Poll)
				case len(items) == 0:
					r.nextFetch = now.Add(r.u.cfg.Poll)
				default:
					r.buf = items
					continue
				}
			}
			wake = earliest(wake, r.nextFetch)
		}
		if t := r.save(ctx, false); !t.IsZero() {
			wake = earliest(wake, t)
		}
		var headDone <-chan struct{}
		if len(r.win) > 0 && r.win[0].tok != nil {
			head := r.win[0]
			headDone = head.tok.Done()
			deadline := head.sent.Add(r.ackTimeout)
			if !now.Before(deadline) {
				return fmt.Errorf("no PUBACK from the broker for %v (%s %d)", r.ackTimeout, head.kind, head.key)
			}
			wake = earliest(wake, deadline)
		}
		r.u.update(func(s *Status) { s.InFlight = r.nextPub })
		timer.Reset(time.Until(wake))
		select {
		case <-ctx.Done():
			return r.drain(ctx)
		case err := <-r.lost:
			return fmt.Errorf("connection lost: %w", err)
		case <-headDone:
		case <-timer.C:
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (r *run) canPublish() bool {
	for r.nextPub < len(r.win) && r.win[r.nextPub].acked {
		r.nextPub++
	}
	return r.nextPub < len(r.win) || (len(r.buf) > 0 && len(r.win) < r.u.cfg.MaxInflight)
}

// publishNext publishes the next unacknowledged window item, or moves the
// next buffered item into the window and publishes it.
func (r *run) publishNext(now time.Time) error {
	if r.nextPub == len(r.win) {
		r.win = append(r.win, &flight{item: r.buf[0]})
		r.buf[0] = item{}
		r.buf = r.buf[1:]
	}
	f := r.win[r.nextPub]
	r.nextPub++
	if !r.client.IsConnectionOpen() {
		return errors.New("connection closed")
	}
	// Publish hands the packet to paho's writer and normally returns at
	// once, but when the connection dies between its status check and the
	// hand-off it blocks for the write timeout (30 s). Call it aside, so
	// the loss is noticed at once; the packet, if it is ever handed over,
	// goes to the dead connection, and the item is published again.
	c, topic, payload := r.client, r.u.topics[f.kind], f.payload
	res := make(chan mqtt.Token, 1)
	go func() { res <- c.Publish(topic, 1, false, payload) }()
	select {
	case f.tok = <-res:
	case err := <-r.lost:
		return fmt.Errorf("connection lost: %w", err)
	}
	f.sent = now
	f.sends++
	again := f.sends > 1
	r.u.update(func(s *Status) {
		s.Published++
		if again {
			s.Republished++
		}
	})
	select {
	case <-f.tok.Done():
		if err := f.tok.Error(); err != nil {
			return fmt.Errorf("publish %s %d: %w", f.kind, f.key, err)
		}
	default:
	}
	return nil
}

// confirm moves past acknowledged items at the head of the window. A head
// whose publish failed ends the connection.
func (r *run) confirm() error {
	var n [numKinds]int64
	var err error
	for len(r.win) > 0 {
		f := r.win[0]
		if !f.acked {
			if f.tok == nil || !isDone(f.tok) {
				break
			}
			if e := f.tok.Error(); e != nil {
				err = fmt.Errorf("publish %s %d: %w", f.kind, f.key, e)
				break
			}
			f.acked = true
		}
		r.conf[f.kind] = f.key + 1
		n[f.kind]++
		r.win[0] = nil
		r.win = r.win[1:]
		r.nextPub = max(0, r.nextPub-1)
	}
	if n[kindReading]+n[kindCheckpoint] > 0 {
		now := time.Now()
		r.u.update(func(s *Status) {
			s.ForwardedReadings += n[kindReading]
			s.ForwardedCheckpoints += n[kindCheckpoint]
			s.Cursor, s.CheckpointCursor = r.conf[kindReading], r.conf[kindCheckpoint]
			s.LastForward = now
		})
	}
	return err
}

func isDone(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

// drain waits up to drainTimeout for the PUBACKs of what was published.
func (r *run) drain(ctx context.Context) error {
	deadline := time.NewTimer(drainTimeout)
	defer deadline.Stop()
	for {
		if r.confirm() != nil || len(r.win) == 0 || r.win[0].tok == nil {
			return nil
		}
		select {
		case <-r.win[0].tok.Done():
		case <-r.lost:
			return nil
		case <-deadline.C:
			return nil
		}
	}
}

// saveOrder is the order cursors are written in: readings first.
var saveOrder = func() []kind {
	order := []kind{kindReading}
	for k := range numKinds {
		if k != kindReading {
			order = append(order, k)
		}
	}
	return order
}()

// save writes changed cursors when force is set or cursorEvery has passed
// since the last write; otherwise it returns when the next write is due
// (zero when nothing changed).
func (r *run) save(ctx context.Context, force bool) time.Time {
	if r.conf == r.saved {
		return time.Time{}
	}
	now := time.Now()
	if due := r.savedAt.Add(cursorEvery); !force && now.Before(due) {
		return due
	}
	r.savedAt = now
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// Readings first: Forwarded feeds retention. Each cursor alone is a
	// true statement, so a crash between the writes only re-sends.
	for _, k := range saveOrder {
		if r.conf[k] == r.saved[k] {
			continue
		}
		if err := r.u.st.SetCursor(ctx, k.cursorName(), r.conf[k], now); err != nil {
			r.u.setError(err)
			r.u.logger.Error("uplink cannot record its cursor; retrying", "err", err)
			return now.Add(cursorEvery)
		}
		r.saved[k] = r.conf[k]
	}
	r.u.mu.Lock()
	r.u.saved = r.saved
	r.u.mu.Unlock()
	r.u.forwarded.Store(r.saved[kindReading])
	return time.Time{}
}
