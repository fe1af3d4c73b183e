package cometnode

import (
	"context"
	"errors"
	"fmt"
	"github.com/tallygw/tally/internal/tail"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const (
	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 10 * time.Second
	// startTimeout bounds every wait for a node, under the caller's context.
	startTimeout = 60 * time.Second
	// tailLines is how many log lines an error carries.
	tailLines = 30
)

// Node is one cometbft process with its home directory and loopback
// addresses. Its output goes to a bounded in-memory buffer (LogTail).
type Node struct {
	name    string // "node0"
	bin     string
	home    string
	ip      string
	rpcPort int
	p2pPort int
	id      string // p2p node ID
	log     tail.Buffer
	client  *http.Client

	mu   sync.Mutex // guards cmd and done
	cmd  *exec.Cmd  // nil when stopped
	done chan struct{}
	// exitErr is what Wait returned; written before done is closed.
	exitErr error
}

// Name is the node's directory name under the net's directory, e.g. "node0".
func (n *Node) Name() string { return n.name }

// Home is the node's --home directory.
func (n *Node) Home() string { return n.home }

// RPC is the base URL of the node's RPC, http://ip:port.
func (n *Node) RPC() string {
	return "http://" + net.JoinHostPort(n.ip, strconv.Itoa(n.rpcPort))
}

// P2P is the node's peer address, id@ip:port.
func (n *Node) P2P() string {
	return n.id + "@" + net.JoinHostPort(n.ip, strconv.Itoa(n.p2pPort))
}

func (n *Node) String() string { return n.name + " (" + n.RPC() + ")" }

// Running reports whether the process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// LogTail returns the last n lines the node printed (its log level is set
// by Options.LogLevel). The buffer keeps the last 256 KiB across restarts.
func (n *Node) LogTail(lines int) string { return n.log.Lines(lines) }

// Start starts the node on its home directory and addresses, keeping its
// chain, and waits until its RPC answers or ctx ends (at most a minute);
// when the wait fails it kills the process. The process outlives ctx; Stop
// or Kill ends it. Starting a running node is an error.
func (n *Node) Start(ctx context.Context) error {
	if err := n.spawn(); err != nil {
		return err
	}
	if err := n.waitHeight(ctx, 0); err != nil {
		return errors.Join(err, n.Kill())
	}
	return nil
}

// spawn starts the process without waiting for it.
func (n *Node) spawn() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		select {
		case <-n.done:
		default:
			return fmt.Errorf("start %s: already running", n)
		}
	}
	cmd := exec.Command(n.bin, "node", "--home", n.home)
	cmd.Stdout, cmd.Stderr = &n.log, &n.log
	cmd.SysProcAttr = sysProcAttr()
	fmt.Fprintf(&n.log, "--- cometnode: %s node --home %s\n", n.bin, n.home)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w (is %s the cometbft binary? %s)", n, err, n.bin, Install)
	}
	done := make(chan struct{})
	n.cmd, n.done, n.exitErr = cmd, done, nil
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.exitErr = err
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

// Stop ends the node with SIGTERM, on which cometbft shuts down cleanly, and
// waits for it, sending SIGKILL after 10 s (and then returning an error).
// Stopping a stopped node does nothing.
func (n *Node) Stop() error {
	cmd, done := n.take()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		// It exited meanwhile; Wait is about to return.
		<-done
		return nil
	}
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		if err := cmd.Process.Kill(); err != nil {
			<-done
			return nil
		}
		<-done
		return fmt.Errorf("stop %s: no exit within %s of SIGTERM, killed it", n, stopTimeout)
	}
}

// Kill ends the node with SIGKILL, as a crash or power loss would, and
// waits for it. Killing a stopped node does nothing.
func (n *Node) Kill() error {
	cmd, done := n.take()
	if cmd == nil {
		return nil
	}
	err := cmd.Process.Kill()
	<-done
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", n, err)
	}
	return nil
}

// take marks the node stopped and returns the process to end.
func (n *Node) take() (*exec.Cmd, chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	cmd, done := n.cmd, n.done
	n.cmd, n.done = nil, nil
	n.client.CloseIdleConnections()
	return cmd, done
}

// Height returns the node's latest block height from its RPC's /status.
func (n *Node) Height(ctx context.Context) (int64, error) {
	st, err := n.status(ctx)
	if err != nil {
		return 0, err
	}
	return st.Height, nil
}

func (n *Node) status(ctx context.Context) (status, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.RPC()+"/status", nil)
	if err != nil {
		return status{}, err
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return status{}, fmt.Errorf("%s: %w", n.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return status{}, fmt.Errorf("%s: status: %w", n.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return status{}, fmt.Errorf("%s: status: HTTP %s: %.200s", n.name, resp.Status, body)
	}
	st, err := parseStatus(body)
	if err != nil {
		return status{}, fmt.Errorf("%s: %w", n.name, err)
	}
	return st, nil
}

// waitHeight polls /status until the node reports at least height min (0:
// until it answers at all). It fails when the process exits, when ctx ends,
// or after startTimeout, with the log tail in the error.
func (n *Node) waitHeight(ctx context.Context, min int64) error {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return fmt.Errorf("%s is not running", n)
	}
	what := "RPC to answer"
	if min > 0 {
		what = fmt.Sprintf("height %d", min)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, startTimeout, fmt.Errorf("no %s after %s", what, startTimeout))
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastErr := errors.New("no answer yet")
	for {
		st, err := n.status(ctx)
		if err == nil && st.Height >= min {
			return nil
		}
		if err == nil {
			lastErr = fmt.Errorf("at height %d", st.Height)
		} else {
			lastErr = err
		}
		select {
		case <-done:
			n.mu.Lock()
			exitErr := n.exitErr
			n.mu.Unlock()
			return fmt.Errorf("%s exited while waiting for %s (%v); log tail:\n%s", n, what, exitErr, n.LogTail(tailLines))
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %s: %w (last: %v); log tail:\n%s", n, what, context.Cause(ctx), lastErr, n.LogTail(tailLines))
		case <-tick.C:
		}
	}
}
