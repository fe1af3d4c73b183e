package bench

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/tallygw/tally/internal/loopback"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tallygw/tally/edge/broker"
	"github.com/tallygw/tally/internal/mosquitto"
	"github.com/tallygw/tally/sensors/mqtt"
)

// MosquittoInstall is the step that installs the broker the bench starts.
const MosquittoInstall = mosquitto.Install

// runningBroker is the broker both phases use.
type runningBroker struct {
	kind    string // mosquitto, embedded, url
	url     string
	version string
	pid     int           // the mosquitto process, for its CPU time; 0 otherwise
	log     func() string // what the broker logged, for errors; nil when unknown
	close   func() error
}

// startBroker starts (or, for a URL, checks) the broker named by spec.
// inflight is the broker's per-client limit of QoS 1/2 messages in flight
// towards a subscriber (mosquitto only).
func startBroker(spec string, inflight int, logger *slog.Logger) (*runningBroker, error) {
	switch spec {
	case "mosquitto":
		return startMosquitto(inflight)
	case "embedded":
		return startEmbedded(logger)
	}
	if err := (&mqtt.Config{Broker: spec}).Validate(); err != nil {
		var ce *mqtt.ConfigError
		if errors.As(err, &ce) && ce.Key == "broker" {
			return nil, fmt.Errorf("--broker: %w (or mosquitto, embedded)", ce.Err)
		}
	}
	u, _ := url.Parse(spec)
	if u.Scheme != "tcp" && u.Scheme != "mqtt" {
		return nil, fmt.Errorf("--broker %s: the bench speaks plain MQTT only (tcp://host:port)", spec)
	}
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("--broker %s: %w", spec, err)
	}
	c.Close()
	return &runningBroker{kind: "url", url: spec, version: "unknown", close: func() error { return nil }}, nil
}

// mosquittoLines configure the bench broker: loopback only, anonymous, no
// persistence (a bench needs none), no limit on the messages it queues for a
// subscriber that falls behind (with the default of 1000 it would drop QoS 1
// messages and the bench would count them as lost), and inflight messages in
// flight per subscriber. max_inflight_messages 0 would mean no limit:
// mosquitto would then put every queued message in flight and, past 65535,
// reuse packet identifiers still in flight.
func mosquittoLines(inflight int) []string {
	return []string{"allow_anonymous true", "persistence false", fmt.Sprintf("max_inflight_messages %d", inflight),
		"max_queued_messages 0", "max_queued_bytes 0", "log_type error", "log_type warning"}
}

// startMosquitto runs mosquitto on a free loopback port.
func startMosquitto(inflight int) (*runningBroker, error) {
	bin, err := mosquitto.Path()
	if err != nil {
		return nil, fmt.Errorf("%w, or pass --broker embedded", err)
	}
	version := "mosquitto"
	if out, _ := exec.Command(bin, "-h").CombinedOutput(); len(out) > 0 {
		// "mosquitto version 2.0.11" (it exits 3 after the help text).
		first, _, _ := strings.Cut(string(out), "\n")
		version = strings.Replace(strings.TrimSpace(first), " version ", " ", 1)
	}
	dir, err := os.MkdirTemp("", "tally-bench-mosquitto-")
	if err != nil {
		return nil, err
	}
	m, err := mosquitto.Start(dir, mosquittoLines(inflight)...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &runningBroker{kind: "mosquitto", url: m.URL(), version: version, pid: m.Pid(), log: m.Log,
		close: func() error {
			err := m.Stop()
			os.RemoveAll(dir)
			return err
		}}, nil
}

// startEmbedded runs tally's embedded broker (edge/broker, mochi-mqtt) in
// this process, anonymous clients allowed from loopback.
func startEmbedded(logger *slog.Logger) (*runningBroker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b, err := broker.New(broker.Config{Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), AllowAnonymousLoopback: true},
		func(n string) string { return n }, logger.With("component", "broker"))
	if err != nil {
		return nil, err
	}
	if err := b.Serve(); err != nil {
		b.Close()
		return nil, err
	}
	version := "mochi-mqtt"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/mochi-mqtt/server/v2" {
				version += " " + d.Version
			}
		}
	}
	return &runningBroker{kind: "embedded", url: b.URL(), version: version + " (edge/broker, in this process)", close: b.Close}, nil
}

func freePort() (int, error) {
	p, err := loopback.FreePort()
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return p, nil
}

// limitedBuffer keeps the first max bytes written to it; safe for
// concurrent writers.
type limitedBuffer struct {
	max int
	mu  sync.Mutex // guards b
	b   bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
