package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallygw/tally/internal/loopback"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the real tally binary once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tally-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tally")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freePort returns a loopback address nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	p, err := loopback.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
}

// gateway writes a config for a simulator gateway in a new directory.
func gateway(t *testing.T, extra string) (cfg, dir string) {
	dir = t.TempDir()
	cfg = filepath.Join(dir, "tally.yaml")
	y := fmt.Sprintf(`gateway:
  id: gw-test-01
http:
  listen: %s
checkpoint:
  interval: 300ms
  max_readings: 500
shutdown:
  timeout: 5s
sensors:
  - id: voyage
    driver: sim
    sim:
      interval: 2ms
      time_factor: 200000
%s`, freePort(t), extra)
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, dir
}

type result struct {
	stdout, stderr string
	code           int
}

func tally(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func mustTally(t *testing.T, args ...string) string {
	t.Helper()
	r := tally(t, args...)
	if r.code != 0 {
		t.Fatalf("tally %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func TestSpineEndToEnd(t *testing.T) {
	cfg, dir := gateway(t, "")
	mustTally(t, "keygen", "--config", cfg, "--data", dir)
	if r := tally(t, "keygen", "--config", cfg, "--data", dir); r.code == 0 || !strings.Contains(r.stderr, "refusing to overwrite") {
		t.Fatalf("second keygen: %+v", r)
	}
	for _, k := range []string{"ed25519.key", "mldsa65.key"} {
		st, err := os.Stat(filepath.Join(dir, k))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v mode %v", k, err, st.Mode())
		}
	}
	idJSON := mustTally(t, "id", "--json", "--config", cfg, "--data", dir)
	idFile := filepath.Join(dir, "id.json")
	os.WriteFile(idFile, []byte(idJSON), 0o644)

	// Run the daemon; status must show readings growing while it runs.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := exec.CommandContext(ctx, binary(t), "run", "--config", cfg, "--data", dir)
	var logs bytes.Buffer
	run.Stderr = &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	var counts []int64
	deadline := time.Now().Add(15 * time.Second)
	for len(counts) < 3 && time.Now().Before(deadline) {
		time.Sleep(700 * time.Millisecond)
		r := tally(t, "status", "--json", "--config", cfg, "--data", dir)
		if r.code != 0 {
			continue // not listening yet
		}
		var st struct {
			Log struct{ Size int64 } `json:"log"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatal(err)
		}
		counts = append(counts, st.Log.Size)
	}
	if len(counts) < 3 || !(counts[0] < counts[1] && counts[1] < counts[2]) {
		t.Fatalf("status readings not growing: %v\n%s", counts, logs.String())
	}
	human := mustTally(t, "status", "--config", cfg, "--data", dir)
	for _, want := range []string{"gateway gw-test-01", "checkpoint: size", "voyage"} {
		if !strings.Contains(human, want) {
			t.Fatalf("status output lacks %q:\n%s", want, human)
		}
	}
	run.Process.Signal(os.Interrupt)
	if err := run.Wait(); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Fatalf("no orderly shutdown in logs:\n%s", logs.String())
	}

	out := mustTally(t, "audit", "--config", cfg, "--data", dir)
	var n int64
	if _, err := fmt.Sscanf(out, "audit passed: %d readings", &n); err != nil || n < 10 {
		t.Fatalf("audit: %q", out)
	}
	for _, seq := range []int64{0, n / 2, n - 1} {
		b := filepath.Join(dir, fmt.Sprintf("b%d.json", seq))
		mustTally(t, "export", "--config", cfg, "--data", dir, "--seq", fmt.Sprint(seq), "--out", b)
		v := mustTally(t, "verify", "--keys", idFile, b)
		if !strings.Contains(v, "bundle verified") || strings.Contains(v, "FAIL") {
			t.Fatalf("verify %d:\n%s", seq, v)
		}
	}
	// export writes to stdout without --out.
	if s := mustTally(t, "export", "--config", cfg, "--data", dir, "--seq", "0"); !strings.Contains(s, `"format": "tally-proof-bundle/1"`) {
		t.Fatalf("export to stdout: %s", s)
	}
	if r := tally(t, "export", "--config", cfg, "--data", dir, "--seq", fmt.Sprint(n+5)); r.code == 0 || !strings.Contains(r.stderr, "there is no reading") {
		t.Fatalf("export past the end: %+v", r)
	}
}

func TestBadConfigsExitWithOneClearError(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, cfg, dir string) string // returns the config to use
		want  string
	}{
		{"unknown key", func(t *testing.T, cfg, dir string) string {
			return write(t, dir, "gateway:\n  id: gw-1\n  colour: blue\n")
		}, "bad.yaml:3: gateway.colour: unknown key; allowed here: container, id"},
		{"wrong type", func(t *testing.T, cfg, dir string) string {
			return write(t, dir, "gateway:\n  id: gw-1\nstore:\n  max_batch: many\n")
		}, `bad.yaml:4: store.max_batch: "many" is not a whole number`},
		{"missing key file", func(t *testing.T, cfg, dir string) string { return cfg },
			"ed25519.key does not exist; create the gateway's keys with: tally keygen"},
		{"world-readable key", func(t *testing.T, cfg, dir string) string {
			mustTally(t, "keygen", "--config", cfg, "--data", dir)
			os.Chmod(filepath.Join(dir, "mldsa65.key"), 0o644)
			return cfg
		}, "mldsa65.key has mode 0644: group or others can read it; run: chmod 600 " + "DIR/mldsa65.key"},
		{"missing config", func(t *testing.T, cfg, dir string) string { return filepath.Join(dir, "nope.yaml") },
			"does not exist; pass --config FILE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, dir := gateway(t, "")
			use := tc.setup(t, cfg, dir)
			r := tally(t, "run", "--config", use, "--data", dir, "--for", "2s")
			want := strings.ReplaceAll(tc.want, "DIR", dir)
			if r.code == 0 {
				t.Fatal("daemon started")
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], want) {
				t.Fatalf("stderr %q, want one line containing %q", r.stderr, want)
			}
		})
	}
}

func write(t *testing.T, dir, content string) string {
	p := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
