package uplink

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tallygw/tally/edge/store"
)

// kind is what a stream item carries. Items placed at the same log position
// go in the order of these constants.
type kind uint8

const (
	// kindCheckpoint: the signed checkpoint note of tree size N, placed at
	// log position N, so right after reading N-1 and before reading N.
	kindCheckpoint kind = iota
	// Anchor receipts join here, as kindReceipt: a receipt for the
	// checkpoint of size N is placed at position N, after that checkpoint.
	// Receipts exist only once the ledger answered, usually after later
	// readings went out; a follower may return items whose position the
	// stream has passed, and they go out as soon as they are read, still
	// after the checkpoint they anchor. To add them: name the kind in
	// String (topic <prefix>/receipts and cursor "uplink.receipts"
	// follow), give newRun a follower reading them from the store by key
	// (see checkpointFollower), and count them in Status.
	kindReading
	numKinds
)

func (k kind) String() string {
	switch k {
	case kindCheckpoint:
		return "checkpoint"
	case kindReading:
		return "reading"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// cursorName is the store cursor that records how far this kind of item
// has been confirmed upstream: every item with a key below it is.
func (k kind) cursorName() string { return "uplink." + k.String() + "s" }

// topic is the topic suffix of the kind.
func (k kind) topic() string { return "/" + k.String() + "s" }

// item is one message of the stream.
type item struct {
	kind kind
	// key orders items of one kind: the reading's seq, the checkpoint's
	// tree size. Once the item is confirmed its kind's cursor moves to key+1.
	key int64
	// at is the item's log position: it goes after readings 0..at-1 and
	// before reading at. A reading's position is its seq.
	at      int64
	payload []byte
}

// before is the stream order: by log position, then by kind.
func (a item) before(b item) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.kind < b.kind
}

// errStop ends a store iteration early.
var errStop = errors.New("stop")

// follower is a source of items placed relative to the readings
// (checkpoints; anchor receipts later). take returns, in key order, every
// item not yet taken whose log position is at most upTo, and forgets them.
// It is called only after the readings below upTo were read, so an item
// written before those readings is found.
type follower interface {
	take(ctx context.Context, upTo int64) ([]item, error)
}

// feed reads the stream from the store in order, batch by batch. It never
// goes back: items it returned are the caller's until confirmed.
type feed struct {
	readings  func(ctx context.Context, from int64, fn func(store.Row) error) error
	batch     int                  // readings per fetch
	next      int64                // next reading seq to read
	followers []follower           // placed among the readings by position
	skipped   func(first, n int64) // told about readings whose envelope is gone
}

// fetch returns the next items of the stream in order: up to batch
// readings and whatever follows them. None means caught up.
func (f *feed) fetch(ctx context.Context) ([]item, error) {
	var out []item
	var gone, firstGone int64
	err := f.readings(ctx, f.next, func(r store.Row) error {
		f.next = r.Seq + 1
		if r.Envelope == nil {
			// Deleted by retention before the uplink forwarded it: the
			// uplink was enabled later than retention ran.
			if gone == 0 {
				firstGone = r.Seq
			}
			gone++
			return nil
		}
		out = append(out, item{kind: kindReading, key: r.Seq, at: r.Seq, payload: r.Envelope})
		if len(out) >= f.batch {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if gone > 0 && f.skipped != nil {
		f.skipped(firstGone, gone)
	}
	n := len(out)
	for _, fl := range f.followers {
		more, err := fl.take(ctx, f.next)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	if len(out) > n {
		slices.SortStableFunc(out, func(a, b item) int {
			switch {
			case a.before(b):
				return -1
			case b.before(a):
				return 1
			}
			return 0
		})
	}
	return out, nil
}

// cpLookahead is how many checkpoints beyond the readings read so far one
// scan of the checkpoints table keeps, so a long backlog does not rescan
// the table for every batch of readings.
const cpLookahead = 64

// checkpointFollower places signed checkpoints in the stream. The ingest
// pipeline writes the checkpoint of size N before it appends reading N, so
// once reading N-1 is read, a scan finds every checkpoint up to size N-1,
// and the one of size N if it exists yet.
type checkpointFollower struct {
	// scan calls fn for every checkpoint with size >= from, in size order.
	scan   func(ctx context.Context, from int64, fn func(store.Checkpoint) error) error
	latest func(ctx context.Context) (store.Checkpoint, error)
	next   int64              // smallest size not yet taken
	seen   int64              // every checkpoint with size <= seen is in queue or taken
	queue  []store.Checkpoint // read ahead, sizes ascending, all >= next
}

func newCheckpointFollower(next int64, scan func(context.Context, int64, func(store.Checkpoint) error) error, latest func(context.Context) (store.Checkpoint, error)) *checkpointFollower {
	return &checkpointFollower{scan: scan, latest: latest, next: next, seen: next - 1}
}

func (c *checkpointFollower) take(ctx context.Context, upTo int64) ([]item, error) {
	if c.seen < upTo {
		if err := c.read(ctx, upTo); err != nil {
			return nil, err
		}
	}
	var out []item
	for len(c.queue) > 0 && c.queue[0].Size <= upTo {
		cp := c.queue[0]
		c.queue[0] = store.Checkpoint{}
		c.queue = c.queue[1:]
		out = append(out, item{kind: kindCheckpoint, key: cp.Size, at: cp.Size, payload: cp.Note})
		c.next = cp.Size + 1
	}
	return out, nil
}

// read extends the queue with checkpoints above seen: at least those up to
// upTo, and up to cpLookahead more.
func (c *checkpointFollower) read(ctx context.Context, upTo int64) error {
	latest, err := c.latest(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if latest.Size <= c.seen {
		return nil // nothing new: the cheap answer while caught up
	}
	from := max(c.seen+1, c.next)
	seen, ahead := latest.Size, 0
	err = c.scan(ctx, from, func(cp store.Checkpoint) error {
		if cp.Size < from {
			return nil
		}
		c.queue = append(c.queue, cp)
		seen = max(seen, cp.Size)
		if cp.Size > upTo {
			ahead++
			if ahead >= cpLookahead {
				seen = cp.Size
				return errStop
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	c.seen = seen
	return nil
}

// scanCheckpoints adapts a store without a ranged checkpoint query: it
// walks every checkpoint and skips those below from.
func scanCheckpoints(all func(ctx context.Context, fn func(store.Checkpoint) error) error) func(context.Context, int64, func(store.Checkpoint) error) error {
	return func(ctx context.Context, from int64, fn func(store.Checkpoint) error) error {
		return all(ctx, func(cp store.Checkpoint) error {
			if cp.Size < from {
				return nil
			}
			return fn(cp)
		})
	}
}
