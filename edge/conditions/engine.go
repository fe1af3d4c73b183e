package conditions

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tallygw/tally/sensors"
)

// Event kinds, the values of Event.Kind.
const (
	KindExcursion      = "temperature_excursion"
	KindExcursionEnd   = "temperature_excursion_end"
	KindSilence        = "sensor_silence"
	KindSensorBack     = "sensor_back"
	KindSealChange     = "seal_change"
	KindSealBreach     = "seal_breach"
	KindGeofenceEnter  = "geofence_enter"
	KindGeofenceExit   = "geofence_exit"
	KindGPSFixLost     = "gps_fix_lost"
	KindGPSFixRegained = "gps_fix_regained"
	KindClockJump      = "clock_jump"
)

// EventSensor is the sensor id of the event readings Event.Reading makes.
const EventSensor = "rules"

// Observed is one reading as the store holds it: its log sequence number and
// the gateway's receive time.
type Observed struct {
	Seq     int64
	Reading sensors.Reading
	Recv    time.Time
}

// time is the time of o for the rules: the sensor's own time when it has
// one, else the receive time; clock is Reading.Clock, or "" for the receive
// time.
func (o *Observed) time() (t time.Time, clock string) {
	if !o.Reading.Time.IsZero() {
		return o.Reading.Time, o.Reading.Clock
	}
	return o.Recv, ""
}

// Event is what a rule found.
type Event struct {
	Rule      string    // the rule's name
	Kind      string    // one of the Kind constants
	Sensor    string    // the sensor the event is about
	Container string    // the ISO 6346 container number of the readings, when they had one
	At        time.Time // when it happened, on the time scale of the readings (see the package comment)
	Clock     string    // Reading.Clock of the reading At comes from; "" when At is a gateway receive time
	// FromSeq and ToSeq are the log sequence numbers of the first and the
	// last reading that caused the event.
	FromSeq, ToSeq int64
	// Values are the measured values: float64, int64, string or bool.
	Values map[string]any
	// Detail says what happened, for a person.
	Detail string
}

// Reading returns the event as a reading of kind "event" from sensor
// "rules", for the daemon to sign and append. Data holds rule, kind, detail,
// sensor, from_seq, to_seq, at (RFC 3339, UTC) and the values. Time and Clock
// are At and Clock when At is a sensor time, else zero (the event's time is
// then the gateway receive time in "at"). MsgID is the event's identity
// (rule, kind, sensor, from_seq and zone), so the store drops a duplicate.
func (ev Event) Reading() sensors.Reading {
	data := make(map[string]any, len(ev.Values)+7)
	for k, v := range ev.Values {
		data[k] = v
	}
	data["rule"] = ev.Rule
	data["kind"] = ev.Kind
	data["detail"] = ev.Detail
	data["sensor"] = ev.Sensor
	data["from_seq"] = ev.FromSeq
	data["to_seq"] = ev.ToSeq
	data["at"] = ev.At.UTC().Format(time.RFC3339Nano)
	r := sensors.Reading{
		Sensor:    EventSensor,
		Kind:      sensors.KindEvent,
		Container: ev.Container,
		MsgID:     ev.key().String(),
		Data:      data,
	}
	if ev.Clock != "" {
		r.Time, r.Clock = ev.At, ev.Clock
	}
	return r
}

// eventKey is the identity of an event: a rule emits an event with a given
// key at most once, and a restarted engine recognises it in the log.
type eventKey struct {
	rule, kind, sensor, zone string
	from                     int64
}

func (ev *Event) key() eventKey {
	k := eventKey{rule: ev.Rule, kind: ev.Kind, sensor: ev.Sensor, from: ev.FromSeq}
	k.zone, _ = ev.Values["zone"].(string)
	return k
}

func (k eventKey) String() string {
	s := k.rule + "/" + k.kind + "/" + k.sensor + "/" + strconv.FormatInt(k.from, 10)
	if k.zone != "" {
		s += "/" + k.zone
	}
	return s
}

// keyOfReading returns the key of an event reading, if it is one the engine
// could have made.
func keyOfReading(r *sensors.Reading) (eventKey, bool) {
	rule, _ := r.Data["rule"].(string)
	kind, _ := r.Data["kind"].(string)
	sensor, _ := r.Data["sensor"].(string)
	from, ok := intValue(r.Data["from_seq"])
	if rule == "" || kind == "" || !ok {
		return eventKey{}, false
	}
	zone, _ := r.Data["zone"].(string)
	return eventKey{rule: rule, kind: kind, sensor: sensor, zone: zone, from: from}, true
}

// evaluator is one compiled rule.
type evaluator interface {
	// observe takes one reading (never of kind event).
	observe(in *input, emit func(Event))
	// advance tells the rule the gateway clock reached now.
	advance(now time.Time, emit func(Event))
	// horizon is the smallest seq the rule's state depends on, or
	// math.MaxInt64.
	horizon() int64
	// conditions appends what is in force now.
	conditions(out *[]Condition)
}

// input is an Observed with its rule time worked out.
type input struct {
	seq   int64
	r     *sensors.Reading
	recv  time.Time
	at    time.Time // rule time
	clock string    // clock of at; "" for the receive time
}

// Engine evaluates the rules over the stream of accepted readings. It is
// safe for concurrent use; its methods are serialised.
type Engine struct {
	mu sync.Mutex // guards every field below

	rules   []evaluator
	lastSeq int64     // seq of the last reading taken; -1 before the first
	now     time.Time // latest gateway time seen (receive times and Tick)

	// emitted holds the keys of events returned by Observe and Tick or
	// found in the log as event readings; they are not emitted again.
	emitted map[eventKey]struct{}
	pruneAt int // prune emitted when it grows past this

	replaying   bool
	done        int64            // events caused by readings below this seq are in the log
	pending     []pendingEvent   // events found during a replay, oldest first
	pendingKeys map[eventKey]int // index into pending

	out    []Event     // events of the call in progress
	emitFn func(Event) // e.emit, bound once
}

type pendingEvent struct {
	ev     Event
	logged bool // an event reading with its key came by: the log has it
}

// New validates cfg, reads zones_file when set (the package's only I/O),
// applies the defaults and returns an engine with no state. Errors are
// *ConfigError values naming the key (rules[2].above_c: …).
func New(cfg Config) (*Engine, error) {
	fileZones, err := cfg.loadZones()
	if err != nil {
		return nil, err
	}
	if fileZones == nil && cfg.ZonesFile != "" {
		fileZones = []Zone{}
	}
	c, err := cfg.compile(fileZones)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		lastSeq:     -1,
		emitted:     map[eventKey]struct{}{},
		pendingKeys: map[eventKey]int{},
		pruneAt:     1024,
	}
	e.emitFn = e.emit
	for _, r := range c.rules {
		var ev evaluator
		switch r.Type {
		case TypeTemperature:
			ev = newTemperature(r)
		case TypeSilence:
			ev = newSilence(r)
		case TypeSeal:
			ev = newSeal(r, c.zones)
		case TypeGeofence:
			ev = newGeofence(r, c.zones, c.zoneOrder)
		case TypeGPSFix:
			ev = newGPSFix(r)
		case TypeClock:
			ev = newClock(r)
		}
		e.rules = append(e.rules, ev)
	}
	return e, nil
}

// Observe takes the next accepted reading and returns the events it causes,
// for the daemon to append to the log. Readings must come in seq order; a
// reading whose seq is not above the last one's is ignored. Readings of kind
// "event" cause nothing: the engine only notes that the event they carry is
// in the log, and never emits it again.
//
// Observe ends a replay (see Replay): it then first returns what Resume
// would have.
func (e *Engine) Observe(o Observed) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = nil
	if e.replaying {
		e.resume()
	}
	e.take(&o)
	return e.flush()
}

// Checkpoint is where a restarted engine can pick up: replay the stored
// readings from seq From on. The zero Checkpoint replays the whole log.
type Checkpoint struct {
	// From is the smallest seq the engine's present state depends on: the
	// first reading of an open excursion or of the readings still in a
	// cumulative window, the last reading of every sensor a silence rule
	// watches, the reading that set a seal's state or put a sensor in a
	// zone, and the like; the seq after the last reading when there is no
	// such state.
	From int64 `json:"from"`
	// Done is one past the last reading taken: every event caused by a
	// reading below Done is in the log, provided the daemon appended the
	// events of those readings before it stored the checkpoint.
	Done int64 `json:"done"`
}

// Checkpoint returns where a restarted engine can pick up from. A daemon
// stores it now and then, after appending the events Observe returned; a
// long-silent sensor or a zone entered months ago can hold From far back,
// and a daemon may cap the replay at the cost of what began before.
func (e *Engine) Checkpoint() Checkpoint {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Checkpoint{From: e.horizon(), Done: e.lastSeq + 1}
}

// BeginReplay starts rebuilding a fresh engine's state after a restart from
// a checkpoint the previous run stored: feed every stored reading from
// cp.From on to Replay, then call Resume. Events caused by readings below
// cp.Done are not emitted again: the previous run settled them (a replay
// that starts in the middle of things may see them differently). Without
// BeginReplay, Replay starts from the zero Checkpoint: from seq 0.
func (e *Engine) BeginReplay(cp Checkpoint) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.replaying = true
	e.done = cp.Done
}

// Replay takes a reading the log already held when the daemon started, to
// rebuild the engine's state after a restart: feed a fresh engine every
// stored reading from the stored Checkpoint's From (or from 0) on, in seq
// order, then call Resume. Events the replay finds are held back; those
// whose event reading comes by later in the replay are already in the log
// and are dropped.
func (e *Engine) Replay(o Observed) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.replaying = true
	e.take(&o)
}

// Resume ends a replay and returns the events it found that the log does not
// hold, oldest first: those a crash kept the previous run from appending.
// The daemon appends them like Observe's. Without a replay it returns nil.
func (e *Engine) Resume() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = nil
	e.resume()
	return e.flush()
}

// Tick tells the engine the gateway clock reads now and returns the silences
// that began by then. The daemon calls it every few seconds; time going back
// is ignored. Tick ends a replay as Observe does.
func (e *Engine) Tick(now time.Time) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = nil
	if e.replaying {
		e.resume()
	}
	e.advance(now)
	return e.flush()
}

func (e *Engine) horizon() int64 {
	h := e.lastSeq + 1
	for _, r := range e.rules {
		h = min(h, r.horizon())
	}
	return h
}

// State is a snapshot of the engine for the status page.
type State struct {
	LastSeq    int64       `json:"last_seq"`  // seq of the last reading taken, -1 before the first
	Horizon    int64       `json:"horizon"`   // see Checkpoint.From
	Replaying  bool        `json:"replaying"` // between Replay and Resume
	Conditions []Condition `json:"conditions"`
}

// Condition is something in force now: a temperature excursion under way,
// a silent sensor, a seal's state, a zone a sensor is in, a lost GPS fix.
type Condition struct {
	Rule    string    `json:"rule"`
	Kind    string    `json:"kind"` // the kind of the event that began it
	Sensor  string    `json:"sensor"`
	Since   time.Time `json:"since"`
	FromSeq int64     `json:"from_seq"`
	Detail  string    `json:"detail"`
}

// State returns a snapshot of the engine.
func (e *Engine) State() State {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := State{LastSeq: e.lastSeq, Horizon: e.horizon(), Replaying: e.replaying, Conditions: []Condition{}}
	for _, r := range e.rules {
		r.conditions(&s.Conditions)
	}
	return s
}

// take runs one reading through the rules.
func (e *Engine) take(o *Observed) {
	if o.Seq <= e.lastSeq {
		return
	}
	e.lastSeq = o.Seq
	if o.Reading.Kind == sensors.KindEvent {
		if k, ok := keyOfReading(&o.Reading); ok {
			e.emitted[k] = struct{}{}
			if i, ok := e.pendingKeys[k]; ok {
				e.pending[i].logged = true
			}
		}
		return
	}
	e.advance(o.Recv)
	in := input{seq: o.Seq, r: &o.Reading, recv: o.Recv}
	in.at, in.clock = o.time()
	for _, r := range e.rules {
		r.observe(&in, e.emitFn)
	}
	if len(e.emitted) > e.pruneAt {
		e.prune()
	}
}

// advance moves the gateway clock on (never back) and lets the rules look
// at it. It runs for every reading even when the clock does not move: a
// Tick may have run ahead of the receive times of readings taken after it,
// and a replay, which has no Ticks, must find what the live engine found.
func (e *Engine) advance(now time.Time) {
	if now.After(e.now) {
		e.now = now
	}
	if e.now.IsZero() {
		return
	}
	for _, r := range e.rules {
		r.advance(e.now, e.emitFn)
	}
}

// emit is the one way out for events: it drops those already emitted or in
// the log, and holds back those of a replay.
func (e *Engine) emit(ev Event) {
	k := ev.key()
	if _, done := e.emitted[k]; done {
		return
	}
	if e.replaying {
		if e.lastSeq < e.done {
			return // settled by the previous run
		}
		if _, dup := e.pendingKeys[k]; !dup {
			e.pendingKeys[k] = len(e.pending)
			e.pending = append(e.pending, pendingEvent{ev: ev})
		}
		return
	}
	e.emitted[k] = struct{}{}
	e.out = append(e.out, ev)
}

func (e *Engine) resume() {
	e.replaying = false
	pending := e.pending
	e.pending, e.pendingKeys = nil, map[eventKey]int{}
	for _, p := range pending {
		if !p.logged {
			e.emit(p.ev)
		}
	}
}

func (e *Engine) flush() []Event {
	out := e.out
	e.out = nil
	return out
}

// prune forgets emitted keys no rule can produce again: every event a rule
// will still emit has a FromSeq at or above the horizon.
func (e *Engine) prune() {
	h := e.horizon()
	for k := range e.emitted {
		if k.from < h {
			delete(e.emitted, k)
		}
	}
	e.pruneAt = max(1024, 2*len(e.emitted))
}

// floatValue reads a number from reading data as any decoder may have typed
// it.
func floatValue(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case int32:
		f = float64(x)
	case uint64:
		f = float64(x)
	case uint32:
		f = float64(x)
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// intValue reads an integer from reading data.
func intValue(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	}
	return 0, false
}

// latLon reads the position of a reading, if it has a valid one.
func latLon(r *sensors.Reading) (lat, lon float64, ok bool) {
	lat, ok1 := floatValue(r.Data["lat"])
	lon, ok2 := floatValue(r.Data["lon"])
	if !ok1 || !ok2 || checkLatLon(lat, lon) != nil {
		return 0, 0, false
	}
	return lat, lon, true
}

// seconds is d in seconds, for Values.
func seconds(d time.Duration) float64 { return d.Seconds() }

// human formats a duration for details: whole seconds.
func human(d time.Duration) string { return d.Round(time.Second).String() }

// stamp formats a time for details.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// sortEvents sorts events by time, then sensor, for deterministic output
// of evaluations that walk maps.
func sortEvents(evs []Event) {
	slices.SortStableFunc(evs, func(a, b Event) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if a.Sensor < b.Sensor {
			return -1
		}
		if a.Sensor > b.Sensor {
			return 1
		}
		return 0
	})
}

// label names a sensor (and probe) in details.
func label(sensor, probe string) string {
	if probe == "" {
		return sensor
	}
	return fmt.Sprintf("%s (probe %s)", sensor, probe)
}
