package mqtt

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/tallygw/tally/internal/loopback"
	mqbroker "github.com/tallygw/tally/internal/mosquitto"
	"github.com/tallygw/tally/sensors"
)

// Real brokers for the tests: mosquitto (Debian package mosquitto) and the
// embedded mochi-mqtt, each on a free loopback port.

// broker is a running test broker.
type broker struct {
	name    string
	url     string // tcp://127.0.0.1:PORT
	log     func() string
	restart func() // stop and start again, keeping the store (mosquitto only)
}

const mosquittoInstall = mqbroker.Install

// freePort returns a loopback port nobody listens on (for a moment).
func freePort(t testing.TB) int {
	t.Helper()
	p, err := loopback.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startMosquitto runs mosquitto with a persistent store in a temporary
// directory and the given extra config lines, until the test ends.
func startMosquitto(t testing.TB, extra string) *broker {
	t.Helper()
	dir := t.TempDir()
	lines := []string{"persistence true", "persistence_location " + dir + "/",
		"max_inflight_messages 0", "max_queued_messages 100000",
		"log_type error", "log_type warning", "log_type notice", "log_type information"}
	if !strings.Contains(extra, "allow_anonymous") {
		lines = append(lines, "allow_anonymous true")
	}
	for _, l := range strings.Split(extra, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	m, err := mqbroker.Start(dir, lines...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", m.Log())
		}
	})
	return &broker{
		name: "mosquitto",
		url:  m.URL(),
		log:  m.Log,
		restart: func() {
			t.Helper()
			if err := m.Restart(); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// startMochi runs the embedded mochi-mqtt broker, allowing every client.
func startMochi(t testing.TB) *broker {
	t.Helper()
	out := &lockedBuffer{}
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "test", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("mochi log:\n%s", out.String())
		}
	})
	return &broker{name: "mochi", url: "tcp://" + addr, log: out.String}
}

// publisher is a separate paho client that publishes test messages.
type publisher struct {
	t testing.TB
	c paho.Client
}

func newPublisher(t testing.TB, b *broker, username, password string) *publisher {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(b.url).SetClientID(fmt.Sprintf("pub-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetProtocolVersion(4).SetMaxResumePubInFlight(1000)
	if username != "" {
		o.SetUsername(username).SetPassword(password)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect to %s: %v", b.url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(250) })
	return &publisher{t: t, c: c}
}

// publish sends messages at QoS 1 and waits until the broker has them all.
func (p *publisher) publish(msgs ...testMsg) {
	p.t.Helper()
	toks := make([]paho.Token, len(msgs))
	for i, m := range msgs {
		toks[i] = p.c.Publish(m.topic, 1, m.retain, []byte(m.payload))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			p.t.Fatalf("publish %s: %v", msgs[i].topic, tok.Error())
		}
	}
}

type testMsg struct {
	topic, payload string
	retain         bool
}

func tempMsg(sensor, msgID int) testMsg {
	return testMsg{
		topic:   fmt.Sprintf("reefer/%d/temp", sensor),
		payload: fmt.Sprintf(`{"celsius":%d.5,"msg_id":%d}`, msgID%40-10, msgID),
	}
}

// memSink is an in-memory sensors.AsyncSink that deduplicates like the real
// store (sensor and msg_id; first kept) and answers from its own writer
// goroutine, like the ingest pipeline.
type memSink struct {
	refuse func(r sensors.Reading) error // nil: accept all
	hold   chan struct{}                 // when not nil, each answer waits for a token
	jobs   chan sinkJob

	mu         sync.Mutex // guards the fields below
	readings   []sensors.Reading
	seen       map[string]bool
	dups       int
	refused    int
	waiting    int // readings whose answer waits on hold
	quarantine []quarantined
}

type sinkJob struct {
	r    sensors.Reading
	done func(error)
}

type quarantined struct {
	sensor, reason string
	raw            []byte
}

func newMemSink(t testing.TB) *memSink {
	s := &memSink{seen: map[string]bool{}, jobs: make(chan sinkJob, 8192)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case j := <-s.jobs:
				s.write(j, stop)
			case <-stop:
				return
			}
		}
	})
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
	})
	return s
}

func (s *memSink) write(j sinkJob, stop chan struct{}) {
	if s.hold != nil {
		s.mu.Lock()
		s.waiting++
		s.mu.Unlock()
		select {
		case <-s.hold:
		case <-stop:
			return
		}
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
	}
	if s.refuse != nil {
		if err := s.refuse(j.r); err != nil {
			s.mu.Lock()
			s.refused++
			s.mu.Unlock()
			j.done(err)
			return
		}
	}
	s.mu.Lock()
	key := ""
	if j.r.MsgID != "" {
		key = j.r.Sensor + "\x00" + j.r.MsgID
	}
	if key != "" && s.seen[key] {
		s.dups++
	} else {
		if key != "" {
			s.seen[key] = true
		}
		s.readings = append(s.readings, j.r)
	}
	s.mu.Unlock()
	j.done(nil)
}

func (s *memSink) AcceptAsync(ctx context.Context, r sensors.Reading, done func(error)) {
	select {
	case s.jobs <- sinkJob{r, done}:
	case <-ctx.Done():
		done(ctx.Err())
	}
}

func (s *memSink) Accept(ctx context.Context, r sensors.Reading) error {
	ch := make(chan error, 1)
	s.AcceptAsync(ctx, r, func(err error) { ch <- err })
	return <-ch
}

func (s *memSink) Quarantine(_ context.Context, sensor, reason string, raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quarantine = append(s.quarantine, quarantined{sensor, reason, raw})
}

func (s *memSink) snapshot() (rs []sensors.Reading, q []quarantined, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sensors.Reading(nil), s.readings...), append([]quarantined(nil), s.quarantine...), s.dups
}

func (s *memSink) count() (readings, quarantined int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.readings), len(s.quarantine)
}

// syncSink hides memSink's AcceptAsync: a plain sensors.Sink.
type syncSink struct{ m *memSink }

func (s syncSink) Accept(ctx context.Context, r sensors.Reading) error { return s.m.Accept(ctx, r) }
func (s syncSink) Quarantine(ctx context.Context, sensor, reason string, raw []byte) {
	s.m.Quarantine(ctx, sensor, reason, raw)
}

// running is a Subscriber running in the background.
type running struct {
	t      testing.TB
	s      *Subscriber
	log    *lockedBuffer
	cancel context.CancelFunc
	done   chan error
}

// startSubscriber builds a Subscriber from cfg and runs it into sink.
func startSubscriber(t testing.TB, cfg Config, sink sensors.Sink) *running {
	t.Helper()
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg, "test", logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, s: s, log: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx, sink) }()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("subscriber %s log:\n%s", s.ClientID(), logs.String())
		}
	})
	return r
}

// stop cancels Run and checks that it returns nil promptly.
func (r *running) stop() {
	r.t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run returned %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		r.t.Errorf("Run did not return within 10s of cancel")
	}
}

// waitConnected waits until the subscriber is connected and subscribed.
func (r *running) waitConnected() {
	r.t.Helper()
	waitFor(r.t, 10*time.Second, "subscriber connected and subscribed", func() bool {
		return r.s.Stats().Connected && strings.Contains(r.log.String(), "mqtt: subscribed")
	})
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writePassword writes a 0600 password file.
func writePassword(t testing.TB, password string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mqtt.password")
	if err := os.WriteFile(p, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var _ io.Writer = (*lockedBuffer)(nil)
