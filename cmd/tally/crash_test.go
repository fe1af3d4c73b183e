package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestCrashKill9 kills the daemon under load with SIGKILL at random moments,
// 25 times. After each kill the store must audit clean (seq without holes,
// every signature, tree hash and checkpoint valid) and never shrink, and the
// next start must carry on from where the last one stopped.
func TestCrashKill9(t *testing.T) {
	cfg, dir := gateway(t, "")
	mustTally(t, "keygen", "--config", cfg, "--data", dir)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	var last int64
	const kills = 25
	for i := range kills {
		cmd := exec.Command(binary(t), "run", "--config", cfg, "--data", dir)
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Between 50 ms (often before the first commit) and 1.5 s.
		time.Sleep(time.Duration(50+rng.IntN(1450)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("kill %d: daemon was not killed by the signal (exited on its own: %v)\n%s", i, err, logs.String())
		}
		out := mustTally(t, "audit", "-q", "--config", cfg, "--data", dir)
		var n int64
		if _, err := fmt.Sscanf(out, "audit passed: %d readings", &n); err != nil {
			t.Fatalf("kill %d: audit output %q", i, out)
		}
		if n < last {
			t.Fatalf("kill %d: log shrank from %d to %d readings", i, last, n)
		}
		last = n
	}
	if last < 1000 {
		t.Fatalf("only %d readings after %d runs: the daemon was not under load", last, kills)
	}
	// A clean run afterwards checkpoints everything and audits clean.
	mustTally(t, "run", "--config", cfg, "--data", dir, "--for", "1s")
	out := mustTally(t, "audit", "--config", cfg, "--data", dir)
	t.Logf("after %d kills: %s", kills, out)
}
