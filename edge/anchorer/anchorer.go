// Package anchorer anchors the gateway's latest signed checkpoint on a
// ledger in the background. It never blocks ingest: it only reads the store
// and writes its own anchors table.
//
// Each anchor is keyed by tree size and moves prepared → broadcast → final,
// recorded before each step, so a restart asks the ledger what became of the
// open submission instead of anchoring twice. A submission the ledger does
// not know (the broadcast never arrived, or was dropped) is replaced by one
// for the newest checkpoint: after an outage one anchor covers the whole
// backlog. Failures are retried with exponential backoff; a tx the ledger
// holds but does not commit (a stalled chain) is re-checked every RetryMin
// instead, so anchoring resumes as soon as the chain does.
package anchorer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tallygw/tally/anchor/ledger"
	"github.com/tallygw/tally/edge/store"
)

// Options tune the scheduler; zero values take the defaults.
type Options struct {
	Interval   time.Duration // between anchors; default 10 min
	RetryMin   time.Duration // first retry after a failure; default 2 s
	RetryMax   time.Duration // longest wait between retries; default 5 min
	Poll       time.Duration // how often the ledger is asked while a tx is pending; default 500 ms
	StaleAfter time.Duration // a tx pending longer than this is reported as an error; default 2 min
	Grace      time.Duration // a broadcast tx the ledger does not know yet is waited for this long; default 15 s
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Interval, 10*time.Minute)
	def(&o.RetryMin, 2*time.Second)
	def(&o.RetryMax, 5*time.Minute)
	def(&o.Poll, 500*time.Millisecond)
	def(&o.StaleAfter, 2*time.Minute)
	def(&o.Grace, 15*time.Second)
}

// Status is the anchoring part of /api/status.
type Status struct {
	Backend          string     `json:"backend"`
	State            string     `json:"state"` // idle, submitting, waiting for the ledger, retrying
	LastAnchoredSize int64      `json:"last_anchored_size"`
	LastAnchoredAt   *time.Time `json:"last_anchored_at,omitempty"` // when the ledger's block was made
	AgeSeconds       float64    `json:"age_seconds,omitempty"`
	LastTxID         string     `json:"last_tx_id,omitempty"`
	LastHeight       int64      `json:"last_height,omitempty"`
	LastLatencyMS    float64    `json:"last_latency_ms,omitempty"` // prepare → final
	Backlog          int64      `json:"backlog"`                   // readings not covered by an anchor yet
	Pending          *Pending   `json:"pending,omitempty"`
	Anchors          int64      `json:"anchors_this_run"`
	Failures         int64      `json:"failures_this_run"`
	LastError        string     `json:"last_error,omitempty"`
	LastErrorAt      *time.Time `json:"last_error_at,omitempty"`
	NextAttempt      *time.Time `json:"next_attempt,omitempty"`
}

// Pending is the open submission.
type Pending struct {
	Size  int64     `json:"size"`
	TxID  string    `json:"tx_id"`
	State string    `json:"state"`
	Since time.Time `json:"since"`
}

// Anchorer is the background anchoring loop.
type Anchorer struct {
	st   *store.Store
	be   ledger.Backend
	log  *slog.Logger
	opts Options
	now  func() time.Time

	trigger chan struct{}

	mu     sync.Mutex
	status Status
}

// New returns an anchorer; reg, when not nil, gets its metrics.
func New(st *store.Store, be ledger.Backend, log *slog.Logger, opts Options, reg prometheus.Registerer) *Anchorer {
	opts.defaults()
	a := &Anchorer{st: st, be: be, log: log, opts: opts, now: time.Now, trigger: make(chan struct{}, 1),
		status: Status{Backend: be.Kind(), State: "starting"}}
	if reg != nil {
		a.register(reg)
	}
	return a
}

// Trigger asks for an anchor now instead of at the next interval.
func (a *Anchorer) Trigger() {
	select {
	case a.trigger <- struct{}{}:
	default:
	}
}

// Status returns the current status, with age and backlog computed now.
func (a *Anchorer) Status() Status {
	a.mu.Lock()
	s := a.status
	a.mu.Unlock()
	if s.LastAnchoredAt != nil {
		s.AgeSeconds = a.now().Sub(*s.LastAnchoredAt).Seconds()
	}
	s.Backlog = max(a.st.Size()-s.LastAnchoredSize, 0)
	return s
}

func (a *Anchorer) update(fn func(*Status)) {
	a.mu.Lock()
	fn(&a.status)
	a.mu.Unlock()
}

func (a *Anchorer) register(reg prometheus.Registerer) {
	gauge := func(name, help string, f func(Status) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(a.Status()) })
	}
	counter := func(name, help string, f func(Status) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(a.Status()) })
	}
	reg.MustRegister(
		gauge("tally_anchor_last_size", "Tree size of the newest checkpoint anchored on the ledger.", func(s Status) float64 { return float64(s.LastAnchoredSize) }),
		gauge("tally_anchor_age_seconds", "Seconds since the newest anchor's block (0 before the first).", func(s Status) float64 { return s.AgeSeconds }),
		gauge("tally_anchor_backlog_readings", "Readings not yet covered by an anchor.", func(s Status) float64 { return float64(s.Backlog) }),
		gauge("tally_anchor_last_latency_seconds", "Prepare-to-final time of the newest anchor.", func(s Status) float64 { return s.LastLatencyMS / 1000 }),
		gauge("tally_anchor_failing", "1 while the last anchoring attempt failed.", func(s Status) float64 {
			if s.LastError != "" {
				return 1
			}
			return 0
		}),
		counter("tally_anchor_anchors_total", "Anchors made final since start.", func(s Status) float64 { return float64(s.Anchors) }),
		counter("tally_anchor_failures_total", "Failed anchoring attempts since start.", func(s Status) float64 { return float64(s.Failures) }),
	)
}

// load takes the newest final anchor from the store.
func (a *Anchorer) load(ctx context.Context) error {
	last, err := a.st.LatestAnchor(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	a.noteFinal(last, false)
	return nil
}

// Once anchors the newest checkpoint now and waits until it is final (or
// fails): for a store no daemon is running on.
func (a *Anchorer) Once(ctx context.Context) error {
	if err := a.load(ctx); err != nil {
		return err
	}
	return a.cycle(ctx)
}

// Run anchors until ctx is cancelled.
func (a *Anchorer) Run(ctx context.Context) error {
	if err := a.load(ctx); err != nil {
		return err
	}
	wait := a.opts.RetryMin
	var stalledSince time.Time // when the current stall was first reported
	for {
		err := a.cycle(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var next time.Duration
		var stall *stalledError
		switch {
		case errors.As(err, &stall):
			// The ledger holds the tx but makes no blocks. Asking it is one
			// cheap call, so it is asked every RetryMin: anchoring resumes
			// as soon as the chain does, however long the stall lasted.
			// Reported (log, failure count) once per stall.
			next = a.opts.RetryMin
			at := a.now()
			nextAt := at.Add(next)
			first := stalledSince.IsZero()
			if first {
				stalledSince = at
			}
			a.update(func(s *Status) {
				s.State, s.LastError, s.LastErrorAt, s.NextAttempt = "waiting for the ledger", err.Error(), &at, &nextAt
				if first {
					s.Failures++
				}
			})
			if first {
				a.log.Warn("the ledger is not committing the anchor tx; ingest goes on, and the tx is re-checked until the chain makes blocks again", "err", err, "recheck_every", next)
			}
		case err != nil:
			stalledSince = time.Time{}
			next = wait
			wait = min(wait*2, a.opts.RetryMax)
			at := a.now()
			nextAt := at.Add(next)
			a.update(func(s *Status) {
				s.State, s.LastError, s.LastErrorAt, s.NextAttempt = "retrying", err.Error(), &at, &nextAt
				s.Failures++
			})
			a.log.Warn("anchoring failed; readings stay covered by signed checkpoints and will be anchored later", "err", err, "retry_in", next)
		default:
			if !stalledSince.IsZero() {
				a.log.Info("the ledger is committing again", "stalled_for", a.now().Sub(stalledSince).Round(time.Second))
				stalledSince = time.Time{}
			}
			wait = a.opts.RetryMin
			next = a.opts.Interval
			nextAt := a.now().Add(next)
			a.update(func(s *Status) { s.State, s.LastError, s.LastErrorAt, s.NextAttempt = "idle", "", nil, &nextAt })
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-a.trigger:
			t.Stop()
		case <-t.C:
		}
	}
}

// cycle brings the newest checkpoint to a final anchor, or returns why not.
func (a *Anchorer) cycle(ctx context.Context) error {
	for {
		open, err := a.st.OpenAnchor(ctx)
		if errors.Is(err, store.ErrNotFound) {
			latest, err := a.st.LatestCheckpoint(ctx)
			if errors.Is(err, store.ErrNotFound) {
				return nil // nothing signed yet
			}
			if err != nil {
				return err
			}
			if latest.Size <= a.Status().LastAnchoredSize {
				return nil // already anchored
			}
			if open, err = a.prepare(ctx, latest, nil); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		a.update(func(s *Status) {
			s.State = "waiting for the ledger"
			s.Pending = &Pending{Size: open.Size, TxID: open.Submission.TxID, State: open.State, Since: open.PreparedAt}
		})
		state, rcpt, err := a.be.Check(ctx, &open.Submission)
		if err != nil {
			return err
		}
		switch state {
		case ledger.Final:
			open.State, open.Receipt, open.FinalAt = store.AnchorFinal, rcpt, a.now()
			if err := a.st.PutAnchor(ctx, open); err != nil {
				return err
			}
			a.noteFinal(open, true)
			return nil
		case ledger.Pending:
			if open.State == store.AnchorPrepared {
				// The broadcast landed before a crash or timeout said so.
				open.State, open.BroadcastAt = store.AnchorBroadcast, a.now()
				if err := a.st.PutAnchor(ctx, open); err != nil {
					return err
				}
			}
			if since := a.now().Sub(open.BroadcastAt); since > a.opts.StaleAfter {
				return &stalledError{txID: open.Submission.TxID, size: open.Size, waited: since}
			}
			if err := sleep(ctx, a.opts.Poll); err != nil {
				return err
			}
			continue
		}
		// Unknown. Just after a broadcast that is normal (the tx can be
		// between the mempool and the index): give it a while.
		if open.State == store.AnchorBroadcast && a.now().Sub(open.BroadcastAt) < a.opts.Grace {
			if err := sleep(ctx, a.opts.Poll); err != nil {
				return err
			}
			continue
		}
		// The ledger never got it, or dropped it. Anchor the newest
		// checkpoint instead; it covers everything the old one did.
		latest, err := a.st.LatestCheckpoint(ctx)
		if err != nil {
			return err
		}
		if latest.Size > open.Size {
			old := open
			if open, err = a.prepare(ctx, latest, &old.Submission); err != nil {
				return err
			}
			old.State = store.AnchorAbandoned
			if err := a.st.PutAnchor(ctx, old); err != nil {
				return err
			}
			a.log.Info("replacing an anchor the ledger does not have with the newest checkpoint", "old_size", old.Size, "old_tx", old.Submission.TxID, "size", open.Size)
		}
		a.update(func(s *Status) { s.State = "submitting" })
		if err := a.be.Broadcast(ctx, &open.Submission); err != nil {
			return fmt.Errorf("broadcast anchor of tree size %d: %w", open.Size, err)
		}
		open.State, open.BroadcastAt = store.AnchorBroadcast, a.now()
		if err := a.st.PutAnchor(ctx, open); err != nil {
			return err
		}
	}
}

// prepare builds and records the submission for checkpoint cp.
func (a *Anchorer) prepare(ctx context.Context, cp store.Checkpoint, prev *ledger.Submission) (store.Anchor, error) {
	an, err := ledger.FromNote(cp.Note)
	if err != nil {
		return store.Anchor{}, fmt.Errorf("checkpoint %d: %w", cp.Size, err)
	}
	sub, err := a.be.Prepare(ctx, an, prev)
	if err != nil {
		return store.Anchor{}, fmt.Errorf("prepare anchor of tree size %d: %w", cp.Size, err)
	}
	rec := store.Anchor{Size: cp.Size, State: store.AnchorPrepared, Submission: *sub, PreparedAt: a.now()}
	if err := a.st.PutAnchor(ctx, rec); err != nil {
		return store.Anchor{}, err
	}
	return rec, nil
}

func (a *Anchorer) noteFinal(an store.Anchor, fresh bool) {
	r := an.Receipt
	if r == nil {
		return
	}
	t := r.BlockTime
	a.update(func(s *Status) {
		s.LastAnchoredSize, s.LastAnchoredAt, s.LastTxID, s.LastHeight, s.Pending = an.Size, &t, r.TxID, r.Height, nil
		if fresh {
			s.Anchors++
			s.LastLatencyMS = float64(an.FinalAt.Sub(an.PreparedAt).Microseconds()) / 1000
		}
	})
	if fresh {
		a.log.Info("checkpoint anchored", "size", an.Size, "covers", fmt.Sprintf("readings 0..%d", an.Size-1),
			"ledger", r.Ledger, "network", r.Network, "tx", r.TxID, "height", r.Height, "latency", an.FinalAt.Sub(an.PreparedAt).Round(time.Millisecond))
	}
}

// stalledError says the ledger holds the anchor tx but has not committed it
// within StaleAfter.
type stalledError struct {
	txID   string
	size   int64
	waited time.Duration
}

func (e *stalledError) Error() string {
	return fmt.Sprintf("anchor tx %s (tree size %d) has waited %s for the ledger to commit it: is the chain making blocks (more than 1/3 of validators down)?", e.txID, e.size, e.waited.Round(time.Second))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
