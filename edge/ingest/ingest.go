// Package ingest is the gateway's single writer: it takes decoded readings
// from every driver, deduplicates them on the sensor's own message id, gives
// each the next seq, signs it into an envelope, appends batches to the store
// in one transaction each (group commit: one fsync for many readings) and
// only then reports them accepted. It also writes checkpoints every
// interval, every max readings and at shutdown.
package ingest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tallygw/tally/anchor/checkpoint"
	"github.com/tallygw/tally/anchor/envelope"
	"github.com/tallygw/tally/edge/store"
	"github.com/tallygw/tally/sensors"
)

// gatherDelay is how long the writer waits for more readings when few are
// queued: it bounds the latency it adds (well under the 50 ms target) and
// lets one fsync cover many readings at moderate rates.
const gatherDelay = 2 * time.Millisecond

// ErrClosed is returned for readings offered after intake stopped.
var ErrClosed = errors.New("gateway is shutting down; reading not accepted")

// Result is what happened to one reading.
type Result struct {
	Seq       int64 // the reading's seq; for a duplicate, -1
	Duplicate bool  // the sensor's message id was already stored; the first copy was kept
	Err       error // not accepted
}

// Config tunes the pipeline.
type Config struct {
	Gateway            string        // gateway id, signed into every payload
	MaxBatch           int           // readings per transaction (default 2048)
	QueueLen           int           // readings waiting before Submit blocks (default 8192)
	CheckpointInterval time.Duration // default 1m
	CheckpointMax      int64         // readings between checkpoints (default 10000)
	DiskBudget         int64         // bytes the database may use; 0: no limit
}

// ErrDiskBudget is returned (wrapped) for readings refused because the
// store reached its disk budget.
var ErrDiskBudget = errors.New("disk budget reached; reading refused (counted, and reported by a signed gap event when space returns)")

type request struct {
	r    sensors.Reading
	recv time.Time
	done func(Result)
}

// Pipeline is the single writer. Run must be running for Submit to progress.
type Pipeline struct {
	cfg    Config
	store  *store.Store
	env    *envelope.Signer
	cp     *checkpoint.Signer
	logger *slog.Logger
	now    func() time.Time
	m      metrics

	in        chan request
	ready     chan struct{} // closed when Run has checked the store and writes
	closeOnce sync.Once
	closing   chan struct{}
	mu        sync.RWMutex // guards closed against sends on in
	closed    bool

	stMu   sync.Mutex // guards status
	status Status

	// Owned by the Run goroutine.
	gapsPending bool // refusals are recorded that no gap event reported yet
	full        bool // the last batch found the disk budget reached
}

// Status is the pipeline's view for the status page.
type Status struct {
	Size              int64     `json:"size"`
	Queued            int       `json:"queued"`
	CheckpointSize    int64     `json:"checkpoint_size"`
	CheckpointAt      time.Time `json:"checkpoint_at"`
	Uncheckpointed    int64     `json:"uncheckpointed"`
	LastCommit        time.Time `json:"last_commit"`
	LastError         string    `json:"last_error,omitempty"`
	Accepted          int64     `json:"accepted"`
	Duplicates        int64     `json:"duplicates"`
	Refused           int64     `json:"refused"`
	CheckpointSeconds float64   `json:"checkpoint_seconds"`
}

type metrics struct {
	accepted    *prometheus.CounterVec
	duplicates  *prometheus.CounterVec
	refused     *prometheus.CounterVec
	quarantined *prometheus.CounterVec
	batch       prometheus.Histogram
	commit      prometheus.Histogram
	checkpoint  prometheus.Histogram
	size        prometheus.Gauge
	cpSize      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		accepted:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_readings_accepted_total", Help: "Readings signed and committed, by sensor."}, []string{"sensor"}),
		duplicates:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_readings_duplicate_total", Help: "Readings dropped because the sensor's message id was already stored, by sensor."}, []string{"sensor"}),
		refused:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_readings_refused_total", Help: "Readings not accepted (invalid, store error, shutting down), by sensor."}, []string{"sensor"}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_quarantined_total", Help: "Inputs kept in quarantine because they could not be decoded, by sensor."}, []string{"sensor"}),
		batch:       prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tally_commit_batch_readings", Help: "Readings per group commit.", Buckets: prometheus.ExponentialBuckets(1, 4, 7)}),
		commit:      prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tally_commit_seconds", Help: "Time to sign and commit one batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12)}),
		checkpoint:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tally_checkpoint_seconds", Help: "Time to compute, sign and store one checkpoint.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12)}),
		size:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "tally_log_size", Help: "Readings in the log (tree size)."}),
		cpSize:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "tally_checkpoint_size", Help: "Tree size of the latest checkpoint."}),
	}
	if reg != nil {
		reg.MustRegister(m.accepted, m.duplicates, m.refused, m.quarantined, m.batch, m.commit, m.checkpoint, m.size, m.cpSize)
	}
	return m
}

// New returns a pipeline writing to st. reg may be nil.
func New(cfg Config, st *store.Store, env *envelope.Signer, cp *checkpoint.Signer, logger *slog.Logger, reg prometheus.Registerer) *Pipeline {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 2048
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 8192
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = time.Minute
	}
	if cfg.CheckpointMax <= 0 {
		cfg.CheckpointMax = 10000
	}
	return &Pipeline{
		cfg: cfg, store: st, env: env, cp: cp, logger: logger, now: time.Now,
		m:       newMetrics(reg),
		in:      make(chan request, cfg.QueueLen),
		ready:   make(chan struct{}),
		closing: make(chan struct{}),
	}
}

// Submit offers r for signing and storage and calls done exactly once, from
// the writer goroutine, when it is accepted, found to be a duplicate, or
// refused. It blocks while the queue is full, until ctx is done.
func (p *Pipeline) Submit(ctx context.Context, r sensors.Reading, done func(Result)) {
	req := request{r: r, recv: p.now(), done: done}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.m.refused.WithLabelValues(r.Sensor).Inc()
		done(Result{Seq: -1, Err: ErrClosed})
		return
	}
	select {
	case p.in <- req:
	case <-ctx.Done():
		p.m.refused.WithLabelValues(r.Sensor).Inc()
		done(Result{Seq: -1, Err: fmt.Errorf("reading not accepted: %w", ctx.Err())})
	case <-p.closing:
		p.m.refused.WithLabelValues(r.Sensor).Inc()
		done(Result{Seq: -1, Err: ErrClosed})
	}
}

// Accept submits r and waits until it is durable. A duplicate is not an
// error: the first copy is already stored. It implements sensors.Sink.
func (p *Pipeline) Accept(ctx context.Context, r sensors.Reading) error {
	res := p.AcceptResult(ctx, r)
	return res.Err
}

// AcceptResult is Accept returning the full Result.
func (p *Pipeline) AcceptResult(ctx context.Context, r sensors.Reading) Result {
	ch := make(chan Result, 1)
	p.Submit(ctx, r, func(res Result) { ch <- res })
	// Once submitted, the writer always answers; waiting here after ctx is
	// done would only delay shutdown by one commit, so wait for it.
	return <-ch
}

// Quarantine keeps undecodable input with its reason. It implements sensors.Sink.
func (p *Pipeline) Quarantine(ctx context.Context, sensor, reason string, raw []byte) {
	p.m.quarantined.WithLabelValues(sensor).Inc()
	if err := p.store.Quarantine(ctx, p.now(), sensor, reason, raw); err != nil {
		p.logger.Error("quarantine write failed", "sensor", sensor, "reason", reason, "err", err)
	}
}

// Close stops intake: later Submits are refused; Run commits what is queued,
// writes a final checkpoint and returns. Safe to call more than once.
func (p *Pipeline) Close() {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.mu.Lock()
		p.closed = true
		close(p.in)
		p.mu.Unlock()
	})
}

// Ready is closed once Run has verified the latest checkpoint against the
// store and is taking readings.
func (p *Pipeline) Ready() <-chan struct{} { return p.ready }

// Status returns a snapshot for the status page.
func (p *Pipeline) Status() Status {
	p.stMu.Lock()
	defer p.stMu.Unlock()
	s := p.status
	s.Queued = len(p.in)
	s.Uncheckpointed = s.Size - s.CheckpointSize
	return s
}

// Run is the writer loop. It returns after Close once everything queued is
// committed and the final checkpoint is written, or with the error that made
// it stop. Cancelling ctx abandons queued readings (refused) and returns.
func (p *Pipeline) Run(ctx context.Context) error {
	size := p.store.Size()
	p.setStatus(func(s *Status) { s.Size = size })
	p.m.size.Set(float64(size))
	if last, err := p.store.LatestCheckpoint(ctx); err == nil {
		if err := p.checkLatest(ctx, last, size); err != nil {
			return err
		}
		p.setStatus(func(s *Status) { s.CheckpointSize, s.CheckpointAt = last.Size, time.UnixMicro(last.CreatedUS) })
		p.m.cpSize.Set(float64(last.Size))
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	gaps, err := p.store.Gaps(ctx)
	if err != nil {
		return err
	}
	p.gapsPending = len(gaps) > 0
	// A checkpoint covering readings committed before a crash.
	if err := p.maybeCheckpoint(ctx, true); err != nil {
		return err
	}
	close(p.ready)
	tick := time.NewTicker(p.cfg.CheckpointInterval)
	defer tick.Stop()
	batch := make([]request, 0, p.cfg.MaxBatch)
	for {
		select {
		case <-ctx.Done():
			p.refuseQueued()
			return nil
		case <-tick.C:
			if err := p.maybeCheckpoint(ctx, true); err != nil {
				return err
			}
			continue
		case req, ok := <-p.in:
			if !ok {
				return p.maybeCheckpoint(context.WithoutCancel(ctx), true)
			}
			batch = append(batch[:0], req)
		}
		// Take what is queued; when that is little, wait a moment for more,
		// so one fsync covers many readings at moderate rates too.
		gather := time.NewTimer(gatherDelay)
	fill:
		for len(batch) < p.cfg.MaxBatch {
			select {
			case req, ok := <-p.in:
				if !ok {
					break fill
				}
				batch = append(batch, req)
				continue
			default:
			}
			if len(batch) >= p.cfg.MaxBatch/8 {
				break
			}
			select {
			case req, ok := <-p.in:
				if !ok {
					break fill
				}
				batch = append(batch, req)
			case <-gather.C:
				break fill
			}
		}
		gather.Stop()
		if err := p.commit(ctx, batch); err != nil {
			p.logger.Error("commit failed; readings refused", "readings", len(batch), "err", err)
			p.setStatus(func(s *Status) { s.LastError = err.Error() })
		}
		if err := p.maybeCheckpoint(ctx, false); err != nil {
			return err
		}
	}
}

// checkLatest refuses to extend a log that no longer matches its latest
// checkpoint: signing on would fork the gateway's history.
func (p *Pipeline) checkLatest(ctx context.Context, last store.Checkpoint, size int64) error {
	cp, err := checkpoint.Open(last.Note, p.cp.Keys())
	if err != nil {
		return fmt.Errorf("latest checkpoint (size %d) does not verify with this gateway's keys: %w; run tally audit", last.Size, err)
	}
	if cp.Size > size {
		return fmt.Errorf("latest checkpoint covers %d readings but the database holds %d: readings were lost or deleted; run tally audit", cp.Size, size)
	}
	root, err := p.store.TreeHash(ctx, cp.Size)
	if err != nil {
		return fmt.Errorf("latest checkpoint: %w", err)
	}
	if root != cp.Root {
		return fmt.Errorf("latest checkpoint (size %d) root does not match the stored readings; run tally audit", cp.Size)
	}
	return nil
}

func (p *Pipeline) refuseQueued() {
	p.Close()
	for req := range p.in {
		p.m.refused.WithLabelValues(req.r.Sensor).Inc()
		req.done(Result{Seq: -1, Err: ErrClosed})
	}
}

func (p *Pipeline) setStatus(f func(*Status)) {
	p.stMu.Lock()
	f(&p.status)
	p.stMu.Unlock()
}

// commit dedups, signs and appends one batch, then answers every request.
func (p *Pipeline) commit(ctx context.Context, batch []request) error {
	start := time.Now()
	if p.cfg.DiskBudget > 0 {
		if use := p.store.DiskUse(); use >= p.cfg.DiskBudget {
			return p.refuseFull(ctx, batch, use)
		}
		if p.full {
			p.full = false
			p.logger.Info("disk budget: space is back; accepting readings again")
		}
	}
	closeGaps := false
	if p.gapsPending {
		ev, err := p.gapEvent(ctx)
		if err != nil {
			return p.fail(batch, make([]Result, len(batch)), err)
		}
		batch = append([]request{{r: ev, recv: p.now(), done: func(Result) {}}}, batch...)
		closeGaps = true
	}
	results := make([]Result, len(batch))
	seen := map[[2]string]bool{}
	var entries []store.Entry
	var payloads []*envelope.Payload
	var idx []int // batch index of entries[i]
	next := p.store.Size()
	salts := make([]byte, envelope.SaltSize*len(batch))
	if _, err := rand.Read(salts); err != nil {
		return p.fail(batch, results, fmt.Errorf("read random salt: %w", err))
	}
	var dups int64
	for i, req := range batch {
		r := req.r
		if err := validate(r); err != nil {
			results[i] = Result{Seq: -1, Err: err}
			continue
		}
		if r.MsgID != "" {
			key := [2]string{r.Sensor, r.MsgID}
			dup := seen[key]
			if !dup {
				var err error
				dup, err = p.store.HasMsgID(ctx, r.Sensor, r.MsgID)
				if err != nil {
					return p.fail(batch, results, err)
				}
			}
			if dup {
				results[i] = Result{Seq: -1, Duplicate: true}
				dups++
				continue
			}
			seen[key] = true
		}
		pl := &envelope.Payload{
			Version: envelope.Version, Gateway: p.cfg.Gateway, Seq: uint64(next),
			Sensor: r.Sensor, Kind: r.Kind, RecvUS: req.recv.UnixMicro(),
			Container: r.Container, MsgID: r.MsgID, Data: r.Data, Raw: r.Raw,
			Salt: salts[i*envelope.SaltSize : (i+1)*envelope.SaltSize],
		}
		if !r.Time.IsZero() {
			us := r.Time.UnixMicro()
			pl.SensorUS, pl.Clock = &us, r.Clock
		}
		payloads = append(payloads, pl)
		entries = append(entries, store.Entry{Seq: next, Sensor: r.Sensor, Kind: r.Kind, RecvUS: pl.RecvUS, MsgID: r.MsgID})
		idx = append(idx, i)
		next++
	}
	// Sign in parallel; seq order is already fixed. A reading whose payload
	// cannot be encoded is refused and the ones after it are renumbered.
	errs := p.signAll(payloads, entries)
	if failed := firstErr(errs); failed >= 0 {
		keepP, keepE, keepI := payloads[:0:0], entries[:0:0], idx[:0:0]
		for j := range payloads {
			if errs[j] != nil {
				results[idx[j]] = Result{Seq: -1, Err: errs[j]}
				continue
			}
			keepP, keepE, keepI = append(keepP, payloads[j]), append(keepE, entries[j]), append(keepI, idx[j])
		}
		base := p.store.Size()
		for j := range keepP {
			keepP[j].Seq, keepE[j].Seq = uint64(base+int64(j)), base+int64(j)
		}
		payloads, entries, idx = keepP, keepE, keepI
		if errs := p.signAll(payloads, entries); firstErr(errs) >= 0 {
			return p.fail(batch, results, errs[firstErr(errs)])
		}
	}
	appendFn := p.store.Append
	if closeGaps {
		appendFn = p.store.AppendClosingGaps
	}
	if err := appendFn(ctx, entries); err != nil {
		return p.fail(batch, results, err)
	}
	if closeGaps {
		p.gapsPending = false
	}
	for j, e := range entries {
		results[idx[j]] = Result{Seq: e.Seq}
	}
	if dups > 0 {
		for i, res := range results {
			if res.Duplicate {
				if err := p.store.CountDuplicates(ctx, batch[i].r.Sensor, 1); err != nil {
					p.logger.Warn("duplicate counter not updated", "err", err)
				}
			}
		}
	}
	size := p.store.Size()
	var accepted, refused int64
	for i, req := range batch {
		res := results[i]
		switch {
		case res.Err != nil:
			refused++
			p.m.refused.WithLabelValues(req.r.Sensor).Inc()
		case res.Duplicate:
			p.m.duplicates.WithLabelValues(req.r.Sensor).Inc()
		default:
			accepted++
			p.m.accepted.WithLabelValues(req.r.Sensor).Inc()
		}
		req.done(res)
	}
	p.m.batch.Observe(float64(len(batch)))
	p.m.commit.Observe(time.Since(start).Seconds())
	p.m.size.Set(float64(size))
	p.setStatus(func(s *Status) {
		s.Size, s.LastCommit = size, p.now()
		s.Accepted += accepted
		s.Duplicates += dups
		s.Refused += refused
	})
	return nil
}

// refuseFull refuses a batch because the disk budget is reached, recording
// per sensor what was refused so a gap event can report it later.
func (p *Pipeline) refuseFull(ctx context.Context, batch []request, use int64) error {
	if !p.full {
		p.full = true
		p.logger.Error("disk budget reached: refusing readings until space returns", "db_bytes", use, "budget_bytes", p.cfg.DiskBudget)
	}
	counts := map[string]int64{}
	for _, req := range batch {
		counts[req.r.Sensor]++
	}
	now := p.now()
	for sensor, n := range counts {
		if err := p.store.RecordRefused(ctx, sensor, n, now); err != nil {
			p.logger.Error("refused readings not recorded", "sensor", sensor, "readings", n, "err", err)
		}
	}
	p.gapsPending = true
	err := fmt.Errorf("%w (database %d bytes, budget %d)", ErrDiskBudget, use, p.cfg.DiskBudget)
	results := make([]Result, len(batch))
	for i := range results {
		results[i] = Result{Seq: -1, Err: err}
	}
	for i, req := range batch {
		p.m.refused.WithLabelValues(req.r.Sensor).Inc()
		req.done(results[i])
	}
	p.setStatus(func(s *Status) { s.Refused += int64(len(batch)); s.LastError = err.Error() })
	return nil
}

// gapEvent is the signed event reporting readings refused while the disk
// budget was reached.
func (p *Pipeline) gapEvent(ctx context.Context) (sensors.Reading, error) {
	gaps, err := p.store.Gaps(ctx)
	if err != nil {
		return sensors.Reading{}, err
	}
	refused := map[string]any{}
	var total, first, last int64
	var parts []string
	for i, g := range gaps {
		refused[g.Sensor] = g.Refused
		total += g.Refused
		if i == 0 || g.FirstUS < first {
			first = g.FirstUS
		}
		last = max(last, g.LastUS)
		parts = append(parts, fmt.Sprintf("%s: %d", g.Sensor, g.Refused))
	}
	detail := fmt.Sprintf("%d readings refused between %s and %s because the disk budget was reached (%s)",
		total, time.UnixMicro(first).UTC().Format(time.RFC3339), time.UnixMicro(last).UTC().Format(time.RFC3339), strings.Join(parts, ", "))
	p.logger.Warn("appending gap event", "detail", detail)
	return sensors.Reading{Sensor: "gateway", Kind: sensors.KindEvent, Data: map[string]any{
		"rule": "disk_budget", "kind": "gap", "detail": detail, "refused": refused, "refused_total": total,
		"from_us": first, "to_us": last,
	}}, nil
}

func firstErr(errs []error) int {
	for i, err := range errs {
		if err != nil {
			return i
		}
	}
	return -1
}

func (p *Pipeline) fail(batch []request, results []Result, err error) error {
	for i, req := range batch {
		if results[i].Err == nil && !results[i].Duplicate {
			results[i] = Result{Seq: -1, Err: fmt.Errorf("reading not stored: %w", err)}
		}
		if results[i].Err != nil {
			p.m.refused.WithLabelValues(req.r.Sensor).Inc()
		}
		req.done(results[i])
	}
	p.setStatus(func(s *Status) { s.Refused += int64(len(batch)) })
	return err
}

// signAll signs payloads into entries' envelopes using every CPU.
func (p *Pipeline) signAll(payloads []*envelope.Payload, entries []store.Entry) []error {
	errs := make([]error, len(payloads))
	workers := runtime.GOMAXPROCS(0)
	if len(payloads) < 16 || workers == 1 {
		for i, pl := range payloads {
			entries[i].Envelope, errs[i] = p.env.Sign(pl)
		}
		return errs
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(payloads); i += workers {
				entries[i].Envelope, errs[i] = p.env.Sign(payloads[i])
			}
		}()
	}
	wg.Wait()
	return errs
}

// maybeCheckpoint writes a checkpoint when readings arrived since the last
// one and either force is set or max readings accumulated.
func (p *Pipeline) maybeCheckpoint(ctx context.Context, force bool) error {
	size := p.store.Size()
	st := p.Status()
	if size == st.CheckpointSize || (!force && size-st.CheckpointSize < p.cfg.CheckpointMax) {
		return nil
	}
	start := time.Now()
	root, err := p.store.TreeHash(ctx, size)
	if err != nil {
		return fmt.Errorf("checkpoint at size %d: %w", size, err)
	}
	signed, err := p.cp.Sign(size, root)
	if err != nil {
		return fmt.Errorf("checkpoint at size %d: %w", size, err)
	}
	at := p.now()
	if err := p.store.WriteCheckpoint(ctx, size, at, signed); err != nil {
		return err
	}
	d := time.Since(start)
	p.m.checkpoint.Observe(d.Seconds())
	p.m.cpSize.Set(float64(size))
	p.setStatus(func(s *Status) { s.CheckpointSize, s.CheckpointAt, s.CheckpointSeconds = size, at, d.Seconds() })
	p.logger.Info("checkpoint", "size", size, "root", fmt.Sprintf("%x", root[:8]), "took", d.Round(time.Microsecond))
	return nil
}

// validate rejects readings a driver should never produce.
func validate(r sensors.Reading) error {
	if r.Sensor == "" {
		return fmt.Errorf("reading has no sensor id")
	}
	if r.Kind == "" {
		return fmt.Errorf("reading from %s has no kind", r.Sensor)
	}
	if !r.Time.IsZero() && r.Clock == "" {
		return fmt.Errorf("reading from %s has a sensor time but no clock provenance", r.Sensor)
	}
	return nil
}

// AcceptAsync submits r and calls done with nil once it is durable (or was a
// duplicate), or with the error that kept it out. It implements
// sensors.AsyncSink.
func (p *Pipeline) AcceptAsync(ctx context.Context, r sensors.Reading, done func(error)) {
	p.Submit(ctx, r, func(res Result) { done(res.Err) })
}
