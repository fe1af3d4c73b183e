package ingest_test

import (
	"context"
	"errors"
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

func TestDiskBudgetRefusesThenSignsGapEvent(t *testing.T) {
	g := testgw.New(t, ingest.Config{})
	ctx := context.Background()
	if err := g.Pipeline.Accept(ctx, temp("reefer-1", 0)); err != nil {
		t.Fatal(err)
	}
	// A budget below what the database already uses: everything is refused,
	// counted per sensor, and survives a restart.
	g.Reopen(t, ingest.Config{DiskBudget: 1})
	for i := range 5 {
		if err := g.Pipeline.Accept(ctx, temp("reefer-1", i)); !errors.Is(err, ingest.ErrDiskBudget) {
			t.Fatalf("reading %d: %v, want ErrDiskBudget", i, err)
		}
	}
	if err := g.Pipeline.Accept(ctx, temp("gps-1", 0)); !errors.Is(err, ingest.ErrDiskBudget) {
		t.Fatal(err)
	}
	if g.Store.Size() != 1 {
		t.Fatalf("size %d while over budget", g.Store.Size())
	}
	// Space returns (here: the budget is lifted at restart).
	g.Reopen(t, ingest.Config{})
	res := g.Pipeline.AcceptResult(ctx, temp("reefer-1", 9))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if res.Seq != 2 {
		t.Fatalf("reading after the gap has seq %d, want 2 (after the gap event)", res.Seq)
	}
	env, _ := g.Store.Envelope(ctx, 1)
	p, err := envelope.Verify(env, g.Pub.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	refused, _ := p.Data["refused"].(map[any]any)
	if p.Kind != "event" || p.Data["kind"] != "gap" || refused["reefer-1"] != int64(5) || refused["gps-1"] != int64(1) || p.Data["refused_total"] != int64(6) {
		t.Fatalf("gap event %+v", p.Data)
	}
	// Reported once: the next reading is not preceded by another gap event.
	if res := g.Pipeline.AcceptResult(ctx, temp("reefer-1", 10)); res.Seq != 3 {
		t.Fatalf("seq %d, want 3", res.Seq)
	}
}
