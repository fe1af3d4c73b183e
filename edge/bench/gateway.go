package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallygw/tally/edge"
	"github.com/tallygw/tally/edge/config"
	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/edge/keys"
	"github.com/tallygw/tally/edge/store"
	"github.com/tallygw/tally/sensors"
	"github.com/tallygw/tally/sensors/mqtt"
)

// gatewayConfig is the gateway under test, as an operator would write it.
// The sensor is disabled so that System does not start a subscriber of its
// own: the bench builds that sensor's subscriber from this very section,
// exactly as System would (mqtt.New(section, id, logger)), and runs it into
// System's pipeline through a timing sink.
const gatewayConfig = `gateway:
  id: bench
http:
  listen: 127.0.0.1:0
sensors:
  - id: bench
    driver: mqtt
    enabled: false
    mqtt:
      broker: %s
      client_id: %s
      qos: %d
      topics:
        - filter: %s/+/temp
          sensor: bench-{1}
          decoder: temperature
`

// gateway runs the gateway phase.
func (r *run) gateway(ctx context.Context) (Tally, error) {
	phase := "tally"
	dir, err := os.MkdirTemp(r.o.Dir, "tally-bench-")
	if err != nil {
		return Tally{}, err
	}
	defer os.RemoveAll(dir)
	if _, err := keys.Generate(filepath.Join(dir, "ed25519.key"), filepath.Join(dir, "mldsa65.key")); err != nil {
		return Tally{}, err
	}
	clientID := "tally-bench-" + r.id + "-" + phase
	cfgPath := filepath.Join(dir, "tally.yaml")
	raw := fmt.Appendf(nil, gatewayConfig, r.br.url, clientID, r.o.QoS, r.prefix(phase))
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		return Tally{}, err
	}
	cfg, err := config.Parse(cfgPath, raw, dir)
	if err != nil {
		return Tally{}, err
	}
	sc := cfg.Sensors[0]
	sys, err := edge.New(cfg, r.log)
	if err != nil {
		return Tally{}, err
	}
	sub, err := mqtt.New(*sc.MQTT, sc.ID, r.log.With("sensor", sc.ID))
	if err != nil {
		return Tally{}, err
	}
	// The session exists, subscribed, before the first message is sent.
	c, err := subscribeSession(r.br.url, clientID, r.prefix(phase)+"/+/temp", byte(r.o.QoS), nil)
	if err != nil {
		return Tally{}, err
	}
	c.Disconnect(250)
	defer func() {
		if err := dropSession(r.br.url, clientID); err != nil {
			r.log.Warn("bench: gateway session left on the broker", "err", err)
		}
	}()

	sysCtx, stopSys := context.WithCancel(ctx)
	defer stopSys()
	sysDone := make(chan error, 1)
	go func() { sysDone <- sys.Run(sysCtx) }()
	sysStopped := false
	defer func() {
		if !sysStopped {
			stopSys()
			<-sysDone
		}
	}()
	select {
	case <-sys.Pipeline().Ready():
	case err := <-sysDone:
		sysStopped = true
		return Tally{}, fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
		return Tally{}, ctx.Err()
	}
	sink := &timingSink{p: sys.Pipeline()}
	subCtx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	subDone := make(chan error, 1)
	go func() { subDone <- sub.Run(subCtx, sink) }()
	subStopped := false
	defer func() {
		if !subStopped {
			stopSub()
			<-subDone
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); !sub.Stats().Connected; {
		if time.Now().After(deadline) {
			return Tally{}, fmt.Errorf("gateway subscriber not connected after 30 s: %s", sub.Stats().LastError)
		}
		if !sleepCtx(ctx, 10*time.Millisecond) {
			return Tally{}, ctx.Err()
		}
	}

	// Memory: what the phase before left is returned to the system, then
	// the peak is reset, so that VmHWM covers this phase only.
	debug.FreeOSMemory()
	mem := Memory{Includes: r.memoryIncludes()}
	idle, err := readMem("self")
	if err != nil {
		return Tally{}, err
	}
	mem.Idle = mib(idle.RSS)
	peakReset := resetPeak() == nil
	var profErr error
	profiling := false
	stopProfile := func() {
		if profiling {
			pprof.StopCPUProfile()
			profiling = false
		}
	}
	defer stopProfile()
	h := hooks{
		start: func() {
			if r.o.CPUProfile != nil {
				profErr = pprof.StartCPUProfile(r.o.CPUProfile)
				profiling = profErr == nil
			}
		},
		end: stopProfile,
	}
	w, err := r.drive(ctx, phase, sink.accepted.Load, h)
	if err != nil {
		return Tally{}, err
	}
	if profErr != nil {
		return Tally{}, fmt.Errorf("cpu profile: %w", profErr)
	}
	after, err := readMem("self")
	if err != nil {
		return Tally{}, err
	}
	mem.Peak = mib(after.HWM)
	if !peakReset {
		mem.Includes += "; peak is since the process started (could not reset VmHWM)"
	}

	// Shutdown in the daemon's order: intake first, then the gateway.
	stopSub()
	subStopped = true
	if err := <-subDone; err != nil {
		return Tally{}, err
	}
	stopSys()
	sysStopped = true
	if err := <-sysDone; err != nil {
		return Tally{}, fmt.Errorf("gateway: %w", err)
	}
	t := Tally{
		Publishing:       w.publishing(r.o.Duration),
		InWindow:         w.inWindow,
		ReadingsPerS:     float64(w.inWindow) / r.o.Duration.Seconds(),
		Accepted:         sink.accepted.Load(),
		Duplicates:       sink.duplicates.Load(),
		Refused:          sink.refused.Load(),
		Quarantined:      sink.quarantined.Load(),
		BacklogPerS:      w.backlogRate,
		PipelineAccepted: sys.Pipeline().Status().Accepted,
		Memory:           mem,
		CPU:              w.cpu,
	}
	if t.Accepted < t.Publishing.Published {
		t.NotAccepted = t.Publishing.Published - t.Accepted
	}
	t.Latency = sink.latency()
	if t.Stored, err = storedReadings(ctx, cfg); err != nil {
		return Tally{}, err
	}
	return t, nil
}

func (r *run) memoryIncludes() string {
	parts := []string{"the gateway (store, pipeline, subscriber, status endpoint)"}
	if len(r.o.PublisherCommand) == 0 {
		parts = append(parts, "the publishers (in this process)")
	} else {
		parts = append(parts, "not the publishers (child process)")
	}
	if r.br.kind == "embedded" {
		parts = append(parts, "the embedded broker")
	}
	return strings.Join(parts, "; ")
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// storedReadings opens the gateway's database after shutdown and returns
// the log size, checking it against the per-sensor counters.
func storedReadings(ctx context.Context, cfg *config.Config) (int64, error) {
	st, err := store.Open(cfg.Path(cfg.Store.Path), cfg.Origin(), store.Options{})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	sensors, err := st.Sensors(ctx)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, s := range sensors {
		sum += s.Readings
	}
	if sum != st.Size() {
		return 0, fmt.Errorf("store: log size %d but the sensor counters add up to %d", st.Size(), sum)
	}
	return st.Size(), nil
}

// timingSink is the gateway's pipeline as the subscriber's sink, noting
// when the pipeline answers each reading: that is when the reading is
// signed and committed (fsync included), and when the subscriber may
// acknowledge its message.
type timingSink struct {
	p           *ingest.Pipeline
	accepted    atomic.Uint64
	duplicates  atomic.Uint64
	refused     atomic.Uint64
	quarantined atomic.Uint64

	mu   sync.Mutex // guards hist
	hist histogram
}

func (s *timingSink) AcceptAsync(ctx context.Context, r sensors.Reading, done func(error)) {
	s.p.Submit(ctx, r, func(res ingest.Result) {
		now := time.Now()
		switch {
		case res.Err != nil:
			s.refused.Add(1)
		case res.Duplicate:
			s.duplicates.Add(1)
		default:
			if !r.Time.IsZero() {
				s.mu.Lock()
				s.hist.record(now.Sub(r.Time))
				s.mu.Unlock()
			}
			s.accepted.Add(1)
		}
		done(res.Err)
	})
}

func (s *timingSink) Accept(ctx context.Context, r sensors.Reading) error {
	ch := make(chan error, 1)
	s.AcceptAsync(ctx, r, func(err error) { ch <- err })
	return <-ch
}

func (s *timingSink) Quarantine(ctx context.Context, sensor, reason string, raw []byte) {
	s.quarantined.Add(1)
	s.p.Quarantine(ctx, sensor, reason, raw)
}

func (s *timingSink) latency() Latency {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Latency{
		Samples: s.hist.n,
		P50:     ms(s.hist.quantile(0.50)),
		P90:     ms(s.hist.quantile(0.90)),
		P99:     ms(s.hist.quantile(0.99)),
		Max:     ms(s.hist.max),
	}
}

var _ sensors.AsyncSink = (*timingSink)(nil)
