package anchorer_test

import (
	"context"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/tallygw/tally/anchor/bundle"
	"github.com/tallygw/tally/anchor/evm"
	"github.com/tallygw/tally/anchor/ledger"
	"github.com/tallygw/tally/edge/anchorer"
	"github.com/tallygw/tally/edge/export"
	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/internal/gethnode"
	"github.com/tallygw/tally/internal/testgw"
)

// TestAnchorGethDev anchors a gateway's checkpoints on a real geth --dev
// chain through the scheduler; bundles verify offline with the chain id and
// sender pinned, and online against the node.
func TestAnchorGethDev(t *testing.T) {
	node, err := gethnode.Start(t.TempDir(), gethnode.Options{})
	if err != nil {
		t.Fatalf("start geth --dev: %v", err)
	}
	t.Cleanup(func() { node.Stop() })
	keyPath := filepath.Join(t.TempDir(), "evm.key")
	addr, err := evm.GenerateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	key, err := evm.LoadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := node.Fund(ctx, addr, big.NewInt(1e18)); err != nil {
		t.Fatal(err)
	}
	be, err := evm.New(evm.Config{RPC: node.RPC(), ChainID: node.ChainID(), Key: key})
	if err != nil {
		t.Fatal(err)
	}

	g := testgw.New(t, ingest.Config{CheckpointInterval: 100 * time.Millisecond, CheckpointMax: 1000})
	f := feed(t, g, 2*time.Millisecond)
	a := run(t, g.Store, be, fast)
	first := waitFor(t, "a first anchor", 30*time.Second, a, func(s anchorer.Status) bool { return s.LastAnchoredSize > 0 })
	waitFor(t, "a second anchor", 30*time.Second, a, func(s anchorer.Status) bool { return s.LastAnchoredSize > first.LastAnchoredSize })
	f.halt()

	pk, err := bundle.NewPublicKeys(g.Pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []int64{0, first.LastAnchoredSize} {
		b, err := export.Bundle(ctx, g.Store, g.Pub, seq)
		if err != nil {
			t.Fatal(err)
		}
		if b.Anchor == nil || b.Anchor.Receipt.Ledger != evm.Kind {
			t.Fatalf("reading %d: anchor %+v", seq, b.Anchor)
		}
		trust := ledger.Trust{ChainID: "1337", Sender: addr}
		steps, err := bundle.Verify(b, bundle.Options{Pinned: &pk, Trust: trust, Online: node.RPC(), Context: ctx})
		if err != nil {
			t.Fatalf("reading %d: %v\n%+v", seq, err, steps)
		}
		if last := steps[len(steps)-1]; last.Name != "ledger online" {
			t.Fatalf("last step %+v", last)
		}
		// Another sender pinned: the anchor is not the registered gateway's.
		trust.Sender = "0x000000000000000000000000000000000000dEaD"
		if _, err := bundle.Verify(b, bundle.Options{Pinned: &pk, Trust: trust}); err == nil {
			t.Fatal("a bundle verified with another sender pinned")
		}
	}
}
