package main

// No-loss tests over a real mosquitto broker and the real tally binary: a
// publisher sends numbered QoS 1 temperature messages while (a) the broker
// is restarted mid-stream, or (b) the daemon is SIGKILLed mid-stream and
// restarted. Every message the broker acknowledged to the publisher must end
// up exactly once in the store (msg_id deduplication), and `tally audit`
// must pass.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tallygw/tally/anchor/envelope"
	"github.com/tallygw/tally/edge/config"
	"github.com/tallygw/tally/edge/store"
	mqbroker "github.com/tallygw/tally/internal/mosquitto"
)

const (
	nlSensor       = "rf1"                // the sensor id the topic names
	nlTopic        = "noloss/rf1/temp"    // matches filter noloss/+/temp, sensor {1}
	nlTotal        = 3000                 // numbered messages in the stream
	nlPace         = 2 * time.Millisecond // average time between two messages
	nlBurst        = 50                   // messages sent back to back, then a pause
	nlDupEvery     = 50                   // every 50th message is published twice on purpose
	nlTokenTimeout = 15 * time.Second     // an unanswered publish counts as not acknowledged
	nlCatchUp      = 30 * time.Second     // for the store to hold every acknowledged message
)

// TestNoLossBrokerRestart restarts mosquitto (SIGTERM: it saves its
// persistent store; then started again on the same port and store) twice
// while the publisher streams. Messages the broker acknowledged before it
// went down are in its saved store and reach tally after the restart;
// messages tally had received but not acknowledged are redelivered and
// deduplicated.
func TestNoLossBrokerRestart(t *testing.T) {
	mq := nlStartMosquitto(t)
	gw := nlNewGateway(t, mq.addr)
	gw.start(t)
	pub := nlNewPublisher(t, mq.addr)

	saves := 0
	nlStream(t, pub, []int{1000, 2000}, func(i int) {
		if err := mq.stop(); err != nil {
			t.Fatalf("broker restart %d: %v", i+1, err)
		}
		// mosquitto 2.0 writes its in-memory database (sessions, queued
		// and in-flight messages) on a clean shutdown; the test relies on
		// it, so check it said so.
		if n := strings.Count(mq.Log(), "Saving in-memory database"); n <= saves {
			t.Fatalf("broker restart %d: mosquitto did not save its persistent store on SIGTERM:\n%s", i+1, mq.Log())
		} else {
			saves = n
		}
		time.Sleep(700 * time.Millisecond) // the publisher goes on: paho keeps its messages
		if err := mq.start(); err != nil {
			t.Fatalf("broker restart %d: %v", i+1, err)
		}
		t.Logf("broker restarted (%d) after message %d", i+1, pub.progress.Load())
	})
	nlFinish(t, gw, pub)
}

// TestNoLossDaemonKill9 SIGKILLs the daemon five times mid-stream (the
// broker queues for its persistent session meanwhile), audits the store
// after each kill, and starts it again with the same config and data.
func TestNoLossDaemonKill9(t *testing.T) {
	mq := nlStartMosquitto(t)
	gw := nlNewGateway(t, mq.addr)
	gw.start(t)
	pub := nlNewPublisher(t, mq.addr)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))

	// Kills come in pairs: the second one lands a few milliseconds after the
	// restart, while the daemon works through what the broker queued for
	// it, when many messages are between the broker and the store.
	nlStream(t, pub, []int{600, 600, 1500, 1500, 2400}, func(i int) {
		if i%2 == 1 {
			time.Sleep(time.Duration(rng.IntN(60)) * time.Millisecond)
		} else {
			time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		}
		down := time.Now()
		gw.kill9(t)
		out := mustTally(t, "audit", "-q", "--config", gw.cfg, "--data", gw.dir)
		if !strings.HasPrefix(out, "audit passed:") {
			t.Fatalf("kill %d: audit: %q", i+1, out)
		}
		if d := 500*time.Millisecond - time.Since(down); d > 0 {
			time.Sleep(d)
		}
		t.Logf("kill %d at message %d; %s", i+1, pub.progress.Load(), strings.TrimSpace(strings.SplitN(out, ";", 2)[0]))
		gw.start(t)
	})
	nlFinish(t, gw, pub)
}

// nlStream publishes the numbered stream in its own goroutine and, on the
// test goroutine, calls disrupt(i) once the publisher has reached message
// points[i]. It returns when the stream and every disruption are done.
func nlStream(t *testing.T, pub *nlPublisher, points []int, disrupt func(i int)) {
	t.Helper()
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		for n := 1; n <= nlTotal; n++ {
			if pub.stopped.Load() {
				return
			}
			pub.publish(n)
			if n%nlDupEvery == 0 {
				pub.publish(n) // a deliberate duplicate: dedup must keep one
			}
			pub.progress.Store(int64(n))
			if n%nlBurst == 0 {
				// Bursts keep messages in flight in the daemon for a
				// good part of the time, so that a kill finds some.
				time.Sleep(nlBurst * nlPace)
			}
		}
	}()
	for i, p := range points {
		deadline := time.Now().Add(30 * time.Second)
		for pub.progress.Load() < int64(p) {
			select {
			case <-streamDone:
				t.Fatalf("the stream ended before message %d", p)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("the publisher did not reach message %d in 30s (at %d)", p, pub.progress.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
		disrupt(i)
	}
	select {
	case <-streamDone:
	case <-time.After(40 * time.Second):
		t.Fatalf("the publisher did not finish the stream in 40s (at %d)", pub.progress.Load())
	}
}

// nlFinish republishes what the broker did not acknowledge, waits until the
// store holds every acknowledged message, stops the daemon, audits, and
// checks the store message by message.
func nlFinish(t *testing.T, gw *nlGateway, pub *nlPublisher) {
	t.Helper()
	// Messages whose publish failed or was never answered were not
	// acknowledged: nothing requires them to arrive. Publish them again so
	// that the whole stream is in; where the broker had in fact taken the
	// first copy, dedup must keep one.
	republished := 0
	for round := 0; round < 3; round++ {
		pub.settle()
		missing := pub.unacked()
		if len(missing) == 0 {
			break
		}
		t.Logf("republishing %d messages the broker did not acknowledge (round %d): %v", len(missing), round+1, nlHead(missing, 20))
		for _, n := range missing {
			pub.publish(n)
			republished++
			time.Sleep(nlPace / 2)
		}
	}
	pub.settle()
	acked, copies := pub.ackedSet()
	if len(acked) < nlTotal*9/10 {
		t.Fatalf("the broker acknowledged only %d of %d messages: %v", len(acked), nlTotal, pub.errSummary())
	}
	// Every extra acknowledged copy of a message reaches tally and is
	// counted as a duplicate.
	wantDups := int64(0)
	for _, c := range copies {
		wantDups += int64(c - 1)
	}

	// Wait (bounded) until the store holds every acknowledged msg_id.
	dbPath := gw.dbPath(t)
	var missing []int
	var dups int64
	deadline := time.Now().Add(nlCatchUp)
	for {
		var stored map[int]int
		var err error
		stored, dups, err = nlPeek(dbPath)
		if err == nil {
			missing = missing[:0]
			for n := range acked {
				if stored[n] == 0 {
					missing = append(missing, n)
				}
			}
			if len(missing) == 0 && dups >= wantDups {
				break
			}
		}
		if time.Now().After(deadline) {
			slices.Sort(missing)
			t.Fatalf("after %v the store still lacks %d acknowledged messages %v (duplicates counted %d, want >= %d; peek error %v)",
				nlCatchUp, len(missing), nlHead(missing, 30), dups, wantDups, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if r := tally(t, "status", "--json", "--config", gw.cfg, "--data", gw.dir); r.code == 0 {
		var st struct {
			Log struct {
				Size       int64 `json:"size"`
				Duplicates int64 `json:"duplicates"`
			} `json:"log"`
		}
		if json.Unmarshal([]byte(r.stdout), &st) == nil {
			t.Logf("status of the last run: log size %d, duplicates dropped this run %d", st.Log.Size, st.Log.Duplicates)
		}
	}
	pub.close()
	gw.stop(t)

	out := mustTally(t, "audit", "--config", gw.cfg, "--data", gw.dir)
	var auditN int64
	if _, err := fmt.Sscanf(out, "audit passed: %d readings", &auditN); err != nil {
		t.Fatalf("audit output %q", out)
	}

	// Read the store: every envelope's signature, and each reading's
	// msg_id from the signed payload and from the signed raw message.
	st, err := store.Open(dbPath, gw.origin, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	count := map[int]int{}
	var rows, others int64
	err = st.Readings(ctx, 0, func(r store.Row) error {
		rows++
		p, err := envelope.Verify(r.Envelope, gw.pub)
		if err != nil {
			return fmt.Errorf("seq %d: %w", r.Seq, err)
		}
		if int64(p.Seq) != r.Seq {
			return fmt.Errorf("seq %d: payload says seq %d", r.Seq, p.Seq)
		}
		if p.Sensor != nlSensor {
			others++ // a gateway event, not one of ours
			return nil
		}
		var raw struct {
			Celsius float64     `json:"celsius"`
			MsgID   json.Number `json:"msg_id"`
		}
		if err := json.Unmarshal(p.Raw, &raw); err != nil {
			return fmt.Errorf("seq %d: raw %q: %w", r.Seq, p.Raw, err)
		}
		var n int
		if _, err := fmt.Sscanf(p.MsgID, "%d", &n); err != nil || fmt.Sprint(n) != p.MsgID {
			return fmt.Errorf("seq %d: msg_id %q is not one of the publisher's numbers", r.Seq, p.MsgID)
		}
		if raw.MsgID.String() != p.MsgID || r.MsgID != p.MsgID {
			return fmt.Errorf("seq %d: msg_id %q in the payload, %q in the raw message, %q in the row", r.Seq, p.MsgID, raw.MsgID, r.MsgID)
		}
		if p.Kind != "temperature" || raw.Celsius != 4.2 || p.Data["celsius"] != 4.2 {
			return fmt.Errorf("seq %d: kind %q data %v raw %s", r.Seq, p.Kind, p.Data, p.Raw)
		}
		if pub.sentCount(n) == 0 {
			return fmt.Errorf("seq %d: msg_id %d was never published", r.Seq, n)
		}
		count[n]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows != auditN {
		t.Fatalf("audit checked %d readings, the store has %d", auditN, rows)
	}
	var twice []int
	for n, c := range count {
		if c > 1 {
			twice = append(twice, n)
		}
	}
	slices.Sort(twice)
	missing = missing[:0]
	for n := range acked {
		if count[n] != 1 {
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	if len(twice) > 0 || len(missing) > 0 {
		t.Fatalf("%d msg_ids stored more than once %v; %d acknowledged messages not stored exactly once %v",
			len(twice), nlHead(twice, 20), len(missing), nlHead(missing, 20))
	}
	sensors, err := st.Sensors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dups = 0
	for _, s := range sensors {
		if s.Sensor == nlSensor {
			dups = s.Duplicates
			if s.Readings != int64(len(count)) {
				t.Fatalf("sensor counter says %d readings, the store has %d", s.Readings, len(count))
			}
		}
	}
	if dups < wantDups {
		t.Fatalf("duplicates counted %d, but the broker acknowledged %d extra copies", dups, wantDups)
	}
	unacked := 0
	for n := range count {
		if _, ok := acked[n]; !ok {
			unacked++
		}
	}
	t.Logf("published %d numbered messages (+%d deliberate copies, %d republished); broker acknowledged %d distinct (%d extra copies), %d publishes failed/unanswered %v",
		nlTotal, nlTotal/nlDupEvery, republished, len(acked), wantDups, pub.failures(), pub.errSummary())
	t.Logf("stored %d distinct msg_ids exactly once (%d of them never acknowledged to the publisher), %d other readings; duplicates dropped by dedup: %d; tally mqtt: %s",
		len(count), unacked, others, dups, gw.mqttSummary())
	t.Logf("%s", strings.TrimSpace(out))
}

// nlPeek reads, without disturbing the running daemon, the msg_ids stored
// for the sensor and its duplicate counter.
func nlPeek(path string) (map[int]int, int64, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, 0, err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT msg_id FROM readings WHERE sensor = ? AND msg_id IS NOT NULL`, nlSensor)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	stored := map[int]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, 0, err
		}
		var n int
		fmt.Sscanf(id, "%d", &n)
		stored[n]++
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var dups sql.NullInt64
	if err := db.QueryRow(`SELECT duplicates FROM sensors WHERE sensor = ?`, nlSensor).Scan(&dups); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, err
	}
	return stored, dups.Int64, nil
}

func nlHead(ns []int, max int) []int {
	if len(ns) > max {
		return ns[:max]
	}
	return ns
}

// nlBuffer is a bytes.Buffer safe for concurrent writers.
type nlBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *nlBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *nlBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// nlBroker is a mosquitto process with a persistent store in a temporary
// directory, on a fixed loopback port so that it can be restarted.
type nlBroker struct {
	*mqbroker.Broker
	addr string // 127.0.0.1:PORT
}

func nlStartMosquitto(t *testing.T) *nlBroker {
	t.Helper()
	dir := t.TempDir()
	// max_queued_messages: mosquitto's default (1000) silently drops what
	// it queues beyond it for a client that is away, after acknowledging it
	// to the publisher. max_inflight_messages 0: no limit.
	b, err := mqbroker.Start(dir, "allow_anonymous true", "persistence true", "persistence_location "+dir+"/",
		"autosave_interval 60", "max_inflight_messages 0", "max_queued_messages 1000000",
		"log_type error", "log_type warning", "log_type notice", "log_type information")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", b.Log())
		}
	})
	return &nlBroker{Broker: b, addr: b.Addr()}
}

func (b *nlBroker) start() error { return b.Restart() }
func (b *nlBroker) stop() error  { return b.Stop() }

// nlGateway is a gateway with one mqtt sensor and its daemon runs.
type nlGateway struct {
	cfg, dir string
	origin   string
	pub      ed25519.PublicKey
	runs     []*nlBuffer // the logs of every run, in order
	cmd      *exec.Cmd   // the running daemon, or nil
	exited   chan struct{}
}

func nlNewGateway(t *testing.T, brokerAddr string) *nlGateway {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tally.yaml")
	y := fmt.Sprintf(`gateway:
  id: gw-noloss
http:
  listen: %s
checkpoint:
  interval: 500ms
shutdown:
  timeout: 10s
sensors:
  - id: bus
    driver: mqtt
    mqtt:
      broker: tcp://%s
      keep_alive: 5s
      reconnect_min: 200ms
      reconnect_max: 1s
      topics:
        - filter: noloss/+/temp
          sensor: "{1}"
          decoder: temperature
`, freePort(t), brokerAddr)
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	mustTally(t, "keygen", "--config", cfg, "--data", dir)
	var id struct {
		Origin  string `json:"origin"`
		Ed25519 []byte `json:"ed25519"`
	}
	if err := json.Unmarshal([]byte(mustTally(t, "id", "--json", "--config", cfg, "--data", dir)), &id); err != nil || len(id.Ed25519) != ed25519.PublicKeySize {
		t.Fatalf("tally id --json: %v (%d-byte key)", err, len(id.Ed25519))
	}
	g := &nlGateway{cfg: cfg, dir: dir, origin: id.Origin, pub: ed25519.PublicKey(id.Ed25519)}
	t.Cleanup(func() {
		if g.cmd != nil {
			g.cmd.Process.Kill()
			<-g.exited
			g.cmd = nil
		}
		if t.Failed() {
			t.Logf("daemon logs:\n%s", g.logs())
		}
	})
	return g
}

func (g *nlGateway) dbPath(t *testing.T) string {
	c, err := config.Load(g.cfg, g.dir)
	if err != nil {
		t.Fatal(err)
	}
	return c.Path(c.Store.Path)
}

func (g *nlGateway) logs() string {
	var sb strings.Builder
	for i, l := range g.runs {
		fmt.Fprintf(&sb, "--- run %d ---\n%s", i+1, l.String())
	}
	return sb.String()
}

// mqttSummary is what the daemons logged about the broker connection.
func (g *nlGateway) mqttSummary() string {
	l := g.logs()
	return fmt.Sprintf("%d runs, %d connections, %d connections lost",
		len(g.runs), strings.Count(l, `msg="mqtt: connected"`), strings.Count(l, `msg="mqtt: connection lost`))
}

// start runs `tally run` and waits until it has subscribed.
func (g *nlGateway) start(t *testing.T) {
	t.Helper()
	if g.cmd != nil {
		t.Fatal("daemon already running")
	}
	logs := &nlBuffer{}
	g.runs = append(g.runs, logs)
	cmd := exec.Command(binary(t), "run", "--config", g.cfg, "--data", g.dir)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	g.cmd, g.exited = cmd, exited
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), `msg="mqtt: subscribed"`) {
		select {
		case <-exited:
			g.cmd = nil
			t.Fatalf("daemon exited at start: %v\n%s", cmd.ProcessState, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not subscribe within 20s:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill9 SIGKILLs the daemon and checks the signal is what ended it.
func (g *nlGateway) kill9(t *testing.T) {
	t.Helper()
	cmd := g.cmd
	cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-g.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not die within 10s of SIGKILL")
	}
	g.cmd = nil
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("daemon was not killed by SIGKILL (%v)\n%s", cmd.ProcessState, g.runs[len(g.runs)-1].String())
	}
}

// stop ends the daemon with SIGTERM and expects a clean exit.
func (g *nlGateway) stop(t *testing.T) {
	t.Helper()
	cmd := g.cmd
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(25 * time.Second):
		t.Fatalf("daemon did not stop within 25s of SIGTERM:\n%s", g.runs[len(g.runs)-1].String())
	}
	g.cmd = nil
	if !cmd.ProcessState.Success() {
		t.Fatalf("daemon exit after SIGTERM: %v\n%s", cmd.ProcessState, g.runs[len(g.runs)-1].String())
	}
}

// nlPublisher publishes numbered QoS 1 messages with a persistent session
// and records which ones the broker acknowledged (PUBACK: the token
// completed without error).
type nlPublisher struct {
	c        paho.Client
	items    chan nlItem
	done     chan struct{}
	pending  sync.WaitGroup // publishes not yet answered
	progress atomic.Int64   // the last message number of the stream published
	stopped  atomic.Bool

	mu     sync.Mutex
	sent   map[int]int    // n -> publishes
	acked  map[int]int    // n -> acknowledged copies
	failed map[int]int    // n -> publishes failed or unanswered
	errs   map[string]int // error -> count
}

type nlItem struct {
	n   int
	tok paho.Token
	at  time.Time
}

func nlNewPublisher(t *testing.T, brokerAddr string) *nlPublisher {
	t.Helper()
	o := paho.NewClientOptions()
	o.AddBroker("tcp://" + brokerAddr)
	o.SetClientID("noloss-publisher")
	o.SetProtocolVersion(4)
	o.SetCleanSession(false) // persistent session; paho resends unacknowledged publishes on reconnect
	o.SetKeepAlive(5 * time.Second)
	o.SetAutoReconnect(true)
	o.SetConnectRetry(true)
	o.SetConnectRetryInterval(200 * time.Millisecond)
	o.SetMaxReconnectInterval(500 * time.Millisecond)
	o.SetConnectTimeout(5 * time.Second)
	o.SetWriteTimeout(10 * time.Second)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	p := &nlPublisher{
		c: c, items: make(chan nlItem, 16384), done: make(chan struct{}),
		sent: map[int]int{}, acked: map[int]int{}, failed: map[int]int{}, errs: map[string]int{},
	}
	go p.collect()
	t.Cleanup(p.close)
	return p
}

func (p *nlPublisher) publish(n int) {
	payload := fmt.Sprintf(`{"celsius": 4.2, "msg_id": %d}`, n)
	p.mu.Lock()
	p.sent[n]++
	p.mu.Unlock()
	p.pending.Add(1)
	tok := p.c.Publish(nlTopic, 1, false, payload)
	p.items <- nlItem{n: n, tok: tok, at: time.Now()}
}

// collect resolves publishes in order; each gets nlTokenTimeout from when
// it was published, so the whole wait is bounded.
func (p *nlPublisher) collect() {
	defer close(p.done)
	for it := range p.items {
		ok := false
		if d := time.Until(it.at.Add(nlTokenTimeout)); d > 0 {
			ok = it.tok.WaitTimeout(d)
		} else {
			select {
			case <-it.tok.Done():
				ok = true
			default:
			}
		}
		p.mu.Lock()
		switch {
		case !ok:
			p.failed[it.n]++
			p.errs["no PUBACK within "+nlTokenTimeout.String()]++
		case it.tok.Error() != nil:
			p.failed[it.n]++
			p.errs[it.tok.Error().Error()]++
		default:
			p.acked[it.n]++
		}
		p.mu.Unlock()
		p.pending.Done()
	}
}

// settle waits until every publish so far is answered or timed out.
func (p *nlPublisher) settle() { p.pending.Wait() }

// unacked returns the messages published but never acknowledged.
func (p *nlPublisher) unacked() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ns []int
	for n := range p.sent {
		if p.acked[n] == 0 {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	return ns
}

func (p *nlPublisher) ackedSet() (map[int]struct{}, map[int]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	set := make(map[int]struct{}, len(p.acked))
	copies := make(map[int]int, len(p.acked))
	for n, c := range p.acked {
		set[n] = struct{}{}
		copies[n] = c
	}
	return set, copies
}

func (p *nlPublisher) sentCount(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent[n]
}

func (p *nlPublisher) failures() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := 0
	for _, c := range p.failed {
		f += c
	}
	return f
}

func (p *nlPublisher) errSummary() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.errs)
}

// close stops the stream and disconnects; safe to call twice.
func (p *nlPublisher) close() {
	if p.stopped.Swap(true) {
		return
	}
	p.c.Disconnect(250)
}
