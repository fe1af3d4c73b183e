// Package report builds the voyage report of one container from a
// gateway's store: the route, the temperatures and their cold-chain
// figures, the seal history, the condition events, and how much of it a
// signed checkpoint (and, later, a ledger anchor) covers.
//
// Build verifies the signature of every envelope it reads; a reading that
// does not verify stops the report rather than being left out. The Report
// marshals to JSON with stable snake_case names and RFC 3339 UTC times;
// [Report.HTML] renders it as one self-contained page for a consignee.
package report

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tallygw/tally/anchor/checkpoint"
	"github.com/tallygw/tally/anchor/envelope"
	"github.com/tallygw/tally/edge/conditions"
	"github.com/tallygw/tally/edge/store"
	"github.com/tallygw/tally/sensors"
	"github.com/tallygw/tally/sensors/iso6346"
)

// Format names the JSON layout of a Report.
const Format = "tally-voyage-report/1"

// NotAnchored is the anchor status while no ledger receipt exists.
const NotAnchored = "not anchored: no ledger receipt yet"

// maxNotes bounds Report.Notes.
const maxNotes = 50

// Limit is the temperature band of one sensor. A nil bound is no limit.
type Limit struct {
	AboveC *float64 // readings at or above this are an excursion
	BelowC *float64 // readings at or below this are an excursion
}

// Options select what goes into a report.
type Options struct {
	// Container is the ISO 6346 container number the report is about: it
	// takes the readings whose payload names this container.
	Container string
	// GatewayContainer is the container the gateway is configured for
	// (gateway.container). When it equals Container, readings that name no
	// container (gateway events, sensors without one) belong to it too.
	GatewayContainer string
	// From and To bound the reading time (inclusive); zero is open.
	From, To time.Time
	// Limits are per temperature sensor id.
	Limits map[string]Limit
	// LimitFor, when set, gives the limits of a sensor not in Limits (the
	// daemon's temperature rules).
	LimitFor func(sensor string) (Limit, bool)
	// DefaultLimit applies to every temperature sensor with no entry in
	// Limits.
	DefaultLimit Limit
	// Now is the report's generation time; zero means time.Now.
	Now time.Time
}

// Report is a container's voyage as the gateway recorded it.
type Report struct {
	Format      string     `json:"format"`
	GeneratedAt time.Time  `json:"generated_at"`
	Gateway     string     `json:"gateway"`
	Origin      string     `json:"origin"`
	Container   string     `json:"container"`
	From        *time.Time `json:"from,omitempty"` // the requested window
	To          *time.Time `json:"to,omitempty"`

	FirstReading *time.Time       `json:"first_reading"` // nil when the report is empty
	LastReading  *time.Time       `json:"last_reading"`
	Readings     int64            `json:"readings"` // readings of this container in the window
	Kinds        map[string]int64 `json:"kinds"`    // readings per kind
	Seq          *SeqRange        `json:"seq"`      // nil when the report is empty
	Pruned       int64            `json:"pruned"`   // stored rows whose envelope retention already deleted

	Route        []Fix        `json:"route"`
	Temperatures []Series     `json:"temperatures"`
	Seals        []SealRecord `json:"seals"`
	Events       []Event      `json:"events"`
	Coverage     Coverage     `json:"coverage"`
	Notes        []string     `json:"notes,omitempty"` // readings left out, and why
}

// SeqRange is an inclusive range of log positions.
type SeqRange struct {
	First int64 `json:"first"`
	Last  int64 `json:"last"`
}

// Fix is one GPS position.
type Fix struct {
	Seq      int64     `json:"seq"`
	Time     time.Time `json:"time"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	SpeedMPS *float64  `json:"speed_mps,omitempty"`
}

// Series is one temperature sensor's readings and figures.
type Series struct {
	Sensor     string      `json:"sensor"`
	Probe      string      `json:"probe,omitempty"`
	AboveC     *float64    `json:"above_c,omitempty"` // the limits applied
	BelowC     *float64    `json:"below_c,omitempty"`
	Points     []TempPoint `json:"points"`
	Excursions []Excursion `json:"excursions"`
	ColdChain  *ColdChain  `json:"cold_chain"` // nil with fewer than two points
}

// TempPoint is one temperature reading.
type TempPoint struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Celsius float64   `json:"celsius"`
}

// Excursion is an interval beyond a limit (a reading at the limit is
// beyond it, as in the edge/conditions temperature rules): from the first
// reading beyond it to the first reading back within it, or to the last
// reading when it never came back (Open; the cold-chain time beyond the
// limit then also counts the last reading's weight).
type Excursion struct {
	Kind    string    `json:"kind"` // "above" or "below"
	LimitC  float64   `json:"limit_c"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	FromSeq int64     `json:"from_seq"`
	ToSeq   int64     `json:"to_seq"`
	PeakC   float64   `json:"peak_c"` // the extreme reading beyond the limit
	Open    bool      `json:"open"`   // still beyond the limit at the last reading
}

// ColdChain are a sensor's cold-chain figures, computed by edge/conditions
// over the readings in the report: each reading holds until the next, the
// last one for the median interval. Durations are seconds.
type ColdChain struct {
	Samples int      `json:"samples"`
	MinC    float64  `json:"min_c"`
	MaxC    float64  `json:"max_c"`
	MeanC   float64  `json:"mean_c"`            // time-weighted
	MKTC    float64  `json:"mkt_c"`             // mean kinetic temperature, ΔH/R = 10,000 K
	SpanS   float64  `json:"span_s"`            // the time the figures cover
	AboveS  *float64 `json:"above_s,omitempty"` // time at or above the limit; only with one
	BelowS  *float64 `json:"below_s,omitempty"` // time at or below the limit; only with one
}

// SealRecord is one e-seal reading.
type SealRecord struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Sensor string    `json:"sensor"`
	SealID string    `json:"seal_id"`
	State  string    `json:"state"`
	Event  string    `json:"event,omitempty"`
	Lat    *float64  `json:"lat,omitempty"`
	Lon    *float64  `json:"lon,omitempty"`
}

// Event is one condition event reading (kind "event").
type Event struct {
	Seq     int64          `json:"seq"`
	Time    time.Time      `json:"time"`
	Rule    string         `json:"rule"`
	Kind    string         `json:"kind"`
	Sensor  string         `json:"sensor,omitempty"` // the sensor the rule watched
	Detail  string         `json:"detail"`
	FromSeq *int64         `json:"from_seq,omitempty"` // the evidence: readings from_seq..to_seq
	ToSeq   *int64         `json:"to_seq,omitempty"`
	Values  map[string]any `json:"values,omitempty"` // the measured values the event carries
}

// Coverage says how much of the report a signed checkpoint covers.
type Coverage struct {
	Checkpoint *Checkpoint `json:"checkpoint"` // the latest; nil when none is signed yet
	Covered    bool        `json:"covered"`    // every reading of the report is in it
	Uncovered  int64       `json:"uncovered"`  // readings of the report beyond it
	Detail     string      `json:"detail"`
	Anchor     Anchor      `json:"anchor"`
}

// Checkpoint is a signed checkpoint: a tree of Size readings, seq 0..Size-1.
type Checkpoint struct {
	Size int64     `json:"size"`
	Time time.Time `json:"time"`
	Root string    `json:"root"` // base64, as in the note
}

// Anchor is the ledger anchoring of the checkpoint.
type Anchor struct {
	Anchored bool            `json:"anchored"`
	Status   string          `json:"status"`
	Receipt  json.RawMessage `json:"receipt,omitempty"`
}

// Build reads the store and returns the report of opts.Container.
// gateway is the gateway id; pub its Ed25519 key, against which every
// envelope and the checkpoint are verified.
func Build(ctx context.Context, st *store.Store, pub ed25519.PublicKey, gateway string, opts Options) (*Report, error) {
	if err := iso6346.Validate(opts.Container); err != nil {
		return nil, fmt.Errorf("container %q: %w", opts.Container, err)
	}
	if !opts.From.IsZero() && !opts.To.IsZero() && opts.To.Before(opts.From) {
		return nil, fmt.Errorf("report window ends (%s) before it starts (%s)", opts.To.UTC().Format(time.RFC3339), opts.From.UTC().Format(time.RFC3339))
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	r := &Report{
		Format: Format, GeneratedAt: now.UTC().Truncate(time.Second), Gateway: gateway, Origin: "tally/" + gateway,
		Container: opts.Container, Kinds: map[string]int64{},
		Route: []Fix{}, Temperatures: []Series{}, Seals: []SealRecord{}, Events: []Event{},
	}
	if !opts.From.IsZero() {
		t := opts.From.UTC()
		r.From = &t
	}
	if !opts.To.IsZero() {
		t := opts.To.UTC()
		r.To = &t
	}
	// The checkpoint is read first: readings appended while the report is
	// built are counted as not yet covered by it.
	cp, err := latestCheckpoint(ctx, st, pub, r.Origin)
	if err != nil {
		return nil, err
	}
	b := &builder{r: r, opts: opts, series: map[string]*Series{}, cp: cp}
	v := verifier{pub: pub, gateway: gateway}
	var batch []store.Row
	flush := func() error {
		ps, err := v.verifyAll(batch)
		if err != nil {
			return err
		}
		for i, p := range ps {
			if p != nil {
				b.add(batch[i], p)
			}
		}
		batch = batch[:0]
		return nil
	}
	err = st.Readings(ctx, 0, func(row store.Row) error {
		if row.Envelope == nil {
			r.Pruned++
			return nil
		}
		batch = append(batch, row)
		if len(batch) == 1024 {
			return flush()
		}
		return ctx.Err()
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, err
	}
	b.finish()
	b.coverage()
	return r, nil
}

// verifier checks envelopes in parallel.
type verifier struct {
	pub     ed25519.PublicKey
	gateway string
}

// verifyAll verifies rows and returns their payloads, in order.
func (v verifier) verifyAll(rows []store.Row) ([]*envelope.Payload, error) {
	out := make([]*envelope.Payload, len(rows))
	errs := make([]error, len(rows))
	workers := min(runtime.GOMAXPROCS(0), 8)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(rows); i += workers {
				out[i], errs[i] = v.verify(rows[i])
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (v verifier) verify(row store.Row) (*envelope.Payload, error) {
	p, err := envelope.Verify(row.Envelope, v.pub)
	if err != nil {
		return nil, fmt.Errorf("reading %d: %w (run tally audit)", row.Seq, err)
	}
	if int64(p.Seq) != row.Seq || p.Gateway != v.gateway {
		return nil, fmt.Errorf("reading %d: envelope is signed for seq %d of gateway %q (run tally audit)", row.Seq, p.Seq, p.Gateway)
	}
	return p, nil
}

// builder accumulates the report in seq order.
type builder struct {
	r         *Report
	opts      Options
	series    map[string]*Series
	cp        *Checkpoint // nil: none signed yet
	uncovered int64       // readings of the report not in cp
	notes     int
}

func (b *builder) note(format string, args ...any) {
	b.notes++
	if b.notes <= maxNotes {
		b.r.Notes = append(b.r.Notes, fmt.Sprintf(format, args...))
	}
}

func (b *builder) add(row store.Row, p *envelope.Payload) {
	if p.Container != b.opts.Container && (p.Container != "" || b.opts.GatewayContainer != b.opts.Container) {
		return
	}
	us := p.RecvUS
	if p.SensorUS != nil {
		us = *p.SensorUS
	}
	t := time.UnixMicro(us).UTC()
	d := p.Data
	if p.Kind == sensors.KindEvent {
		// "at" is when the condition happened, on the time scale of the
		// readings that caused it; the event reading itself may carry
		// only the later gateway receive time.
		if at, err := time.Parse(time.RFC3339Nano, text(d["at"])); err == nil {
			t = at.UTC()
		}
	}
	if (!b.opts.From.IsZero() && t.Before(b.opts.From)) || (!b.opts.To.IsZero() && t.After(b.opts.To)) {
		return
	}
	r := b.r
	r.Readings++
	r.Kinds[p.Kind]++
	if r.Seq == nil {
		r.Seq = &SeqRange{First: row.Seq}
	}
	r.Seq.Last = row.Seq
	if b.cp == nil || row.Seq >= b.cp.Size {
		b.uncovered++
	}
	if r.FirstReading == nil || t.Before(*r.FirstReading) {
		r.FirstReading = &t
	}
	if r.LastReading == nil || t.After(*r.LastReading) {
		r.LastReading = &t
	}
	switch p.Kind {
	case sensors.KindGPS:
		lat, ok1 := number(d["lat"])
		lon, ok2 := number(d["lon"])
		if !ok1 || !ok2 || math.Abs(lat) > 90 || math.Abs(lon) > 180 {
			b.note("seq %d (%s): gps reading without a valid lat/lon, left off the route", row.Seq, p.Sensor)
			return
		}
		f := Fix{Seq: row.Seq, Time: t, Lat: lat, Lon: lon}
		if v, ok := number(d["speed_mps"]); ok {
			f.SpeedMPS = &v
		}
		r.Route = append(r.Route, f)
	case sensors.KindTemperature:
		c, ok := number(d["celsius"])
		if !ok {
			b.note("seq %d (%s): temperature reading without celsius, left out", row.Seq, p.Sensor)
			return
		}
		s := b.series[p.Sensor]
		if s == nil {
			s = &Series{Sensor: p.Sensor}
			b.series[p.Sensor] = s
		}
		if probe, ok := d["probe"].(string); ok && s.Probe == "" {
			s.Probe = probe
		}
		s.Points = append(s.Points, TempPoint{Seq: row.Seq, Time: t, Celsius: c})
	case sensors.KindSeal:
		rec := SealRecord{Seq: row.Seq, Time: t, Sensor: p.Sensor, SealID: text(d["seal_id"]), State: text(d["state"]), Event: text(d["event"])}
		if lat, ok := number(d["lat"]); ok {
			if lon, ok := number(d["lon"]); ok {
				rec.Lat, rec.Lon = &lat, &lon
			}
		}
		r.Seals = append(r.Seals, rec)
	case sensors.KindEvent:
		ev := Event{Seq: row.Seq, Time: t, Rule: text(d["rule"]), Kind: text(d["kind"]), Sensor: text(d["sensor"]), Detail: text(d["detail"])}
		if v, ok := integer(d["from_seq"]); ok {
			ev.FromSeq = &v
		}
		if v, ok := integer(d["to_seq"]); ok {
			ev.ToSeq = &v
		}
		for k, v := range d {
			switch k {
			case "rule", "kind", "sensor", "detail", "from_seq", "to_seq", "at":
				continue
			}
			if ev.Values == nil {
				ev.Values = map[string]any{}
			}
			ev.Values[k] = plain(v)
		}
		r.Events = append(r.Events, ev)
	}
}

// finish sorts what needs sorting and computes the figures.
func (b *builder) finish() {
	if b.notes > maxNotes {
		b.r.Notes = append(b.r.Notes, fmt.Sprintf("… and %d more readings left out", b.notes-maxNotes))
	}
	byTime := func(a, c time.Time, sa, sc int64) int {
		if x := a.Compare(c); x != 0 {
			return x
		}
		return cmpInt(sa, sc)
	}
	sort.SliceStable(b.r.Route, func(i, j int) bool {
		return byTime(b.r.Route[i].Time, b.r.Route[j].Time, b.r.Route[i].Seq, b.r.Route[j].Seq) < 0
	})
	ids := make([]string, 0, len(b.series))
	for id := range b.series {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s := b.series[id]
		sort.SliceStable(s.Points, func(i, j int) bool {
			return byTime(s.Points[i].Time, s.Points[j].Time, s.Points[i].Seq, s.Points[j].Seq) < 0
		})
		lim, ok := b.opts.Limits[id]
		if !ok && b.opts.LimitFor != nil {
			lim, ok = b.opts.LimitFor(id)
		}
		if !ok {
			lim = b.opts.DefaultLimit
		}
		s.AboveC, s.BelowC = copyF(lim.AboveC), copyF(lim.BelowC)
		s.Excursions = excursions(s.Points, s.AboveC, s.BelowC)
		cc, err := coldChain(s.Points, s.AboveC, s.BelowC)
		if err != nil {
			b.note("%s: no cold-chain figures: %v", id, err)
		}
		s.ColdChain = cc
		b.r.Temperatures = append(b.r.Temperatures, *s)
	}
}

// coldChain computes a series' figures with edge/conditions. Each reading
// holds until the next; the last one is weighted by the median interval.
func coldChain(pts []TempPoint, above, below *float64) (*ColdChain, error) {
	if len(pts) < 2 {
		return nil, nil
	}
	samples := make([]conditions.Sample, len(pts))
	for i, p := range pts {
		samples[i] = conditions.Sample{At: p.Time, Celsius: p.Celsius}
	}
	low, high := math.Inf(-1), math.Inf(1)
	if below != nil {
		low = *below
	}
	if above != nil {
		high = *above
	}
	st, err := conditions.Stats(samples, low, high)
	if err != nil {
		return nil, err
	}
	cc := &ColdChain{Samples: st.Samples, MinC: st.Min, MaxC: st.Max, MeanC: st.Mean, MKTC: st.MKT, SpanS: st.SpanS}
	if above != nil {
		v := st.AboveS
		cc.AboveS = &v
	}
	if below != nil {
		v := st.BelowS
		cc.BelowS = &v
	}
	return cc, nil
}

// excursions lists the intervals of pts beyond either limit. An interval
// starts at the first reading beyond the limit and ends at the first
// reading back within it: the temperature is taken to hold from one
// reading to the next.
func excursions(pts []TempPoint, above, below *float64) []Excursion {
	out := []Excursion{}
	scan := func(kind string, limit float64, beyond func(c float64) bool) {
		var cur *Excursion
		for _, p := range pts {
			switch {
			case beyond(p.Celsius) && cur == nil:
				cur = &Excursion{Kind: kind, LimitC: limit, From: p.Time, FromSeq: p.Seq, PeakC: p.Celsius}
			case beyond(p.Celsius):
				if (kind == "above" && p.Celsius > cur.PeakC) || (kind == "below" && p.Celsius < cur.PeakC) {
					cur.PeakC = p.Celsius
				}
			case cur != nil:
				cur.To, cur.ToSeq = p.Time, p.Seq
				out = append(out, *cur)
				cur = nil
			}
		}
		if cur != nil {
			last := pts[len(pts)-1]
			cur.To, cur.ToSeq, cur.Open = last.Time, last.Seq, true
			out = append(out, *cur)
		}
	}
	if above != nil {
		scan("above", *above, func(c float64) bool { return c >= *above })
	}
	if below != nil {
		scan("below", *below, func(c float64) bool { return c <= *below })
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].From.Before(out[j].From) })
	return out
}

// latestCheckpoint returns the latest checkpoint after verifying its
// Ed25519 signature, or nil when none is signed yet.
func latestCheckpoint(ctx context.Context, st *store.Store, pub ed25519.PublicKey, origin string) (*Checkpoint, error) {
	cp, err := st.LatestCheckpoint(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	keys := checkpoint.Keys{Origin: origin, Ed25519: pub}
	vkey, err := keys.Ed25519VerifierKey()
	if err != nil {
		return nil, fmt.Errorf("checkpoint verifier key: %w", err)
	}
	nv, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint verifier key: %w", err)
	}
	n, err := note.Open(cp.Note, note.VerifierList(nv))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: the Ed25519 signature of %s does not verify: %w (run tally audit)", cp.Size, origin, err)
	}
	body, err := checkpoint.ParseText(n.Text)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: %w", cp.Size, err)
	}
	if body.Size != cp.Size || body.Origin != origin {
		return nil, fmt.Errorf("checkpoint stored as size %d is signed for %s size %d (run tally audit)", cp.Size, body.Origin, body.Size)
	}
	return &Checkpoint{Size: cp.Size, Time: time.UnixMicro(cp.CreatedUS).UTC(), Root: base64.StdEncoding.EncodeToString(body.Root[:])}, nil
}

// coverage fills r.Coverage once the readings are in.
func (b *builder) coverage() {
	r, c := b.r, &b.r.Coverage
	c.Anchor = Anchor{Status: NotAnchored}
	c.Checkpoint = b.cp
	c.Uncovered = b.uncovered
	switch {
	case r.Seq == nil:
		c.Detail = "the report holds no readings"
	case b.cp == nil:
		c.Detail = "no checkpoint is signed yet: the daemon signs one every checkpoint.interval and at shutdown"
	case b.uncovered == 0:
		c.Covered = true
		c.Detail = fmt.Sprintf("every reading of the report (seq %d–%d) is in the signed checkpoint of size %d (seq 0–%d)", r.Seq.First, r.Seq.Last, b.cp.Size, b.cp.Size-1)
	default:
		c.Detail = fmt.Sprintf("%d readings of the report (up to seq %d) are newer than the signed checkpoint of size %d (seq 0–%d); the next checkpoint will cover them", b.uncovered, r.Seq.Last, b.cp.Size, b.cp.Size-1)
	}
}

// number returns a CBOR-decoded numeric value as a float64.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case float32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}

// integer returns a CBOR-decoded whole number.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case int:
		return int64(x), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	}
	return 0, false
}

// plain turns CBOR-decoded maps with non-string keys (map[any]any) into
// map[string]any, recursively, so that the value marshals to JSON.
func plain(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = plain(e)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = plain(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

func text(v any) string {
	s, _ := v.(string)
	return s
}

func copyF(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
