package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tallygw/tally/anchor/ledger"
)

// Anchor states. An anchor row moves prepared → broadcast → final; a
// prepared or broadcast row the ledger never took is replaced (abandoned) by
// a newer checkpoint's.
const (
	AnchorPrepared  = "prepared"
	AnchorBroadcast = "broadcast"
	AnchorFinal     = "final"
	AnchorAbandoned = "abandoned"
)

// Anchor is one anchoring attempt of the checkpoint of tree size Size.
type Anchor struct {
	Size        int64
	State       string
	Submission  ledger.Submission
	PreparedAt  time.Time
	BroadcastAt time.Time // zero until the ledger took it
	FinalAt     time.Time // zero until final
	Receipt     *ledger.Receipt
}

// PutAnchor inserts or replaces the anchor row of a.Size.
func (s *Store) PutAnchor(ctx context.Context, a Anchor) error {
	sub, err := json.Marshal(a.Submission)
	if err != nil {
		return err
	}
	var rcpt []byte
	if a.Receipt != nil {
		if rcpt, err = json.Marshal(a.Receipt); err != nil {
			return err
		}
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO anchors(size, ledger, tx_id, state, submission, prepared_us, broadcast_us, final_us, receipt)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(size) DO UPDATE SET ledger = excluded.ledger, tx_id = excluded.tx_id, state = excluded.state,
			submission = excluded.submission, prepared_us = excluded.prepared_us, broadcast_us = excluded.broadcast_us,
			final_us = excluded.final_us, receipt = excluded.receipt`,
		a.Size, a.Submission.Ledger, a.Submission.TxID, a.State, sub, a.PreparedAt.UnixMicro(),
		nullTime(a.BroadcastAt), nullTime(a.FinalAt), rcpt)
	if err != nil {
		return fmt.Errorf("write anchor of size %d: %w", a.Size, err)
	}
	return nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

const anchorCols = `size, state, submission, prepared_us, broadcast_us, final_us, receipt`

func scanAnchor(row interface{ Scan(...any) error }) (Anchor, error) {
	var a Anchor
	var sub, rcpt []byte
	var prep int64
	var bc, fin sql.NullInt64
	if err := row.Scan(&a.Size, &a.State, &sub, &prep, &bc, &fin, &rcpt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return a, fmt.Errorf("anchor: %w", ErrNotFound)
		}
		return a, err
	}
	if err := json.Unmarshal(sub, &a.Submission); err != nil {
		return a, fmt.Errorf("anchor of size %d: stored submission: %w", a.Size, err)
	}
	if rcpt != nil {
		a.Receipt = new(ledger.Receipt)
		if err := json.Unmarshal(rcpt, a.Receipt); err != nil {
			return a, fmt.Errorf("anchor of size %d: stored receipt: %w", a.Size, err)
		}
	}
	a.PreparedAt = time.UnixMicro(prep)
	if bc.Valid {
		a.BroadcastAt = time.UnixMicro(bc.Int64)
	}
	if fin.Valid {
		a.FinalAt = time.UnixMicro(fin.Int64)
	}
	return a, nil
}

// OpenAnchor returns the newest anchor not yet final nor abandoned, or
// ErrNotFound.
func (s *Store) OpenAnchor(ctx context.Context) (Anchor, error) {
	return scanAnchor(s.r.QueryRowContext(ctx, `SELECT `+anchorCols+` FROM anchors WHERE state IN (?, ?) ORDER BY size DESC LIMIT 1`, AnchorPrepared, AnchorBroadcast))
}

// LatestAnchor returns the final anchor of the largest tree, or ErrNotFound.
func (s *Store) LatestAnchor(ctx context.Context) (Anchor, error) {
	return scanAnchor(s.r.QueryRowContext(ctx, `SELECT `+anchorCols+` FROM anchors WHERE state = ? ORDER BY size DESC LIMIT 1`, AnchorFinal))
}

// AnchorCovering returns the first final anchor whose tree holds seq, or
// ErrNotFound.
func (s *Store) AnchorCovering(ctx context.Context, seq int64) (Anchor, error) {
	return scanAnchor(s.r.QueryRowContext(ctx, `SELECT `+anchorCols+` FROM anchors WHERE state = ? AND size > ? ORDER BY size LIMIT 1`, AnchorFinal, seq))
}

// FinalAnchors calls fn for every final anchor in tree-size order.
func (s *Store) FinalAnchors(ctx context.Context, fn func(Anchor) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT `+anchorCols+` FROM anchors WHERE state = ? ORDER BY size`, AnchorFinal)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAnchor(rows)
		if err != nil {
			return err
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// CheckpointCovering returns the first checkpoint whose tree holds seq, or
// ErrNotFound.
func (s *Store) CheckpointCovering(ctx context.Context, seq int64) (Checkpoint, error) {
	var c Checkpoint
	err := s.r.QueryRowContext(ctx, `SELECT size, created_us, note FROM checkpoints WHERE size > ? ORDER BY size LIMIT 1`, seq).Scan(&c.Size, &c.CreatedUS, &c.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("checkpoint: %w", ErrNotFound)
	}
	return c, err
}

// CheckpointOfSize returns the checkpoint of tree size n, or ErrNotFound.
func (s *Store) CheckpointOfSize(ctx context.Context, n int64) (Checkpoint, error) {
	var c Checkpoint
	err := s.r.QueryRowContext(ctx, `SELECT size, created_us, note FROM checkpoints WHERE size = ?`, n).Scan(&c.Size, &c.CreatedUS, &c.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("checkpoint of size %d: %w", n, ErrNotFound)
	}
	return c, err
}
