package uplink

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/edge/store"
)

// fakeLog is a log in memory, for the stream order alone (the tests with a
// broker use a real store).
type fakeLog struct {
	readings    []store.Row
	checkpoints []store.Checkpoint
	scans       int
}

func (l *fakeLog) append(n int) {
	for range n {
		seq := int64(len(l.readings))
		l.readings = append(l.readings, store.Row{Seq: seq, Envelope: fmt.Appendf(nil, "r%d", seq)})
	}
}

func (l *fakeLog) checkpoint() {
	size := int64(len(l.readings))
	l.checkpoints = append(l.checkpoints, store.Checkpoint{Size: size, Note: fmt.Appendf(nil, "c%d", size)})
}

func (l *fakeLog) Readings(ctx context.Context, from int64, fn func(store.Row) error) error {
	for _, r := range l.readings {
		if r.Seq >= from {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *fakeLog) Checkpoints(ctx context.Context, fn func(store.Checkpoint) error) error {
	l.scans++
	for _, c := range l.checkpoints {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func (l *fakeLog) LatestCheckpoint(ctx context.Context) (store.Checkpoint, error) {
	if len(l.checkpoints) == 0 {
		return store.Checkpoint{}, store.ErrNotFound
	}
	return l.checkpoints[len(l.checkpoints)-1], nil
}

func (l *fakeLog) feed(batch int, nextReading, nextCheckpoint int64) *feed {
	return &feed{
		readings: l.Readings, batch: batch, next: nextReading,
		followers: []follower{newCheckpointFollower(nextCheckpoint, scanCheckpoints(l.Checkpoints), l.LatestCheckpoint)},
	}
}

// drain fetches until caught up and returns the payloads in stream order.
func drain(t *testing.T, f *feed) []string {
	t.Helper()
	var out []string
	for {
		items, err := f.fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			return out
		}
		for _, it := range items {
			out = append(out, string(it.payload))
		}
	}
}

func TestStreamOrder(t *testing.T) {
	// The ingest pipeline's order of writes: a checkpoint of size N is
	// written after reading N-1 and before reading N.
	l := &fakeLog{}
	l.checkpoint() // size 0
	l.append(3)
	l.checkpoint()
	l.append(4)
	l.checkpoint()
	l.append(3)
	l.checkpoint()
	want := "c0 r0 r1 r2 c3 r3 r4 r5 r6 c7 r7 r8 r9 c10"
	for _, batch := range []int{1, 2, 3, 4, 100} {
		t.Run(fmt.Sprint("batch", batch), func(t *testing.T) {
			if got := strings.Join(drain(t, l.feed(batch, 0, 0)), " "); got != want {
				t.Errorf("stream\n got %s\nwant %s", got, want)
			}
		})
	}
	// Resuming from cursors: readings from 5, checkpoints from size 4.
	if got := strings.Join(drain(t, l.feed(2, 5, 4)), " "); got != "r5 r6 c7 r7 r8 r9 c10" {
		t.Errorf("resumed stream: %s", got)
	}
	// A cursor pair left by a crash between the two cursor writes.
	if got := strings.Join(drain(t, l.feed(2, 9, 4)), " "); got != "c7 r9 c10" {
		t.Errorf("stream from readings 9, checkpoints 4: %s", got)
	}
}

// TestStreamLive interleaves fetching with writing: a checkpoint written
// after the stream caught up still goes right after its last reading.
func TestStreamLive(t *testing.T) {
	l := &fakeLog{}
	f := l.feed(4, 0, 0)
	var got []string
	step := func() { got = append(got, drain(t, f)...) }
	l.append(5)
	step()
	l.checkpoint()
	step()
	step()
	l.append(2)
	step()
	l.checkpoint()
	l.append(1)
	step()
	if s := strings.Join(got, " "); s != "r0 r1 r2 r3 r4 c5 r5 r6 c7 r7" {
		t.Errorf("stream: %s", s)
	}
}

// TestStreamLookahead: a long backlog of checkpoints is not rescanned for
// every batch of readings.
func TestStreamLookahead(t *testing.T) {
	l := &fakeLog{}
	for range 500 {
		l.append(10)
		l.checkpoint()
	}
	f := l.feed(25, 0, 0)
	n := 0
	for {
		items, err := f.fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			break
		}
		n += len(items)
	}
	if n != 5500 {
		t.Errorf("%d items, want 5500", n)
	}
	if max := 500/cpLookahead + 2; l.scans > max {
		t.Errorf("%d checkpoint scans for 500 checkpoints, want at most %d", l.scans, max)
	}
	// Caught up: polling does not scan.
	scans := l.scans
	for range 10 {
		if items, err := f.fetch(context.Background()); err != nil || len(items) != 0 {
			t.Fatal(items, err)
		}
	}
	if l.scans != scans {
		t.Errorf("polling while caught up scanned the checkpoints %d times", l.scans-scans)
	}
}

func TestStreamSkipsDeleted(t *testing.T) {
	l := &fakeLog{}
	l.append(6)
	l.readings[1].Envelope, l.readings[2].Envelope = nil, nil
	f := l.feed(10, 0, 0)
	var first, n int64
	f.skipped = func(a, b int64) { first, n = a, b }
	if got := strings.Join(drain(t, f), " "); got != "r0 r3 r4 r5" || first != 1 || n != 2 {
		t.Errorf("stream %s, skipped %d from %d", got, n, first)
	}
}

func TestBucket(t *testing.T) {
	b := newBucket(100) // burst 10
	now := time.Unix(0, 0)
	sent := 0
	for i := 0; i < 1000; i++ { // one second in 1 ms steps
		for b.delay(now) == 0 {
			b.take()
			sent++
		}
		now = now.Add(time.Millisecond)
	}
	if sent < 100 || sent > 111 {
		t.Errorf("%d messages in one second at rate 100", sent)
	}
	for b.delay(now) == 0 {
		b.take()
	}
	if d := b.delay(now); d <= 0 || d > 10*time.Millisecond {
		t.Errorf("delay with an empty bucket = %v", d)
	}
	if newBucket(0) != nil {
		t.Error("rate 0 must mean no bucket")
	}
}
