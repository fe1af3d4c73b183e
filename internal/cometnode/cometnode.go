// Package cometnode runs real CometBFT v0.38.19 nodes on loopback addresses,
// for tests and `tally demo`: it finds or builds the pinned binary (Binary),
// starts one validator on 127.0.0.1 (StartSingle) or n validators on
// 127.0.0.2, 127.0.0.3, ... (StartTestnet), all running the built-in kvstore
// application, and stops, kills and restarts them on the same home
// directories and ports. It holds process management only; ledger clients
// live in anchor/cometbft.
//
// Of the config.toml that `cometbft init` or `cometbft testnet` writes it
// changes: proxy_app = "kvstore" (the in-memory kvstore, which CometBFT
// rebuilds by replaying the block store on restart), moniker = node<i>,
// log_level (Options.LogLevel), rpc.laddr and p2p.laddr (free ports on the
// node's loopback address), p2p.persistent_peers (the other validators at
// the ports chosen), p2p.allow_duplicate_ip = true (every loopback
// connection comes from 127.0.0.1), p2p.addr_book_strict = false (loopback
// is not routable), consensus.timeout_commit and timeout_propose (Options),
// and instrumentation.prometheus = false. Empty blocks stay on: the chain
// makes a block every timeout_commit plus a round of votes.
//
// Output of the nodes goes to a bounded buffer per node (Node.LogTail),
// never to the caller's stdout. On Linux a node dies with the process that
// started it, so a test killed on timeout leaves none behind.
package cometnode

import (
	"context"
	"errors"
	"fmt"
	"github.com/tallygw/tally/internal/loopback"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a net. The zero value is usable.
type Options struct {
	// ChainID goes into a new genesis; default "tally-local". A single node
	// reopening an existing home keeps the chain ID of its genesis.
	ChainID string
	// TimeoutCommit is consensus.timeout_commit, the pause after each
	// block; default 200ms (CometBFT's own is 1s).
	TimeoutCommit time.Duration
	// TimeoutPropose is consensus.timeout_propose, how long validators wait
	// for a missing proposer before the next round; default 1s (CometBFT's
	// own is 3s).
	TimeoutPropose time.Duration
	// LogLevel is the nodes' log_level; default "main:info,state:info,*:error",
	// which logs one line per block and all errors.
	LogLevel string
	// Binary is the cometbft to run; default: what Binary finds or builds.
	Binary string
	// Progress is told when Binary builds cometbft; nil discards.
	Progress io.Writer
}

// Defaults.
const (
	DefaultChainID        = "tally-local"
	DefaultTimeoutCommit  = 200 * time.Millisecond
	DefaultTimeoutPropose = time.Second
	DefaultLogLevel       = "main:info,state:info,*:error"
)

// withDefaults fills in the zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.ChainID == "" {
		o.ChainID = DefaultChainID
	}
	if o.TimeoutCommit == 0 {
		o.TimeoutCommit = DefaultTimeoutCommit
	}
	if o.TimeoutPropose == 0 {
		o.TimeoutPropose = DefaultTimeoutPropose
	}
	if o.LogLevel == "" {
		o.LogLevel = DefaultLogLevel
	}
	if err := validChainID(o.ChainID); err != nil {
		return o, err
	}
	if o.TimeoutCommit < 0 || o.TimeoutPropose < 0 {
		return o, fmt.Errorf("timeouts must be positive (commit %s, propose %s)", o.TimeoutCommit, o.TimeoutPropose)
	}
	if strings.ContainsAny(o.LogLevel, "\"\\\n") {
		return o, fmt.Errorf("log level %q: no quotes, backslashes or newlines", o.LogLevel)
	}
	return o, nil
}

// Net is a set of validators of one chain.
type Net struct {
	chainID string
	genesis string
	nodes   []*Node
}

// Nodes returns the validators, node0 first.
func (n *Net) Nodes() []*Node { return append([]*Node(nil), n.nodes...) }

// Node returns validator i, which must exist.
func (n *Net) Node(i int) *Node { return n.nodes[i] }

// Genesis is the path of node0's genesis.json (all nodes have the same).
func (n *Net) Genesis() string { return n.genesis }

// ChainID is the chain ID in the genesis.
func (n *Net) ChainID() string { return n.chainID }

// Stop stops every node (SIGTERM, SIGKILL after 10 s), all at once, and
// waits for them. It can be called any number of times.
func (n *Net) Stop() error {
	errs := make([]error, len(n.nodes))
	var wg sync.WaitGroup
	for i, node := range n.nodes {
		wg.Go(func() { errs[i] = node.Stop() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// StartSingle runs one validator with home dir/node0 and RPC and P2P on free
// 127.0.0.1 ports, and waits until it has made block 1. A new home is made
// with `cometbft init`; an existing one is reopened with its chain (and new
// ports). The node keeps running after ctx ends; Stop ends it.
func StartSingle(ctx context.Context, dir string, opts Options) (*Net, error) {
	chainSet := opts.ChainID != ""
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	bin, err := binary(ctx, opts)
	if err != nil {
		return nil, err
	}
	home := filepath.Join(dir, "node0")
	genesis := filepath.Join(home, "config", "genesis.json")
	_, statErr := os.Stat(genesis)
	fresh := errors.Is(statErr, os.ErrNotExist)
	if err := run(ctx, bin, "init", "--home", home); err != nil {
		return nil, err
	}
	chainID, err := fixGenesis(genesis, opts.ChainID, fresh)
	if err != nil {
		return nil, err
	}
	if !fresh && chainSet && chainID != opts.ChainID {
		return nil, fmt.Errorf("%s: existing chain %q, not %q", genesis, chainID, opts.ChainID)
	}
	// A port picked free may be taken before cometbft binds it; then the
	// node exits at once (before making any block) and we pick again.
	var last error
	for range 3 {
		node, err := newNode(bin, "node0", home, "127.0.0.1")
		if err != nil {
			return nil, err
		}
		ports, err := loopback.FreePorts(node.ip, 2)
		if err != nil {
			return nil, err
		}
		node.rpcPort, node.p2pPort = ports[0], ports[1]
		if err := configure(node, opts, nil); err != nil {
			return nil, err
		}
		if err := node.spawn(); err != nil {
			return nil, err
		}
		if last = node.waitHeight(ctx, 1); last == nil {
			return &Net{chainID: chainID, genesis: genesis, nodes: []*Node{node}}, nil
		}
		if err := node.Kill(); err != nil {
			return nil, errors.Join(last, err)
		}
		if !strings.Contains(node.LogTail(tailLines), "address already in use") {
			break
		}
	}
	return nil, last
}

// StartTestnet runs n validators made by `cometbft testnet`, node i with
// home dir/node<i> and RPC and P2P on free ports of 127.0.0.<2+i> (Linux
// routes all of 127.0.0.0/8 to loopback), all peers of each other, and waits
// until every node reports height 2. dir must not hold a node0 yet.
// The nodes keep running after ctx ends; Stop ends them.
func StartTestnet(ctx context.Context, dir string, n int, opts Options) (*Net, error) {
	if n < 1 || n > 200 {
		return nil, fmt.Errorf("testnet of %d validators: want 1 to 200", n)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "node0")); err == nil {
		return nil, fmt.Errorf("testnet in %s: node0 exists already", dir)
	}
	bin, err := binary(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := run(ctx, bin, "testnet", "--v", strconv.Itoa(n), "--o", dir,
		"--populate-persistent-peers", "--starting-ip-address", "127.0.0.2"); err != nil {
		return nil, err
	}
	nodes := make([]*Node, n)
	for i := range nodes {
		name := "node" + strconv.Itoa(i)
		node, err := newNode(bin, name, filepath.Join(dir, name), "127.0.0."+strconv.Itoa(2+i))
		if err != nil {
			return nil, err
		}
		ports, err := loopback.FreePorts(node.ip, 2)
		if err != nil {
			return nil, err
		}
		node.rpcPort, node.p2pPort = ports[0], ports[1]
		nodes[i] = node
	}
	genesis := filepath.Join(dir, "node0", "config", "genesis.json")
	var chainID string
	for i, node := range nodes {
		id, err := fixGenesis(filepath.Join(node.home, "config", "genesis.json"), opts.ChainID, true)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			chainID = id
		}
		var peers []string
		for _, p := range nodes {
			if p != node {
				peers = append(peers, p.P2P())
			}
		}
		if err := configure(node, opts, peers); err != nil {
			return nil, err
		}
	}
	tn := &Net{chainID: chainID, genesis: genesis, nodes: nodes}
	for _, node := range nodes {
		if err := node.spawn(); err != nil {
			return nil, errors.Join(err, tn.Stop())
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, node := range nodes {
		wg.Go(func() { errs[i] = node.waitHeight(ctx, 2) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(err, tn.Stop())
	}
	return tn, nil
}

// binary returns opts.Binary or what Binary finds.
func binary(ctx context.Context, opts Options) (string, error) {
	if opts.Binary != "" {
		return opts.Binary, nil
	}
	return Binary(ctx, opts.Progress)
}

// newNode makes a stopped Node for home, reading its p2p ID.
func newNode(bin, name, home, ip string) (*Node, error) {
	key, err := os.ReadFile(filepath.Join(home, "config", "node_key.json"))
	if err != nil {
		return nil, err
	}
	id, err := nodeID(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", home, err)
	}
	return &Node{
		name: name, bin: bin, home: home, ip: ip, id: id,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}},
	}, nil
}

// configure writes the settings this package needs into node's config.toml.
func configure(node *Node, opts Options, peers []string) error {
	path := filepath.Join(node.home, "config", "config.toml")
	conf, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	laddr := func(port int) string {
		return tomlString("tcp://" + net.JoinHostPort(node.ip, strconv.Itoa(port)))
	}
	conf, err = setKeys(conf, []setting{
		{"", "proxy_app", tomlString("kvstore")},
		{"", "moniker", tomlString(node.name)},
		{"", "log_level", tomlString(opts.LogLevel)},
		{"rpc", "laddr", laddr(node.rpcPort)},
		{"p2p", "laddr", laddr(node.p2pPort)},
		{"p2p", "persistent_peers", tomlString(strings.Join(peers, ","))},
		// Every connection between loopback addresses comes from
		// 127.0.0.1, and loopback is not a routable address.
		{"p2p", "allow_duplicate_ip", "true"},
		{"p2p", "addr_book_strict", "false"},
		{"consensus", "timeout_commit", tomlString(opts.TimeoutCommit.String())},
		{"consensus", "timeout_propose", tomlString(opts.TimeoutPropose.String())},
		{"instrumentation", "prometheus", "false"},
	})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, conf, 0o600)
}

// fixGenesis sets the chain ID of the genesis at path when fresh, and returns
// the chain ID the genesis has.
func fixGenesis(path, chainID string, fresh bool) (string, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if fresh {
		if doc, err = setChainID(doc, chainID); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			return "", err
		}
	}
	id, err := genesisChainID(doc)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}

// run runs a cometbft subcommand that sets up files, with its output in the
// error when it fails.
func run(ctx context.Context, bin string, args ...string) error {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(args, " "), err, out)
	}
	return nil
}
