// Package gethnode runs a real `geth --dev` node as a child process on
// loopback ports, for tests and benchmarks of the EVM anchor backend: a
// single-node chain (id 1337) with a pre-funded, unlocked developer account,
// HTTP JSON-RPC on 127.0.0.1, no peers. A node stops with SIGTERM, on which
// geth writes its state, and starts again on the same data directory and
// ports.
package gethnode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tallygw/tally/internal/loopback"
	"github.com/tallygw/tally/internal/tail"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Install is the step that installs the geth this package is tested with.
const Install = "go install github.com/ethereum/go-ethereum/cmd/geth@v1.17.8"

// DevChainID is the chain id of geth --dev.
const DevChainID = 1337

// Path finds geth: $TALLY_GETH, else geth in PATH, else $GOPATH/bin/geth.
func Path() (string, error) {
	if p := os.Getenv("TALLY_GETH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("TALLY_GETH=%s: %w (unset it, or install geth: %s)", p, err, Install)
		}
		return p, nil
	}
	if p, err := exec.LookPath("geth"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	if gopath != "" {
		p := filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin", "geth")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("geth is not installed (TALLY_GETH unset, none in PATH or $GOPATH/bin): run %s", Install)
}

// Options configure a node.
type Options struct {
	// Period is the block period (--dev.period), whole seconds. 0 mines a
	// block as soon as a transaction arrives, and only then.
	Period time.Duration
}

// Node is a geth --dev process.
type Node struct {
	Dir      string // the data directory
	HTTPPort int    // JSON-RPC over HTTP on 127.0.0.1
	AuthPort int    // the engine API on 127.0.0.1 (unused, but geth listens)

	bin  string
	opts Options
	out  tail.Buffer
	hc   *http.Client

	mu   sync.Mutex // guards cmd and done; held while starting and stopping
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs geth --dev on dir with free loopback ports and waits until it
// answers JSON-RPC and has indexed its transactions (see Node.Start). It
// tries other ports when the ones it picked were taken meanwhile.
func Start(dir string, opts Options) (*Node, error) {
	if opts.Period < 0 || opts.Period%time.Second != 0 {
		return nil, fmt.Errorf("gethnode: period %s is not a whole number of seconds", opts.Period)
	}
	bin, err := Path()
	if err != nil {
		return nil, err
	}
	var last error
	for range 4 {
		n := &Node{Dir: dir, bin: bin, opts: opts, hc: &http.Client{}}
		ports, err := loopback.FreePorts("127.0.0.1", 2)
		if err != nil {
			return nil, err
		}
		n.HTTPPort, n.AuthPort = ports[0], ports[1]
		if last = n.Start(); last == nil {
			return n, nil
		}
		if !strings.Contains(last.Error(), "address already in use") {
			break
		}
	}
	return nil, last
}

// RPC is the node's JSON-RPC URL.
func (n *Node) RPC() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.HTTPPort))
}

// ChainID is the dev chain's id, 1337.
func (n *Node) ChainID() uint64 { return DevChainID }

// Log is what geth printed, its last 256 KiB.
func (n *Node) Log() string { return n.out.String() }

func (n *Node) args() []string {
	return []string{
		"--dev", "--dev.period", strconv.FormatInt(int64(n.opts.Period/time.Second), 10),
		"--datadir", n.Dir,
		"--http", "--http.addr", "127.0.0.1", "--http.port", strconv.Itoa(n.HTTPPort), "--http.api", "eth,net,web3",
		"--authrpc.addr", "127.0.0.1", "--authrpc.port", strconv.Itoa(n.AuthPort),
		"--nodiscover", "--maxpeers", "0", "--port", "0", "--nat", "none", "--ipcdisable",
		// The machine is shared: geth's default caches are 2 GiB.
		"--cache", "64",
	}
}

// Start starts the node (again) on its data directory and ports and waits,
// for at most 30 s, until it answers JSON-RPC and has indexed its
// transactions. A new chain gets a block with one transaction for that
// (see ready). Starting a running node
// does nothing.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return nil
	}
	cmd := exec.Command(n.bin, n.args()...)
	cmd.Stdout, cmd.Stderr = &n.out, &n.out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w (install it: %s)", n.bin, err, Install)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	n.cmd, n.done = cmd, done
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sent := false
	for {
		select {
		case <-done:
			n.cmd = nil
			return fmt.Errorf("geth exited at start (%s):\n%s", cmd.ProcessState, lastBytes(n.Log()))
		case <-ctx.Done():
			n.stopLocked()
			return fmt.Errorf("geth does not answer on %s after 30 s:\n%s", n.RPC(), lastBytes(n.Log()))
		case <-time.After(50 * time.Millisecond):
		}
		if n.ready(ctx, &sent) == nil {
			return nil
		}
	}
}

// ready tells whether geth answers and has indexed its transactions. Until
// its indexer has run, geth 1.17 answers lookups of transactions it does
// not have with "transaction indexing is in progress", and at the genesis
// block the indexer never runs: so ready sends a zero-value transfer from
// the developer account to itself (once, *sent tells), which makes block 1.
func (n *Node) ready(ctx context.Context, sent *bool) error {
	var id string
	if err := n.call(ctx, &id, "eth_chainId"); err != nil {
		return err
	}
	var rc json.RawMessage
	err := n.call(ctx, &rc, "eth_getTransactionReceipt", "0x"+strings.Repeat("00", 32))
	if err == nil || !strings.Contains(err.Error(), "indexing is in progress") || *sent {
		return err
	}
	var head string
	if err := n.call(ctx, &head, "eth_blockNumber"); err != nil || head != "0x0" {
		return errors.New("geth is indexing transactions")
	}
	var accounts []string
	if err := n.call(ctx, &accounts, "eth_accounts"); err != nil {
		return err
	}
	if len(accounts) == 0 {
		return errors.New("geth --dev has no developer account")
	}
	tx := map[string]string{"from": accounts[0], "to": accounts[0], "value": "0x0"}
	if err := n.call(ctx, nil, "eth_sendTransaction", tx); err != nil {
		return err
	}
	*sent = true
	return errors.New("geth is making block 1")
}

// Stop ends geth with SIGTERM and waits, killing it after 30 s. Stopping
// a stopped node does nothing.
func (n *Node) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopLocked()
}

func (n *Node) stopLocked() error {
	cmd, done := n.cmd, n.done
	n.cmd = nil
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop geth: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		return errors.New("geth did not exit within 30 s of SIGTERM; killed it")
	}
}

// Call makes a JSON-RPC call to the node and decodes its result into
// result (which may be nil).
func (n *Node) Call(ctx context.Context, result any, method string, params ...any) error {
	return n.call(ctx, result, method, params...)
}

func (n *Node) call(ctx context.Context, result any, method string, params ...any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.RPC(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: HTTP %s: %.200q", method, resp.Status, b)
	}
	if r.Error != nil {
		return fmt.Errorf("%s: geth says: %s (code %d)", method, r.Error.Message, r.Error.Code)
	}
	if result == nil {
		return nil
	}
	return json.Unmarshal(r.Result, result)
}

// Fund sends wei to addr from the unlocked developer account (the first of
// eth_accounts) and waits for the transaction's receipt.
func (n *Node) Fund(ctx context.Context, addr string, wei *big.Int) error {
	var accounts []string
	if err := n.call(ctx, &accounts, "eth_accounts"); err != nil {
		return fmt.Errorf("fund %s: %w", addr, err)
	}
	if len(accounts) == 0 {
		return fmt.Errorf("fund %s: geth --dev has no developer account", addr)
	}
	var hash string
	tx := map[string]string{"from": accounts[0], "to": addr, "value": "0x" + wei.Text(16)}
	if err := n.call(ctx, &hash, "eth_sendTransaction", tx); err != nil {
		return fmt.Errorf("fund %s: %w", addr, err)
	}
	return n.WaitReceipt(ctx, hash)
}

// WaitReceipt waits until transaction hash has a receipt and checks it
// succeeded.
func (n *Node) WaitReceipt(ctx context.Context, hash string) error {
	for {
		var rc *struct {
			Status string `json:"status"`
		}
		err := n.call(ctx, &rc, "eth_getTransactionReceipt", hash)
		switch {
		case err != nil && strings.Contains(err.Error(), "indexing is in progress"):
			rc = nil // geth is still indexing: ask again
		case err != nil:
			return err
		}
		if rc != nil {
			if rc.Status != "0x1" {
				return fmt.Errorf("transaction %s failed (status %s)", hash, rc.Status)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no receipt for transaction %s: %w", hash, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tail is the end of a log, for error messages.
func lastBytes(s string) string {
	const max = 4 << 10
	if len(s) > max {
		return "…" + s[len(s)-max:]
	}
	return s
}
