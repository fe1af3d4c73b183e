//go:build linux

package modbus

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/tallygw/tally/sensors"
)

// The tests here run the Poller against a Modbus RTU slave written below,
// on the other end of a real pseudo-terminal: the Poller opens nothing
// itself, it gets the tty end as its Port, as it would get /dev/ttyUSB0.

// openBus returns the two ends of a pty: the tty in raw mode, wrapped as
// the Poller's Port, and the master end for the test slave. Both support
// deadlines, so closing either unblocks readers.
func openBus(t *testing.T) (tty *os.File, bus *os.File) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	makeRaw(t, tty)
	bus = pollable(t, ptmx)
	t.Cleanup(func() {
		// Errors are expected here when a test closed an end itself.
		if err := tty.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			t.Errorf("close tty: %v", err)
		}
		if err := bus.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			t.Errorf("close pty master: %v", err)
		}
	})
	return tty, bus
}

// makeRaw puts a tty into raw mode, as a serial port for binary protocols
// is: no echo, no line editing, no CR/LF translation, 8 data bits. It goes
// through SyscallConn because File.Fd would turn off deadlines.
func makeRaw(t *testing.T, f *os.File) {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		tio, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = err
			return
		}
		tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		tio.Oflag &^= unix.OPOST
		tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Cflag &^= unix.CSIZE | unix.PARENB
		tio.Cflag |= unix.CS8
		tio.Cc[unix.VMIN] = 1
		tio.Cc[unix.VTIME] = 0
		ioErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, tio)
	})
	if err == nil {
		err = ioErr
	}
	if err != nil {
		t.Fatalf("raw mode on %s: %v", f.Name(), err)
	}
}

// pollable returns a non-blocking duplicate of f registered with the
// runtime poller, and closes f. pty.Open leaves the master end blocking,
// which would leave a reader stuck after Close.
func pollable(t *testing.T, f *os.File) *os.File {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	dup := -1
	var dupErr error
	if err := rc.Control(func(fd uintptr) { dup, dupErr = unix.Dup(int(fd)) }); err != nil || dupErr != nil {
		t.Fatalf("dup pty master: %v %v", err, dupErr)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(dup), "ptmx")
}

// slaveDevice is one simulated transmitter: a register map, answered the
// way a real device answers (exception 01 for functions it lacks, 02 for
// registers it does not have).
type slaveDevice map[Address]uint16

func (d slaveDevice) answer(req Request) []byte {
	if req.Function != FuncReadHoldingRegisters && req.Function != FuncReadInputRegisters {
		return EncodeException(req.Slave, req.Function, ExceptionIllegalFunction)
	}
	if req.Count < 1 || req.Count > MaxRegisters {
		return EncodeException(req.Slave, req.Function, ExceptionIllegalDataValue)
	}
	values := make([]uint16, req.Count)
	for i := range values {
		v, ok := d[Address{req.Function, req.Start + uint16(i)}]
		if !ok {
			return EncodeException(req.Slave, req.Function, ExceptionIllegalDataAddress)
		}
		values[i] = v
	}
	frame, err := EncodeResponse(req.Slave, req.Function, values)
	if err != nil {
		panic(err) // count checked above
	}
	return frame
}

// answerFunc decides the answer to the nth request (from 1) a slave
// address received: the frame (nil for silence) and how long to wait first.
type answerFunc func(req Request, nth int) (frame []byte, delay time.Duration)

// testSlave reads requests off the bus and answers them.
type testSlave struct {
	bus    *os.File
	answer answerFunc
	done   chan struct{}

	mu        sync.Mutex // guards the fields below
	requests  map[byte]int
	lastWrite time.Time     // start of the last answer; zero once the next request came
	minGap    time.Duration // shortest silence seen from an answer to the next request
}

func startSlave(t *testing.T, bus *os.File, answer answerFunc) *testSlave {
	s := &testSlave{bus: bus, answer: answer, done: make(chan struct{}), requests: map[byte]int{}, minGap: time.Hour}
	go s.run()
	t.Cleanup(func() {
		if err := bus.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			t.Errorf("close bus: %v", err)
		}
		<-s.done
	})
	return s
}

func (s *testSlave) run() {
	defer close(s.done)
	var pending []byte
	buf := make([]byte, MaxFrame)
	for {
		n, err := s.bus.Read(buf)
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		if len(pending) == 0 && !s.lastWrite.IsZero() {
			s.minGap = min(s.minGap, time.Since(s.lastWrite))
			s.lastWrite = time.Time{}
		}
		s.mu.Unlock()
		pending = append(pending, buf[:n]...)
		for len(pending) >= requestLen {
			req, err := ParseRequest(pending[:requestLen])
			if err != nil {
				pending = pending[1:] // resynchronise
				continue
			}
			pending = pending[requestLen:]
			s.mu.Lock()
			s.requests[req.Slave]++
			nth := s.requests[req.Slave]
			s.mu.Unlock()
			frame, delay := s.answer(req, nth)
			if frame == nil {
				continue
			}
			time.Sleep(delay)
			// Taken before the write: the poller cannot see the answer
			// earlier, so the gap measured from here is a lower bound.
			before := time.Now()
			if _, err := s.bus.Write(frame); err != nil {
				return
			}
			s.mu.Lock()
			s.lastWrite = before
			s.mu.Unlock()
		}
	}
}

func (s *testSlave) gap() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.minGap
}

// recordSink is a sensors.Sink that keeps what it is given.
type recordSink struct {
	mu          sync.Mutex
	readings    []sensors.Reading
	quarantined []quarantined
}

type quarantined struct {
	sensor, reason string
	raw            []byte
}

func (s *recordSink) Accept(ctx context.Context, r sensors.Reading) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readings = append(s.readings, r)
	return nil
}

func (s *recordSink) Quarantine(ctx context.Context, sensor, reason string, raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quarantined = append(s.quarantined, quarantined{sensor, reason, bytes.Clone(raw)})
}

func (s *recordSink) probeReadings(probe string) []sensors.Reading {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sensors.Reading
	for _, r := range s.readings {
		if r.Data[FieldProbe] == probe {
			out = append(out, r)
		}
	}
	return out
}

func (s *recordSink) quarantine() []quarantined {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]quarantined(nil), s.quarantined...)
}

// logBuffer collects log output from the Run goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// runPoller runs p in the background. stop cancels it and returns Run's
// error; done is closed when Run has returned.
func runPoller(t *testing.T, p *Poller, sink sensors.Sink) (stop func() error, done <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	var err error // Run's result, written before finished is closed
	go func() {
		defer close(finished)
		err = p.Run(ctx, sink)
	}()
	stop = func() error {
		cancel()
		select {
		case <-finished:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5s of cancellation")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop, finished
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func statsOf(p *Poller, name string) Stats {
	for _, s := range p.Stats() {
		if s.Name == name {
			return s
		}
	}
	return Stats{}
}

func TestPollerEndToEnd(t *testing.T) {
	tty, bus := openBus(t)

	devices := map[byte]slaveDevice{
		// Slave 1: input registers, tenths of a degree and of a percent.
		1: {{4, 1}: 0xFF38, {4, 2}: 600},
		// Slave 2: holding registers, a 32-bit hundredths value and a
		// humidity in tenths (the vector's 0x012C).
		2: {{3, 0x10}: 0x0000, {3, 0x11}: 0x0866, {3, 0x12}: 0x012C},
		// Slave 3 is configured below but never answers.
	}
	var (
		mu                      sync.Mutex // guards corrupted, misaddressed
		corrupted, misaddressed []byte
	)
	slave := startSlave(t, bus, func(req Request, nth int) ([]byte, time.Duration) {
		d, ok := devices[req.Slave]
		if !ok {
			return nil, 0
		}
		frame := d.answer(req)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case req.Slave == 1 && nth == 3:
			// One burst of line noise: the poller must quarantine the
			// frame and retry.
			frame[4] ^= 0x10
			corrupted = bytes.Clone(frame)
		case req.Slave == 2 && req.Start == 0x10 && nth == 5:
			// An address clash: a response from slave 5.
			frame[0] = 5
			frame = AppendCRC(frame[:len(frame)-2])
			misaddressed = bytes.Clone(frame)
		}
		return frame, 0
	})

	cfg := Config{
		Baud: 9600,
		// Long enough that a loaded test machine does not make a healthy
		// slave late (its answer would then be quarantined as stray).
		Timeout: 300 * time.Millisecond,
		Retries: 1,
		Devices: []Device{
			{Name: "hold-1", Sensor: "reefer-7", Slave: 1, Interval: 40 * time.Millisecond, Points: []Point{
				{Field: FieldCelsius, Function: 4, Register: 1, Signed: true, Scale: 0.1, Unit: "°C"},
				{Field: FieldHumidityPct, Function: 4, Register: 2, Scale: 0.1, Unit: "%RH"},
			}},
			{Name: "bay-2", Slave: 2, Interval: 40 * time.Millisecond, Points: []Point{
				{Field: FieldCelsius, Function: 3, Register: 0x10, Words: 2, Signed: true, Scale: 0.01},
				{Field: FieldHumidityPct, Function: 3, Register: 0x12, Scale: 0.1},
			}},
			{Name: "bay-2-door", Slave: 2, Interval: 40 * time.Millisecond, Points: []Point{
				{Field: FieldCelsius, Function: 3, Register: 0x99, Scale: 0.1}, // not mapped in slave 2
			}},
			{Name: "dead-3", Slave: 3, Interval: 40 * time.Millisecond, Points: []Point{
				{Field: FieldCelsius, Function: 4, Register: 1},
			}},
		},
	}
	var logs logBuffer
	p, err := New(cfg, DeadlinePort(tty), logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordSink{}
	stop, _ := runPoller(t, p, sink)

	// The dead slave fails its first poll (two attempts) ...
	waitFor(t, 10*time.Second, "dead-3 to time out twice", func() bool { return statsOf(p, "dead-3").Timeouts >= 2 })
	before := len(sink.probeReadings("hold-1"))
	// ... and the healthy ones keep being polled while it stays dead.
	waitFor(t, 20*time.Second, "more readings and failures", func() bool {
		return len(sink.probeReadings("hold-1")) >= before+4 &&
			len(sink.probeReadings("bay-2")) >= 6 &&
			statsOf(p, "dead-3").Timeouts >= 6 &&
			statsOf(p, "bay-2-door").Exceptions >= 3
	})
	if err := stop(); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}

	// Readings carry the decoded values, the raw frame and nothing else.
	wantRaw, _ := EncodeResponse(1, 4, []uint16{0xFF38, 600})
	for _, r := range sink.probeReadings("hold-1") {
		want := map[string]any{FieldCelsius: -20.0, FieldHumidityPct: 60.0, FieldProbe: "hold-1"}
		if r.Sensor != "reefer-7" || r.Kind != sensors.KindTemperature || !maps.Equal(r.Data, want) ||
			!bytes.Equal(r.Raw, wantRaw) || r.MsgID != "" || !r.Time.IsZero() || r.Clock != "" {
			t.Fatalf("hold-1 reading = %+v, want Data %v, Raw % X", r, want, wantRaw)
		}
	}
	wantRaw, _ = EncodeResponse(2, 3, []uint16{0x0000, 0x0866, 0x012C})
	for _, r := range sink.probeReadings("bay-2") {
		want := map[string]any{FieldCelsius: 21.5, FieldHumidityPct: 30.0, FieldProbe: "bay-2"}
		if r.Sensor != "bay-2" || r.Kind != sensors.KindTemperature || !maps.Equal(r.Data, want) || !bytes.Equal(r.Raw, wantRaw) {
			t.Fatalf("bay-2 reading = %+v, want Data %v, Raw % X", r, want, wantRaw)
		}
	}
	for _, probe := range []string{"bay-2-door", "dead-3"} {
		if n := len(sink.probeReadings(probe)); n != 0 {
			t.Errorf("%d readings from %s, want none", n, probe)
		}
	}

	// Bad frames went to quarantine with their bytes and the reason.
	mu.Lock()
	defer mu.Unlock()
	q := sink.quarantine()
	var sawCRC, sawSlave bool
	for _, e := range q {
		switch {
		case e.sensor == "reefer-7" && strings.Contains(e.reason, "crc mismatch") && bytes.Equal(e.raw, corrupted):
			sawCRC = true
		case e.sensor == "bay-2" && strings.Contains(e.reason, "response from slave 5, request was to slave 2") && bytes.Equal(e.raw, misaddressed):
			sawSlave = true
		default:
			t.Errorf("unexpected quarantine entry %+v", e)
		}
	}
	if !sawCRC || !sawSlave {
		t.Errorf("quarantine = %+v; want the corrupted frame % X and the misaddressed % X", q, corrupted, misaddressed)
	}

	// Counters.
	hold, bay, door, dead := statsOf(p, "hold-1"), statsOf(p, "bay-2"), statsOf(p, "bay-2-door"), statsOf(p, "dead-3")
	if hold.CRCErrors != 1 || hold.BadFrames != 0 || hold.Timeouts != 0 || hold.OK != hold.Polls && hold.OK+1 != hold.Polls {
		t.Errorf("hold-1 stats = %+v", hold)
	}
	if bay.BadFrames != 1 || bay.CRCErrors != 0 || bay.Timeouts != 0 || bay.OK < 6 {
		t.Errorf("bay-2 stats = %+v", bay)
	}
	if door.OK != 0 || door.Exceptions < 3 || door.Exceptions > door.Polls || !strings.Contains(door.LastError, "exception 0x02 (illegal data address)") {
		t.Errorf("bay-2-door stats = %+v", door)
	}
	if dead.OK != 0 || dead.Timeouts < 6 || dead.Timeouts > 2*dead.Polls || !strings.Contains(dead.LastError, "no response from slave 3") {
		t.Errorf("dead-3 stats = %+v", dead)
	}
	if hold.LastOK.IsZero() || dead.LastErrorAt.IsZero() {
		t.Errorf("LastOK/LastErrorAt not set: %+v %+v", hold, dead)
	}

	// Failures are logged with their meaning: once as a warning, then
	// at debug while they repeat.
	out := logs.String()
	for _, want := range []string{
		`level=WARN msg="modbus poll failed" device=bay-2-door sensor=bay-2-door slave=2 err="modbus: slave 2 refused function 0x03: exception 0x02 (illegal data address)"`,
		`level=WARN msg="modbus poll failed" device=dead-3 sensor=dead-3 slave=3 err="modbus: no response from slave 3 within 300ms (2 attempts)"`,
		`level=DEBUG msg="modbus poll failed" device=dead-3`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if n := strings.Count(out, `level=WARN msg="modbus poll failed" device=dead-3`); n != 1 {
		t.Errorf("dead-3 warned %d times, want once", n)
	}

	// The bus was quiet for at least 3.5 characters before every request.
	if g := slave.gap(); g < FrameGap(9600) {
		t.Errorf("shortest silence before a request %v, want >= %v", g, FrameGap(9600))
	}
}

func TestPollerSlaveComesBack(t *testing.T) {
	tty, bus := openBus(t)
	var mu sync.Mutex
	alive := false
	startSlave(t, bus, func(req Request, nth int) ([]byte, time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if !alive {
			return nil, 0
		}
		return slaveDevice{{4, 0}: 215}.answer(req), 0
	})
	cfg := Config{Baud: 19200, Timeout: 50 * time.Millisecond, Devices: []Device{{
		Name: "probe", Slave: 7, Interval: 20 * time.Millisecond,
		Points: []Point{{Field: FieldCelsius, Function: 4, Scale: 0.1}},
	}}}
	var logs logBuffer
	p, err := New(cfg, DeadlinePort(tty), logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordSink{}
	runPoller(t, p, sink)
	waitFor(t, 10*time.Second, "timeouts", func() bool { return statsOf(p, "probe").Timeouts >= 2 })
	mu.Lock()
	alive = true
	mu.Unlock()
	waitFor(t, 10*time.Second, "a reading", func() bool { return len(sink.probeReadings("probe")) >= 1 })
	if r := sink.probeReadings("probe")[0]; r.Data[FieldCelsius] != 21.5 {
		t.Errorf("reading = %+v", r)
	}
	if !strings.Contains(logs.String(), `level=INFO msg="modbus device answering again" device=probe`) {
		t.Errorf("no recovery logged:\n%s", logs.String())
	}
}

func TestPollerMisbehavingSlaves(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		answer  func(frame []byte) ([]byte, time.Duration)
		reason  string
		stats   func(s Stats) bool
	}{
		{
			name:    "short frame",
			timeout: 300 * time.Millisecond,
			answer:  func(frame []byte) ([]byte, time.Duration) { return frame[:5], 0 },
			reason:  "short frame: 5 bytes, its header implies 7",
			stats:   func(s Stats) bool { return s.BadFrames >= 2 && s.OK == 0 },
		},
		{
			name: "late answer",
			// Answers after the poller gave up: the bytes are read off
			// the bus before the next request, and quarantined.
			timeout: 100 * time.Millisecond,
			answer:  func(frame []byte) ([]byte, time.Duration) { return frame, 300 * time.Millisecond },
			reason:  "unexpected bytes between frames",
			stats:   func(s Stats) bool { return s.BadFrames >= 1 && s.Timeouts >= 2 && s.OK == 0 },
		},
		{
			name:    "wrong function",
			timeout: 300 * time.Millisecond,
			answer: func(frame []byte) ([]byte, time.Duration) {
				frame[1] = 0x06
				return AppendCRC(frame[:len(frame)-2]), 0
			},
			reason: "response has function 0x06, request was 0x04",
			stats:  func(s Stats) bool { return s.BadFrames >= 2 && s.OK == 0 },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tty, bus := openBus(t)
			startSlave(t, bus, func(req Request, nth int) ([]byte, time.Duration) {
				return tc.answer(slaveDevice{{4, 0}: 215}.answer(req))
			})
			cfg := Config{Baud: 9600, Timeout: tc.timeout, Devices: []Device{{
				Name: "probe", Slave: 9, Interval: 500 * time.Millisecond,
				Points: []Point{{Field: FieldCelsius, Function: 4, Scale: 0.1}},
			}}}
			p, err := New(cfg, DeadlinePort(tty), nil)
			if err != nil {
				t.Fatal(err)
			}
			sink := &recordSink{}
			stop, _ := runPoller(t, p, sink)
			waitFor(t, 10*time.Second, "bad frames counted", func() bool { return tc.stats(statsOf(p, "probe")) })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			q := sink.quarantine()
			found := false
			for _, e := range q {
				if e.sensor == "probe" && strings.Contains(e.reason, tc.reason) && len(e.raw) > 0 {
					found = true
				}
			}
			if !found {
				t.Errorf("quarantine = %+v, want an entry saying %q", q, tc.reason)
			}
			if n := len(sink.probeReadings("probe")); n != 0 {
				t.Errorf("%d readings, want none", n)
			}
		})
	}
}

func TestPollerPortLost(t *testing.T) {
	tty, bus := openBus(t)
	slave := startSlave(t, bus, func(req Request, nth int) ([]byte, time.Duration) {
		return slaveDevice{{4, 0}: 215}.answer(req), 0
	})
	cfg := Config{Timeout: 100 * time.Millisecond, Devices: []Device{{
		Name: "probe", Slave: 1, Interval: 20 * time.Millisecond,
		Points: []Point{{Field: FieldCelsius, Function: 4}},
	}}}
	p, err := New(cfg, DeadlinePort(tty), nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordSink{}
	stop, done := runPoller(t, p, sink)
	waitFor(t, 10*time.Second, "a reading", func() bool { return len(sink.probeReadings("probe")) >= 1 })

	// Unplug the adapter: the other end of the pty goes away.
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	<-slave.done
	select {
	case <-done:
		err := stop()
		var be *busError
		if err == nil || !errors.As(err, &be) {
			t.Fatalf("Run = %v, want a bus error", err)
		}
		t.Logf("Run returned: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the port went away")
	}
}

func TestPollerRunTwice(t *testing.T) {
	tty, bus := openBus(t)
	startSlave(t, bus, func(req Request, nth int) ([]byte, time.Duration) { return nil, 0 })
	cfg := validConfig()
	cfg.Timeout = 20 * time.Millisecond
	p, err := New(cfg, DeadlinePort(tty), nil)
	if err != nil {
		t.Fatal(err)
	}
	runPoller(t, p, &recordSink{})
	waitFor(t, 5*time.Second, "first poll", func() bool { return statsOf(p, "supply").Polls >= 1 })
	if err := p.Run(context.Background(), &recordSink{}); err == nil {
		t.Error("second concurrent Run succeeded")
	}
}

func TestNewErrors(t *testing.T) {
	tty, _ := openBus(t)
	if _, err := New(Config{}, DeadlinePort(tty), nil); err == nil || !strings.HasPrefix(err.Error(), "modbus config: devices: none") {
		t.Errorf("New(empty config) = %v", err)
	}
	if _, err := New(validConfig(), nil, nil); err == nil {
		t.Error("New with nil port succeeded")
	}
}
