package store_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tallygw/tally/anchor/checkpoint"
	"github.com/tallygw/tally/anchor/envelope"
	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/edge/store"
	"github.com/tallygw/tally/sensors"
)

// Large-store benchmarks. TALLY_BENCH_SIZE readings (default 100,000) are
// written once into TALLY_BENCH_DIR (default a temporary directory) through
// the real pipeline and reused by later runs:
//
//	TALLY_BENCH_SIZE=10000000 TALLY_BENCH_DIR=/var/tmp/tally-10m go test -run '^$' -bench Large -benchtime 2000x ./edge/store/
func largeStore(b *testing.B) (*store.Store, *checkpoint.Signer) {
	b.Helper()
	size := int64(100_000)
	if s := os.Getenv("TALLY_BENCH_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	dir := os.Getenv("TALLY_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	os.MkdirAll(dir, 0o700)
	// Fixed keys so the store can be reused between runs.
	ed := ed25519.NewKeyFromSeed(make([]byte, 32))
	var seed [32]byte
	_, ml := mldsa65.NewKeyFromSeed(&seed)
	cps, err := checkpoint.NewSigner("tally/gw-bench", ed, ml)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "tally.db")
	st, err := store.Open(path, "tally/gw-bench", store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if st.Size() >= size {
		return st, cps
	}
	env, _ := envelope.NewSigner(ed)
	p := ingest.New(ingest.Config{Gateway: "gw-bench", CheckpointMax: 1_000_000, CheckpointInterval: time.Hour}, st, env, cps, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	start := time.Now()
	var wg sync.WaitGroup
	todo := size - st.Size()
	wg.Add(int(todo))
	ctx := context.Background()
	for i := range todo {
		r := sensors.Reading{Sensor: "reefer-" + strconv.Itoa(int(i%16)), Kind: sensors.KindTemperature,
			Data: map[string]any{"celsius": -18 + float64(i%50)/10, "probe": "supply"}}
		p.Submit(ctx, r, func(res ingest.Result) {
			if res.Err != nil {
				b.Error(res.Err)
			}
			wg.Done()
		})
		if i%1_000_000 == 0 && i > 0 {
			b.Logf("filled %d readings (%.0f/s)", i, float64(i)/time.Since(start).Seconds())
		}
	}
	wg.Wait()
	p.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d readings in %s", todo, time.Since(start))
	return st, cps
}

// BenchmarkLargeInclusionProof: one inclusion proof for a random reading
// against the full tree.
func BenchmarkLargeInclusionProof(b *testing.B) {
	st, _ := largeStore(b)
	defer st.Close()
	ctx := context.Background()
	n := st.Size()
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.InclusionProof(ctx, rand.Int64N(n), n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLargeCheckpoint: tree root of the full store plus both signatures.
func BenchmarkLargeCheckpoint(b *testing.B) {
	st, cps := largeStore(b)
	defer st.Close()
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		root, err := st.TreeHash(ctx, st.Size())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cps.Sign(st.Size(), root); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLargeOpen: what start-up does with the store: open and migrate,
// find the size, verify the latest checkpoint against the stored tree.
func BenchmarkLargeOpen(b *testing.B) {
	st, cps := largeStore(b)
	path := st.Path()
	st.Close()
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		s, err := store.Open(path, "tally/gw-bench", store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		last, err := s.LatestCheckpoint(ctx)
		if err != nil {
			b.Fatal(err)
		}
		cp, err := checkpoint.Open(last.Note, cps.Keys())
		if err != nil {
			b.Fatal(err)
		}
		if root, err := tlog.TreeHash(cp.Size, s.HashReader(ctx)); err != nil || root != cp.Root {
			b.Fatalf("root mismatch: %v", err)
		}
		s.Close()
	}
}
