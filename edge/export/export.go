// Package export builds proof bundles from the gateway's store: what `tally
// export` writes and auditors check with `tally verify`.
package export

import (
	"context"
	"errors"
	"fmt"

	"github.com/tallygw/tally/anchor/bundle"
	"github.com/tallygw/tally/anchor/checkpoint"
	"github.com/tallygw/tally/edge/store"
)

// Bundle builds the proof bundle of reading seq: an inclusion proof to
// the first checkpoint covering it (so a reading's bundle does not change as
// the log grows) and, once a ledger anchor covers it, the first such anchor
// with a consistency proof from that checkpoint to the anchored one.
func Bundle(ctx context.Context, st *store.Store, pub checkpoint.Keys, seq int64) (*bundle.Bundle, error) {
	if seq < 0 || seq >= st.Size() {
		return nil, fmt.Errorf("there is no reading %d: the log holds 0..%d", seq, st.Size()-1)
	}
	cp, err := st.CheckpointCovering(ctx, seq)
	if errors.Is(err, store.ErrNotFound) {
		latest, lerr := st.LatestCheckpoint(ctx)
		if lerr != nil {
			return nil, fmt.Errorf("no checkpoint yet: the daemon signs one every checkpoint.interval, every checkpoint.max_readings readings and at shutdown")
		}
		return nil, fmt.Errorf("reading %d is not yet covered by a checkpoint (latest covers 0..%d); wait for the next checkpoint", seq, latest.Size-1)
	}
	if err != nil {
		return nil, err
	}
	env, err := st.Envelope(ctx, seq)
	if err != nil {
		return nil, err
	}
	proof, err := st.InclusionProof(ctx, seq, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof for %d: %w", seq, err)
	}
	pk, err := bundle.NewPublicKeys(pub)
	if err != nil {
		return nil, err
	}
	b := &bundle.Bundle{
		Format: bundle.Format, Origin: pub.Origin, Seq: seq, Envelope: env,
		TreeSize: cp.Size, Checkpoint: string(cp.Note), Keys: pk,
	}
	b.Inclusion = hashBytes(proof)
	an, err := st.AnchorCovering(ctx, seq)
	if errors.Is(err, store.ErrNotFound) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	acp, err := st.CheckpointOfSize(ctx, an.Size)
	if err != nil {
		return nil, fmt.Errorf("anchored checkpoint: %w", err)
	}
	cons, err := st.ConsistencyProof(ctx, cp.Size, an.Size)
	if err != nil {
		return nil, fmt.Errorf("consistency proof %d→%d: %w", cp.Size, an.Size, err)
	}
	b.Format = bundle.FormatAnchored
	b.Anchor = &bundle.Anchor{Checkpoint: string(acp.Note), Consistency: hashBytes(cons), Receipt: *an.Receipt}
	return b, nil
}

// hashBytes turns proof hashes into the byte strings bundles carry.
func hashBytes[H ~[32]byte](hs []H) [][]byte {
	out := make([][]byte, 0, len(hs))
	for _, h := range hs {
		out = append(out, append([]byte(nil), h[:]...))
	}
	return out
}
