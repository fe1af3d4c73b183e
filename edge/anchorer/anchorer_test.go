package anchorer_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallygw/tally/anchor/bundle"
	"github.com/tallygw/tally/anchor/cometbft"
	"github.com/tallygw/tally/anchor/ledger"
	"github.com/tallygw/tally/edge/anchorer"
	"github.com/tallygw/tally/edge/export"
	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/edge/store"
	"github.com/tallygw/tally/internal/cometnode"
	"github.com/tallygw/tally/internal/testgw"
	"github.com/tallygw/tally/sensors"
)

// chain starts real CometBFT validators (kvstore app) on loopback.
func chain(t *testing.T, validators int) *cometnode.Net {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var (
		net *cometnode.Net
		err error
	)
	if validators == 1 {
		net, err = cometnode.StartSingle(ctx, t.TempDir(), cometnode.Options{})
	} else {
		net, err = cometnode.StartTestnet(ctx, t.TempDir(), validators, cometnode.Options{})
	}
	if err != nil {
		t.Fatalf("start CometBFT: %v", err)
	}
	t.Cleanup(func() { net.Stop() })
	return net
}

func backend(t *testing.T, rpc string, net *cometnode.Net) *cometbft.Backend {
	t.Helper()
	trust, err := cometbft.TrustFromGenesis(net.Genesis())
	if err != nil {
		t.Fatal(err)
	}
	be, err := cometbft.New(cometbft.Config{RPC: rpc, Trust: trust, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// feeder appends readings until stopped.
type feeder struct {
	stop chan struct{}
	wg   sync.WaitGroup
	n    atomic.Int64
}

func feed(t *testing.T, g *testgw.Gateway, every time.Duration) *feeder {
	f := &feeder{stop: make(chan struct{})}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-f.stop:
				return
			case <-time.After(every):
			}
			r := sensors.Reading{Sensor: "reefer-1", Kind: sensors.KindTemperature, Data: map[string]any{"celsius": -18 + float64(i%9)/10}}
			if err := g.Pipeline.Accept(context.Background(), r); err != nil {
				t.Errorf("accept: %v", err)
				return
			}
			f.n.Add(1)
		}
	}()
	t.Cleanup(f.halt)
	return f
}

func (f *feeder) halt() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.wg.Wait()
}

func run(t *testing.T, st *store.Store, be ledger.Backend, opts anchorer.Options) *anchorer.Anchorer {
	t.Helper()
	a := anchorer.New(st, be, slog.New(slog.NewTextHandler(io.Discard, nil)), opts, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

func waitFor(t *testing.T, what string, d time.Duration, a *anchorer.Anchorer, ok func(anchorer.Status) bool) anchorer.Status {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s := a.Status()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; status %+v", d, what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finalAnchors lists the store's final anchors.
func finalAnchors(t *testing.T, st *store.Store) []store.Anchor {
	t.Helper()
	var out []store.Anchor
	if err := st.FinalAnchors(context.Background(), func(a store.Anchor) error { out = append(out, a); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// verifySeqs exports and verifies the bundles of seqs with the chain's
// genesis pinned, and returns the anchored size each was verified against.
func verifySeqs(t *testing.T, g *testgw.Gateway, net *cometnode.Net, seqs []int64) map[int64]int64 {
	t.Helper()
	trust, err := cometbft.TrustFromGenesis(net.Genesis())
	if err != nil {
		t.Fatal(err)
	}
	pk, err := bundle.NewPublicKeys(g.Pub)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]int64{}
	for _, seq := range seqs {
		b, err := export.Bundle(context.Background(), g.Store, g.Pub, seq)
		if err != nil {
			t.Fatalf("export %d: %v", seq, err)
		}
		if b.Anchor == nil {
			t.Fatalf("reading %d has no anchor", seq)
		}
		steps, err := bundle.Verify(b, bundle.Options{Pinned: &pk, Trust: trust})
		if err != nil {
			t.Fatalf("verify %d: %v\n%+v", seq, err, steps)
		}
		out[seq] = b.Anchor.Receipt.Height
	}
	return out
}

// latest returns the newest checkpoint's size.
func latest(t *testing.T, st *store.Store) int64 {
	t.Helper()
	cp, err := st.LatestCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp.Size
}

var fast = anchorer.Options{Interval: 300 * time.Millisecond, RetryMin: 100 * time.Millisecond, RetryMax: 400 * time.Millisecond, Poll: 50 * time.Millisecond, StaleAfter: 4 * time.Second, Grace: 2 * time.Second}

// TestOutageOneAnchorCoversAll: the ledger is down for many checkpoints;
// when it returns one anchor covers everything recorded meanwhile, and every
// such reading verifies against it.
func TestOutageOneAnchorCoversAll(t *testing.T) {
	net := chain(t, 1)
	node := net.Node(0)
	g := testgw.New(t, ingest.Config{CheckpointInterval: 100 * time.Millisecond, CheckpointMax: 1000})
	f := feed(t, g, 2*time.Millisecond)
	a := run(t, g.Store, backend(t, node.RPC(), net), fast)
	first := waitFor(t, "a first anchor", 30*time.Second, a, func(s anchorer.Status) bool { return s.LastAnchoredSize > 0 })

	if err := node.Stop(); err != nil {
		t.Fatal(err)
	}
	outageStart := g.Store.Size()
	cpBefore := latest(t, g.Store)
	down := waitFor(t, "the outage to be reported", 20*time.Second, a, func(s anchorer.Status) bool { return s.LastError != "" })
	if !strings.Contains(down.LastError, "connect") {
		t.Errorf("outage error %q does not say the node is unreachable", down.LastError)
	}
	time.Sleep(2 * time.Second) // many checkpoints while the ledger is down
	outageEnd := g.Store.Size()
	cpDuring := latest(t, g.Store)
	if cpDuring < cpBefore+5*10 && outageEnd-outageStart < 100 {
		t.Fatalf("the outage saw too little: checkpoints %d→%d, readings %d→%d", cpBefore, cpDuring, outageStart, outageEnd)
	}
	if s := a.Status(); s.LastAnchoredSize != first.LastAnchoredSize && s.LastAnchoredSize > cpBefore {
		t.Fatalf("anchored %d while the ledger was down", s.LastAnchoredSize)
	}
	f.halt()
	final := latest(t, g.Store)
	for final < g.Store.Size() { // wait for the checkpoint covering the last readings
		time.Sleep(50 * time.Millisecond)
		final = latest(t, g.Store)
	}
	before := len(finalAnchors(t, g.Store))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := node.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the backlog to be anchored", 60*time.Second, a, func(s anchorer.Status) bool { return s.LastAnchoredSize == final && s.LastError == "" })
	after := finalAnchors(t, g.Store)
	if len(after) != before+1 {
		t.Fatalf("%d anchors after the outage, want exactly one covering the backlog", len(after)-before)
	}
	if got := after[len(after)-1].Size; got != final {
		t.Fatalf("the anchor covers %d readings, want %d", got, final)
	}
	// Every reading recorded during the outage verifies against that one
	// anchor (inclusion → its checkpoint → consistency → anchored tree).
	var seqs []int64
	for seq := outageStart; seq < outageEnd; seq += max((outageEnd-outageStart)/40, 1) {
		seqs = append(seqs, seq)
	}
	seqs = append(seqs, outageEnd-1)
	heights := verifySeqs(t, g, net, seqs)
	want := after[len(after)-1].Receipt.Height
	for seq, h := range heights {
		if h != want {
			t.Fatalf("reading %d verified against the anchor at height %d, want the single post-outage anchor at %d", seq, h, want)
		}
	}
	t.Logf("outage: %d readings, checkpoints %d→%d; one anchor of size %d at height %d covers them", outageEnd-outageStart, cpBefore, cpDuring, final, want)
}

// TestRestartIdempotent: a submission recorded as prepared whose broadcast
// did land (the gateway crashed before noting it) is found, not sent again;
// one the ledger never got is replaced by the newest checkpoint.
func TestRestartIdempotent(t *testing.T) {
	net := chain(t, 1)
	g := testgw.New(t, ingest.Config{CheckpointMax: 10})
	ctx := context.Background()
	for i := range 25 {
		if err := g.Pipeline.Accept(ctx, sensors.Reading{Sensor: "s", Kind: sensors.KindTemperature, Data: map[string]any{"celsius": float64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	g.Stop(t)
	st := g.OpenStore(t)
	be := backend(t, net.Node(0).RPC(), net)
	cp, err := st.CheckpointOfSize(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	an, err := ledger.FromNote(cp.Note)
	if err != nil {
		t.Fatal(err)
	}
	// Crash after the broadcast, before recording it.
	sub, err := be.Prepare(ctx, an, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutAnchor(ctx, store.Anchor{Size: 20, State: store.AnchorPrepared, Submission: *sub, PreparedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := be.Broadcast(ctx, sub); err != nil {
		t.Fatal(err)
	}
	a := run(t, st, be, fast)
	s := waitFor(t, "the landed submission to be recorded", 30*time.Second, a, func(s anchorer.Status) bool { return s.LastAnchoredSize >= 20 })
	if s.LastAnchoredSize != 20 || s.LastTxID != sub.TxID {
		t.Fatalf("anchored size %d tx %s, want the landed size 20 tx %s", s.LastAnchoredSize, s.LastTxID, sub.TxID)
	}
	// Next cycle: the final checkpoint (25) gets its own anchor, once.
	a.Trigger()
	s = waitFor(t, "the newest checkpoint", 30*time.Second, a, func(s anchorer.Status) bool { return s.LastAnchoredSize == 25 })
	time.Sleep(time.Second) // several more cycles: nothing new to anchor
	if got := finalAnchors(t, st); len(got) != 2 || got[0].Submission.TxID != sub.TxID {
		t.Fatalf("final anchors %+v, want the landed one and one for size 25", got)
	}
	if s := a.Status(); s.Anchors != 2 {
		t.Fatalf("%d anchors made final this run, want 2", s.Anchors)
	}
}

// TestNeverBroadcastReplaced: a prepared submission the ledger never got is
// replaced by the newest checkpoint's.
func TestNeverBroadcastReplaced(t *testing.T) {
	net := chain(t, 1)
	g := testgw.New(t, ingest.Config{CheckpointMax: 10})
	ctx := context.Background()
	for i := range 30 {
		if err := g.Pipeline.Accept(ctx, sensors.Reading{Sensor: "s", Kind: sensors.KindTemperature, Data: map[string]any{"celsius": float64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	g.Stop(t)
	st := g.OpenStore(t)
	be := backend(t, net.Node(0).RPC(), net)
	cp, _ := st.CheckpointOfSize(ctx, 10)
	an, _ := ledger.FromNote(cp.Note)
	sub, err := be.Prepare(ctx, an, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutAnchor(ctx, store.Anchor{Size: 10, State: store.AnchorPrepared, Submission: *sub, PreparedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	a := run(t, st, be, fast)
	waitFor(t, "the newest checkpoint to be anchored", 30*time.Second, a, func(s anchorer.Status) bool { return s.LastAnchoredSize == 30 })
	got := finalAnchors(t, st)
	if len(got) != 1 || got[0].Size != 30 {
		t.Fatalf("final anchors %+v, want one for size 30", got)
	}
	state, _, err := be.Check(ctx, sub)
	if err != nil || state != ledger.Unknown {
		t.Fatalf("the abandoned tx is %v (%v) on the ledger, want unknown", state, err)
	}
}

// TestTestnetValidatorsDown: four validators; one killed, anchoring goes on;
// two killed, anchoring stalls and says so while ingest goes on; both back,
// anchoring recovers and readings from the stall verify.
func TestTestnetValidatorsDown(t *testing.T) {
	net := chain(t, 4)
	g := testgw.New(t, ingest.Config{CheckpointInterval: 200 * time.Millisecond, CheckpointMax: 100000})
	f := feed(t, g, 5*time.Millisecond)
	opts := fast
	opts.StaleAfter = 3 * time.Second
	opts.RetryMax = time.Minute // a backoff towards this would be seen (below)
	a := run(t, g.Store, backend(t, net.Node(0).RPC(), net), opts)
	waitFor(t, "a first anchor", 60*time.Second, a, func(s anchorer.Status) bool { return s.LastAnchoredSize > 0 })

	if err := net.Node(3).Kill(); err != nil {
		t.Fatal(err)
	}
	mark := latest(t, g.Store)
	waitFor(t, "an anchor with one validator down", 60*time.Second, a, func(s anchorer.Status) bool { return s.LastAnchoredSize >= mark })

	if err := net.Node(2).Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // let a block in flight finish
	stalledAt := a.Status().LastAnchoredSize
	sizeAtStall := g.Store.Size()
	s := waitFor(t, "the stall to be reported", 60*time.Second, a, func(s anchorer.Status) bool {
		return strings.Contains(s.LastError, "waited")
	})
	if s.LastAnchoredSize != stalledAt {
		t.Fatalf("anchored %d → %d with two of four validators down", stalledAt, s.LastAnchoredSize)
	}
	// A stall is reported once and then re-checked every RetryMin, not
	// with a backoff growing towards RetryMax: after 3 s of stall (30
	// rechecks) the next check is still at most RetryMin away.
	failures := s.Failures
	time.Sleep(3 * time.Second)
	s = a.Status()
	if s.LastErrorAt == nil || s.NextAttempt == nil {
		t.Fatalf("during the stall: status %+v", s)
	}
	if gap := s.NextAttempt.Sub(*s.LastErrorAt); gap > opts.RetryMin {
		t.Fatalf("during the stall the next check is %v after the last (RetryMin %v): status %+v", gap, opts.RetryMin, s)
	}
	if s.Failures != failures || s.State != "waiting for the ledger" {
		t.Fatalf("during the stall: failures %d → %d, state %q; want one failure for the stall and state \"waiting for the ledger\"", failures, s.Failures, s.State)
	}
	if g.Store.Size() <= sizeAtStall+100 {
		t.Fatalf("ingest stalled with the ledger: %d → %d readings", sizeAtStall, g.Store.Size())
	}
	stallSeq := g.Store.Size() - 1

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, i := range []int{2, 3} {
		if err := net.Node(i).Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	target := latest(t, g.Store)
	s = waitFor(t, "anchoring to recover", 90*time.Second, a, func(s anchorer.Status) bool {
		return s.LastAnchoredSize >= target && s.LastError == ""
	})
	f.halt()
	heights := verifySeqs(t, g, net, []int64{0, sizeAtStall, stallSeq})
	t.Logf("stalled at anchored size %d (%d readings meanwhile); recovered at %d; heights %v", stalledAt, stallSeq-sizeAtStall, s.LastAnchoredSize, heights)
}
