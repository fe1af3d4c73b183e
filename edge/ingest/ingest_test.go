package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tallygw/tally/anchor/envelope"
	"github.com/tallygw/tally/edge/audit"
	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/internal/testgw"
	"github.com/tallygw/tally/sensors"
)

func temp(sensor string, i int) sensors.Reading {
	return sensors.Reading{Sensor: sensor, Kind: sensors.KindTemperature, Data: map[string]any{"celsius": -18.0 + float64(i%10)/10, "probe": "supply"}}
}

func TestConcurrentAcceptAuditAndCheckpoints(t *testing.T) {
	g := testgw.New(t, ingest.Config{CheckpointMax: 500, MaxBatch: 256})
	ctx := context.Background()
	const writers, each = 8, 400
	var wg sync.WaitGroup
	seqs := make(chan int64, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				res := g.Pipeline.AcceptResult(ctx, temp(fmt.Sprintf("probe-%d", w), i))
				if res.Err != nil {
					t.Error(res.Err)
					return
				}
				seqs <- res.Seq
			}
		}()
	}
	wg.Wait()
	close(seqs)
	seen := map[int64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("seq %d given twice", s)
		}
		seen[s] = true
	}
	for i := int64(0); i < writers*each; i++ {
		if !seen[i] {
			t.Fatalf("seq %d never given", i)
		}
	}
	g.Stop(t)
	g.Reopen(t, ingest.Config{})
	rep, err := audit.Run(ctx, g.Store, g.Pub, g.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Readings != writers*each {
		t.Fatalf("audit saw %d readings, want %d", rep.Readings, writers*each)
	}
	// max_readings 500 over 3200 readings, plus the final one at shutdown.
	if rep.Checkpoints < 6 {
		t.Fatalf("only %d checkpoints", rep.Checkpoints)
	}
	env, err := g.Store.Envelope(ctx, 1234)
	if err != nil {
		t.Fatal(err)
	}
	p, err := envelope.Verify(env, g.Pub.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	if p.Seq != 1234 || p.Kind != "temperature" || p.Gateway != "gw-test" || len(p.Salt) != 16 {
		t.Fatalf("payload %+v", p)
	}
}

func TestDuplicatesKeepFirst(t *testing.T) {
	g := testgw.New(t, ingest.Config{})
	ctx := context.Background()
	r := temp("seal-reader", 1)
	r.MsgID = "1000821:34"
	first := g.Pipeline.AcceptResult(ctx, r)
	if first.Err != nil || first.Duplicate {
		t.Fatalf("first: %+v", first)
	}
	r.Data = map[string]any{"celsius": 99.0}
	second := g.Pipeline.AcceptResult(ctx, r)
	if second.Err != nil || !second.Duplicate {
		t.Fatalf("second: %+v", second)
	}
	if g.Store.Size() != 1 {
		t.Fatalf("size %d after a duplicate", g.Store.Size())
	}
	// Survives a restart: the key is in the database, not only in memory.
	g.Reopen(t, ingest.Config{})
	third := g.Pipeline.AcceptResult(ctx, r)
	if !third.Duplicate {
		t.Fatalf("after restart: %+v", third)
	}
}

func TestInvalidReadingRefusedOthersKept(t *testing.T) {
	g := testgw.New(t, ingest.Config{})
	ctx := context.Background()
	bad := sensors.Reading{Sensor: "x", Kind: "temperature", Time: time.Now()} // time without clock
	if err := g.Pipeline.Accept(ctx, bad); err == nil {
		t.Fatal("reading with time but no clock accepted")
	}
	unencodable := sensors.Reading{Sensor: "x", Kind: "temperature", Data: map[string]any{"f": func() {}}}
	if err := g.Pipeline.Accept(ctx, unencodable); err == nil {
		t.Fatal("unencodable reading accepted")
	}
	if err := g.Pipeline.Accept(ctx, temp("x", 1)); err != nil {
		t.Fatal(err)
	}
	if g.Store.Size() != 1 {
		t.Fatalf("size %d", g.Store.Size())
	}
	g.Stop(t)
	g.Reopen(t, ingest.Config{})
	if _, err := audit.Run(ctx, g.Store, g.Pub, g.ID, nil); err != nil {
		t.Fatal(err)
	}
}

func TestClosedRefuses(t *testing.T) {
	g := testgw.New(t, ingest.Config{})
	g.Pipeline.Close()
	if err := g.Pipeline.Accept(context.Background(), temp("x", 1)); err != ingest.ErrClosed {
		t.Fatalf("got %v, want ErrClosed", err)
	}
}
