package cometbft_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tallygw/tally/anchor/cometbft"
	"github.com/tallygw/tally/anchor/ledger"
	"github.com/tallygw/tally/internal/cometnode"
)

// BenchmarkAnchor measures one anchor on a real node: prepare, broadcast,
// wait for the commit and fetch and check the evidence. Sub-benchmarks for
// the harness's fast blocks (timeout_commit 200ms) and CometBFT's default
// (1s), with 1 and 4 validators. Reports ms/anchor and the receipt's size.
//
//	go test -run '^$' -bench Anchor -benchtime 20x ./anchor/cometbft/
func BenchmarkAnchor(b *testing.B) {
	for _, c := range []struct {
		validators int
		commit     time.Duration
	}{{1, 200 * time.Millisecond}, {1, time.Second}, {4, 200 * time.Millisecond}} {
		b.Run(fmt.Sprintf("validators=%d/timeout_commit=%s", c.validators, c.commit), func(b *testing.B) {
			ctx := context.Background()
			opts := cometnode.Options{TimeoutCommit: c.commit}
			var (
				net *cometnode.Net
				err error
			)
			if c.validators == 1 {
				net, err = cometnode.StartSingle(ctx, b.TempDir(), opts)
			} else {
				net, err = cometnode.StartTestnet(ctx, b.TempDir(), c.validators, opts)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer net.Stop()
			trust, err := cometbft.TrustFromGenesis(net.Genesis())
			if err != nil {
				b.Fatal(err)
			}
			be, err := cometbft.New(cometbft.Config{RPC: net.Node(0).RPC(), Trust: trust})
			if err != nil {
				b.Fatal(err)
			}
			var receiptBytes int
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				a := ledger.Anchored{Origin: "tally/gw-bench", Size: int64(i + 1)}
				binary.BigEndian.PutUint64(a.Root[:], uint64(time.Now().UnixNano()))
				a.NoteSHA256 = sha256.Sum256(a.Root[:])
				sub, err := be.Prepare(ctx, a, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := be.Broadcast(ctx, sub); err != nil {
					b.Fatal(err)
				}
				for {
					state, r, err := be.Check(ctx, sub)
					if err != nil {
						b.Fatal(err)
					}
					if state == ledger.Final {
						raw, _ := json.Marshal(r)
						receiptBytes = len(raw)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/anchor")
			b.ReportMetric(float64(receiptBytes), "receipt-bytes")
		})
	}
}
