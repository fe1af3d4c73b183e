package uplink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/tallygw/tally/anchor/checkpoint"
	"github.com/tallygw/tally/anchor/envelope"
	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/edge/store"
	mqbroker "github.com/tallygw/tally/internal/mosquitto"
	"github.com/tallygw/tally/internal/testgw"
	"github.com/tallygw/tally/sensors"
)

// mosquitto is a real broker process on a loopback port.
type mosquitto struct {
	t    testing.TB
	b    *mqbroker.Broker
	port int
}

// startMosquitto starts a persistent broker on a free port; extra lines are
// appended to its config.
func startMosquitto(t testing.TB, extra ...string) *mosquitto {
	t.Helper()
	dir := t.TempDir()
	lines := append([]string{"allow_anonymous true", "persistence true", "persistence_location " + dir + "/",
		"max_inflight_messages 0", "max_queued_messages 1000000"}, extra...)
	b, err := mqbroker.Start(dir, lines...)
	if err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{t: t, b: b, port: b.Port}
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", b.Log())
		}
	})
	return m
}

func (m *mosquitto) url() string { return m.b.URL() }

func (m *mosquitto) start() {
	m.t.Helper()
	if err := m.b.Restart(); err != nil {
		m.t.Fatal(err)
	}
}

// stop sends SIGTERM (mosquitto saves its persistence file) and waits.
func (m *mosquitto) stop() { m.b.Stop() }

type lockedBuffer struct {
	mu sync.Mutex
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

// received is one message the upstream subscriber got.
type received struct {
	topic   string
	payload []byte
	dup     bool // the broker's DUP flag: a redelivery by the broker
	at      time.Time
}

// upstream is the platform side: a persistent QoS 1 session subscribed to
// the gateway's topics before the uplink starts.
type upstream struct {
	client mqtt.Client
	mu     sync.Mutex
	msgs   []received
}

func subscribe(t testing.TB, broker, prefix string) *upstream {
	t.Helper()
	up := &upstream{}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		up.mu.Lock()
		up.msgs = append(up.msgs, received{topic: m.Topic(), payload: bytes.Clone(m.Payload()), dup: m.Duplicate(), at: time.Now()})
		up.mu.Unlock()
	}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID("platform-" + t.Name()).
		SetProtocolVersion(4).SetCleanSession(false).SetOrderMatters(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(200 * time.Millisecond).SetDefaultPublishHandler(handler)
	up.client = mqtt.NewClient(opts)
	if tok := up.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	if tok := up.client.Subscribe(prefix+"/#", 1, handler); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { up.client.Disconnect(100) })
	return up
}

func (up *upstream) snapshot() []received {
	up.mu.Lock()
	defer up.mu.Unlock()
	return append([]received(nil), up.msgs...)
}

// verdict is what the subscriber received, verified.
type verdict struct {
	readings    int64 // distinct readings
	checkpoints int   // distinct checkpoints
	// dupResent counts second copies without the DUP flag: the uplink
	// published the item again. dupRedelivered counts second copies the
	// broker redelivered to the subscriber (DUP set).
	dupResent, dupRedelivered int
	lastCheckpoint            int64
	lowestResent              int64 // the lowest reading seq re-sent by the uplink; -1 for none
}

// checker verifies what the subscriber received, message by message: every
// signature, that the first copies are readings 0..n-1 in order with each
// checkpoint right after the reading that completes it, and that second
// copies are identical to the first.
type checker struct {
	t      testing.TB
	g      *testgw.Gateway
	prefix string
	n      int // messages checked
	first  map[string][]byte
	v      verdict
}

func newChecker(t testing.TB, g *testgw.Gateway, prefix string) *checker {
	return &checker{t: t, g: g, prefix: prefix, first: map[string][]byte{}, v: verdict{lastCheckpoint: -1, lowestResent: -1}}
}

// check consumes the messages not seen yet and returns the verdict so far.
func (c *checker) check(msgs []received) verdict {
	t := c.t
	t.Helper()
	for ; c.n < len(msgs); c.n++ {
		i, m := c.n, msgs[c.n]
		var k kind
		var key int64
		switch m.topic {
		case c.prefix + "/readings":
			p, err := envelope.Verify(m.payload, c.g.Pub.Ed25519)
			if err != nil {
				t.Fatalf("message %d: envelope does not verify: %v", i, err)
			}
			k, key = kindReading, int64(p.Seq)
		case c.prefix + "/checkpoints":
			cp, err := checkpoint.Open(m.payload, c.g.Pub)
			if err != nil {
				t.Fatalf("message %d: checkpoint does not verify: %v", i, err)
			}
			k, key = kindCheckpoint, cp.Size
		default:
			t.Fatalf("message %d on unexpected topic %q", i, m.topic)
		}
		id := fmt.Sprintf("%s/%d", k, key)
		if prev, ok := c.first[id]; ok {
			if !bytes.Equal(prev, m.payload) {
				t.Fatalf("message %d: second copy of %s differs from the first", i, id)
			}
			if m.dup {
				c.v.dupRedelivered++
			} else {
				c.v.dupResent++
				if k == kindReading && (c.v.lowestResent < 0 || key < c.v.lowestResent) {
					c.v.lowestResent = key
				}
			}
			continue
		}
		c.first[id] = m.payload
		switch k {
		case kindReading:
			if key != c.v.readings {
				t.Fatalf("message %d: reading %d, want %d (lost or reordered)", i, key, c.v.readings)
			}
			c.v.readings++
		case kindCheckpoint:
			if key != c.v.readings {
				t.Fatalf("message %d: checkpoint %d after reading %d; want it right after reading %d", i, key, c.v.readings-1, key-1)
			}
			c.v.checkpoints++
			c.v.lastCheckpoint = key
		}
	}
	return c.v
}

// storedCheckpoints lists the sizes of the store's checkpoints up to size.
func storedCheckpoints(t testing.TB, st *store.Store, size int64) []int64 {
	t.Helper()
	var out []int64
	if err := st.Checkpoints(context.Background(), func(c store.Checkpoint) error {
		if c.Size <= size {
			out = append(out, c.Size)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// newGateway is a test gateway that checkpoints every max readings and
// every interval.
func newGateway(t testing.TB, max int64, interval time.Duration) *testgw.Gateway {
	t.Helper()
	return testgw.New(t, ingest.Config{Gateway: "gw-up", CheckpointMax: max, CheckpointInterval: interval})
}

// fill appends n readings and waits until they are durable.
func fill(t testing.TB, g *testgw.Gateway, n int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range n {
		wg.Add(1)
		r := sensors.Reading{Sensor: "probe-1", Kind: sensors.KindTemperature, Data: map[string]any{"celsius": float64(i%400) / 10, "probe": "supply"}}
		g.Pipeline.Submit(context.Background(), r, func(res ingest.Result) {
			if res.Err != nil {
				mu.Lock()
				if first == nil {
					first = res.Err
				}
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if first != nil {
		t.Fatalf("append: %v", first)
	}
}

// fillChunks appends n readings in commits of chunk, so the pipeline
// checkpoints along the way.
func fillChunks(t testing.TB, g *testgw.Gateway, n, chunk int) {
	t.Helper()
	for n > 0 {
		k := min(n, chunk)
		fill(t, g, k)
		n -= k
	}
}

// waitCheckpointed waits until the latest checkpoint covers the whole log.
func waitCheckpointed(t testing.TB, g *testgw.Gateway) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		size := g.Store.Size()
		cp, err := g.Store.LatestCheckpoint(context.Background())
		if err == nil && cp.Size == size {
			return size
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint at size %d (latest %d, %v)", size, cp.Size, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitUpstream waits until the subscriber holds readings 0..size-1 (and,
// with withCheckpoint, the checkpoint of size) and returns the verdict.
func waitUpstream(t testing.TB, c *checker, up *upstream, size int64, withCheckpoint bool, timeout time.Duration) verdict {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := c.check(up.snapshot())
		if v.readings >= size && (!withCheckpoint || v.lastCheckpoint >= size) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstream has %d of %d readings, last checkpoint %d, after %v", v.readings, size, v.lastCheckpoint, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testLogger logs through t and keeps the text for assertions.
func testLogger(t testing.TB) (*slog.Logger, *lockedBuffer) {
	buf := &lockedBuffer{}
	w := io.MultiWriter(buf, tWriter{t})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})), buf
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// running is an uplink run by a test.
type running struct {
	u      *Uplink
	cancel context.CancelFunc
	done   chan error
}

func startUplink(t testing.TB, cfg Config, g *testgw.Gateway, logger *slog.Logger) *running {
	t.Helper()
	u, err := New(cfg, g.ID, g.Store, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{u: u, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- u.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it; safe to call more than once.
func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("Run did not return 15 s after cancel")
	}
	r.done = nil
}
