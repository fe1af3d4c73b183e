package main

import (
	"bytes"
	"context"
	"encoding/json"
	mqbroker "github.com/tallygw/tally/internal/mosquitto"
	"os/exec"
	"testing"
	"time"

	"github.com/tallygw/tally/edge/bench"
)

// needMosquitto fails the test when the mosquitto broker is not installed.
func needMosquitto(t *testing.T) {
	t.Helper()
	if _, err := mqbroker.Path(); err != nil {
		t.Fatal(err)
	}
}

// TestBench runs the real binary's `tally bench --json` against mosquitto
// and the embedded broker, publishers in a child process as by default,
// and checks that the figures hang together. A bench, not a timed test:
// nothing here depends on how fast the machine is.
func TestBench(t *testing.T) {
	bin := binary(t)
	for _, broker := range []string{"mosquitto", "embedded"} {
		t.Run(broker, func(t *testing.T) {
			if broker == "mosquitto" {
				needMosquitto(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "bench", "--broker", broker, "--duration", "2s", "--rate", "2000", "--json")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("tally bench: %v\nstderr:\n%s", err, stderr.String())
			}
			checkBench(t, stdout.Bytes(), broker, 2000, "child")
		})
	}
}

// TestBenchInProcess runs the command's code in this process (publishers
// in-process too), so that `go test -race` covers the bench itself.
func TestBenchInProcess(t *testing.T) {
	for _, broker := range []string{"mosquitto", "embedded"} {
		t.Run(broker, func(t *testing.T) {
			if broker == "mosquitto" {
				needMosquitto(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			args := []string{"bench", "--broker", broker, "--duration", "1s", "--rate", "500", "--drain", "10s", "--json", "--separate-publishers=false"}
			if err := run(ctx, args, &stdout, &stderr); err != nil {
				t.Fatalf("tally bench: %v\nstderr:\n%s", err, stderr.String())
			}
			checkBench(t, stdout.Bytes(), broker, 500, "in-process")
		})
	}
}

func TestBenchUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"bad broker", []string{"bench", "--broker", "mosquito"}},
		{"no publishers", []string{"bench", "--publishers", "0"}},
		{"negative rate", []string{"bench", "--rate", "-1"}},
		{"bad qos", []string{"bench", "--qos", "3"}},
		{"argument", []string{"bench", "extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), tt.args, &stdout, &stderr); err == nil {
				t.Fatalf("tally %v: no error; stdout:\n%s", tt.args, stdout.String())
			}
		})
	}
}

func checkBench(t *testing.T, out []byte, broker string, rate float64, publishers string) {
	t.Helper()
	var r bench.Result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("output is not a bench result: %v\n%s", err, out)
	}
	b, g := r.Baseline, r.Tally
	t.Logf("%s: baseline %.0f msg/s, tally %.0f readings/s, ratio %.2f, latency p50 %.2f p99 %.2f max %.2f ms, RSS peak %.1f MiB, load %v",
		broker, b.MsgsPerS, g.ReadingsPerS, r.Ratio, g.Latency.P50, g.Latency.P99, g.Latency.Max, g.Memory.Peak, r.LoadEnd)
	checks := []struct {
		ok   bool
		what string
	}{
		{r.Broker == broker, "broker is " + broker},
		{r.PublisherProcess == publishers, "publishers run " + publishers},
		{r.RateTarget == rate, "rate target as asked"},
		{b.Publishing.Published > 0 && g.Publishing.Published > 0, "messages published in both phases"},
		{b.Publishing.Rate <= 1.1*rate && g.Publishing.Rate <= 1.1*rate, "publishers keep under the target rate"},
		{b.MsgsPerS > 0 && b.Received > 0, "baseline received messages"},
		{g.ReadingsPerS > 0 && g.Accepted > 0, "tally accepted readings"},
		{r.Ratio > 0, "ratio above 0"},
		{g.Latency.Samples == g.Accepted, "a latency per accepted reading"},
		{g.Latency.P50 > 0 && g.Latency.P50 <= g.Latency.P99 && g.Latency.P99 <= g.Latency.Max, "0 < p50 ≤ p99 ≤ max"},
		{g.Stored == int64(g.Accepted), "stored == accepted"},
		{g.PipelineAccepted == g.Stored, "the pipeline's count == stored"},
		{g.Accepted <= g.Publishing.Published+g.Publishing.Failed+g.Publishing.Unconfirmed, "no more accepted than sent"},
		{g.Refused == 0 && g.Quarantined == 0, "nothing refused or quarantined"},
		{g.Memory.Peak > 0 && g.Memory.Idle > 0, "resident memory measured"},
		{g.CPU.ThisProcess > 0 && g.CPU.Machine > 0, "CPU measured"},
		{len(r.LoadStart) == 3 && len(r.LoadEnd) == 3, "load averages recorded"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not so in\n%s", c.what, out)
		}
	}
}
