package serial

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	bugserial "go.bug.st/serial"

	"github.com/tallygw/tally/sensors"
)

// States of a runner's port (Stats.State).
const (
	StateClosed       = "closed"       // not running
	StateOpen         = "open"         // open and in use
	StateReconnecting = "reconnecting" // not open; the runner is trying to open it
)

// Stats are a runner's counters and port state, for the status page.
type Stats struct {
	Port       string    `json:"port"`             // the configured path
	Device     string    `json:"device,omitempty"` // what it resolved to when last opened
	State      string    `json:"state"`            // StateClosed, StateOpen or StateReconnecting
	Since      time.Time `json:"since,omitzero"`   // when State last changed; zero before Run
	Opens      uint64    `json:"opens"`            // successful opens
	Reconnects uint64    `json:"reconnects"`       // successful opens after the first
	OpenErrors uint64    `json:"open_errors"`      // failed attempts to open
	Lost       uint64    `json:"lost"`             // times the open port failed
	LastError  string    `json:"last_error,omitempty"`
	LastErrAt  time.Time `json:"last_error_at,omitzero"`

	// LineRunner only.
	Lines       uint64 `json:"lines"`       // non-empty lines framed, over-long ones included
	Readings    uint64 `json:"readings"`    // readings the sink accepted
	Filtered    uint64 `json:"filtered"`    // readings LineOptions.Keep dropped
	Refused     uint64 `json:"refused"`     // readings the sink did not accept (never acked)
	Quarantined uint64 `json:"quarantined"` // lines that did not decode or were too long
	Acks        uint64 `json:"acks"`        // acknowledgements written
}

// keeper is the reconnect loop both runners share. It owns the port while
// loop runs.
type keeper struct {
	cfg     Config
	log     *slog.Logger
	running atomic.Bool

	mu sync.Mutex // guards st
	st Stats
}

func newKeeper(cfg Config, logger *slog.Logger) (*keeper, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("serial config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &keeper{
		cfg: cfg,
		log: logger.With("port", cfg.Port),
		st:  Stats{Port: cfg.Port, State: StateClosed},
	}, nil
}

func (k *keeper) stats() Stats {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.st
}

func (k *keeper) update(f func(s *Stats)) {
	k.mu.Lock()
	f(&k.st)
	k.mu.Unlock()
}

func (k *keeper) setState(state string) {
	k.update(func(s *Stats) {
		if s.State != state {
			s.State, s.Since = state, time.Now()
		}
	})
}

func (k *keeper) setError(err error) {
	k.update(func(s *Stats) { s.LastError, s.LastErrAt = err.Error(), time.Now() })
}

// loop opens the port, runs session while it is open, and opens it again
// when session reports it lost, until ctx is done; then it returns nil. A
// session returning nil while ctx is not done ends the loop too.
func (k *keeper) loop(ctx context.Context, session func(ctx context.Context, p Port) error) error {
	if !k.running.CompareAndSwap(false, true) {
		return errors.New("serial: Run is already running")
	}
	defer k.running.Store(false)
	defer k.setState(StateClosed)

	var (
		attempt int       // open attempts since the port last worked, for the backoff
		failing string    // the error of the current open failure streak; "" when none
		wasOpen bool      // the port has been open before
		down    time.Time // when the port went away, or the first open failed
	)
	k.setState(StateReconnecting)
	for ctx.Err() == nil {
		p, dev, err := open(k.cfg)
		if err != nil {
			k.update(func(s *Stats) { s.OpenErrors++ })
			k.setError(err)
			if down.IsZero() {
				down = time.Now()
			}
			delay := backoff(attempt, k.cfg.ReconnectMin, k.cfg.ReconnectMax, rand.Float64())
			if msg := err.Error(); msg != failing {
				// Once per failure streak, and again if the reason changes.
				k.log.Warn("serial port unavailable, retrying", "err", err, "retry_in", delay.Round(time.Millisecond))
				failing = msg
			}
			attempt++
			if !sleep(ctx, delay) {
				break
			}
			continue
		}

		if wasOpen || failing != "" {
			k.log.Info("serial port back", "device", dev, "down_for", time.Since(down).Round(time.Millisecond))
		} else {
			k.log.Info("serial port open", "device", dev)
		}
		k.update(func(s *Stats) {
			if s.Opens > 0 {
				s.Reconnects++
			}
			s.Opens++
			s.Device = dev
		})
		k.setState(StateOpen)
		failing, down, wasOpen = "", time.Time{}, true
		opened := time.Now()

		err = session(ctx, &watchedPort{Port: p, dev: dev})
		if cerr := p.Close(); cerr != nil {
			k.log.Debug("serial port close", "err", cerr)
		}
		if ctx.Err() != nil || err == nil {
			break
		}
		down = time.Now()
		k.setState(StateReconnecting)
		k.update(func(s *Stats) { s.Lost++ })
		k.setError(err)
		k.log.Warn("serial port lost", "device", dev, "err", err)
		if down.Sub(opened) >= k.cfg.ReconnectMax {
			attempt = 0 // it worked for a while: start the backoff over
		}
		delay := backoff(attempt, k.cfg.ReconnectMin, k.cfg.ReconnectMax, rand.Float64())
		attempt++
		if !sleep(ctx, delay) {
			break
		}
	}
	return nil
}

// backoff is the delay before open attempt n+1 (n from 0): ReconnectMin
// doubled n times, at most ReconnectMax, less up to half of it at random
// (jitter, so gateways rebooted together do not retry in step), but never
// below ReconnectMin. r is in [0, 1).
func backoff(n int, lo, hi time.Duration, r float64) time.Duration {
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	d -= time.Duration(r * float64(d/2))
	return max(d, lo)
}

// sleep waits d or until ctx is done; it reports whether ctx is still live.
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

// watchedPort turns the ways a port dies into read errors: a read that
// times out while the device node has vanished (os.Stat fails), and
// go.bug.st/serial's "port has been closed" for a device that hung up.
type watchedPort struct {
	Port
	dev string
}

func (w *watchedPort) Read(b []byte) (int, error) {
	n, err := w.Port.Read(b)
	switch {
	case err != nil:
		var pe *bugserial.PortError
		if errors.As(err, &pe) && pe.Code() == bugserial.PortClosed {
			return n, fmt.Errorf("device hung up (unplugged?): %w", err)
		}
		return n, err
	case n == 0 && gone(w.dev):
		return 0, fmt.Errorf("device node %s vanished (unplugged?)", w.dev)
	}
	return n, nil
}

// PortRunner keeps a port open for a driver that owns it while it is open,
// such as the Modbus poller. Create it with NewPortRunner, run it with Run,
// read Stats from any goroutine.
type PortRunner struct {
	k      *keeper
	fn     func(ctx context.Context, p Port) error
	handle *portHandle
}

// NewPortRunner checks cfg (after applying its defaults) and returns a
// runner that calls fn with the port each time it is opened. fn returns
// nil when ctx is done, or an error when the port failed; the runner then
// closes the port, logs "serial port lost" and opens it again. fn must not
// close the port, nor leave anything using it after it returns. A nil
// logger discards logs.
func NewPortRunner(cfg Config, fn func(ctx context.Context, p Port) error, logger *slog.Logger) (*PortRunner, error) {
	if fn == nil {
		return nil, errors.New("serial: nil port function")
	}
	k, err := newKeeper(cfg, logger)
	if err != nil {
		return nil, err
	}
	return &PortRunner{k: k, fn: fn, handle: &portHandle{}}, nil
}

// Run opens the port and runs fn on it, again and again, until ctx is
// done; it returns nil then. It also returns nil if fn returns nil before
// ctx is done. Port errors never end Run.
func (r *PortRunner) Run(ctx context.Context) error {
	return r.k.loop(ctx, func(ctx context.Context, p Port) error {
		r.handle.set(p)
		defer r.handle.set(nil)
		return r.fn(ctx, p)
	})
}

// Stats returns the runner's port state and counters.
func (r *PortRunner) Stats() Stats { return r.k.stats() }

// Port returns a Port that outlives reconnects, for a driver bound to one
// Port when it is built (modbus.New): while fn runs it reads and writes
// the port fn was given; otherwise its calls fail with ErrNotOpen. Use it
// only from within fn. Its Close does nothing: the runner owns the port.
//
//	var poller *modbus.Poller
//	r, err := serial.NewPortRunner(cfg, func(ctx context.Context, _ serial.Port) error {
//		return poller.Run(ctx, sink)
//	}, logger)
//	...
//	poller, err = modbus.New(busCfg, r.Port(), logger)
//	...
//	return r.Run(ctx)
func (r *PortRunner) Port() Port { return r.handle }

// ErrNotOpen fails the calls of PortRunner.Port while the port is not
// open.
var ErrNotOpen = errors.New("serial: port not open")

// portHandle forwards to the port currently open.
type portHandle struct {
	mu sync.Mutex // guards p
	p  Port
}

func (h *portHandle) set(p Port) {
	h.mu.Lock()
	h.p = p
	h.mu.Unlock()
}

func (h *portHandle) get() (Port, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.p == nil {
		return nil, ErrNotOpen
	}
	return h.p, nil
}

func (h *portHandle) Read(b []byte) (int, error) {
	p, err := h.get()
	if err != nil {
		return 0, err
	}
	return p.Read(b)
}

func (h *portHandle) Write(b []byte) (int, error) {
	p, err := h.get()
	if err != nil {
		return 0, err
	}
	return p.Write(b)
}

func (h *portHandle) SetReadTimeout(d time.Duration) error {
	p, err := h.get()
	if err != nil {
		return err
	}
	return p.SetReadTimeout(d)
}

func (h *portHandle) Close() error { return nil }

// RunPort is NewPortRunner and Run. It returns an error only for an
// invalid cfg or a nil fn; otherwise it returns nil when ctx is done.
func RunPort(ctx context.Context, cfg Config, fn func(ctx context.Context, p Port) error, logger *slog.Logger) error {
	r, err := NewPortRunner(cfg, fn, logger)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// LineOptions are the per-driver parts of a LineRunner.
type LineOptions struct {
	// Sensor is the sensor id quarantined input is recorded under.
	Sensor string
	// Keep, when set, is asked about every decoded reading before it is
	// handed to the sink; readings it refuses are dropped (counted in
	// Stats.Filtered). The daemon plugs the NMEA decimator in here.
	Keep func(sensors.Reading) bool
	// Ack, when set, gives the bytes to write back to the port once the
	// sink has accepted a reading (the e-seal reader's ACK); nil or empty
	// writes nothing. A reading the sink did not accept is not acked.
	Ack func(sensors.Reading) []byte
}

// LineRunner reads a line-based sensor (NMEA, e-seal, configured line
// protocols) from a serial port, reconnecting as needed. Create it with
// NewLineRunner, run it with Run, read Stats from any goroutine.
type LineRunner struct {
	k    *keeper
	dec  sensors.LineDecoder
	sink sensors.Sink
	opts LineOptions

	// Owned by the goroutine in Run.
	refusing bool  // the sink is refusing readings (logged once per streak)
	ackErr   error // writing an ack failed: the port is lost
}

// NewLineRunner checks its arguments (cfg after applying its defaults) and
// returns a LineRunner. A nil logger discards logs.
func NewLineRunner(cfg Config, dec sensors.LineDecoder, sink sensors.Sink, opts LineOptions, logger *slog.Logger) (*LineRunner, error) {
	switch {
	case dec == nil:
		return nil, errors.New("serial: nil line decoder")
	case sink == nil:
		return nil, errors.New("serial: nil sink")
	case opts.Sensor == "":
		return nil, errors.New("serial: empty sensor id")
	}
	k, err := newKeeper(cfg, logger)
	if err != nil {
		return nil, err
	}
	k.log = k.log.With("sensor", opts.Sensor)
	return &LineRunner{k: k, dec: dec, sink: sink, opts: opts}, nil
}

// RunLines is NewLineRunner and Run. It returns an error only for invalid
// arguments; otherwise it returns nil when ctx is done.
func RunLines(ctx context.Context, cfg Config, dec sensors.LineDecoder, sink sensors.Sink, opts LineOptions, logger *slog.Logger) error {
	r, err := NewLineRunner(cfg, dec, sink, opts, logger)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// Stats returns the runner's port state and counters.
func (r *LineRunner) Stats() Stats { return r.k.stats() }

// Run reads lines until ctx is done, then returns nil.
//
// Each line (without its line ending) goes to the decoder's Decode with
// the time it was read; each reading Keep lets through goes to the sink's
// Accept, and once accepted, Ack's bytes are written back to the port.
// Lines that do not decode and over-long lines are quarantined with the
// reason and the raw bytes. Empty lines are skipped.
//
// When the port fails (a read or write error, the device node vanishing)
// Run logs "serial port lost" once, quarantines the bytes after the last
// line end (a cut-off line is not decoded), hands on what the decoder's
// Flush returns (no acks: the port is gone), closes the port and reopens
// it with backoff; the decoder carries on when the port is back. On
// shutdown nothing is flushed: readings the sink would refuse anyway are
// not forced through.
func (r *LineRunner) Run(ctx context.Context) error {
	return r.k.loop(ctx, r.session)
}

// session reads from p until ctx is done (nil) or p fails (the error).
func (r *LineRunner) session(ctx context.Context, p Port) error {
	r.ackErr = nil
	fr := NewFramer(r.k.cfg.MaxLine)
	buf := make([]byte, 4096)
	for ctx.Err() == nil {
		n, err := p.Read(buf)
		now := time.Now()
		for _, f := range fr.Feed(buf[:n]) {
			r.frame(ctx, p, f, now)
		}
		if err == nil {
			err = r.ackErr
		}
		if err != nil {
			if ctx.Err() == nil {
				r.flush(ctx, fr)
			}
			return err
		}
	}
	return nil
}

// flush hands on what the framer and the decoder hold when the port is
// lost; nothing is acked. The bytes after the last line end are
// quarantined, never decoded: a cut-off "T=23.5" could decode as 23.
func (r *LineRunner) flush(ctx context.Context, fr *Framer) {
	if f, ok := fr.Flush(); ok {
		if f.Err == nil {
			f.Err = errIncomplete
		}
		r.frame(ctx, nil, f, time.Time{})
	}
	for _, rd := range r.dec.Flush() {
		r.deliver(ctx, nil, rd)
	}
}

// errIncomplete is the quarantine reason for the bytes after the last
// line end of a lost port.
var errIncomplete = errors.New("incomplete line: the port was lost before its line end")

// frame handles one frame, acking accepted readings on p unless p is nil.
func (r *LineRunner) frame(ctx context.Context, p Port, f Frame, recv time.Time) {
	if f.Err == nil && len(f.Line) == 0 {
		return
	}
	r.k.update(func(s *Stats) { s.Lines++ })
	if f.Err != nil {
		r.quarantine(ctx, f.Err.Error(), f.Line)
		return
	}
	readings, err := r.dec.Decode(f.Line, recv)
	for _, rd := range readings {
		r.deliver(ctx, p, rd)
	}
	if err != nil {
		r.quarantine(ctx, err.Error(), f.Line)
	}
}

func (r *LineRunner) quarantine(ctx context.Context, reason string, raw []byte) {
	r.k.update(func(s *Stats) { s.Quarantined++ })
	r.k.log.Debug("line quarantined", "reason", reason, "bytes", len(raw))
	r.sink.Quarantine(ctx, r.opts.Sensor, reason, raw)
}

// deliver hands rd to the sink and, once the sink accepted it, writes its
// ack to p (unless p is nil or an ack write already failed, which is kept
// in ackErr: the port is then taken as lost).
func (r *LineRunner) deliver(ctx context.Context, p Port, rd sensors.Reading) {
	if r.opts.Keep != nil && !r.opts.Keep(rd) {
		r.k.update(func(s *Stats) { s.Filtered++ })
		return
	}
	if err := r.sink.Accept(ctx, rd); err != nil {
		r.k.update(func(s *Stats) { s.Refused++ })
		if !r.refusing && ctx.Err() == nil {
			r.k.log.Warn("reading not accepted, not acknowledged", "kind", rd.Kind, "err", err)
			r.refusing = true
		}
		return
	}
	if r.refusing {
		r.k.log.Info("readings accepted again")
		r.refusing = false
	}
	r.k.update(func(s *Stats) { s.Readings++ })
	if r.opts.Ack == nil || p == nil || r.ackErr != nil {
		return
	}
	ack := r.opts.Ack(rd)
	if len(ack) == 0 {
		return
	}
	if err := writeAll(p, ack); err != nil {
		r.ackErr = fmt.Errorf("write ack: %w", err)
		return
	}
	r.k.update(func(s *Stats) { s.Acks++ })
}

func writeAll(p Port, b []byte) error {
	for len(b) > 0 {
		n, err := p.Write(b)
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("wrote 0 bytes")
		}
		b = b[n:]
	}
	return nil
}
