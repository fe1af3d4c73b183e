package ingest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/internal/testgw"
)

// BenchmarkSignAppend measures readings/s through the whole writer: dedup
// check, seq, deterministic CBOR, Ed25519 COSE signature, SQLite append with
// tree hashes, group commit with fsync, acknowledgement. Submitters are
// asynchronous, as MQTT's manual acks are.
func BenchmarkSignAppend(b *testing.B) {
	g := testgw.New(b, ingest.Config{})
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		g.Pipeline.Submit(ctx, temp("bench", i), func(res ingest.Result) {
			if res.Err != nil {
				b.Error(res.Err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
}
