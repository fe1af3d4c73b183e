// Package edge is the gateway daemon. System holds every subsystem — keys,
// store, ingest pipeline, sensor drivers, status HTTP server — and is built
// in one function, New; drivers are registered explicitly there.
//
// Shutdown order (Run, after its context is cancelled), under
// shutdown.timeout:
//  1. stop intake: cancel the drivers and the condition rules and wait for
//     them to return;
//  2. commit: the pipeline stops taking readings and commits what is queued;
//  3. final checkpoint: the pipeline signs a checkpoint covering every reading;
//  4. give the uplink a second to forward the final checkpoint, then stop it,
//     and stop the anchorer (an open submission is picked up at next start);
//  5. stop the HTTP server;
//  6. close the store.
//
// If the deadline passes during 1–3, readings still queued are refused (they
// were never acknowledged) and the store is closed cleanly.
package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/tallygw/tally/anchor/checkpoint"
	"github.com/tallygw/tally/anchor/envelope"
	"github.com/tallygw/tally/edge/anchorer"
	"github.com/tallygw/tally/edge/broker"
	"github.com/tallygw/tally/edge/config"
	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/edge/keys"
	"github.com/tallygw/tally/edge/store"
	"github.com/tallygw/tally/edge/uplink"
	"github.com/tallygw/tally/sensors"
)

// Version is set at build time with -ldflags "-X github.com/tallygw/tally/edge.Version=...".
var Version = "dev"

// driver is what System needs of a sensor driver.
type driver interface {
	Run(ctx context.Context, sink sensors.Sink) error
}

// DriverState is the status of one configured sensor driver.
type DriverState struct {
	ID        string `json:"id"`
	Driver    string `json:"driver"`
	State     string `json:"state"` // starting, running, stopped, failed
	LastError string `json:"last_error,omitempty"`
}

// System is the running gateway.
type System struct {
	cfg      *config.Config
	logger   *slog.Logger
	keys     *keys.Set
	cpKeys   checkpoint.Keys
	store    *store.Store
	pipeline *ingest.Pipeline
	reg      *prometheus.Registry
	listener net.Listener
	started  time.Time

	drivers map[string]driver  // by configured sensor id
	rules   *rules             // nil without conditions
	broker  *broker.Broker     // nil without an embedded broker
	uplink  *uplink.Uplink     // nil without an upstream broker
	anchor  *anchorer.Anchorer // nil without a ledger backend

	mu     sync.Mutex // guards states
	states map[string]*DriverState
}

// New loads keys, opens the store, builds the pipeline and drivers and
// binds the HTTP listener. Nothing runs until Run.
func New(cfg *config.Config, logger *slog.Logger) (*System, error) {
	ks, err := keys.Load(cfg.Path(cfg.Keys.Ed25519), cfg.Path(cfg.Keys.MLDSA65))
	if err != nil {
		return nil, err
	}
	envSigner, err := envelope.NewSigner(ks.Ed25519)
	if err != nil {
		return nil, err
	}
	cpSigner, err := checkpoint.NewSigner(cfg.Origin(), ks.Ed25519, ks.MLDSA65)
	if err != nil {
		return nil, err
	}
	s := &System{
		cfg: cfg, logger: logger, keys: ks, cpKeys: cpSigner.Keys(),
		reg: prometheus.NewRegistry(), started: time.Now(),
		drivers: map[string]driver{}, states: map[string]*DriverState{},
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Broker != nil {
		b, err := broker.New(*cfg.Broker, func(n string) string { return n }, logger.With("component", "broker"))
		if err != nil {
			return nil, err
		}
		s.broker = b
	}
	for _, sc := range cfg.Sensors {
		if !*sc.Enabled {
			continue
		}
		d, err := newDriver(sc, s.broker, logger.With("sensor", sc.ID))
		if err != nil {
			return nil, fmt.Errorf("sensor %s: %w", sc.ID, err)
		}
		s.drivers[sc.ID] = d
		s.states[sc.ID] = &DriverState{ID: sc.ID, Driver: sc.Driver, State: "starting"}
	}
	st, err := store.Open(cfg.Path(cfg.Store.Path), cfg.Origin(), store.Options{QuarantineMax: cfg.Store.QuarantineMax})
	if err != nil {
		return nil, err
	}
	s.store = st
	s.pipeline = ingest.New(ingest.Config{
		Gateway:            cfg.Gateway.ID,
		MaxBatch:           cfg.Store.MaxBatch,
		QueueLen:           cfg.Store.QueueLen,
		CheckpointInterval: cfg.Checkpoint.Interval.D(),
		CheckpointMax:      cfg.Checkpoint.MaxReadings,
		DiskBudget:         cfg.Store.DiskBudgetMB << 20,
	}, st, envSigner, cpSigner, logger.With("component", "ingest"), s.reg)
	if cfg.Uplink != nil {
		s.uplink, err = uplink.New(*cfg.Uplink, cfg.Gateway.ID, st, logger.With("component", "uplink"))
		if err != nil {
			st.Close()
			return nil, err
		}
	}
	be, err := NewBackend(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	if be != nil {
		a := cfg.Anchor
		s.anchor = anchorer.New(st, be, logger.With("component", "anchor"), anchorer.Options{
			Interval: a.Interval.D(), RetryMax: a.RetryMax.D(), StaleAfter: a.StaleAfter.D(),
		}, s.reg)
	}
	if cfg.Conditions != nil {
		s.rules, err = newRules(*cfg.Conditions, st, s.pipeline, logger.With("component", "conditions"))
		if err != nil {
			st.Close()
			return nil, err
		}
	}
	if cfg.HTTP.Listen != "off" {
		ln, err := net.Listen("tcp", cfg.HTTP.Listen)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("status endpoint: listen on %s: %w (is another tally running? set http.listen)", cfg.HTTP.Listen, err)
		}
		s.listener = ln
	}
	return s, nil
}

// Pipeline returns the ingest pipeline (the sink drivers write to).
func (s *System) Pipeline() *ingest.Pipeline { return s.pipeline }

// Addr is the status endpoint's address, or "" when it is off.
func (s *System) Addr() string {
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Run runs the gateway until ctx is cancelled, then shuts down in the
// documented order. Cancellation is not an error.
func (s *System) Run(ctx context.Context) error {
	defer s.store.Close()
	log := s.logger
	pipeCtx, pipeCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer pipeCancel()
	pipeDone := make(chan error, 1)
	go func() { pipeDone <- s.pipeline.Run(pipeCtx) }()

	var srv *http.Server
	var httpDone chan error // nil, never ready, when the endpoint is off
	if s.listener != nil {
		httpDone = make(chan error, 1)
		srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			err := srv.Serve(s.listener)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			httpDone <- err
		}()
	}

	if s.broker != nil {
		if err := s.broker.Serve(); err != nil {
			return err
		}
		defer s.broker.Close()
	}
	drvCtx, drvCancel := context.WithCancel(ctx)
	defer drvCancel()
	var drivers errgroup.Group
	for id, d := range s.drivers {
		drivers.Go(func() error {
			s.setState(id, "running", "")
			err := d.Run(drvCtx, s.pipeline)
			switch {
			case err != nil && drvCtx.Err() == nil:
				// One sensor's failure never stops the others.
				log.Error("sensor driver stopped", "sensor", id, "err", err)
				s.setState(id, "failed", err.Error())
			default:
				s.setState(id, "stopped", "")
			}
			return nil
		})
	}

	upCtx, upCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer upCancel()
	upDone := make(chan struct{})
	if s.uplink != nil {
		go func() {
			defer close(upDone)
			if err := s.uplink.Run(upCtx); err != nil {
				log.Error("uplink stopped; readings stay in the store", "err", err)
			}
		}()
	} else {
		close(upDone)
	}
	anCtx, anCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer anCancel()
	anDone := make(chan struct{})
	if s.anchor != nil {
		go func() {
			defer close(anDone)
			if err := s.anchor.Run(anCtx); err != nil {
				log.Error("anchoring stopped; checkpoints are still signed and kept", "err", err)
			}
		}()
	} else {
		close(anDone)
	}
	if s.rules != nil {
		// The rules append events through the pipeline: they stop with intake.
		drivers.Go(func() error {
			if err := s.rules.Run(drvCtx); err != nil {
				log.Error("condition rules stopped; readings are still recorded", "err", err)
			}
			return nil
		})
	}
	// READY only once the writer has checked the store and takes readings.
	select {
	case <-s.pipeline.Ready():
	case err := <-pipeDone:
		drvCancel()
		drivers.Wait()
		if srv != nil {
			srv.Close()
		}
		return fmt.Errorf("ingest: %w", err)
	}
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("sd_notify READY failed", "err", err)
	}
	log.Info("tally running", "gateway", s.cfg.Gateway.ID, "origin", s.cfg.Origin(), "log_size", s.store.Size(),
		"sensors", len(s.drivers), "status", s.Addr(), "data", s.cfg.DataDir, "version", Version)
	watchdogDone := s.watchdog(ctx, pipeDone)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-pipeDone:
		// The writer stopped on its own: nothing more can be accepted.
		runErr = fmt.Errorf("ingest stopped: %w", err)
		pipeDone <- err
	case err := <-httpDone:
		runErr = fmt.Errorf("status endpoint: %w", err)
		httpDone <- err
	}
	<-watchdogDone
	daemon.SdNotify(false, daemon.SdNotifyStopping)
	deadline := s.cfg.Shutdown.Timeout.D()
	log.Info("shutting down", "deadline", deadline)
	timer := time.AfterFunc(deadline, func() {
		log.Error("shutdown deadline passed; refusing readings still queued", "deadline", deadline)
		pipeCancel()
	})
	defer timer.Stop()

	// 1. Stop intake.
	drvCancel()
	drivers.Wait()
	// 2 and 3. Commit what is queued and write the final checkpoint.
	s.pipeline.Close()
	if err := <-pipeDone; err != nil && runErr == nil {
		runErr = fmt.Errorf("ingest: %w", err)
	}
	// 4. The uplink gets the final checkpoint out if the broker is there,
	// then stops (it waits briefly for outstanding acknowledgements).
	if s.uplink != nil {
		time.AfterFunc(time.Second, upCancel)
	}
	<-upDone
	// The anchorer only reads the store and writes its own table: stop it
	// (an open submission is recorded and picked up at the next start).
	anCancel()
	<-anDone
	if s.broker != nil {
		s.broker.Close() // after its subscribers and the uplink (which may use it)
	}
	// 5. Stop the HTTP server.
	if srv != nil {
		shCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(shCtx)
		cancel()
	}
	st := s.pipeline.Status()
	log.Info("stopped", "log_size", st.Size, "checkpoint_size", st.CheckpointSize)
	// 6. The deferred Close closes the store.
	return runErr
}

// watchdog pings systemd while the writer and store are healthy.
func (s *System) watchdog(ctx context.Context, pipeDone chan error) <-chan struct{} {
	done := make(chan struct{})
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if len(pipeDone) > 0 {
					return // writer stopped: let systemd restart us
				}
				if err := s.store.Ping(ctx); err != nil {
					s.logger.Error("watchdog: store not answering", "err", err)
					continue
				}
				daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			}
		}
	}()
	return done
}

func (s *System) setState(id, state, lastErr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.states[id]; st != nil {
		st.State = state
		if lastErr != "" {
			st.LastError = lastErr
		}
	}
}
