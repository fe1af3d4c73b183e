package uplink

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func testConfig(broker string) Config {
	return Config{
		Broker:       broker,
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 300 * time.Millisecond,
		Poll:         50 * time.Millisecond,
	}
}

// waitForwarded waits until the uplink has recorded n readings as forwarded.
func waitForwarded(t testing.TB, u *Uplink, n int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for u.Forwarded() < n {
		if time.Now().After(deadline) {
			t.Fatalf("Forwarded() = %d after %v, want %d (status %+v)", u.Forwarded(), timeout, n, u.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestForwardAll: a gateway that is taking readings while the uplink
// forwards; the platform receives every envelope and checkpoint, verified,
// in order, each checkpoint right after the reading that completes it.
func TestForwardAll(t *testing.T) {
	b := startMosquitto(t)
	g := newGateway(t, 400, 300*time.Millisecond)
	const prefix = "tally/gw-up"
	up := subscribe(t, b.url(), prefix)
	fillChunks(t, g, 1500, 100) // a backlog before the uplink starts
	logger, _ := testLogger(t)
	r := startUplink(t, testConfig(b.url()), g, logger)
	for range 5 { // and more while it forwards
		fill(t, g, 300)
		time.Sleep(50 * time.Millisecond)
	}
	size := waitCheckpointed(t, g)
	v := waitUpstream(t, newChecker(t, g, prefix), up, size, true, 15*time.Second)
	waitForwarded(t, r.u, size, 5*time.Second)

	want := storedCheckpoints(t, g.Store, size)
	if v.checkpoints != len(want) || len(want) < 5 {
		t.Errorf("upstream has %d checkpoints, the store %d (%v)", v.checkpoints, len(want), want)
	}
	if v.dupResent+v.dupRedelivered != 0 {
		t.Errorf("duplicates without any outage: %d re-sent, %d redelivered", v.dupResent, v.dupRedelivered)
	}
	st := r.u.Status()
	if !st.Connected || st.Cursor != size || st.Backlog != 0 || st.ForwardedReadings != size ||
		st.ForwardedCheckpoints != int64(len(want)) || st.Republished != 0 || st.LastForward.IsZero() {
		t.Errorf("status = %+v", st)
	}
	r.stop(t)
	for name, want := range map[string]int64{"uplink.readings": size, "uplink.checkpoints": size + 1} {
		if got, err := g.Store.Cursor(context.Background(), name); err != nil || got != want {
			t.Errorf("cursor %s = %d, %v; want %d", name, got, err, want)
		}
	}
	t.Logf("forwarded %d readings and %d checkpoints", v.readings, v.checkpoints)
}

// TestBrokerOutage stops the broker while the uplink forwards and readings
// keep coming, then starts it again on the same port and persistence.
func TestBrokerOutage(t *testing.T) {
	b := startMosquitto(t)
	g := newGateway(t, 500, 300*time.Millisecond)
	const prefix = "tally/gw-up"
	up := subscribe(t, b.url(), prefix)
	fillChunks(t, g, 3000, 100) // a backlog, so the window is full when the broker goes
	logger, logs := testLogger(t)
	cfg := testConfig(b.url())
	r := startUplink(t, cfg, g, logger)

	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			fill(t, g, 100)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for r.u.Status().Cursor < 1000 {
		if time.Now().After(deadline) {
			t.Fatalf("status = %+v", r.u.Status())
		}
		time.Sleep(time.Millisecond)
	}
	before := r.u.Status()
	b.stop()
	time.Sleep(1500 * time.Millisecond) // the outage; readings keep coming
	during := r.u.Status()
	if during.Connected || during.Outages != 1 {
		t.Errorf("status during the outage = %+v", during)
	}
	b.start()
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	size := waitCheckpointed(t, g)
	v := waitUpstream(t, newChecker(t, g, prefix), up, size, true, 15*time.Second)
	waitForwarded(t, r.u, size, 5*time.Second)

	st := r.u.Status()
	t.Logf("log size %d; broker stopped at cursor %d (backlog %d, %d in flight); backlog %d during the outage; %d republished after it; upstream: %d readings, %d checkpoints, %d duplicates re-sent by the uplink, %d redelivered by the broker to the subscriber",
		size, before.Cursor, before.Backlog, before.InFlight, during.Backlog, st.Republished, v.readings, v.checkpoints, v.dupResent, v.dupRedelivered)
	if v.readings != size || v.checkpoints != len(storedCheckpoints(t, g.Store, size)) {
		t.Errorf("upstream has %d readings and %d checkpoints; store %d and %d", v.readings, v.checkpoints, size, len(storedCheckpoints(t, g.Store, size)))
	}
	// What QoS 1 allows us to guarantee: nothing lost, first copies in
	// order (checked above), and only items unacknowledged when the
	// connection dropped are published again, so duplicates are bounded by
	// the window. The broker may have routed some of those before it went
	// down without its PUBACK reaching us: they arrive twice.
	if int64(v.dupResent) > st.Republished || st.Republished > DefaultMaxInflight {
		t.Errorf("%d duplicates re-sent by the uplink, %d republished, window %d", v.dupResent, st.Republished, DefaultMaxInflight)
	}
	if st.Outages != 1 || !st.Connected || st.Connects != 2 {
		t.Errorf("status = %+v", st)
	}
	for _, want := range []string{"uplink connection lost", "uplink reconnected; outage over", "backlog="} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// TestGatewayRestart stops the uplink in the middle of a backlog and starts
// a new one on the same store: it resumes from the cursor.
func TestGatewayRestart(t *testing.T) {
	b := startMosquitto(t)
	g := newGateway(t, 300, time.Hour)
	const prefix = "tally/gw-up"
	up := subscribe(t, b.url(), prefix)
	fillChunks(t, g, 2000, 100)
	logger, _ := testLogger(t)
	cfg := testConfig(b.url())
	cfg.Rate = 500
	r1 := startUplink(t, cfg, g, logger)
	waitForwarded(t, r1.u, 400, 10*time.Second)
	r1.stop(t)
	cursor, err := g.Store.Cursor(context.Background(), "uplink.readings")
	if err != nil || cursor < 400 || cursor >= 2000 || cursor != r1.u.Forwarded() {
		t.Fatalf("cursor after stop = %d, %v; Forwarded %d", cursor, err, r1.u.Forwarded())
	}
	fill(t, g, 200)
	size := g.Store.Size()

	cfg.Rate = 0
	r2 := startUplink(t, cfg, g, logger)
	if got := r2.u.Status().Cursor; got != cursor {
		t.Errorf("new uplink starts at %d, want the stored cursor %d", got, cursor)
	}
	// No checkpoint at the end (interval 1h): wait for the readings.
	c := newChecker(t, g, prefix)
	waitUpstream(t, c, up, size, false, 15*time.Second)
	waitForwarded(t, r2.u, size, 5*time.Second)
	time.Sleep(100 * time.Millisecond) // any late copy
	v := c.check(up.snapshot())
	if want := storedCheckpoints(t, g.Store, size); v.checkpoints != len(want) {
		t.Errorf("upstream has %d checkpoints, store %v", v.checkpoints, want)
	}
	// A stop waits for outstanding acknowledgements: nothing is sent twice.
	if v.dupResent+v.dupRedelivered != 0 {
		t.Errorf("%d duplicates after a graceful restart (%d redelivered)", v.dupResent, v.dupRedelivered)
	}
	t.Logf("stopped at %d, resumed, upstream has %d readings and %d checkpoints", cursor, v.readings, v.checkpoints)
}

// TestCrashResend: after a crash the cursor in the store may be behind what
// the broker acknowledged; the uplink sends from the cursor again: the
// copies arrive in order after the originals and nothing is lost.
func TestCrashResend(t *testing.T) {
	b := startMosquitto(t)
	g := newGateway(t, 250, time.Hour)
	const prefix = "tally/gw-up"
	up := subscribe(t, b.url(), prefix)
	fillChunks(t, g, 1000, 100)
	r1 := startUplink(t, testConfig(b.url()), g, testLoggerOnly(t))
	waitForwarded(t, r1.u, 1000, 10*time.Second)
	r1.stop(t)
	// What a power cut within a second of confirming 900..999 leaves.
	ctx := context.Background()
	if err := g.Store.SetCursor(ctx, "uplink.readings", 900, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := g.Store.SetCursor(ctx, "uplink.checkpoints", 0, time.Now()); err != nil { // and a crash between the two cursor writes
		t.Fatal(err)
	}
	fill(t, g, 100)
	r2 := startUplink(t, testConfig(b.url()), g, testLoggerOnly(t))
	waitForwarded(t, r2.u, 1100, 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	v := newChecker(t, g, prefix).check(up.snapshot())
	// Readings 900..999 again, and the checkpoints of sizes 900..1000;
	// those below 900 are known to be confirmed from the readings cursor.
	var again int
	for _, size := range storedCheckpoints(t, g.Store, 1000) {
		if size >= 900 {
			again++
		}
	}
	if v.readings != 1100 || v.dupResent != 100+again {
		t.Errorf("upstream: %d readings, %d re-sent copies; want 1100 and %d", v.readings, v.dupResent, 100+again)
	}
}

// TestRate: 200 messages/s for a second.
func TestRate(t *testing.T) {
	b := startMosquitto(t)
	g := newGateway(t, 100000, time.Hour)
	const prefix = "tally/gw-up"
	up := subscribe(t, b.url(), prefix)
	fill(t, g, 1000)
	cfg := testConfig(b.url())
	cfg.Rate = 200
	startUplink(t, cfg, g, nil)
	deadline := time.Now().Add(10 * time.Second)
	for len(up.snapshot()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(1100 * time.Millisecond)
	msgs := up.snapshot()
	n := 0
	for _, m := range msgs {
		if m.at.Sub(msgs[0].at) < time.Second {
			n++
		}
	}
	t.Logf("%d messages in the first second at rate 200", n)
	if n < 150 || n > 260 {
		t.Errorf("%d messages in one second at rate 200, want 150–260", n)
	}
}

// TestBrokerRefuses: a broker that refuses anonymous clients; the log says
// so with the CONNACK reason and what to check.
func TestBrokerRefuses(t *testing.T) {
	b2 := startMosquitto(t, "allow_anonymous false", "password_file /dev/null")
	g := newGateway(t, 100, time.Hour)
	logger, logs := testLogger(t)
	r := startUplink(t, testConfig(b2.url()), g, logger)
	deadline := time.Now().Add(10 * time.Second)
	for r.u.Status().ConnectFailures < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("status = %+v", r.u.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := r.u.Status()
	if st.Connected || !strings.Contains(st.LastError, "CONNACK 5") {
		t.Errorf("status = %+v", st)
	}
	r.stop(t)
	text := logs.String()
	if strings.Count(text, "broker refused the connection") != 1 || !strings.Contains(text, "not authorized") || !strings.Contains(text, "check=") {
		t.Errorf("log:\n%s", text)
	}
}

// BenchmarkForward measures readings forwarded per second through a local
// mosquitto, from a backlog in the store, QoS 1, default window.
func BenchmarkForward(b *testing.B) {
	m := startMosquitto(b)
	g := newGateway(b, 10000, time.Hour)
	fillChunks(b, g, max(b.N, 1000), 2000)
	size := g.Store.Size()
	b.ResetTimer()
	start := time.Now()
	r := startUplink(b, testConfig(m.url()), g, nil)
	for r.u.Status().Cursor < size {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(size)/time.Since(start).Seconds(), "readings/s")
	r.stop(b)
}

func testLoggerOnly(t testing.TB) *slog.Logger { l, _ := testLogger(t); return l }
