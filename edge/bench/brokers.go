package bench

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tallygw/tally/edge/broker"
	"github.com/tallygw/tally/sensors/mqtt"
)

// MosquittoInstall is the step that installs the broker the bench starts.
const MosquittoInstall = "apt-get install -y mosquitto"

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

// mosquittoPath finds the mosquitto binary.
func mosquittoPath() (string, error) {
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("mosquitto is not installed (no /usr/sbin/mosquitto, none in PATH): run %s, or pass --broker embedded", MosquittoInstall)
}

// mosquittoConf is the bench broker: loopback only, anonymous, no
// persistence (a bench needs none), no limit on the messages it queues for a
// subscriber that falls behind (with the default of 1000 it would drop
// QoS 1 messages and the bench would count them as lost), and inflight
// messages in flight per subscriber. max_inflight_messages 0 would mean no
// limit: mosquitto would then put every queued message in flight and, past
// 65535, reuse packet identifiers still in flight.
const mosquittoConf = `listener %d 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages %d
max_queued_messages 0
max_queued_bytes 0
log_dest stderr
log_type error
log_type warning
`

// startMosquitto runs mosquitto on a free loopback port.
func startMosquitto(inflight int) (*runningBroker, error) {
	bin, err := mosquittoPath()
	if err != nil {
		return nil, err
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
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		b, err := runMosquitto(bin, dir, port, inflight)
		if err == nil {
			b.version = version
			stop := b.close
			b.close = func() error {
				err := stop()
				os.RemoveAll(dir)
				return err
			}
			return b, nil
		}
		lastErr = err
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func runMosquitto(bin, dir string, port, inflight int) (*runningBroker, error) {
	conf := fmt.Sprintf(mosquittoConf, port, inflight)
	if os.Geteuid() == 0 {
		// As root mosquitto drops to user "mosquitto"; stay who we are.
		if u, err := user.Current(); err == nil {
			conf += "user " + u.Username + "\n"
		}
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	out := &limitedBuffer{max: 64 << 10}
	cmd := exec.Command(bin, "-c", path)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w (install it: %s)", bin, err, MosquittoInstall)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop := func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		return nil
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return nil, fmt.Errorf("mosquitto exited at start:\n%s", out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return &runningBroker{kind: "mosquitto", url: "tcp://" + addr, pid: cmd.Process.Pid, log: out.String, close: stop}, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	return nil, fmt.Errorf("mosquitto does not listen on %s after 10 s:\n%s", addr, out.String())
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
