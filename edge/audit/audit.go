// Package audit re-verifies a whole store: every reading's signature and
// payload, that seq runs from 0 with no hole and no reordering, every stored
// tree hash, and every checkpoint's signatures and root. It names the first
// bad seq or checkpoint.
package audit

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/tallygw/tally/anchor/bundle"
	"github.com/tallygw/tally/anchor/checkpoint"
	"github.com/tallygw/tally/anchor/envelope"
	"github.com/tallygw/tally/anchor/ledger"
	"github.com/tallygw/tally/edge/store"
)

// Failure is the first problem the audit found.
type Failure struct {
	Seq        int64 // the first bad reading, or -1
	Checkpoint int64 // the size of the first bad checkpoint, or -1
	Reason     string
}

func (f *Failure) Error() string {
	if f.Checkpoint >= 0 {
		return fmt.Sprintf("checkpoint at size %d: %s", f.Checkpoint, f.Reason)
	}
	return fmt.Sprintf("seq %d: %s", f.Seq, f.Reason)
}

// Report summarises a passing audit.
type Report struct {
	Readings    int64
	TreeHashes  int64
	Checkpoints int64
	Root        tlog.Hash
}

// Run audits st for the gateway with keys. progress, when not nil, is called
// every so often with the number of readings checked.
func Run(ctx context.Context, st *store.Store, keys checkpoint.Keys, gateway string, progress func(done, total int64)) (*Report, error) {
	total := st.Size()
	rep := &Report{}
	const chunk = 4096
	var rows []store.Row
	next := int64(0)
	hr := st.HashReader(ctx)

	flush := func() error {
		errs := verifyAll(rows, keys, gateway)
		for i, r := range rows {
			if errs[i] != nil {
				return &Failure{Seq: r.Seq, Checkpoint: -1, Reason: errs[i].Error()}
			}
			want, err := store.LeafHashes(r.Seq, r.Envelope, hr)
			if err != nil {
				return &Failure{Seq: r.Seq, Checkpoint: -1, Reason: fmt.Sprintf("tree hashes of earlier readings missing: %v", err)}
			}
			if string(want) != string(r.Hashes) {
				return &Failure{Seq: r.Seq, Checkpoint: -1, Reason: "stored tree hashes do not match the envelope (envelope changed, or rows moved)"}
			}
			rep.TreeHashes += int64(len(want) / tlog.HashSize)
		}
		rep.Readings += int64(len(rows))
		if progress != nil {
			progress(rep.Readings, total)
		}
		rows = rows[:0]
		return nil
	}
	err := st.Readings(ctx, 0, func(r store.Row) error {
		if r.Seq != next {
			if r.Seq > next {
				return &Failure{Seq: next, Checkpoint: -1, Reason: fmt.Sprintf("reading is missing (next stored seq is %d)", r.Seq)}
			}
			return &Failure{Seq: r.Seq, Checkpoint: -1, Reason: "seq out of order"}
		}
		next++
		rows = append(rows, r)
		if len(rows) == chunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, err
	}
	if next != total {
		return nil, &Failure{Seq: next, Checkpoint: -1, Reason: fmt.Sprintf("reading is missing: the log has size %d", total)}
	}
	err = st.Checkpoints(ctx, func(c store.Checkpoint) error {
		cp, err := checkpoint.Open(c.Note, keys)
		if err != nil {
			return &Failure{Seq: -1, Checkpoint: c.Size, Reason: err.Error()}
		}
		if cp.Size != c.Size {
			return &Failure{Seq: -1, Checkpoint: c.Size, Reason: fmt.Sprintf("signed size %d differs from the stored size", cp.Size)}
		}
		if cp.Size > total {
			return &Failure{Seq: -1, Checkpoint: c.Size, Reason: fmt.Sprintf("covers %d readings but the log holds only %d (readings deleted?)", cp.Size, total)}
		}
		root, err := tlog.TreeHash(cp.Size, hr)
		if err != nil {
			return &Failure{Seq: -1, Checkpoint: c.Size, Reason: fmt.Sprintf("cannot compute tree root: %v", err)}
		}
		if root != cp.Root {
			return &Failure{Seq: -1, Checkpoint: c.Size, Reason: "signed root does not match the stored readings"}
		}
		rep.Checkpoints++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if total > 0 {
		rep.Root, err = tlog.TreeHash(total, hr)
		if err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// verifyAll checks signatures and payloads of rows using every CPU.
func verifyAll(rows []store.Row, keys checkpoint.Keys, gateway string) []error {
	errs := make([]error, len(rows))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(rows); i += workers {
				errs[i] = verifyRow(rows[i], keys, gateway)
			}
		}()
	}
	wg.Wait()
	return errs
}

func verifyRow(r store.Row, keys checkpoint.Keys, gateway string) error {
	if r.Envelope == nil {
		return fmt.Errorf("envelope is missing")
	}
	p, err := envelope.Verify(r.Envelope, keys.Ed25519)
	if err != nil {
		return err
	}
	switch {
	case int64(p.Seq) != r.Seq:
		return fmt.Errorf("envelope is signed for seq %d (rows swapped or moved)", p.Seq)
	case p.Gateway != gateway:
		return fmt.Errorf("envelope is signed by gateway %q, not %q", p.Gateway, gateway)
	case p.Sensor != r.Sensor || p.Kind != r.Kind || p.RecvUS != r.RecvUS || p.MsgID != r.MsgID:
		return fmt.Errorf("index columns (sensor, kind, time, msg_id) differ from the signed envelope")
	}
	return nil
}

// Anchors checks every final ledger anchor in the store: the anchored
// checkpoint is the stored one of that size, its receipt's evidence verifies
// offline against trust, and the transaction carries that checkpoint. The
// checkpoints themselves are checked by Run. It returns how many it checked.
func Anchors(ctx context.Context, st *store.Store, trust ledger.Trust) (int, error) {
	n := 0
	err := st.FinalAnchors(ctx, func(a store.Anchor) error {
		cp, err := st.CheckpointOfSize(ctx, a.Size)
		if err != nil {
			return fmt.Errorf("anchor of tree size %d: no such checkpoint in the store: %w", a.Size, err)
		}
		an, err := ledger.FromNote(cp.Note)
		if err != nil {
			return fmt.Errorf("anchor of tree size %d: %w", a.Size, err)
		}
		if a.Receipt == nil {
			return fmt.Errorf("anchor of tree size %d is final but has no receipt", a.Size)
		}
		var s ledger.Steps
		if err := bundle.VerifyReceipt(&s, a.Receipt, an, bundle.Options{Trust: trust}); err != nil {
			return fmt.Errorf("anchor of tree size %d (tx %s): %w", a.Size, a.Receipt.TxID, err)
		}
		n++
		return nil
	})
	return n, err
}
