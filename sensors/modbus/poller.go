package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallygw/tally/sensors"
)

// Defaults applied by New to zero Config and Device fields.
const (
	DefaultBaud     = 9600
	DefaultTimeout  = 500 * time.Millisecond
	DefaultInterval = 10 * time.Second
)

const (
	// minSilence is the shortest gap after which a frame that has started
	// arriving is taken to have ended. The specification's 1.5 character
	// times cannot be measured from user space: USB adapters deliver bytes
	// in bursts (an FTDI chip holds them up to 16 ms by default).
	minSilence = 50 * time.Millisecond
	// maxRetries bounds Config.Retries.
	maxRetries = 10
	// bitsPerChar is what one RTU character takes on the wire: start bit,
	// 8 data bits, parity or a second stop bit, stop bit.
	bitsPerChar = 11
)

// Port is the bus the Poller talks over: a serial port or anything that
// carries the RTU byte stream (a pty, a TCP serial server).
//
// SetReadTimeout bounds the next Read: when no byte arrives within d, Read
// returns either (0, nil) or an error matching os.ErrDeadlineExceeded. A
// go.bug.st/serial Port satisfies Port as it is; wrap an *os.File or a
// net.Conn with DeadlinePort.
type Port interface {
	io.ReadWriter
	SetReadTimeout(d time.Duration) error
}

// DeadlinePort adapts something with read deadlines (an *os.File for a tty
// or pty, a net.Conn to a serial device server) to Port. An *os.File
// supports deadlines when os.OpenFile opened a tty; calling its Fd method
// turns them off, and reads would then fail with os.ErrNoDeadline.
func DeadlinePort(rw interface {
	io.ReadWriter
	SetReadDeadline(t time.Time) error
}) Port {
	return deadlinePort{rw}
}

type deadlinePort struct {
	rw interface {
		io.ReadWriter
		SetReadDeadline(t time.Time) error
	}
}

func (d deadlinePort) Read(b []byte) (int, error)  { return d.rw.Read(b) }
func (d deadlinePort) Write(b []byte) (int, error) { return d.rw.Write(b) }
func (d deadlinePort) SetReadTimeout(t time.Duration) error {
	return d.rw.SetReadDeadline(time.Now().Add(t))
}

// FrameGap returns the silence the RTU specification requires between
// frames: 3.5 character times at the given baud rate, and a fixed 1.75 ms
// above 19200 baud.
func FrameGap(baud int) time.Duration {
	if baud > 19200 {
		return 1750 * time.Microsecond
	}
	if baud <= 0 {
		baud = DefaultBaud
	}
	return time.Duration(3.5 * bitsPerChar * float64(time.Second) / float64(baud))
}

// charTime returns how long one character takes on the wire.
func charTime(baud int) time.Duration {
	return time.Duration(bitsPerChar * float64(time.Second) / float64(baud))
}

// Config is one Modbus RTU bus: one serial line and the slaves on it. The
// port itself (device path, baud rate, parity) is opened elsewhere; Baud
// here only sets the protocol timing and must match the port.
type Config struct {
	// Baud is the line speed in bit/s. Zero means DefaultBaud.
	Baud int `yaml:"baud"`
	// Timeout is how long to wait for a response to begin arriving, after
	// the request has been sent. Zero means DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how many more times to send a request that timed out or
	// drew a bad frame (exceptions are not retried). Zero means none.
	Retries int `yaml:"retries"`
	// Devices are polled in turn, each at its own interval.
	Devices []Device `yaml:"devices"`
}

// Device is one slave (or one probe of a multi-probe slave) on the bus. It
// yields one reading per successful poll.
type Device struct {
	// Name is the probe name, Reading.Data["probe"]; unique on the bus.
	Name string `yaml:"name"`
	// Sensor is the sensor id of the readings. Empty means Name.
	Sensor string `yaml:"sensor"`
	// Slave is the slave address, 1–247. Several devices may share one.
	Slave byte `yaml:"slave"`
	// Interval is the time between polls. Zero means DefaultInterval.
	Interval time.Duration `yaml:"interval"`
	// Kind is the reading kind. Empty means "temperature" when a point
	// has field celsius, else "humidity" when one has humidity_pct.
	Kind string `yaml:"kind"`
	// Points are read together in each poll; a poll succeeds when all of
	// them were read.
	Points []Point `yaml:"points"`
}

// Validate reports the first problem in c, naming the offending key
// (devices[1].points[0].function). New calls it; call it earlier to check a
// config file before opening any port.
func (c Config) Validate() error {
	switch {
	case c.Baud < 0:
		return fmt.Errorf("baud: %d is negative", c.Baud)
	case c.Timeout < 0:
		return fmt.Errorf("timeout: %v is negative", c.Timeout)
	case c.Retries < 0 || c.Retries > maxRetries:
		return fmt.Errorf("retries: %d out of range 0–%d", c.Retries, maxRetries)
	case len(c.Devices) == 0:
		return errors.New("devices: none configured")
	}
	names := make(map[string]int, len(c.Devices))
	for i, d := range c.Devices {
		if err := d.validate(); err != nil {
			return fmt.Errorf("devices[%d]%s: %w", i, quoteName(d.Name), err)
		}
		if j, dup := names[d.Name]; dup {
			return fmt.Errorf("devices[%d].name: %q already used by devices[%d]", i, d.Name, j)
		}
		names[d.Name] = i
	}
	return nil
}

func quoteName(name string) string {
	if name == "" {
		return ""
	}
	return fmt.Sprintf(" (%q)", name)
}

func (d Device) validate() error {
	switch {
	case d.Name == "":
		return errors.New("name: empty")
	case d.Slave < MinSlave || d.Slave > MaxSlave:
		return fmt.Errorf("slave: %d out of range %d–%d", d.Slave, MinSlave, MaxSlave)
	case d.Interval < 0:
		return fmt.Errorf("interval: %v is negative", d.Interval)
	case len(d.Points) == 0:
		return errors.New("points: none configured")
	}
	fields := make(map[string]int, len(d.Points))
	for i, p := range d.Points {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("points[%d].%w", i, err)
		}
		if j, dup := fields[p.Field]; dup {
			return fmt.Errorf("points[%d].field: %q already used by points[%d]", i, p.Field, j)
		}
		fields[p.Field] = i
	}
	switch kind := d.kind(); kind {
	case "":
		return errors.New("kind: empty, and no celsius or humidity_pct point to infer it from")
	case sensors.KindTemperature, sensors.KindHumidity:
		need := FieldCelsius
		if kind == sensors.KindHumidity {
			need = FieldHumidityPct
		}
		if _, ok := fields[need]; !ok {
			return fmt.Errorf("kind: %s readings need a %s point", kind, need)
		}
	}
	return nil
}

// kind returns d.Kind or the kind inferred from its points.
func (d Device) kind() string {
	if d.Kind != "" {
		return d.Kind
	}
	for _, want := range []string{FieldCelsius, FieldHumidityPct} {
		for _, p := range d.Points {
			if p.Field == want {
				if want == FieldCelsius {
					return sensors.KindTemperature
				}
				return sensors.KindHumidity
			}
		}
	}
	return ""
}

// Stats are one device's counters since New.
type Stats struct {
	Name   string
	Sensor string
	Slave  byte

	Polls      uint64 // polls started
	OK         uint64 // polls that produced a reading
	Timeouts   uint64 // requests that drew no answer (each attempt counts)
	Exceptions uint64 // exception responses
	CRCErrors  uint64 // frames with a bad CRC (quarantined)
	BadFrames  uint64 // other malformed frames: short, wrong slave, wrong function, byte count, stray bytes (quarantined)

	LastOK      time.Time // end of the last successful poll
	LastError   string    // why the last failed poll failed
	LastErrorAt time.Time
}

// device is a Device ready to poll.
type device struct {
	Device
	idx    int // in Poller.devices and Poller.stats
	sensor string
	kind   string
	reqs   []Request
	frames [][]byte // encoded reqs
	log    *slog.Logger

	// failing is the class of the error that failed the last poll, or ""
	// after a success; a repeat of the same failure is logged at debug.
	failing string
	// failures counts consecutive failed polls.
	failures int
}

// Poller polls the devices on one bus. Create it with New and run it with
// Run; read its counters with Stats from any goroutine. The Poller does not
// own the Port: its caller closes it.
type Poller struct {
	port    Port
	log     *slog.Logger
	timeout time.Duration
	retries int
	gap     time.Duration // inter-frame silence
	silence time.Duration // gap that ends a frame being received
	char    time.Duration // one character on the wire
	devices []*device

	running atomic.Bool

	// Owned by the goroutine in Run.
	buf          [MaxFrame]byte
	lastActivity time.Time // last byte sent or received
	lastDevice   *device   // device of the last request, for stray bytes

	mu    sync.Mutex // guards stats
	stats []Stats
}

// New validates cfg, applies its defaults and returns a Poller for the bus
// behind port. A nil logger discards logs.
func New(cfg Config, port Port, logger *slog.Logger) (*Poller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("modbus config: %w", err)
	}
	if port == nil {
		return nil, errors.New("modbus: nil port")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Baud == 0 {
		cfg.Baud = DefaultBaud
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	p := &Poller{
		port:    port,
		log:     logger,
		timeout: cfg.Timeout,
		retries: cfg.Retries,
		gap:     FrameGap(cfg.Baud),
		silence: max(FrameGap(cfg.Baud), minSilence),
		char:    charTime(cfg.Baud),
	}
	for _, d := range cfg.Devices {
		if d.Interval == 0 {
			d.Interval = DefaultInterval
		}
		dev := &device{Device: d, idx: len(p.devices), sensor: d.Sensor, kind: d.kind()}
		if dev.sensor == "" {
			dev.sensor = d.Name
		}
		dev.Points = slices.Clone(d.Points)
		dev.reqs = plan(d.Slave, d.Points)
		for _, r := range dev.reqs {
			f, err := r.Encode()
			if err != nil {
				return nil, fmt.Errorf("modbus config: device %q: %w", d.Name, err)
			}
			dev.frames = append(dev.frames, f)
		}
		dev.log = logger.With("device", d.Name, "sensor", dev.sensor, "slave", int(d.Slave))
		p.devices = append(p.devices, dev)
		p.stats = append(p.stats, Stats{Name: d.Name, Sensor: dev.sensor, Slave: d.Slave})
	}
	return p, nil
}

// Stats returns a copy of every device's counters, in config order.
func (p *Poller) Stats() []Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Stats(nil), p.stats...)
}

func (p *Poller) count(i int, f func(s *Stats)) {
	p.mu.Lock()
	f(&p.stats[i])
	p.mu.Unlock()
}

// Run polls the devices until ctx is done, handing each successful poll to
// sink as a reading and each bad frame to sink.Quarantine. Timeouts and
// exception responses are logged and counted; polling goes on.
//
// Run returns nil when ctx is done (within about one response timeout, as
// a read in progress is not interrupted), or an error when the port fails:
// a read or write error other than a timeout, such as a USB adapter
// unplugged. Run may be called again once the port works again (a Port
// that reopens its device underneath makes that transparent); the
// counters carry on. Only one Run may be active at a time.
func (p *Poller) Run(ctx context.Context, sink sensors.Sink) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("modbus: Run is already running")
	}
	defer p.running.Store(false)

	now := time.Now()
	next := make([]time.Time, len(p.devices))
	for i := range next {
		next[i] = now
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		i := 0
		for j := range next {
			if next[j].Before(next[i]) {
				i = j
			}
		}
		if wait := time.Until(next[i]); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := p.poll(ctx, i, sink); err != nil {
			return err
		}
		next[i] = advance(next[i], p.devices[i].Interval, time.Now())
	}
}

// advance returns the first tick of the schedule due, due+interval, …
// after now: a device that fell behind skips the polls it missed rather
// than catching up in a burst.
func advance(due time.Time, interval time.Duration, now time.Time) time.Time {
	due = due.Add(interval)
	if !due.After(now) {
		due = due.Add((now.Sub(due)/interval + 1) * interval)
	}
	return due
}

// busError is a failure of the port itself, which ends Run.
type busError struct {
	op  string
	err error
}

func (e *busError) Error() string { return fmt.Sprintf("modbus: %s bus: %v", e.op, e.err) }
func (e *busError) Unwrap() error { return e.err }

// ErrTimeout is wrapped by the error of a poll whose request drew no
// response within the timeout, on every attempt.
var ErrTimeout = errors.New("modbus: no response")

// errNotSilent fails a poll when the bus carries traffic nobody asked for
// for longer than a response timeout.
var errNotSilent = errors.New("modbus: bus never went silent before the request (another master on the line, or noise?)")

// poll reads every block of device i and hands on the reading. It returns
// an error only when the port failed.
func (p *Poller) poll(ctx context.Context, i int, sink sensors.Sink) error {
	dev := p.devices[i]
	p.count(i, func(s *Stats) { s.Polls++ })

	regs := make(map[Address]uint16)
	var raw []byte
	for b, req := range dev.reqs {
		frame, values, err := p.transact(ctx, i, req, dev.frames[b], sink)
		if err != nil {
			var be *busError
			if errors.As(err, &be) {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
			p.failed(i, req, err)
			return nil
		}
		raw = append(raw, frame...)
		for k, v := range values {
			regs[Address{req.Function, req.Start + uint16(k)}] = v
		}
	}
	data, err := Data(dev.Points, regs)
	if err != nil {
		// plan covers every point, so this cannot happen; fail the poll
		// rather than the gateway if it does.
		p.failed(i, dev.reqs[0], err)
		return nil
	}
	data[FieldProbe] = dev.Name

	p.count(i, func(s *Stats) { s.OK++; s.LastOK = time.Now() })
	if dev.failing != "" {
		dev.log.Info("modbus device answering again", "failed_polls", dev.failures)
		dev.failing, dev.failures = "", 0
	}
	r := sensors.Reading{Sensor: dev.sensor, Kind: dev.kind, Data: data, Raw: raw}
	if err := sink.Accept(ctx, r); err != nil && ctx.Err() == nil {
		dev.log.Warn("modbus reading not accepted", "err", err)
	}
	return nil
}

// failed records and logs a failed poll. The first of a run of like
// failures is a warning; repeats go to debug so a dead slave does not
// flood the log (the counters keep the tally).
func (p *Poller) failed(i int, req Request, err error) {
	dev := p.devices[i]
	now := time.Now()
	msg := fmt.Sprintf("%v (request: %s)", err, req)
	p.count(i, func(s *Stats) { s.LastError = msg; s.LastErrorAt = now })

	class := "other"
	var ex *ExceptionError
	switch {
	case errors.Is(err, ErrTimeout):
		class = "timeout"
	case errors.As(err, &ex):
		class = fmt.Sprintf("exception %d", ex.Code)
	case errors.Is(err, ErrBadFrame):
		class = "bad frame"
	}
	dev.failures++
	level := slog.LevelWarn
	if class == dev.failing {
		level = slog.LevelDebug
	}
	dev.failing = class
	dev.log.Log(context.Background(), level, "modbus poll failed",
		"err", err, "request", req.String(), "failed_polls", dev.failures)
}

// transact sends one request, with retries, and returns the response frame
// and its values. Bad frames are quarantined and counted here.
func (p *Poller) transact(ctx context.Context, i int, req Request, reqFrame []byte, sink sensors.Sink) ([]byte, []uint16, error) {
	dev := p.devices[i]
	var lastErr error
	attempts := 0
	for attempt := 0; attempt <= p.retries; attempt++ {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		attempts++
		frame, err := p.exchange(ctx, dev, req, reqFrame, sink)
		if err != nil {
			var be *busError
			if errors.As(err, &be) {
				return nil, nil, err
			}
			lastErr = err
			continue
		}
		if len(frame) == 0 {
			p.count(i, func(s *Stats) { s.Timeouts++ })
			lastErr = fmt.Errorf("%w from slave %d within %v (%s)", ErrTimeout, req.Slave, p.timeout, plural(attempts, "attempt"))
			dev.log.Debug("modbus request timed out", "request", req.String(), "attempt", attempts)
			continue
		}
		values, err := ParseResponse(frame, req)
		if err == nil {
			return frame, values, nil
		}
		var ex *ExceptionError
		if errors.As(err, &ex) {
			p.count(i, func(s *Stats) { s.Exceptions++ })
			return nil, nil, err
		}
		if errors.Is(err, ErrCRC) {
			p.count(i, func(s *Stats) { s.CRCErrors++ })
		} else {
			p.count(i, func(s *Stats) { s.BadFrames++ })
		}
		sink.Quarantine(ctx, dev.sensor, fmt.Sprintf("%v (%s)", err, req), frame)
		dev.log.Debug("modbus bad frame", "request", req.String(), "attempt", attempts, "err", err)
		lastErr = err
	}
	return nil, nil, lastErr
}

// exchange keeps the inter-frame silence, sends one request and reads what
// comes back: the whole response, a part of one when it stopped early, or
// nothing (an empty frame) when nothing came before the timeout.
func (p *Poller) exchange(ctx context.Context, dev *device, req Request, reqFrame []byte, sink sensors.Sink) ([]byte, error) {
	if err := p.awaitSilence(ctx, sink); err != nil {
		return nil, err
	}
	p.lastDevice = dev
	if _, err := p.port.Write(reqFrame); err != nil {
		return nil, &busError{"write to", err}
	}
	sent := time.Now()
	p.lastActivity = sent
	// Write may return while the request is still leaving the UART.
	deadline := sent.Add(time.Duration(len(reqFrame))*p.char + p.timeout)

	buf := p.buf[:0]
	want := minFrameLen
	for len(buf) < want {
		// The timeout bounds the wait for the first byte; after it, the
		// frame ends at its length or at a silence.
		wait := time.Until(deadline)
		if len(buf) > 0 {
			wait = p.silence - time.Since(p.lastActivity)
		}
		if wait <= 0 {
			break // nothing came, or the frame stopped short
		}
		n, err := p.read(buf[len(buf):want], wait)
		if n > 0 {
			buf = buf[:len(buf)+n]
			p.lastActivity = time.Now()
			if w := expectedLen(buf, req); w > 0 {
				want = w
			} else if len(buf) >= 3 {
				// Neither the answer nor its exception: read to silence.
				want = MaxFrame
			}
		}
		if err != nil {
			return nil, &busError{"read from", err}
		}
	}
	// buf aliases p.buf; the caller keeps the frame, so copy it.
	return append([]byte(nil), buf...), nil
}

// awaitSilence waits until the bus has been quiet for the inter-frame gap,
// reading off anything still arriving (a late answer to a request that
// timed out, noise) and quarantining it against the device polled last.
func (p *Poller) awaitSilence(ctx context.Context, sink sensors.Sink) error {
	var stray []byte
	var scratch [MaxFrame]byte
	limit := time.Now().Add(p.timeout)
	wait := max(p.gap-time.Since(p.lastActivity), time.Millisecond)
	for {
		n, err := p.read(scratch[:], wait)
		if n > 0 {
			p.lastActivity = time.Now()
			if room := MaxFrame - len(stray); room > 0 {
				stray = append(stray, scratch[:min(n, room)]...)
			}
		}
		if err != nil {
			return &busError{"read from", err}
		}
		if n == 0 && time.Since(p.lastActivity) >= p.gap {
			break
		}
		if time.Now().After(limit) {
			p.quarantineStray(ctx, sink, stray)
			return errNotSilent
		}
		wait = max(p.gap-time.Since(p.lastActivity), time.Millisecond)
	}
	p.quarantineStray(ctx, sink, stray)
	return nil
}

func (p *Poller) quarantineStray(ctx context.Context, sink sensors.Sink, stray []byte) {
	if len(stray) == 0 || p.lastDevice == nil {
		return
	}
	dev := p.lastDevice
	p.count(dev.idx, func(s *Stats) { s.BadFrames++ })
	reason := fmt.Sprintf("%v: %d unexpected bytes between frames (late answer or noise)", ErrBadFrame, len(stray))
	sink.Quarantine(ctx, dev.sensor, reason, stray)
	dev.log.Debug("modbus stray bytes on bus", "bytes", len(stray))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// read reads into b, waiting at most d. A timeout is (0, nil).
func (p *Poller) read(b []byte, d time.Duration) (int, error) {
	if err := p.port.SetReadTimeout(d); err != nil {
		return 0, err
	}
	n, err := p.port.Read(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return n, err
}
