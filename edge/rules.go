package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tallygw/tally/anchor/envelope"
	"github.com/tallygw/tally/edge/conditions"
	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/edge/store"
	"github.com/tallygw/tally/sensors"
)

// Cursor names of the condition rules' replay checkpoint in the store.
const (
	rulesFromCursor = "conditions.from"
	rulesDoneCursor = "conditions.done"
)

// rules evaluates the condition rules over the log as readings are
// committed and appends the events they fire as signed readings. It follows
// the store by seq, so it never slows ingest, and after a restart it
// replays from its persisted checkpoint so no event is lost or repeated.
type rules struct {
	engine   *conditions.Engine
	store    *store.Store
	pipeline *ingest.Pipeline
	log      *slog.Logger
	poll     time.Duration
	next     int64                 // the next seq to observe
	saved    conditions.Checkpoint // the checkpoint last written to the store
}

func newRules(cfg conditions.Config, st *store.Store, p *ingest.Pipeline, logger *slog.Logger) (*rules, error) {
	e, err := conditions.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("conditions: %w", err)
	}
	return &rules{engine: e, store: st, pipeline: p, log: logger, poll: 250 * time.Millisecond}, nil
}

// Run replays, then follows the log until ctx is done.
func (r *rules) Run(ctx context.Context) error {
	from, err := r.store.Cursor(ctx, rulesFromCursor)
	if err != nil {
		return err
	}
	done, err := r.store.Cursor(ctx, rulesDoneCursor)
	if err != nil {
		return err
	}
	end := r.store.Size()
	start := time.Now()
	r.saved = conditions.Checkpoint{From: from, Done: done}
	r.engine.BeginReplay(r.saved)
	r.next = from
	if err := r.follow(ctx, end, r.engine.Replay); err != nil {
		return err
	}
	if err := r.emit(ctx, r.engine.Resume()); err != nil {
		return err
	}
	r.log.Info("condition rules ready", "replayed", end-from, "took", time.Since(start).Round(time.Millisecond))
	t := time.NewTicker(r.poll)
	defer t.Stop()
	lastTick := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			report := func(err error) {
				if err != nil && ctx.Err() == nil {
					r.log.Error("condition event not appended", "err", err)
				}
			}
			err := r.follow(ctx, r.store.Size(), func(o conditions.Observed) {
				report(r.emit(ctx, r.engine.Observe(o)))
			})
			if ctx.Err() != nil {
				return nil // shutting down; the checkpoint in the store is consistent
			}
			if err != nil {
				return err
			}
			if now.Sub(lastTick) >= time.Second {
				lastTick = now
				report(r.emit(ctx, r.engine.Tick(now)))
			}
		}
	}
}

// follow feeds readings r.next..end-1 to fn in seq order.
func (r *rules) follow(ctx context.Context, end int64, fn func(conditions.Observed)) error {
	if r.next >= end {
		return nil
	}
	errStop := errors.New("stop")
	err := r.store.Readings(ctx, r.next, func(row store.Row) error {
		if row.Seq >= end {
			return errStop
		}
		r.next = row.Seq + 1
		if row.Envelope == nil {
			return nil // deleted by retention: nothing to evaluate
		}
		p, err := envelope.Decode(row.Envelope)
		if err != nil {
			r.log.Error("condition rules skip an undecodable reading; run tally audit", "seq", row.Seq, "err", err)
			return nil
		}
		fn(conditions.Observed{Seq: row.Seq, Reading: readingOf(p), Recv: time.UnixMicro(p.RecvUS)})
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("condition rules: %w", err)
	}
	return nil
}

// emit appends events in order, then records the engine's checkpoint.
func (r *rules) emit(ctx context.Context, events []conditions.Event) error {
	for _, ev := range events {
		if err := r.pipeline.Accept(ctx, ev.Reading()); err != nil {
			return fmt.Errorf("append %s event of rule %s: %w", ev.Kind, ev.Rule, err)
		}
		r.log.Info("condition event", "rule", ev.Rule, "kind", ev.Kind, "sensor", ev.Sensor, "detail", ev.Detail)
	}
	cp := r.engine.Checkpoint()
	if cp == r.saved {
		return nil
	}
	r.saved = cp
	now := time.Now()
	if err := r.store.SetCursor(ctx, rulesFromCursor, cp.From, now); err != nil {
		return err
	}
	return r.store.SetCursor(ctx, rulesDoneCursor, cp.Done, now)
}

// readingOf turns a stored payload back into the reading a driver produced.
func readingOf(p *envelope.Payload) sensors.Reading {
	r := sensors.Reading{Sensor: p.Sensor, Kind: p.Kind, Clock: p.Clock, Container: p.Container, MsgID: p.MsgID, Data: p.Data, Raw: p.Raw}
	if p.SensorUS != nil {
		r.Time = time.UnixMicro(*p.SensorUS)
	}
	return r
}
