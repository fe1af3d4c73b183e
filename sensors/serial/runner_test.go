package serial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors"
)

// tempDecoder is a trivial line protocol: "T=<n>" is a temperature
// reading; "H=<n>" is held back until Flush (as NMEA holds an epoch that
// has not closed); anything else is an error.
type tempDecoder struct {
	mu      sync.Mutex // guards flushes; Decode and Flush run on one goroutine
	held    *sensors.Reading
	flushes int
}

func (d *tempDecoder) Decode(line []byte, recv time.Time) ([]sensors.Reading, error) {
	s := string(line)
	var out []sensors.Reading
	switch {
	case strings.HasPrefix(s, "T="), strings.HasPrefix(s, "H="):
		n, err := strconv.ParseFloat(s[2:], 64)
		if err != nil {
			return out, fmt.Errorf("not a number: %q", s[2:])
		}
		r := sensors.Reading{Sensor: "probe1", Kind: sensors.KindTemperature, Data: map[string]any{"celsius": n}, Raw: bytes.Clone(line)}
		if s[0] == 'H' {
			d.held = &r
			return out, nil
		}
		return append(out, r), nil
	}
	return out, fmt.Errorf("not T=<n>: %q", s)
}

func (d *tempDecoder) Flush() []sensors.Reading {
	d.mu.Lock()
	d.flushes++
	d.mu.Unlock()
	if d.held == nil {
		return nil
	}
	r := *d.held
	d.held = nil
	return []sensors.Reading{r}
}

func (d *tempDecoder) Flushes() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.flushes
}

type quarantined struct {
	sensor, reason string
	raw            []byte
}

// testSink records what it is given; refuse, when set, makes Accept fail.
type testSink struct {
	refuse func(r sensors.Reading) bool

	mu       sync.Mutex // guards the slices
	readings []sensors.Reading
	quar     []quarantined
}

func (s *testSink) Accept(ctx context.Context, r sensors.Reading) error {
	if s.refuse != nil && s.refuse(r) {
		return errors.New("store full")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readings = append(s.readings, r)
	return nil
}

func (s *testSink) Quarantine(ctx context.Context, sensor, reason string, raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quar = append(s.quar, quarantined{sensor, reason, bytes.Clone(raw)})
}

// celsius returns the temperatures of the readings so far.
func (s *testSink) celsius() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []float64
	for _, r := range s.readings {
		out = append(out, r.Data["celsius"].(float64))
	}
	return out
}

func (s *testSink) quarantined() []quarantined {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]quarantined(nil), s.quar...)
}

// logRecorder is a slog handler that keeps the messages.
type logRecorder struct {
	mu   *sync.Mutex // guards msgs
	msgs *[]string
}

func newLogRecorder() logRecorder { return logRecorder{mu: new(sync.Mutex), msgs: new([]string)} }

func (l logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l logRecorder) WithGroup(string) slog.Handler            { return l }
func (l logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	*l.msgs = append(*l.msgs, b.String())
	l.mu.Unlock()
	return nil
}

// count returns how many messages start with msg.
func (l logRecorder) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range *l.msgs {
		if strings.HasPrefix(m, msg) {
			n++
		}
	}
	return n
}

func (l logRecorder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(*l.msgs, "\n")
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testConfig(port string) Config {
	return Config{
		Port:         port,
		Baud:         4800,
		ReadTimeout:  20 * time.Millisecond,
		ReconnectMin: 10 * time.Millisecond,
		ReconnectMax: 40 * time.Millisecond,
	}
}

// startLines runs a LineRunner until the end of the test.
func startLines(t *testing.T, cfg Config, dec sensors.LineDecoder, sink sensors.Sink, opts LineOptions, logs logRecorder) *LineRunner {
	t.Helper()
	r, err := NewLineRunner(cfg, dec, sink, opts, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
		if st := r.Stats().State; st != StateClosed {
			t.Errorf("state after Run: %q", st)
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	})
	return r
}

func waitOpen(t *testing.T, r *LineRunner, opens uint64) {
	t.Helper()
	waitFor(t, "the port to open", func() bool { st := r.Stats(); return st.State == StateOpen && st.Opens >= opens })
}

func floatsEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Lines written into a pty come out as readings; what does not decode and
// over-long lines are quarantined with their raw bytes.
func TestRunLines(t *testing.T) {
	tp := newPTY(t)
	sink := &testSink{}
	logs := newLogRecorder()
	cfg := testConfig(byIDLink(t, tp.Path))
	cfg.MaxLine = 16
	r := startLines(t, cfg, &tempDecoder{}, sink, LineOptions{Sensor: "probe1"}, logs)
	waitOpen(t, r, 1)

	long := strings.Repeat("9", 40)
	input := "T=21.5\r\nT=2" + "2\r\n\r\ngarbage\r\nT=" + long + "\r\nT=23\n"
	for _, part := range []string{input[:5], input[5:13], input[13:]} {
		if _, err := tp.Master.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(t, "3 readings", func() bool { return r.Stats().Readings == 3 })
	if got := sink.celsius(); !floatsEqual(got, []float64{21.5, 22, 23}) {
		t.Errorf("readings %v", got)
	}
	q := sink.quarantined()
	want := []quarantined{
		{"probe1", `not T=<n>: "garbage"`, []byte("garbage")},
		{"probe1", "line longer than 16 bytes (got 43)", []byte("T=" + long + "\r")},
	}
	if len(q) != len(want) {
		t.Fatalf("quarantined %q, want %q", q, want)
	}
	for i := range q {
		if q[i].sensor != want[i].sensor || q[i].reason != want[i].reason || !bytes.Equal(q[i].raw, want[i].raw) {
			t.Errorf("quarantined[%d] = %q, want %q", i, q[i], want[i])
		}
	}
	st := r.Stats()
	if st.Lines != 5 || st.Readings != 3 || st.Quarantined != 2 || st.State != StateOpen || st.Opens != 1 || st.Device != tp.Path {
		t.Errorf("stats %+v", st)
	}
	if logs.count("serial port open") != 1 {
		t.Errorf("log:\n%s", logs)
	}
}

// Pulling the adapter out mid-stream is logged once; the runner keeps
// trying, and when an adapter comes back under another device name behind
// the same by-id link, readings resume without a restart.
func TestRunLinesReplug(t *testing.T) {
	first := newPTY(t)
	port := byIDLink(t, first.Path)
	sink := &testSink{}
	logs := newLogRecorder()
	dec := &tempDecoder{}
	r := startLines(t, testConfig(port), dec, sink, LineOptions{Sensor: "probe1"}, logs)
	waitOpen(t, r, 1)

	// H=2 is held by the decoder; T=3 has no line end yet.
	if _, err := first.Master.Write([]byte("T=1\nH=2\nT=3")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "T=1 and H=2 framed", func() bool { return r.Stats().Lines == 2 })

	// Unplug: the device node goes, and udev removes the by-id link.
	first.Unplug()
	if err := os.Remove(port); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "several failed reopen attempts", func() bool { return r.Stats().OpenErrors >= 5 })
	st := r.Stats()
	if st.State != StateReconnecting || st.Lost != 1 || !strings.Contains(st.LastError, "no such device") {
		t.Errorf("stats while unplugged: %+v", st)
	}
	if n := logs.count("serial port lost"); n != 1 {
		t.Errorf("%d \"serial port lost\" logs, want 1", n)
	}
	if n := logs.count("serial port unavailable"); n != 1 {
		t.Errorf("%d \"serial port unavailable\" logs for %d failed attempts, want 1", n, st.OpenErrors)
	}
	if dec.Flushes() != 1 {
		t.Errorf("decoder flushed %d times, want 1", dec.Flushes())
	}
	// The held reading came out of Flush; the cut-off T=3 is quarantined,
	// not decoded.
	if got := sink.celsius(); !floatsEqual(got, []float64{1, 2}) {
		t.Errorf("readings after the unplug %v, want [1 2]", got)
	}
	if q := sink.quarantined(); len(q) != 1 || string(q[0].raw) != "T=3" || q[0].reason != "incomplete line: the port was lost before its line end" {
		t.Errorf("quarantined after the unplug: %q", q)
	}

	// Re-plug: a new pty, under another name, and the link is made again.
	second := newPTYNot(t, first.Path)
	link(t, port, second.Path)
	waitOpen(t, r, 2)
	if _, err := second.Master.Write([]byte("T=4\r\nT=5\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "readings after the re-plug", func() bool { return len(sink.celsius()) == 4 })
	if got := sink.celsius(); !floatsEqual(got, []float64{1, 2, 4, 5}) {
		t.Errorf("readings %v", got)
	}
	st = r.Stats()
	if st.Device != second.Path || st.Reconnects != 1 || st.Opens != 2 || st.State != StateOpen {
		t.Errorf("stats after the re-plug: %+v", st)
	}
	if logs.count("serial port back") != 1 || logs.count("serial port lost") != 1 {
		t.Errorf("log:\n%s", logs)
	}
}

// A port that is not there at start is retried quietly until it appears.
func TestRunLinesLateDevice(t *testing.T) {
	port := filepath.Join(t.TempDir(), "usb-late-if00")
	sink := &testSink{}
	logs := newLogRecorder()
	r := startLines(t, testConfig(port), &tempDecoder{}, sink, LineOptions{Sensor: "probe1"}, logs)
	waitFor(t, "failed attempts", func() bool { return r.Stats().OpenErrors >= 3 })
	tp := newPTY(t)
	link(t, port, tp.Path)
	waitOpen(t, r, 1)
	if _, err := tp.Master.Write([]byte("T=7\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a reading", func() bool { return len(sink.celsius()) == 1 })
	if logs.count("serial port unavailable") != 1 || logs.count("serial port back") != 1 {
		t.Errorf("log:\n%s", logs)
	}
}

// Acks go back to the device only for readings the sink accepted.
func TestRunLinesAck(t *testing.T) {
	tp := newPTY(t)
	sink := &testSink{refuse: func(r sensors.Reading) bool { return r.Data["celsius"] == 2.0 }}
	logs := newLogRecorder()
	opts := LineOptions{
		Sensor: "seal1",
		Ack: func(r sensors.Reading) []byte {
			return fmt.Appendf(nil, "ACK %s\r\n", r.Raw)
		},
	}
	r := startLines(t, testConfig(tp.Path), &tempDecoder{}, sink, opts, logs)
	waitOpen(t, r, 1)
	if _, err := tp.Master.Write([]byte("T=1\r\nT=2\r\nbad\r\nT=3\r\n")); err != nil {
		t.Fatal(err)
	}
	want := "ACK T=1\r\nACK T=3\r\n"
	got := make([]byte, len(want))
	tp.ReadFull(t, got)
	if string(got) != want {
		t.Errorf("acks %q, want %q", got, want)
	}
	// Nothing more comes: no ack for the refused reading or the bad line.
	if err := tp.Master.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := tp.Master.Read(make([]byte, 64)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("extra bytes from the port: %d, %v", n, err)
	}
	waitFor(t, "the ack count", func() bool { return r.Stats().Acks == 2 })
	st := r.Stats()
	if st.Readings != 2 || st.Refused != 1 || st.Acks != 2 || st.Quarantined != 1 {
		t.Errorf("stats %+v", st)
	}
	if logs.count("reading not accepted") != 1 {
		t.Errorf("log:\n%s", logs)
	}
}

// Keep filters readings before the sink.
func TestRunLinesKeep(t *testing.T) {
	tp := newPTY(t)
	sink := &testSink{}
	opts := LineOptions{Sensor: "gps1", Keep: func(r sensors.Reading) bool { return r.Data["celsius"].(float64) >= 0 }}
	r := startLines(t, testConfig(tp.Path), &tempDecoder{}, sink, opts, newLogRecorder())
	waitOpen(t, r, 1)
	if _, err := tp.Master.Write([]byte("T=1\nT=-1\nT=2\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 lines", func() bool { return r.Stats().Lines == 3 })
	waitFor(t, "2 readings", func() bool { return len(sink.celsius()) == 2 })
	if got := sink.celsius(); !floatsEqual(got, []float64{1, 2}) {
		t.Errorf("readings %v", got)
	}
	if st := r.Stats(); st.Filtered != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestNewLineRunnerErrors(t *testing.T) {
	good := testConfig("/dev/ttyUSB0")
	tests := []struct {
		cfg  Config
		dec  sensors.LineDecoder
		sink sensors.Sink
		opts LineOptions
		want string
	}{
		{good, nil, &testSink{}, LineOptions{Sensor: "a"}, "serial: nil line decoder"},
		{good, &tempDecoder{}, nil, LineOptions{Sensor: "a"}, "serial: nil sink"},
		{good, &tempDecoder{}, &testSink{}, LineOptions{}, "serial: empty sensor id"},
		{Config{Port: "/dev/ttyUSB0", Baud: 12345}, &tempDecoder{}, &testSink{}, LineOptions{Sensor: "a"}, "serial config: baud: 12345 is not a standard rate"},
	}
	for _, tc := range tests {
		err := RunLines(context.Background(), tc.cfg, tc.dec, tc.sink, tc.opts, nil)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("RunLines = %v, want %s", err, tc.want)
		}
	}
}

// RunPort hands the open port to fn, and reopens it when fn reports it
// lost.
func TestRunPort(t *testing.T) {
	tp := newPTY(t)
	port := byIDLink(t, tp.Path)
	logs := newLogRecorder()
	calls := make(chan Port, 4)
	fn := func(ctx context.Context, p Port) error {
		calls <- p
		buf := make([]byte, 16)
		for ctx.Err() == nil {
			n, err := p.Read(buf)
			if err != nil {
				return err
			}
			if n > 0 {
				if _, err := p.Write(bytes.ToUpper(buf[:n])); err != nil {
					return err
				}
			}
		}
		return nil
	}
	r, err := NewPortRunner(testConfig(port), fn, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	<-calls
	if _, err := tp.Master.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	echo := make([]byte, 4)
	if tp.ReadFull(t, echo); string(echo) != "PING" {
		t.Fatalf("echo %q", echo)
	}

	tp.Unplug()
	waitFor(t, "the loss", func() bool { return r.Stats().Lost == 1 })
	tp2 := newPTY(t)
	link(t, port, tp2.Path)
	<-calls
	if _, err := tp2.Master.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if tp2.ReadFull(t, echo); string(echo) != "PONG" {
		t.Fatalf("echo after re-plug %q", echo)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	st := r.Stats()
	if st.Opens != 2 || st.Lost != 1 || st.State != StateClosed {
		t.Errorf("stats %+v", st)
	}
	if logs.count("serial port lost") != 1 || logs.count("serial port back") != 1 {
		t.Errorf("log:\n%s", logs)
	}
	if err := RunPort(context.Background(), testConfig(port), nil, nil); err == nil {
		t.Error("RunPort with nil fn: no error")
	}
}

// fakePort is what a USB adapter looks like to a reader after some
// unplugs: reads just time out.
type fakePort struct{}

func (fakePort) Read([]byte) (int, error)           { return 0, nil }
func (fakePort) Write(b []byte) (int, error)        { return len(b), nil }
func (fakePort) Close() error                       { return nil }
func (fakePort) SetReadTimeout(time.Duration) error { return nil }

// A read that times out while the device node has vanished is an error.
func TestWatchedPortVanished(t *testing.T) {
	node := filepath.Join(t.TempDir(), "ttyUSB0")
	if err := os.WriteFile(node, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w := &watchedPort{Port: fakePort{}, dev: node}
	if n, err := w.Read(make([]byte, 8)); n != 0 || err != nil {
		t.Fatalf("Read = %d, %v with the node there", n, err)
	}
	if err := os.Remove(node); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Read(make([]byte, 8)); err == nil || !strings.Contains(err.Error(), "vanished") {
		t.Fatalf("Read = %v with the node gone", err)
	}
}

func TestBackoff(t *testing.T) {
	const lo, hi = time.Second, 30 * time.Second
	tests := []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{0, 0, time.Second},
		{0, 0.99, time.Second}, // never below the minimum
		{1, 0, 2 * time.Second},
		{1, 0.5, 1500 * time.Millisecond},
		{3, 0, 8 * time.Second},
		{5, 0, 30 * time.Second},
		{5, 0.5, 22500 * time.Millisecond},
		{1000, 0, 30 * time.Second},
		{1000, 0.999, 15015 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := backoff(tc.n, lo, hi, tc.r); got != tc.want {
			t.Errorf("backoff(%d, r=%v) = %v, want %v", tc.n, tc.r, got, tc.want)
		}
	}
}
