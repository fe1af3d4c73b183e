// Package mosquitto runs Debian's mosquitto broker as a child process on a
// loopback port, for tests and `tally bench`: one config written from the
// caller's lines, start and wait until it listens, stop with SIGTERM (on
// which mosquitto saves its persistent store), restart on the same port.
package mosquitto

import (
	"errors"
	"fmt"
	"github.com/tallygw/tally/internal/loopback"
	"github.com/tallygw/tally/internal/tail"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Install is the step that installs mosquitto.
const Install = "apt-get install -y mosquitto"

// Path finds the mosquitto binary.
func Path() (string, error) {
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("mosquitto is not installed (no /usr/sbin/mosquitto, none in PATH): run %s", Install)
}

// Broker is a mosquitto process.
type Broker struct {
	Port int    // the loopback port it listens on
	Dir  string // its config (and persistence, if the lines ask for it) live here
	bin  string
	conf string
	out  tail.Buffer
	mu   sync.Mutex // guards cmd and exited
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs mosquitto on a free 127.0.0.1 port with a config made of a
// listener line, logging to stderr, and lines (one config directive each,
// e.g. "persistence_location "+dir+"/"). The config is written to dir. It
// tries another port when the one it picked was taken meanwhile.
func Start(dir string, lines ...string) (*Broker, error) {
	bin, err := Path()
	if err != nil {
		return nil, err
	}
	var last error
	for range 4 {
		port, err := loopback.FreePort()
		if err != nil {
			return nil, err
		}
		b := &Broker{Port: port, Dir: dir, bin: bin, conf: filepath.Join(dir, "mosquitto.conf")}
		conf := []string{fmt.Sprintf("listener %d 127.0.0.1", port), "log_dest stderr"}
		conf = append(conf, lines...)
		if os.Geteuid() == 0 {
			// As root mosquitto drops to user "mosquitto", who cannot
			// write the caller's directory: stay who we are.
			if u, err := user.Current(); err == nil {
				conf = append(conf, "user "+u.Username)
			}
		}
		if err := os.WriteFile(b.conf, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
			return nil, err
		}
		if last = b.Restart(); last == nil {
			return b, nil
		}
		if !strings.Contains(last.Error(), "in use") {
			break
		}
	}
	return nil, last
}

// Addr is host:port; URL is tcp://host:port.
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port)) }

// URL is the broker's address for MQTT clients.
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Log is everything mosquitto printed (bounded to its last 256 KiB).
func (b *Broker) Log() string { return b.out.String() }

// Pid is the running process's id, 0 when stopped.
func (b *Broker) Pid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// Restart starts mosquitto (again) with the same config and port and waits
// until it listens.
func (b *Broker) Restart() error {
	if err := b.Stop(); err != nil {
		return err
	}
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = &b.out, &b.out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w (install it: %s)", b.bin, err, Install)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	b.mu.Lock()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-done:
			b.mu.Lock()
			b.cmd = nil
			b.mu.Unlock()
			return fmt.Errorf("mosquitto exited at start:\n%s", b.Log())
		default:
		}
		if c, err := net.DialTimeout("tcp", b.Addr(), time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Stop()
	return fmt.Errorf("mosquitto does not listen on %s after 10 s:\n%s", b.Addr(), b.Log())
}

// Stop ends mosquitto with SIGTERM (it saves a persistent store) and waits,
// killing it after 10 s. Stopping a stopped broker does nothing.
func (b *Broker) Stop() error {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		return errors.New("mosquitto did not exit within 10 s of SIGTERM; killed it")
	}
}
