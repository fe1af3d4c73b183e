package evm

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/tallygw/tally/anchor/ledger"
	"github.com/tallygw/tally/internal/gethnode"
)

var update = flag.Bool("update", false, "record testdata/receipt.json from geth --dev")

// shared is one geth --dev node (mining on demand) for the tests that need
// no other options; each test sends from its own key.
var shared struct {
	once sync.Once
	dir  string
	node *gethnode.Node
	err  error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if shared.node != nil {
		if err := shared.node.Stop(); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
		}
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// devNode returns the shared geth --dev node, starting it on first use. A
// missing geth fails the test with the install step.
func devNode(t testing.TB) *gethnode.Node {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "tally-evm-geth-")
		if shared.err == nil {
			shared.node, shared.err = gethnode.Start(shared.dir, gethnode.Options{})
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.node
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fundedKey writes a new key to a file, loads it and funds its address
// with 1 ether.
func fundedKey(t testing.TB, n *gethnode.Node) (*ecdsa.PrivateKey, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "anchor.key")
	addr, err := GenerateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fund(t, n, addr)
	return k, addr
}

func fund(t testing.TB, n *gethnode.Node, addr string) {
	t.Helper()
	if err := n.Fund(testCtx(t), addr, new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)); err != nil {
		t.Fatalf("%v\n%s", err, n.Log())
	}
}

func newBackend(t testing.TB, cfg Config) *Backend {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// anchored is a checkpoint to anchor; i makes it distinct.
func anchored(i int64) ledger.Anchored {
	return ledger.Anchored{
		Origin:     "gw.example/tally",
		Size:       42 + i,
		Root:       sha256.Sum256([]byte("root")),
		NoteSHA256: sha256.Sum256([]byte("note")),
	}
}

// waitFinal checks s until it is Final and returns its receipt.
func waitFinal(t testing.TB, b *Backend, s *ledger.Submission) *ledger.Receipt {
	t.Helper()
	return pollFinal(t, b, s, 10*time.Millisecond)
}

// pollFinal checks s every interval until it is Final.
func pollFinal(t testing.TB, b *Backend, s *ledger.Submission, interval time.Duration) *ledger.Receipt {
	t.Helper()
	ctx := testCtx(t)
	for {
		st, r, err := b.Check(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		switch st {
		case ledger.Final:
			return r
		case ledger.Unknown:
			t.Fatalf("Check(%s) = unknown after Broadcast", s.TxID)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not final: %v", s.TxID, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// anchor prepares, broadcasts and waits for a until it is final.
func anchor(t testing.TB, b *Backend, a ledger.Anchored, prev *ledger.Submission) (*ledger.Submission, *ledger.Receipt) {
	t.Helper()
	ctx := testCtx(t)
	s, err := b.Prepare(ctx, a, prev)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Broadcast(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s, waitFinal(t, b, s)
}

// goldenKey is the key testdata/receipt.json was made with: keccak256 of
// a fixed phrase, for tests only.
func goldenKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte("tally anchor/evm testdata key")))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// goldenSender is goldenKey's address (ExampleVerify pins it).
const goldenSender = "0x11BC2Ce7C95Ea06fd9Ec6A962B2Be77B7e0ED1Df"

func TestAnchorGeth(t *testing.T) {
	n := devNode(t)
	ctx := testCtx(t)
	key, sender := fundedKey(t, n)
	if *update {
		key, sender = goldenKey(t), Address(goldenKey(t))
		fund(t, n, sender)
	}
	b := newBackend(t, Config{RPC: n.RPC(), ChainID: 1337, Key: key})
	if b.Kind() != "evm" || b.Sender() != sender {
		t.Fatalf("kind %q sender %s", b.Kind(), b.Sender())
	}
	a := anchored(0)
	s, r := anchor(t, b, a, nil)

	if s.Ledger != "evm" || s.Nonce != 0 || !strings.HasPrefix(s.TxID, "0x") || s.TxID != strings.ToLower(s.TxID) || len(s.TxID) != 66 {
		t.Errorf("submission %+v", s)
	}
	if err := b.Broadcast(ctx, s); err != nil {
		t.Errorf("Broadcast of a mined transaction: %v", err)
	}
	want, err := ledger.Render(ledger.DefaultTxFormat, a)
	if err != nil {
		t.Fatal(err)
	}
	if r.Ledger != "evm" || r.Network != "1337" || r.TxID != s.TxID || r.Height < 1 || len(r.BlockHash) != 66 ||
		r.TxFormat != ledger.DefaultTxFormat || string(r.Payload) != string(want) || time.Since(r.BlockTime) > time.Hour {
		t.Errorf("receipt %+v", r)
	}
	var ev Evidence
	if err := json.Unmarshal(r.Evidence, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.RawTx != hex0x(s.Raw) || !strings.EqualFold(ev.From, sender) || !strings.EqualFold(ev.To, sender) || ev.Nonce != 0 ||
		ev.GasUsed == 0 || ev.GasUsed > ev.GasLimit || ev.Confirmations != 1 || ev.GasPrice == "" {
		t.Errorf("evidence %s", r.Evidence)
	}
	t.Logf("receipt: %s", mustJSON(t, r))

	var steps ledger.Steps
	if err := Verify(&steps, r, ledger.Trust{ChainID: "1337", Sender: strings.ToLower(sender)}); err != nil {
		t.Fatalf("Verify: %v\n%+v", err, steps.List)
	}
	if err := ledger.CheckPayload(&steps, r, a); err != nil {
		t.Fatal(err)
	}
	if err := VerifyOnline(ctx, &steps, r, n.RPC()); err != nil {
		t.Fatalf("VerifyOnline: %v", err)
	}
	var names []string
	for _, st := range steps.List {
		if !st.OK || strings.Contains(st.Detail, "NOT pinned") {
			t.Errorf("step %+v", st)
		}
		names = append(names, st.Name)
	}
	if got := strings.Join(names, ", "); got != "evm transaction, chain id, sender, checkpoint in tx, ledger online" {
		t.Errorf("steps %s", got)
	}

	t.Run("tampered", func(t *testing.T) { testTampered(t, r, sender) })

	t.Run("online block hash altered", func(t *testing.T) {
		bad := *r
		bad.BlockHash = "0x" + strings.Repeat("ab", 32)
		var steps ledger.Steps
		err := VerifyOnline(ctx, &steps, &bad, n.RPC())
		var se *ledger.StepError
		if !errors.As(err, &se) || se.Step != "ledger online" || !strings.Contains(err.Error(), bad.BlockHash) {
			t.Fatalf("VerifyOnline = %v, want a failure of step ledger online naming the hash", err)
		}
	})
	t.Run("online block time altered", func(t *testing.T) {
		bad := *r
		bad.BlockTime = r.BlockTime.Add(time.Second)
		var steps ledger.Steps
		err := VerifyOnline(ctx, &steps, &bad, n.RPC())
		var se *ledger.StepError
		if !errors.As(err, &se) || se.Step != "ledger online" || !strings.Contains(err.Error(), "was made at") {
			t.Fatalf("VerifyOnline = %v, want a failure of step ledger online naming the block time", err)
		}
	})
	t.Run("online unknown tx", func(t *testing.T) {
		other := signedWith(t, nil) // chain 1337, never broadcast
		bad := *r
		bad.TxID = hex0x(crypto.Keccak256(other))
		bad.Payload = []byte("tally")
		otherTx, err := decodeTx(other)
		if err != nil {
			t.Fatal(err)
		}
		bad.Evidence = withEvidence(t, r.Evidence, func(ev *Evidence) {
			ev.RawTx, ev.Nonce, ev.GasPrice, ev.GasLimit, ev.To = hex0x(other), 1, "1", 30000, "0x"+strings.Repeat("35", 20)
			ev.From = checksum(otherTx.From)
		})
		var steps ledger.Steps
		err = VerifyOnline(ctx, &steps, &bad, n.RPC())
		if err == nil || !strings.Contains(err.Error(), "does not know transaction") {
			t.Fatalf("VerifyOnline = %v", err)
		}
	})

	if *update {
		if err := os.WriteFile(filepath.Join("testdata", "receipt.json"), append(mustJSON(t, r), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNonces: a second Backend on the same key continues the nonces; a
// submission that was never broadcast is Unknown and Prepare(prev) reuses
// its nonce; a prev whose nonce another transaction took gets a fresh one.
func TestNonces(t *testing.T) {
	n := devNode(t)
	ctx := testCtx(t)
	key, _ := fundedKey(t, n)
	cfg := Config{RPC: n.RPC(), ChainID: 1337, Key: key}

	b1 := newBackend(t, cfg)
	s0, _ := anchor(t, b1, anchored(0), nil)
	s1, _ := anchor(t, b1, anchored(1), nil)
	if s0.Nonce != 0 || s1.Nonce != 1 {
		t.Fatalf("nonces %d, %d", s0.Nonce, s1.Nonce)
	}

	// "Restart": a new Backend on the same key.
	b2 := newBackend(t, cfg)
	lost, err := b2.Prepare(ctx, anchored(2), nil)
	if err != nil {
		t.Fatal(err)
	}
	if lost.Nonce != 2 {
		t.Fatalf("after restart: nonce %d, want 2", lost.Nonce)
	}
	// The gateway crashed before broadcasting lost.
	if st, _, err := b2.Check(ctx, lost); err != nil || st != ledger.Unknown {
		t.Fatalf("Check of a never-broadcast tx = %v, %v; want unknown", st, err)
	}
	b3 := newBackend(t, cfg)
	again, err := b3.Prepare(ctx, anchored(3), lost)
	if err != nil {
		t.Fatal(err)
	}
	if again.Nonce != 2 || again.TxID == lost.TxID {
		t.Fatalf("Prepare(prev) = nonce %d tx %s; want nonce 2 in a new tx", again.Nonce, again.TxID)
	}
	// A fresh Prepare meanwhile must not hand out nonce 2 again.
	next, err := b3.Prepare(ctx, anchored(4), nil)
	if err != nil {
		t.Fatal(err)
	}
	if next.Nonce != 3 {
		t.Fatalf("fresh Prepare after reuse: nonce %d, want 3", next.Nonce)
	}
	// next, broadcast first, waits in the pool for nonce 2: Pending.
	if err := b3.Broadcast(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := b3.Broadcast(ctx, next); err != nil {
		t.Fatalf("second Broadcast of a pooled transaction: %v", err)
	}
	if st, _, err := b3.Check(ctx, next); err != nil || st != ledger.Pending {
		t.Fatalf("Check of a transaction waiting for its nonce = %v, %v; want pending", st, err)
	}
	if err := b3.Broadcast(ctx, again); err != nil {
		t.Fatal(err)
	}
	waitFinal(t, b3, again)
	waitFinal(t, b3, next)

	// lost's nonce is taken now: Prepare(lost) must not reuse it.
	fresh, err := b3.Prepare(ctx, anchored(5), lost)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Nonce != 4 {
		t.Fatalf("Prepare(prev whose nonce is mined) = nonce %d, want 4", fresh.Nonce)
	}
	if st, _, err := b3.Check(ctx, lost); err != nil || st != ledger.Unknown {
		t.Fatalf("Check(lost) = %v, %v", st, err)
	}
}

// TestNonceTooLow: two gateways on one key (a misconfiguration) race for a
// nonce; the loser's Broadcast says so and its next Prepare resyncs.
func TestNonceTooLow(t *testing.T) {
	n := devNode(t)
	ctx := testCtx(t)
	key, _ := fundedKey(t, n)
	cfg := Config{RPC: n.RPC(), ChainID: 1337, Key: key}
	b1, b2 := newBackend(t, cfg), newBackend(t, cfg)
	s2, err := b2.Prepare(ctx, anchored(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := anchor(t, b1, anchored(0), nil)
	if s1.Nonce != s2.Nonce {
		t.Fatalf("nonces %d, %d", s1.Nonce, s2.Nonce)
	}
	err = b2.Broadcast(ctx, s2)
	if err == nil || !strings.Contains(err.Error(), "nonce too low") || !strings.Contains(err.Error(), "resynced") {
		t.Fatalf("Broadcast of a used nonce = %v", err)
	}
	if st, _, err := b2.Check(ctx, s2); err != nil || st != ledger.Unknown {
		t.Fatalf("Check = %v, %v; want unknown", st, err)
	}
	s3, _ := anchor(t, b2, anchored(1), s2)
	if s3.Nonce != s1.Nonce+1 {
		t.Fatalf("after resync: nonce %d, want %d", s3.Nonce, s1.Nonce+1)
	}
}

// TestConfirmations: with 2 confirmations and a block a second, the anchor
// is Pending while its block is the head, and Final one block later.
func TestConfirmations(t *testing.T) {
	n, err := gethnode.Start(t.TempDir(), gethnode.Options{Period: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx := testCtx(t)
	key, _ := fundedKey(t, n)
	b := newBackend(t, Config{RPC: n.RPC(), ChainID: 1337, Key: key, Confirmations: 2})
	s, err := b.Prepare(ctx, anchored(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Broadcast(ctx, s); err != nil {
		t.Fatal(err)
	}
	minedButPending := false
	for {
		st, r, err := b.Check(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if st == ledger.Final {
			var ev Evidence
			if err := json.Unmarshal(r.Evidence, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Confirmations < 2 {
				t.Fatalf("final with %d confirmations", ev.Confirmations)
			}
			var head string
			if err := n.Call(ctx, &head, "eth_blockNumber"); err != nil {
				t.Fatal(err)
			}
			h, _ := new(big.Int).SetString(strings.TrimPrefix(head, "0x"), 16)
			if h.Int64() < r.Height+1 {
				t.Fatalf("final at head %d, tx in block %d", h, r.Height)
			}
			break
		}
		if st == ledger.Pending {
			var rc json.RawMessage
			if err := n.Call(ctx, &rc, "eth_getTransactionReceipt", s.TxID); err != nil {
				t.Fatal(err)
			}
			minedButPending = minedButPending || string(rc) != "null"
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !minedButPending {
		t.Error("never saw the mined transaction pending for its second confirmation")
	}
}

func TestChainIDMismatch(t *testing.T) {
	n := devNode(t)
	b := newBackend(t, Config{RPC: n.RPC(), ChainID: 1, Key: goldenKey(t)})
	_, err := b.Prepare(testCtx(t), anchored(0), nil)
	var me *ChainMismatchError
	if !errors.As(err, &me) || me.Node != 1337 || me.Configured != 1 {
		t.Fatalf("Prepare = %v, want a *ChainMismatchError", err)
	}
	if !strings.Contains(err.Error(), "serves chain id 1337, but the config says 1") {
		t.Errorf("message: %v", err)
	}
	if _, _, err := b.Check(testCtx(t), &ledger.Submission{Ledger: "evm", TxID: "0x" + strings.Repeat("00", 32)}); !errors.As(err, &me) {
		t.Errorf("Check = %v, want a *ChainMismatchError", err)
	}
}

// TestFixedGasAndTo: a fixed gas limit and price, and an explicit
// recipient.
func TestFixedGasAndTo(t *testing.T) {
	n := devNode(t)
	key, _ := fundedKey(t, n)
	const to = "0x00000000000000000000000000000000000000aa"
	price := big.NewInt(2_000_000_000)
	b := newBackend(t, Config{RPC: n.RPC(), ChainID: 1337, Key: key, To: to, GasPrice: price, GasLimit: 100_000,
		TxFormat: "anchor {size} {root_b64}"})
	_, r := anchor(t, b, anchored(0), nil)
	var ev Evidence
	if err := json.Unmarshal(r.Evidence, &ev); err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(ev.To, to) || ev.GasLimit != 100_000 || ev.GasPrice != "2000000000" || r.TxFormat != "anchor {size} {root_b64}" {
		t.Errorf("evidence %s, format %q", r.Evidence, r.TxFormat)
	}
	var steps ledger.Steps
	if err := Verify(&steps, r, ledger.Trust{}); err != nil {
		t.Fatal(err)
	}
	if err := ledger.CheckPayload(&steps, r, anchored(0)); err != nil {
		t.Fatal(err)
	}
	for _, st := range steps.List[1:3] {
		if !strings.Contains(st.Detail, "NOT pinned") {
			t.Errorf("unpinned step %q says %q", st.Name, st.Detail)
		}
	}
}

// TestZeroGasPrice: geth --dev has a base fee, so a zero-price legacy
// transaction (fine on a permissioned chain) is refused with geth's reason.
func TestZeroGasPrice(t *testing.T) {
	n := devNode(t)
	key, _ := fundedKey(t, n)
	ctx := testCtx(t)
	b := newBackend(t, Config{RPC: n.RPC(), ChainID: 1337, Key: key, GasPrice: new(big.Int)})
	s, err := b.Prepare(ctx, anchored(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Broadcast(ctx, s)
	var re *RPCError
	if !errors.As(err, &re) || re.Method != "eth_sendRawTransaction" {
		t.Fatalf("Broadcast at gas price 0 = %v, want the node's refusal", err)
	}
	t.Logf("geth --dev says: %v", err)
}

// BenchmarkAnchorGeth anchors one checkpoint per iteration on geth --dev
// (a block per transaction): Prepare, Broadcast, then Check every 2 ms
// until Final. It reports the gas each anchor used and the time from
// Broadcast to Final.
func BenchmarkAnchorGeth(b *testing.B) {
	n := devNode(b)
	key, _ := fundedKey(b, n)
	be := newBackend(b, Config{RPC: n.RPC(), ChainID: 1337, Key: key})
	ctx := testCtx(b)
	var (
		gas   uint64
		final time.Duration
		i     int64
	)
	for b.Loop() {
		s, err := be.Prepare(ctx, anchored(i), nil)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := be.Broadcast(ctx, s); err != nil {
			b.Fatal(err)
		}
		r := pollFinal(b, be, s, 2*time.Millisecond)
		final += time.Since(start)
		var ev Evidence
		if err := json.Unmarshal(r.Evidence, &ev); err != nil {
			b.Fatal(err)
		}
		gas += ev.GasUsed
		i++
	}
	b.ReportMetric(float64(gas)/float64(i), "gas/anchor")
	b.ReportMetric(float64(final.Microseconds())/1000/float64(i), "ms/final")
}
