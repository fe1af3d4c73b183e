// Package interop_test checks that an independent verifier, written in
// JavaScript from docs/FORMATS.md alone (interop/verify-js), accepts the proof
// bundles the real tally binary exports, rejects tampered ones at the right
// step, and agrees with `tally verify` on every case: plain bundles
// (tally-proof-bundle/1) and bundles anchored on a real CometBFT chain
// (tally-proof-bundle/2, anchored_test.go) or on a real geth --dev chain
// (evm_test.go).
//
// It needs Node.js >= 20.19 and npm on PATH (apt-get install -y nodejs npm);
// it runs `npm ci` in interop/verify-js when node_modules is missing. The
// anchored cases need cometbft v0.38.19, which internal/cometnode finds or
// builds (go install github.com/cometbft/cometbft/cmd/cometbft@v0.38.19);
// the EVM cases need geth v1.17.8, which internal/gethnode finds
// (go install github.com/ethereum/go-ethereum/cmd/geth@v1.17.8).
package interop_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/internal/testgw"
	"github.com/tallygw/tally/sensors"
	"golang.org/x/mod/sumdb/note"
)

// env is everything the cases share.
type env struct {
	root   string // repository root
	jsDir  string // interop/verify-js
	tally  string // built binary
	cfg    string // config file of the test gateway
	data   string // its data directory
	work   string // scratch directory for bundles
	idJSON string // `tally id --json` of the gateway
}

const numReadings = 13

func TestInterop(t *testing.T) {
	e := setup(t)

	// Bundles for the first, a middle and the last reading.
	seqs := []int{0, numReadings / 2, numReadings - 1}
	bundles := map[int]string{}
	for _, seq := range seqs {
		out := filepath.Join(e.work, fmt.Sprintf("bundle-%d.json", seq))
		e.mustRun(t, e.tally, "export", "--config", e.cfg, "--data", e.data, "--seq", strconv.Itoa(seq), "--out", out)
		bundles[seq] = out
	}

	t.Run("node-tests", func(t *testing.T) {
		// FORMATS.md §6's worked example, CBOR, RFC 9162 inclusion and
		// consistency proofs, protobuf and CometBFT vectors; RLP, EIP-155
		// and EIP-55 vectors.
		out, err := e.cmd(e.jsDir, "node", "--test", "example.test.mjs", "anchor.test.mjs", "evm.test.mjs")
		if err != nil {
			t.Fatalf("node --test example.test.mjs anchor.test.mjs evm.test.mjs: %v\n%s", err, out)
		}
	})

	for _, seq := range seqs {
		b := bundles[seq]
		t.Run(fmt.Sprintf("valid/seq-%d", seq), func(t *testing.T) {
			checkBundle(t, e, b)
			bundle := readBundle(t, b)
			if int(bundle["seq"].(float64)) != seq || int(bundle["tree_size"].(float64)) != numReadings {
				t.Errorf("bundle seq %v tree_size %v, want %d and %d", bundle["seq"], bundle["tree_size"], seq, numReadings)
			}
		})
	}

	t.Run("note-key", func(t *testing.T) {
		// FORMATS.md §4: the Ed25519 line checks with golang.org/x/mod/sumdb/note
		// and the note_key of `tally id --json`; the ML-DSA-65 line is a
		// signature by another key to such tools.
		var id struct {
			NoteKey string `json:"note_key"`
		}
		if err := json.Unmarshal([]byte(readFile(t, e.idJSON)), &id); err != nil {
			t.Fatal(err)
		}
		v, err := note.NewVerifier(id.NoteKey)
		if err != nil {
			t.Fatalf("note.NewVerifier(%q): %v", id.NoteKey, err)
		}
		for _, seq := range seqs {
			cp := readBundle(t, bundles[seq])["checkpoint"].(string)
			n, err := note.Open([]byte(cp), note.VerifierList(v))
			if err != nil {
				t.Fatalf("seq %d: note.Open: %v", seq, err)
			}
			if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 1 {
				t.Errorf("seq %d: %d verified and %d unverified signatures, want 1 and 1", seq, len(n.Sigs), len(n.UnverifiedSigs))
			}
		}
	})

	mid := readBundle(t, bundles[numReadings/2])

	t.Run("valid/witness-lines", func(t *testing.T) {
		// "Verifiers must ignore signature lines by other keys": a witness's
		// line and a line under the gateway's name with an unknown key hash.
		b := cloneBundle(t, mid)
		junk := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 4+64))
		b["checkpoint"] = b["checkpoint"].(string) + "— witness.example/w1 " + junk + "\n— " + b["origin"].(string) + " " + junk + "\n"
		path := filepath.Join(e.work, "witness.json")
		writeJSON(t, path, b)
		checkBundle(t, e, path)
	})

	tampers := []struct {
		name, step string
		keys       string // "other": pin another gateway's keys; "": pin e.idJSON
		edit       func(t *testing.T, b map[string]any)
	}{
		{"envelope-byte", "reading signature", "", func(t *testing.T, b map[string]any) {
			env := decodeB64(t, b["envelope"].(string))
			env[len(env)-80] ^= 0x01 // inside the payload (the signature is the last 64 bytes)
			b["envelope"] = base64.StdEncoding.EncodeToString(env)
		}},
		{"checkpoint-size-line", "checkpoint signatures", "", func(t *testing.T, b map[string]any) {
			cp := b["checkpoint"].(string)
			lines := strings.SplitN(cp, "\n", 3)
			n, err := strconv.Atoi(lines[1])
			if err != nil {
				t.Fatalf("checkpoint size line %q: %v", lines[1], err)
			}
			lines[1] = strconv.Itoa(n + 1)
			b["checkpoint"] = strings.Join(lines, "\n")
		}},
		{"drop-inclusion-hash", "inclusion", "", func(t *testing.T, b map[string]any) {
			p := b["inclusion_proof"].([]any)
			if len(p) == 0 {
				t.Fatal("middle reading has an empty inclusion proof")
			}
			b["inclusion_proof"] = p[:len(p)-1]
		}},
		{"mldsa65-signature-bit", "checkpoint signatures", "", func(t *testing.T, b map[string]any) {
			b["checkpoint"] = flipMLDSABit(t, b["checkpoint"].(string))
		}},
		{"other-gateway-keys", "keys", "other", nil},
		{"format", "format", "", func(t *testing.T, b map[string]any) {
			b["format"] = "tally-proof-bundle/2"
		}},
		{"bundle-seq", "reading payload", "", func(t *testing.T, b map[string]any) {
			b["seq"] = b["seq"].(float64) + 1
		}},
		{"anchor-in-format-1", "format", "", func(t *testing.T, b map[string]any) {
			// FORMATS.md §5: verifiers reject /1 with an anchor (a
			// well-formed one, so that tally's JSON decoder takes it).
			b["anchor"] = map[string]any{
				"checkpoint":        b["checkpoint"],
				"consistency_proof": []any{},
				"receipt": map[string]any{
					"ledger": "cometbft", "network": "example", "tx_id": "", "height": 1, "block_hash": "",
					"block_time": "2026-03-01T12:00:00Z", "tx_format": "", "payload": "", "evidence": map[string]any{},
				},
			}
		}},
	}
	for _, tc := range tampers {
		t.Run("tampered/"+tc.name, func(t *testing.T) {
			b := cloneBundle(t, mid)
			if tc.edit != nil {
				tc.edit(t, b)
			}
			path := filepath.Join(e.work, "tampered-"+tc.name+".json")
			writeJSON(t, path, b)
			keys := e.idJSON
			if tc.keys == "other" {
				keys = otherIdentity(t, e)
			}
			// Unpinned runs must fail too, except the key-pinning case,
			// which is only detectable against pinned keys.
			if tc.keys != "other" {
				expectFail(t, e, path, "", tc.step)
			}
			expectFail(t, e, path, keys, tc.step)
		})
	}

	t.Run("anchored", func(t *testing.T) { testAnchored(t, e) })
}

// checkBundle asserts that both verifiers accept path, unpinned and with
// the gateway's keys pinned, and that the JS verifier passes all of its 8
// steps (FORMATS.md §5, format /1).
func checkBundle(t *testing.T, e *env, path string) {
	t.Helper()
	for _, keys := range []string{"", e.idJSON} {
		expectOK(t, e, path, keys, nil, 8)
	}
}

// expectOK asserts that both verifiers accept path with the given pins
// (keys: a `tally id --json` file or ""; ledger: flags such as --genesis
// FILE) and that the JS verifier ran steps steps.
func expectOK(t *testing.T, e *env, path, keys string, ledger []string, steps int) {
	t.Helper()
	out, code := e.node(t, path, keys, ledger...)
	if code != 0 {
		t.Errorf("node verify.mjs %s (keys %q, %q): exit %d\n%s", filepath.Base(path), keys, ledger, code, out)
	} else if want := fmt.Sprintf("OK: all %d steps pass", steps); !strings.Contains(out, want) {
		t.Errorf("node verify.mjs output lacks %q:\n%s", want, out)
	}
	g := e.goVerify(t, path, keys, ledger...)
	t.Logf("node verify.mjs (keys %q, %q):\n%s\ntally verify --json: exit %d, first failed step %q", keys, ledger, out, g.code, g.firstFailed)
	if g.code != 0 || !g.OK {
		t.Errorf("tally verify %s (keys %q, %q): exit %d\n%s", filepath.Base(path), keys, ledger, g.code, g.raw)
	}
	if len(g.Steps) != steps {
		t.Errorf("tally verify ran %d steps, the JS verifier %d", len(g.Steps), steps)
	}
}

// expectFail asserts that both verifiers reject path and name step as the
// first failing one.
func expectFail(t *testing.T, e *env, path, keys, step string, ledger ...string) {
	t.Helper()
	out, code := e.node(t, path, keys, ledger...)
	if code != 1 {
		t.Errorf("node verify.mjs (keys %q, %q): exit %d, want 1\n%s", keys, ledger, code, out)
	}
	if want := "FAILED at step: " + step; !strings.Contains(out, want) {
		t.Errorf("node verify.mjs (keys %q, %q): output lacks %q:\n%s", keys, ledger, want, out)
	}
	g := e.goVerify(t, path, keys, ledger...)
	t.Logf("node verify.mjs (keys %q, %q):\n%s\ntally verify --json: exit %d, first failed step %q", keys, ledger, out, g.code, g.firstFailed)
	if g.code == 0 || g.OK {
		t.Errorf("tally verify (keys %q, %q) accepted a bundle the JS verifier rejects at %q:\n%s", keys, ledger, step, g.raw)
	}
	if g.firstFailed != step {
		t.Errorf("tally verify (keys %q, %q) fails first at %q, the JS verifier at %q:\n%s", keys, ledger, g.firstFailed, step, g.raw)
	}
}

// expectUsage asserts that both verifiers refuse the flags as a usage
// error (exit 2) rather than failing a step: FORMATS.md §5.1, "a pin that
// is not well formed".
func expectUsage(t *testing.T, e *env, path, keys string, ledger ...string) {
	t.Helper()
	out, code := e.node(t, path, keys, ledger...)
	if code != 2 {
		t.Errorf("node verify.mjs (keys %q, %q): exit %d, want 2 (usage)\n%s", keys, ledger, code, out)
	}
	args := []string{"verify", "--json"}
	if keys != "" {
		args = append(args, "--keys", keys)
	}
	args = append(append(args, ledger...), path)
	gout, gcode := e.exit(t, e.work, e.tally, args...)
	t.Logf("node verify.mjs (keys %q, %q): exit %d\n%s\ntally verify: exit %d\n%s", keys, ledger, code, out, gcode, gout)
	if gcode != 2 {
		t.Errorf("tally verify (keys %q, %q): exit %d, want 2 (usage)\n%s", keys, ledger, gcode, gout)
	}
}

func setup(t *testing.T) *env {
	t.Helper()
	node, nerr := exec.LookPath("node")
	_, perr := exec.LookPath("npm")
	if nerr != nil || perr != nil {
		t.Fatalf("the interop test needs Node.js 20+ and npm on PATH: install them with `apt-get install -y nodejs npm` (node: %v, npm: %v)", nerr, perr)
	}
	root := repoRoot(t)
	e := &env{root: root, jsDir: filepath.Join(root, "interop", "verify-js"), work: t.TempDir()}

	if out, err := exec.Command(node, "--version").Output(); err != nil {
		t.Fatalf("node --version: %v", err)
	} else if v := strings.TrimSpace(string(out)); !nodeAtLeast(v, 20, 19) {
		t.Fatalf("node %s is too old: the JS verifier's @noble packages need Node.js >= 20.19 (Debian 12's own nodejs package is 18.x)", v)
	}
	if _, err := os.Stat(filepath.Join(e.jsDir, "node_modules", "@noble", "post-quantum")); err != nil {
		out, err := e.cmd(e.jsDir, "npm", "ci", "--no-audit", "--no-fund")
		if err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", e.jsDir, err, out)
		}
	}

	e.tally = filepath.Join(e.work, "tally")
	if out, err := e.cmd(root, "go", "build", "-o", e.tally, "./cmd/tally"); err != nil {
		t.Fatalf("go build ./cmd/tally: %v\n%s", err, out)
	}

	// A real gateway with keys and a store under g.Dir (the CLI's defaults:
	// ed25519.key, mldsa65.key, tally.db).
	g := testgw.New(t, ingest.Config{})
	ctx := context.Background()
	for i := 0; i < numReadings; i++ {
		if err := g.Pipeline.Accept(ctx, reading(i)); err != nil {
			t.Fatalf("accept reading %d: %v", i, err)
		}
	}
	g.Stop(t) // writes the final checkpoint over all readings

	e.data = g.Dir
	e.cfg = filepath.Join(e.work, "tally.yaml")
	writeFile(t, e.cfg, configYAML(g.ID))
	e.idJSON = filepath.Join(e.work, "id.json")
	writeFile(t, e.idJSON, e.mustRun(t, e.tally, "id", "--json", "--config", e.cfg, "--data", e.data))
	return e
}

func configYAML(id string) string {
	return "gateway:\n  id: " + id + "\nhttp:\n  listen: \"off\"\ncheckpoint:\n  interval: 1s\n"
}

// otherIdentity makes a second gateway with the same id but its own keys and
// returns its `tally id --json` file.
func otherIdentity(t *testing.T, e *env) string {
	t.Helper()
	dir := filepath.Join(e.work, "other")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	e.mustRun(t, e.tally, "keygen", "--config", e.cfg, "--data", dir)
	path := filepath.Join(e.work, "other-id.json")
	writeFile(t, path, e.mustRun(t, e.tally, "id", "--json", "--config", e.cfg, "--data", dir))
	return path
}

// reading returns varied readings so that payloads exercise every member and
// integers, floats of each width, text, booleans and raw bytes.
func reading(i int) sensors.Reading {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	switch i % 4 {
	case 0:
		return sensors.Reading{
			Sensor: "gps-1", Kind: sensors.KindGPS,
			Time: base.Add(time.Duration(i) * time.Second), Clock: sensors.ClockGPS,
			Container: "CSQU3054383", MsgID: "nmea-" + strconv.Itoa(i),
			Data: map[string]any{
				"lat": 31.230416 + float64(i)/1000, "lon": -121.473701, "alt_m": 4.5,
				"speed_mps": 0.0, "course_deg": 100000.0, "fix": "3d", "sats": int64(9 + i), "hdop": 0.8,
			},
			Raw: []byte("$GPRMC,120000.00,A,3113.825,N,12128.422,W*6A\r\n"),
		}
	case 1:
		return sensors.Reading{
			Sensor: "reefer-1", Kind: sensors.KindTemperature,
			Time: base.Add(time.Duration(i) * time.Second), Clock: sensors.ClockDevice,
			Data: map[string]any{"celsius": -18.5, "probe": "supply", "humidity_pct": 87.25},
		}
	case 2:
		return sensors.Reading{
			Sensor: "seal-1", Kind: sensors.KindSeal, MsgID: strconv.Itoa(1000 + i),
			Data: map[string]any{
				"seal_id": "ES-0042", "state": sensors.SealSealed, "event": "heartbeat",
				"battery_v": 3.3, "tamper": false, "counter": int64(-7), "big": int64(1) << 40,
				"note": "Größe ✓",
			},
		}
	default:
		return sensors.Reading{
			Sensor: "gps-1", Kind: sensors.KindStatus,
			Data: map[string]any{"event": "fix_lost", "since_s": int64(i), "x": 65504.0, "y": 1e300, "z": float64(float32(0.1))},
		}
	}
}

// flipMLDSABit flips one bit of the ML-DSA-65 signature inside a signed note.
func flipMLDSABit(t *testing.T, note string) string {
	t.Helper()
	lines := strings.Split(note, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "— ") {
			continue
		}
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("signature line %q", l)
		}
		sig := decodeB64(t, f[2])
		if len(sig) != 4+3309 {
			continue
		}
		sig[4+1000] ^= 0x10
		lines[i] = "— " + f[1] + " " + base64.StdEncoding.EncodeToString(sig)
		return strings.Join(lines, "\n")
	}
	t.Fatalf("no ML-DSA-65 signature line in:\n%s", note)
	return ""
}

// node runs the JS verifier on bundle, pinning keys (when not "") and
// passing extra flags (--genesis FILE, --chain-id ID, ...).
func (e *env) node(t *testing.T, bundle, keys string, extra ...string) (string, int) {
	t.Helper()
	args := []string{"verify.mjs", bundle}
	if keys != "" {
		args = append(args, "--keys", keys)
	}
	args = append(args, extra...)
	return e.exit(t, e.jsDir, "node", args...)
}

// goResult is `tally verify --json`'s answer.
type goResult struct {
	OK    bool `json:"ok"`
	Steps []struct {
		Step   string `json:"step"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	} `json:"steps"`
	code        int
	firstFailed string
	raw         string
}

// goVerify runs `tally verify --json` as an auditor would: offline, with no
// gateway configuration or data directory; extra are more flags.
func (e *env) goVerify(t *testing.T, bundle, keys string, extra ...string) goResult {
	t.Helper()
	args := []string{"verify", "--json"}
	if keys != "" {
		args = append(args, "--keys", keys)
	}
	args = append(args, extra...)
	args = append(args, bundle)
	c := exec.Command(e.tally, args...)
	c.Dir = e.work
	var stdout, stderr bytes.Buffer
	c.Stdout = &stdout
	c.Stderr = &stderr
	err := c.Run()
	var r goResult
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("tally verify: %v", err)
	}
	r.raw = stdout.String() + stderr.String()
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("tally verify --json printed no JSON (%v):\n%s", err, r.raw)
	}
	for _, s := range r.Steps {
		if !s.OK {
			r.firstFailed = s.Step
			break
		}
	}
	return r
}

// exit runs a command and returns its combined output and exit code; a
// command that cannot start fails the test.
func (e *env) exit(t *testing.T, dir, name string, args ...string) (string, int) {
	t.Helper()
	out, err := e.cmd(dir, name, args...)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &ee):
		return out, ee.ExitCode()
	}
	t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	return "", -1
}

func (e *env) cmd(dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Dir = dir
	var buf bytes.Buffer
	c.Stdout = &buf
	c.Stderr = &buf
	err := c.Run()
	return buf.String(), err
}

func (e *env) mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	c := exec.Command(name, args...)
	c.Dir = e.work
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	if abs, err := filepath.Abs(".."); err == nil {
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(abs, "cmd", "tally")); err == nil {
				return abs
			}
		}
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		t.Fatalf("cannot find the repository root (go env GOMOD: %v)", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// nodeAtLeast reports whether `node --version` output v is at least
// major.minor.
func nodeAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, err1 := strconv.Atoi(parts[0])
	mnr, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > major || (maj == major && mnr >= minor)
}

func readBundle(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

func cloneBundle(t *testing.T, b map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(raw)+"\n")
}

// writeNumberAs makes the number member m of obj be written as its
// integer digits followed by suffix (".0", "e0"): the same value to
// JSON.parse, but not a JSON integer. writeJSON keeps a json.RawMessage as
// written.
func writeNumberAs(t *testing.T, obj map[string]any, m, suffix string) {
	t.Helper()
	v, ok := obj[m].(float64)
	if !ok {
		t.Fatalf("member %s is %T, not a number", m, obj[m])
	}
	obj[m] = json.RawMessage(strconv.FormatFloat(v, 'f', -1, 64) + suffix)
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func decodeB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %.20q: %v", s, err)
	}
	return b
}
