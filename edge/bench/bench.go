// Package bench measures the gateway end to end against a real MQTT broker
// (tally bench): publishers send numbered QoS 1 temperature messages, and in
// the same run, on the same broker, two consumers take them in turn:
//
//  1. baseline: a bare paho client that only acknowledges (manual ack,
//     QoS 1 subscription, persistent session);
//  2. tally: a real gateway — edge.New on a fresh data directory with fresh
//     keys — whose MQTT subscriber (sensors/mqtt, built from the same
//     config section the daemon reads) feeds the gateway's pipeline through
//     a sink that notes when each reading is accepted: signed, committed to
//     SQLite with its fsync, and so acknowledged to the broker.
//
// Each message carries its send time as the sensor's time, so the latency
// publish → accepted is measured per reading whether the publishers run in
// this process or in a child (ServePublisher). Every phase is bounded: the
// publishers stop after the duration, the consumer gets a short drain period,
// and whatever was not consumed by then is reported, not waited for.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tallygw/tally/sensors/mqtt"
)

// Options say what to run.
type Options struct {
	// Broker is "mosquitto" (started on a free loopback port), "embedded"
	// (edge/broker in this process) or the URL of a running broker that
	// takes anonymous clients (tcp://host:port).
	Broker     string
	Publishers int
	// Rate is the target over all publishers in messages/s; 0 publishes as
	// fast as the broker acknowledges (each publisher keeps up to 1000
	// messages unacknowledged).
	Rate     float64
	Duration time.Duration // of each phase's publishing
	// Drain is how long after the publishing each consumer may still take
	// what is queued for it; the rest is reported as not consumed.
	Drain time.Duration
	QoS   int
	// Dir is where the gateway's temporary data directory is made (its
	// disk's fsync is part of every commit); empty: os.TempDir().
	Dir string
	// PublisherCommand, when set, runs the publishers in a child process:
	// the command must serve ServePublisher (tally bench --publish-only).
	// The gateway's resident memory and CPU profile are then its own.
	PublisherCommand []string
	// CPUProfile, when set, receives a CPU profile of this process over the
	// gateway phase's publishing window.
	CPUProfile io.Writer
	Logger     *slog.Logger // the gateway's and embedded broker's logs; nil: none
	Progress   io.Writer    // one line per step for a person watching; nil: none
}

// Result is what a run measured. Rates are per second of the publishing
// window; latencies are in milliseconds; memory in MiB.
type Result struct {
	Broker             string    `json:"broker"` // mosquitto, embedded, or the URL given
	BrokerURL          string    `json:"broker_url"`
	BrokerVersion      string    `json:"broker_version"`
	BrokerMaxInflight  int       `json:"broker_max_inflight,omitempty"` // mosquitto's max_inflight_messages
	Publishers         int       `json:"publishers"`
	PublisherProcess   string    `json:"publisher_process"` // "child" or "in-process"
	QoS                int       `json:"qos"`
	RateTarget         float64   `json:"rate_target"` // messages/s over all publishers; 0: flat out
	DurationSeconds    float64   `json:"duration_s"`
	DrainSeconds       float64   `json:"drain_s"`
	SubscriberInflight int       `json:"subscriber_max_inflight"` // tally's mqtt max_inflight
	DataDir            string    `json:"data_dir"`                // where the gateway's temporary data directory was made
	CPUs               int       `json:"cpus"`
	LoadStart          []float64 `json:"load_start"` // 1, 5, 15 min load averages before the run
	LoadEnd            []float64 `json:"load_end"`
	Baseline           Baseline  `json:"baseline"`
	Tally              Tally     `json:"tally"`
	// Ratio is the gateway's readings/s over the bare consumer's messages/s.
	Ratio float64 `json:"ratio"`
	// BrokerLog is what mosquitto logged (errors and warnings, such as
	// messages it dropped), at most 4 KiB; empty when it said nothing.
	BrokerLog string `json:"broker_log,omitempty"`
}

// Publishing is what the publishers of one phase did.
type Publishing struct {
	Published   uint64  `json:"published"`   // acknowledged by the broker
	Failed      uint64  `json:"failed"`      // refused by the broker or lost with a connection
	Unconfirmed uint64  `json:"unconfirmed"` // not acknowledged by the end of the drain period
	Rate        float64 `json:"rate"`        // published per second
	Error       string  `json:"error,omitempty"`
}

// CPU is the cores (CPU seconds per second) used during a publishing
// window. Nil fields were not measured (a broker that is not ours).
type CPU struct {
	ThisProcess float64  `json:"this_process"` // the consumer; with it the embedded broker and in-process publishers
	Publishers  *float64 `json:"publishers,omitempty"`
	Broker      *float64 `json:"broker,omitempty"` // mosquitto
	// Machine is every CPU's busy time, all processes; Others is what is
	// left of it once the bench's own processes are taken out: other work
	// competing for the same cores.
	Machine float64  `json:"machine"`
	Others  *float64 `json:"others,omitempty"`
}

// Baseline is the bare paho consumer's phase.
type Baseline struct {
	Publishing  Publishing `json:"publishing"`
	InWindow    uint64     `json:"received_in_window"`
	MsgsPerS    float64    `json:"msgs_per_s"`
	Received    uint64     `json:"received"` // by the end of the drain period
	Redelivered uint64     `json:"redelivered"`
	NotReceived uint64     `json:"not_received"` // published, not received by the end
	// BacklogPerS is the rate during the drain period when the consumer
	// had a backlog all through it (publishers idle); 0 when it caught up.
	BacklogPerS float64 `json:"backlog_msgs_per_s"`
	CPU         CPU     `json:"cpu_cores"`
}

// Tally is the gateway's phase.
type Tally struct {
	Publishing   Publishing `json:"publishing"`
	InWindow     uint64     `json:"accepted_in_window"`
	ReadingsPerS float64    `json:"readings_per_s"`
	Accepted     uint64     `json:"accepted"` // signed and durable by the end of the drain period
	Duplicates   uint64     `json:"duplicates"`
	Refused      uint64     `json:"refused"`
	Quarantined  uint64     `json:"quarantined"`
	NotAccepted  uint64     `json:"not_accepted"` // published, not accepted by the end
	// BacklogPerS is the rate during the drain period when the gateway had
	// a backlog all through it (publishers idle); 0 when it caught up.
	BacklogPerS float64 `json:"backlog_readings_per_s"`
	// Stored is the log size found in the database after the gateway shut
	// down; PipelineAccepted the pipeline's own count. Both must equal
	// Accepted.
	Stored           int64   `json:"stored"`
	PipelineAccepted int64   `json:"pipeline_accepted"`
	Latency          Latency `json:"latency_ms"`
	Memory           Memory  `json:"memory_mib"`
	CPU              CPU     `json:"cpu_cores"`
}

// Latency is publish (the publisher's clock before the send) → accepted
// (the pipeline reports the reading committed), over every accepted reading.
type Latency struct {
	Samples uint64  `json:"samples"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
}

// Memory is this process's resident memory in the gateway phase.
type Memory struct {
	Idle     float64 `json:"idle"` // VmRSS with the gateway running, before publishing
	Peak     float64 `json:"peak"` // VmHWM over the publishing window and the drain period
	Includes string  `json:"includes"`
}

// run is one bench run.
type run struct {
	o   Options
	log *slog.Logger
	br  *runningBroker
	id  string
	say func(format string, args ...any)
}

// Run runs the baseline phase, then the gateway phase, and returns what
// they measured. Cancelling ctx stops it (returning ctx's error).
func Run(ctx context.Context, o Options) (*Result, error) {
	switch {
	case o.Publishers < 1 || o.Publishers > 1000:
		return nil, fmt.Errorf("publishers: %d is not 1–1000", o.Publishers)
	case o.Rate < 0:
		return nil, fmt.Errorf("rate: %v is negative (0 publishes flat out)", o.Rate)
	case o.Duration <= 0:
		return nil, fmt.Errorf("duration: %v is not positive", o.Duration)
	case o.Drain < 0:
		return nil, fmt.Errorf("drain: %v is negative", o.Drain)
	case o.QoS < 0 || o.QoS > 2:
		return nil, fmt.Errorf("qos: %d is not 0, 1 or 2", o.QoS)
	}
	r := &run{o: o, log: o.Logger, say: func(string, ...any) {}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if o.Progress != nil {
		r.say = func(format string, args ...any) { fmt.Fprintf(o.Progress, "bench: "+format+"\n", args...) }
	}
	id := make([]byte, 4)
	rand.Read(id)
	r.id = hex.EncodeToString(id)

	br, err := startBroker(o.Broker, mqtt.DefaultMaxInflight, r.log)
	if err != nil {
		return nil, err
	}
	defer br.close()
	r.br = br
	res := &Result{
		Broker: o.Broker, BrokerURL: br.url, BrokerVersion: br.version,
		Publishers: o.Publishers, PublisherProcess: "in-process", QoS: o.QoS, RateTarget: o.Rate,
		DurationSeconds: o.Duration.Seconds(), DrainSeconds: o.Drain.Seconds(),
		SubscriberInflight: mqtt.DefaultMaxInflight, CPUs: runtime.NumCPU(), LoadStart: loadAvg(),
	}
	if res.DataDir = o.Dir; res.DataDir == "" {
		res.DataDir = os.TempDir()
	}
	if br.kind == "mosquitto" {
		res.BrokerMaxInflight = mqtt.DefaultMaxInflight
	}
	if len(o.PublisherCommand) > 0 {
		res.PublisherProcess = "child"
	}
	rate := "flat out"
	if o.Rate > 0 {
		rate = fmt.Sprintf("%g msg/s", o.Rate)
	}
	r.say("broker %s at %s; %d publishers (%s), QoS %d, %s, %v per phase, drain ≤ %v", br.version, br.url, o.Publishers, res.PublisherProcess, o.QoS, rate, o.Duration, o.Drain)

	r.say("phase 1: baseline, a bare paho consumer that only acknowledges")
	if res.Baseline, err = r.baseline(ctx); err != nil {
		return nil, r.brokerErr("baseline", err)
	}
	r.say("baseline: %.0f msg/s", res.Baseline.MsgsPerS)
	r.say("phase 2: tally, signed + durable + acknowledged")
	if res.Tally, err = r.gateway(ctx); err != nil {
		return nil, r.brokerErr("tally", err)
	}
	r.say("tally: %.0f readings/s", res.Tally.ReadingsPerS)
	res.LoadEnd = loadAvg()
	if br.log != nil {
		res.BrokerLog = clip(br.log(), 4<<10)
	}
	if res.Baseline.MsgsPerS > 0 {
		res.Ratio = res.Tally.ReadingsPerS / res.Baseline.MsgsPerS
	}
	return res, nil
}

func (r *run) brokerErr(phase string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	if r.br.log != nil {
		if l := r.br.log(); l != "" {
			return fmt.Errorf("%s phase: %w\nbroker log:\n%s", phase, err, l)
		}
	}
	return fmt.Errorf("%s phase: %w", phase, err)
}

// prefix is the topic prefix of a phase: each phase has topics of its own,
// so that neither consumer's session collects the other phase's messages.
func (r *run) prefix(phase string) string { return "tally-bench/" + r.id + "/" + phase }

// window is what happened during one phase's publishing.
type window struct {
	start    time.Time
	pub      PublishResult
	inWindow uint64 // consumed by the end of the publishing window
	cpu      CPU
	// backlogRate is the consumption rate during the drain period when a
	// backlog lasted all of it: the consumer alone, publishers idle. 0
	// when the consumer caught up.
	backlogRate float64
}

// hooks run at the start and at the end of the publishing window.
type hooks struct {
	start func()
	end   func()
}

// drive runs the publishers of a phase and watches consumed (a count of
// distinct messages the consumer took) until the end of the publishing
// window, then for at most the drain period until it reaches what the
// broker confirmed to the publishers.
func (r *run) drive(ctx context.Context, phase string, consumed func() uint64, h hooks) (window, error) {
	o := r.o
	cfg := PublishConfig{
		Broker: r.br.url, TopicPrefix: r.prefix(phase), ClientID: "tally-bench-" + r.id + "-" + phase + "-pub",
		Publishers: o.Publishers, Rate: o.Rate, Duration: o.Duration, QoS: byte(o.QoS), Confirm: o.Drain,
	}
	p, err := startPublishers(ctx, cfg, o.PublisherCommand)
	if err != nil {
		return window{}, err
	}
	defer p.stop()
	var w window
	connect := time.NewTimer(60 * time.Second)
	defer connect.Stop()
	select {
	case w.start = <-p.started:
	case out := <-p.done:
		if out.err == nil {
			out.err = errors.New("they ended before publishing")
		}
		return w, fmt.Errorf("publishers: %w", out.err)
	case <-connect.C:
		return w, errors.New("publishers: not connected after 60 s")
	case <-ctx.Done():
		return w, ctx.Err()
	}
	self0, _ := cpuTime("self")
	broker0 := r.brokerCPU()
	machine0, _ := machineBusy()
	if h.start != nil {
		h.start()
	}
	windowEnd := w.start.Add(o.Duration)
	var out *publishOutcome
	if err := sleepUntil(ctx, windowEnd, p.done, &out); err != nil {
		return w, err
	}
	w.inWindow = consumed()
	if h.end != nil {
		h.end()
	}
	self1, _ := cpuTime("self")
	machine1, _ := machineBusy()
	w.cpu.ThisProcess = (self1 - self0).Seconds() / o.Duration.Seconds()
	w.cpu.Machine = (machine1 - machine0).Seconds() / o.Duration.Seconds()
	if broker0 >= 0 {
		if b := r.brokerCPU(); b >= 0 {
			c := (b - broker0).Seconds() / o.Duration.Seconds()
			w.cpu.Broker = &c
		}
	}
	drainEnd := windowEnd.Add(o.Drain)
	if out == nil {
		// The publishers stop at the end of the window and wait at most
		// the drain period for the broker's acknowledgements.
		limit := time.NewTimer(time.Until(drainEnd) + 15*time.Second)
		defer limit.Stop()
		select {
		case o := <-p.done:
			out = &o
		case <-limit.C:
			return w, errors.New("publishers: no result 15 s after the drain period")
		case <-ctx.Done():
			return w, ctx.Err()
		}
	}
	if out.err != nil {
		return w, fmt.Errorf("publishers: %w", out.err)
	}
	w.pub = out.res
	if out.res.CPU > 0 {
		c := out.res.CPU.Seconds() / o.Duration.Seconds()
		w.cpu.Publishers = &c
	}
	if w.cpu.Broker != nil || r.br.kind == "embedded" {
		others := w.cpu.Machine - w.cpu.ThisProcess
		if w.cpu.Publishers != nil {
			others -= *w.cpu.Publishers
		}
		if w.cpu.Broker != nil {
			others -= *w.cpu.Broker
		}
		others = max(0, others)
		w.cpu.Others = &others
	}
	for consumed() < w.pub.Confirmed && time.Now().Before(drainEnd) {
		if !sleepCtx(ctx, 5*time.Millisecond) {
			return w, ctx.Err()
		}
	}
	if n := consumed(); n < w.pub.Confirmed && o.Drain > 0 {
		w.backlogRate = float64(n-w.inWindow) / time.Since(windowEnd).Seconds()
	}
	return w, nil
}

// sleepUntil waits until t. If the publishers finish first, their outcome
// is stored in *out; an error ends the wait.
func sleepUntil(ctx context.Context, t time.Time, done <-chan publishOutcome, out **publishOutcome) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return nil
		case o := <-done:
			if o.err != nil {
				return fmt.Errorf("publishers: %w", o.err)
			}
			*out = &o
			done = nil // keep waiting for the end of the window
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// brokerCPU is the CPU time of the broker's process, -1 when it is not a
// process of ours.
func (r *run) brokerCPU() time.Duration {
	if r.br.pid == 0 {
		return -1
	}
	d, err := cpuTime(fmt.Sprint(r.br.pid))
	if err != nil {
		return -1
	}
	return d
}

func (w window) publishing(d time.Duration) Publishing {
	return Publishing{
		Published: w.pub.Confirmed, Failed: w.pub.Failed, Unconfirmed: w.pub.Unconfirmed,
		Rate: float64(w.pub.Confirmed) / d.Seconds(), Error: w.pub.Error,
	}
}

// dropSession removes a persistent session from the broker: it connects
// with clean session on under the same client id and disconnects.
func dropSession(url, clientID string) error {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(true).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second))
	tok := c.Connect()
	if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return fmt.Errorf("drop the session of %s: %v", clientID, tokErr(tok))
	}
	c.Disconnect(250)
	return nil
}

// subscribeSession creates the persistent session of clientID with a
// subscription to filter, so that the broker queues the phase's messages
// for it from the first one on, and returns the connected client.
func subscribeSession(url, clientID, filter string, qos byte, handler paho.MessageHandler) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(false).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second).
		SetAutoAckDisabled(true)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("connect %s to %s: %v", clientID, url, tokErr(tok))
	}
	st := c.Subscribe(filter, qos, handler)
	if !st.WaitTimeout(15*time.Second) || st.Error() != nil {
		c.Disconnect(250)
		return nil, fmt.Errorf("subscribe %s to %s: %v", clientID, filter, tokErr(st))
	}
	if q := st.(*paho.SubscribeToken).Result()[filter]; q != qos {
		c.Disconnect(250)
		return nil, fmt.Errorf("subscribe %s to %s: the broker granted QoS %d, not %d", clientID, filter, q, qos)
	}
	return c, nil
}

// clip cuts s to at most n bytes, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
