package cometnode_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallygw/tally/internal/cometnode"
)

func TestBinary(t *testing.T) {
	bin, err := cometnode.Binary(t.Context(), t.Output())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	if v := strings.TrimSpace(string(out)); v != cometnode.Version {
		t.Fatalf("%s is version %s, want %s", bin, v, cometnode.Version)
	}
	t.Logf("using %s", bin)
}

// fakeCometBFT writes a script that prints version v, and returns its path.
func fakeCometBFT(t *testing.T, dir, v string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "cometbft")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho "+v+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBinaryOrder(t *testing.T) {
	tmp := t.TempDir()
	t.Run("env wrong version", func(t *testing.T) {
		t.Setenv(cometnode.EnvBinary, fakeCometBFT(t, filepath.Join(tmp, "old"), "0.37.2"))
		_, err := cometnode.Binary(t.Context(), nil)
		if err == nil || !strings.Contains(err.Error(), "is cometbft 0.37.2, want "+cometnode.Version) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("env missing", func(t *testing.T) {
		t.Setenv(cometnode.EnvBinary, filepath.Join(tmp, "nothing"))
		if _, err := cometnode.Binary(t.Context(), nil); err == nil {
			t.Fatal("missing $TALLY_COMETBFT accepted")
		}
	})
	t.Run("env", func(t *testing.T) {
		want := fakeCometBFT(t, filepath.Join(tmp, "env"), cometnode.Version)
		t.Setenv(cometnode.EnvBinary, want)
		if got, err := cometnode.Binary(t.Context(), nil); err != nil || got != want {
			t.Fatalf("Binary = %s, %v; want %s", got, err, want)
		}
	})
	t.Run("none and no go", func(t *testing.T) {
		t.Setenv(cometnode.EnvBinary, "")
		t.Setenv("XDG_CACHE_HOME", filepath.Join(tmp, "empty-cache"))
		t.Setenv("PATH", filepath.Join(tmp, "empty-path"))
		_, err := cometnode.Binary(t.Context(), nil)
		if err == nil || !strings.Contains(err.Error(), cometnode.Install) || !strings.Contains(err.Error(), "go is not installed") {
			t.Fatalf("err = %v, want the install step", err)
		}
	})
	t.Run("cache before PATH", func(t *testing.T) {
		t.Setenv(cometnode.EnvBinary, "")
		t.Setenv("XDG_CACHE_HOME", filepath.Join(tmp, "cache"))
		want := fakeCometBFT(t, filepath.Join(tmp, "cache", "tally", "cometbft-v"+cometnode.Version), cometnode.Version+"+0abc")
		if got, err := cometnode.Binary(t.Context(), nil); err != nil || got != want {
			t.Fatalf("Binary = %s, %v; want %s", got, err, want)
		}
	})
}

// getJSON GETs path?query from node's RPC and decodes the JSON-RPC result
// into result.
func getJSON(t *testing.T, n *cometnode.Node, path string, query url.Values, result any) {
	t.Helper()
	u := n.RPC() + path
	if query != nil {
		u += "?" + query.Encode()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	if r.Error != nil {
		t.Fatalf("GET %s: %s", u, r.Error)
	}
	if err := json.Unmarshal(r.Result, result); err != nil {
		t.Fatalf("GET %s: %v in %s", u, err, r.Result)
	}
}

func height(t *testing.T, n *cometnode.Node) int64 {
	t.Helper()
	h, err := n.Height(t.Context())
	if err != nil {
		t.Fatalf("%v; log tail:\n%s", err, n.LogTail(20))
	}
	return h
}

// waitHeight waits up to d for n to reach height min and returns how long
// that took.
func waitHeight(t *testing.T, n *cometnode.Node, min int64, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		h, err := n.Height(t.Context())
		if err == nil && h >= min {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: height %d (%v), not %d after %s; log tail:\n%s", n, h, err, min, d, n.LogTail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stopAtCleanup(t *testing.T, n *cometnode.Net) {
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
		for _, node := range n.Nodes() {
			if node.Running() {
				t.Errorf("%s still running after Stop", node)
			}
		}
	})
}

// query reads key from the kvstore application.
func query(t *testing.T, n *cometnode.Node, key string) string {
	t.Helper()
	var q struct {
		Response struct {
			Value []byte `json:"value"`
		} `json:"response"`
	}
	getJSON(t, n, "/abci_query", url.Values{"data": {strconv.Quote(key)}}, &q)
	return string(q.Response.Value)
}

func TestSingle(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	net, err := cometnode.StartSingle(t.Context(), dir, cometnode.Options{Progress: t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	stopAtCleanup(t, net)
	t.Logf("single node at height 1 after %s", time.Since(start).Round(time.Millisecond))
	node := net.Node(0)
	if got := net.ChainID(); got != cometnode.DefaultChainID {
		t.Errorf("chain id %q, want %q", got, cometnode.DefaultChainID)
	}
	if gen, err := os.ReadFile(net.Genesis()); err != nil || !strings.Contains(string(gen), `"chain_id": "`+cometnode.DefaultChainID+`"`) {
		t.Errorf("genesis %s: %v\n%s", net.Genesis(), err, gen)
	}
	if !strings.HasPrefix(node.RPC(), "http://127.0.0.1:") {
		t.Errorf("RPC %s", node.RPC())
	}

	var tx struct {
		CheckTx  struct{ Code uint32 } `json:"check_tx"`
		TxResult struct{ Code uint32 } `json:"tx_result"`
		Height   int64                 `json:"height,string"`
	}
	getJSON(t, node, "/broadcast_tx_commit", url.Values{"tx": {`"k=v"`}}, &tx)
	if tx.CheckTx.Code != 0 || tx.TxResult.Code != 0 || tx.Height <= 0 {
		t.Fatalf("broadcast_tx_commit: %+v", tx)
	}
	if v := query(t, node, "k"); v != "v" {
		t.Fatalf("k = %q, want v", v)
	}

	h0, t0 := height(t, node), time.Now()
	time.Sleep(2 * time.Second)
	h1 := height(t, node)
	if h1 <= h0 {
		t.Fatalf("height %d, then %d 2 s later", h0, h1)
	}
	t.Logf("block time %s (timeout_commit %s)", (time.Since(t0) / time.Duration(h1-h0)).Round(time.Millisecond), cometnode.DefaultTimeoutCommit)

	if tail := node.LogTail(5); strings.Count(tail, "\n") != 4 || !strings.Contains(tail, "module=state") {
		t.Errorf("log tail:\n%s", tail)
	}
	stopping := time.Now()
	if err := node.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %s", time.Since(stopping).Round(time.Millisecond))
	if node.Running() {
		t.Fatal("running after Stop")
	}
	if _, err := node.Height(t.Context()); err == nil {
		t.Fatal("RPC answers after Stop")
	}
	if err := node.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	stopped := time.Now()
	if err := node.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted in %s", time.Since(stopped).Round(time.Millisecond))
	if err := node.Start(t.Context()); err == nil {
		t.Fatal("Start of a running node succeeded")
	}
	h2 := height(t, node)
	if h2 < h1 {
		t.Fatalf("height %d after restart, was %d before", h2, h1)
	}
	waitHeight(t, node, h2+2, 10*time.Second)
	if v := query(t, node, "k"); v != "v" {
		t.Fatalf("after restart k = %q, want v", v)
	}

	// Kill, and reopen the home with a new StartSingle (new ports).
	if err := node.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := cometnode.StartSingle(t.Context(), dir, cometnode.Options{ChainID: "other"}); err == nil || !strings.Contains(err.Error(), "existing chain") {
		t.Fatalf("reopen with another chain id: %v", err)
	}
	net2, err := cometnode.StartSingle(t.Context(), dir, cometnode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stopAtCleanup(t, net2)
	if h := height(t, net2.Node(0)); h < h2+2 {
		t.Fatalf("reopened at height %d, was at %d", h, h2+2)
	}
	if v := query(t, net2.Node(0), "k"); v != "v" {
		t.Fatalf("after reopen k = %q, want v", v)
	}
}

func TestStartFails(t *testing.T) {
	_, err := cometnode.StartSingle(t.Context(), t.TempDir(), cometnode.Options{LogLevel: "no:such"})
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "log level") {
		t.Fatalf("err = %v, want an exit with the log tail", err)
	}
}

func TestTestnet(t *testing.T) {
	start := time.Now()
	net, err := cometnode.StartTestnet(t.Context(), t.TempDir(), 4, cometnode.Options{Progress: t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	stopAtCleanup(t, net)
	t.Logf("4 validators at height 2 after %s", time.Since(start).Round(time.Millisecond))
	nodes := net.Nodes()
	if len(nodes) != 4 {
		t.Fatalf("%d nodes", len(nodes))
	}
	for i, n := range nodes {
		if want := "http://127.0.0." + strconv.Itoa(2+i) + ":"; !strings.HasPrefix(n.RPC(), want) {
			t.Errorf("node %d RPC %s, want %s...", i, n.RPC(), want)
		}
		var st struct {
			NodeInfo struct {
				ID      string `json:"id"`
				Network string `json:"network"`
			} `json:"node_info"`
		}
		getJSON(t, n, "/status", nil, &st)
		if id, _, _ := strings.Cut(n.P2P(), "@"); st.NodeInfo.ID != id || st.NodeInfo.Network != net.ChainID() {
			t.Errorf("%s: /status says %+v, want id %s on %s", n, st.NodeInfo, id, net.ChainID())
		}
	}
	// Every node dials the three others.
	for deadline := time.Now().Add(15 * time.Second); ; {
		var ni struct {
			NPeers int `json:"n_peers,string"`
		}
		getJSON(t, nodes[0], "/net_info", nil, &ni)
		if ni.NPeers == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node0 has %d peers, want 3", ni.NPeers)
		}
		time.Sleep(100 * time.Millisecond)
	}

	n0 := nodes[0]
	h0, t0 := height(t, n0), time.Now()
	waitHeight(t, n0, h0+5, 20*time.Second)
	t.Logf("block time with 4 validators %s", (time.Since(t0) / 5).Round(time.Millisecond))

	// 3 of 4 validators hold more than 2/3 of the power.
	if err := nodes[3].Kill(); err != nil {
		t.Fatal(err)
	}
	h := height(t, n0)
	d := waitHeight(t, n0, h+3, 20*time.Second)
	t.Logf("3 of 4: 3 blocks in %s", d.Round(time.Millisecond))

	// 2 of 4 do not.
	if err := nodes[2].Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // let a block in flight land
	stall := height(t, n0)
	time.Sleep(3 * time.Second)
	if h := height(t, n0); h > stall+1 {
		t.Fatalf("2 of 4 validators went on from height %d to %d", stall, h)
	}
	stall = height(t, n0)

	restart := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, n := range nodes[2:] {
		wg.Go(func() { errs[i] = n.Start(t.Context()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("2 validators restarted in %s", time.Since(restart).Round(time.Millisecond))
	waitHeight(t, n0, stall+1, 30*time.Second)
	t.Logf("chain resumed %s after the restart began", time.Since(restart).Round(time.Millisecond))
	waitHeight(t, n0, stall+3, 30*time.Second)
	for _, n := range nodes[2:] {
		d := waitHeight(t, n, stall+3, 30*time.Second)
		t.Logf("%s caught up to height %d after %s more", n, stall+3, d.Round(time.Millisecond))
	}
}
