package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/internal/cometnode"
)

// TestAnchorCometBFT runs the daemon anchoring to a real CometBFT node:
// `tally anchor` asks for an anchor now, `tally status` shows it, `tally
// audit` checks every receipt, and `tally verify` with the chain's genesis
// pinned passes a real bundle and names the step a tampered one fails at.
func TestAnchorCometBFT(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	net, err := cometnode.StartSingle(ctx, t.TempDir(), cometnode.Options{ChainID: "tally-cli-test"})
	if err != nil {
		t.Fatalf("start CometBFT: %v", err)
	}
	defer net.Stop()
	cfg, dir := gateway(t, fmt.Sprintf(`anchor:
  backend: cometbft
  interval: 1h           # only when asked (tally anchor) in this test
  cometbft:
    rpc: %s
    genesis: %s
`, net.Node(0).RPC(), net.Genesis()))
	// Every command below reads the data directory from the config.
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "data_dir: %s\n", dir)
	f.Close()
	mustTally(t, "keygen", "--config", cfg)
	idFile := filepath.Join(dir, "id.json")
	os.WriteFile(idFile, []byte(mustTally(t, "id", "--json", "--config", cfg)), 0o644)

	run := exec.CommandContext(ctx, binary(t), "run", "--config", cfg)
	var logs bytes.Buffer
	run.Stderr = &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	type status struct {
		Log struct {
			CheckpointSize int64 `json:"checkpoint_size"`
		} `json:"log"`
		Anchor *struct {
			LastAnchoredSize int64  `json:"last_anchored_size"`
			Backlog          int64  `json:"backlog"`
			LastError        string `json:"last_error"`
		} `json:"anchor"`
	}
	get := func() (st status) {
		r := tally(t, "status", "--json", "--config", cfg)
		if r.code == 0 {
			json.Unmarshal([]byte(r.stdout), &st)
		}
		return st
	}
	// Wait for the interval-less first cycle (at start, before any
	// checkpoint: nothing to anchor), then a few checkpoints.
	deadline := time.Now().Add(30 * time.Second)
	for get().Log.CheckpointSize < 500 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	before := get()
	if before.Anchor == nil || before.Anchor.Backlog == 0 {
		t.Fatalf("status before anchoring: %+v\n%s", before, logs.String())
	}
	if out := mustTally(t, "anchor", "--config", cfg); !strings.Contains(out, "anchoring the newest checkpoint now") {
		t.Fatalf("tally anchor: %s", out)
	}
	var after status
	for after = get(); (after.Anchor == nil || after.Anchor.LastAnchoredSize < before.Log.CheckpointSize) && time.Now().Before(deadline.Add(30*time.Second)); after = get() {
		time.Sleep(200 * time.Millisecond)
	}
	if after.Anchor.LastAnchoredSize < before.Log.CheckpointSize || after.Anchor.LastError != "" {
		t.Fatalf("after tally anchor: %+v\n%s", after.Anchor, logs.String())
	}
	cfgText, _ := os.ReadFile(cfg)
	listen := regexp.MustCompile(`listen: (\S+)`).FindSubmatch(cfgText)
	resp, err := http.Get("http://" + string(listen[1]) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{fmt.Sprintf("tally_anchor_last_size %d", after.Anchor.LastAnchoredSize), "tally_anchor_backlog_readings ", "tally_anchor_age_seconds ", "tally_anchor_failing 0", "tally_anchor_anchors_total 1"} {
		if !strings.Contains(string(metrics), want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
	human := mustTally(t, "status", "--config", cfg)
	if !strings.Contains(human, "anchor:   cometbft") || !strings.Contains(human, fmt.Sprintf("anchored up to size %d", after.Anchor.LastAnchoredSize)) {
		t.Fatalf("status:\n%s", human)
	}
	run.Process.Signal(os.Interrupt)
	if err := run.Wait(); err != nil {
		t.Fatalf("daemon: %v\n%s", err, logs.String())
	}

	audit := mustTally(t, "audit", "--config", cfg)
	if !strings.Contains(audit, "1 ledger anchors") {
		t.Fatalf("audit: %s", audit)
	}
	b := filepath.Join(dir, "b.json")
	mustTally(t, "export", "--config", cfg, "--seq", "3", "--out", b)
	v := mustTally(t, "verify", "--keys", idFile, "--genesis", net.Genesis(), "--online", net.Node(0).RPC(), b)
	for _, want := range []string{"tally-proof-bundle/2", "consistency", "chain id               tally-cli-test (pinned)", "(pinned)", "commit ", "tx in block", "checkpoint in tx", "ledger online", "bundle verified"} {
		if !strings.Contains(v, want) {
			t.Fatalf("verify output lacks %q:\n%s", want, v)
		}
	}
	// A reading past the anchored size has no anchor yet: a /1 bundle.
	last := fmt.Sprint(after.Anchor.LastAnchoredSize + 1)
	if s := mustTally(t, "export", "--config", cfg, "--seq", last); !strings.Contains(s, `"tally-proof-bundle/1"`) {
		t.Fatalf("reading %s past the anchor: %s", last, s)
	}

	data, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(name string, edit func(m map[string]any), args []string, step string) {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			json.Unmarshal(data, &m)
			edit(m)
			p := filepath.Join(t.TempDir(), "t.json")
			out, _ := json.Marshal(m)
			os.WriteFile(p, out, 0o644)
			r := tally(t, append(append([]string{"verify", "--keys", idFile}, args...), p)...)
			if r.code != 1 || !strings.Contains(r.stderr, "verification FAILED at "+step+":") {
				t.Fatalf("want failure at %q, got code %d\n%s%s", step, r.code, r.stdout, r.stderr)
			}
		})
	}
	receipt := func(m map[string]any) map[string]any { return m["anchor"].(map[string]any)["receipt"].(map[string]any) }
	pinned := []string{"--genesis", net.Genesis()}
	tamper("wrong chain id", func(map[string]any) {}, []string{"--chain-id", "another-chain"}, "chain id")
	tamper("other validator set", func(map[string]any) {}, []string{"--validators-hash", strings.Repeat("ab", 32)}, "validator set")
	tamper("root not in tx", func(m map[string]any) { receipt(m)["tx_format"] = "tally.{size}={root_b64}" }, pinned, "checkpoint in tx")
	tamper("evidence block swapped", func(m map[string]any) { receipt(m)["height"] = 1 }, pinned, "signed header")
	// A pin for an EVM chain on a CometBFT bundle: the auditor pinned
	// another ledger than the bundle names.
	tamper("sender pinned on CometBFT", func(map[string]any) {}, append([]string{"--sender", "0x" + strings.Repeat("ab", 20)}, pinned...), "ledger")
	// Malformed pins are usage errors, not failed steps.
	for _, args := range [][]string{{"--sender", "me"}, {"--sender", "0x" + strings.Repeat("aB", 20)}} {
		if r := tally(t, append(append([]string{"verify", "--keys", idFile}, args...), b)...); r.code != 2 || !strings.Contains(r.stderr, "--sender") {
			t.Fatalf("verify %v: code %d, want 2 (usage)\n%s", args, r.code, r.stderr)
		}
	}
}

func TestKeygenEVM(t *testing.T) {
	cfg, _ := gateway(t, fmt.Sprintf("data_dir: %s\n", t.TempDir()))
	out := mustTally(t, "keygen", "--evm", "--config", cfg)
	m := regexp.MustCompile(`wrote (\S+) \(secp256k1\), mode 0600; address (0x[0-9a-fA-F]{40})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keygen --evm: %s", out)
	}
	if st, err := os.Stat(m[1]); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v", m[1], err)
	}
	if r := tally(t, "keygen", "--evm", "--config", cfg); r.code == 0 {
		t.Fatalf("a second keygen --evm overwrote the key: %+v", r)
	}
}
