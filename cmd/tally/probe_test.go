package main

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/internal/testpty"
)

// feed writes chunks to the pty master in turn, over and over, one every
// pace, until the returned stop is called. A write that cannot complete (no
// reader for a while) is given up after a second, so stop never hangs.
func feed(t *testing.T, p *testpty.PTY, chunks [][]byte, pace time.Duration) (stop func()) {
	t.Helper()
	quit, done := make(chan struct{}), make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-quit:
				done <- nil
				return
			case <-time.After(pace):
			}
			p.Master.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := p.Master.Write(chunks[i%len(chunks)]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				done <- err
				return
			}
		}
	}()
	return func() {
		close(quit)
		if err := <-done; err != nil {
			t.Errorf("writing to the pty: %v", err)
		}
	}
}

// TestProbeDetectsNMEA runs `tally probe` on a pty while a real GPS capture
// is written into it: it finds the rate at the first try, prints decoded
// fixes as JSON and exits 0 when --for runs out.
func TestProbeDetectsNMEA(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(gpsdDir, "sirfstarv-nmea.log"))
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for l := range strings.SplitSeq(string(raw), "\n") {
		if l = strings.TrimRight(l, "\r"); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, []byte(l+"\r\n"))
		}
	}
	p := testpty.New(t)
	stop := feed(t, p, lines, 10*time.Millisecond)
	start := time.Now()
	r := tally(t, "probe", "--port", p.Path, "--driver", "nmea", "--listen", "700ms", "--for", "3s")
	took := time.Since(start)
	stop()
	if r.code != 0 {
		t.Fatalf("probe: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "trying 4800 baud") {
		t.Errorf("stdout does not say it tried 4800 baud:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "reading "+p.Path+" at 4800 baud with the nmea decoder") {
		t.Errorf("stdout does not say it settled on 4800 baud:\n%s", r.stdout)
	}
	// Every position probe prints is one the offline decoder finds in the
	// capture (the capture loops, so its epochs repeat).
	type pos struct{ lat, lon float64 }
	known := map[pos]bool{}
	for _, rec := range decode(t, "--driver", "nmea", filepath.Join(gpsdDir, "sirfstarv-nmea.log")).readings {
		lat, _ := rec["lat"].(float64)
		lon, _ := rec["lon"].(float64)
		known[pos{lat, lon}] = true
	}
	fixes := 0
	for l := range strings.SplitSeq(r.stdout, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("reading line is not JSON: %q: %v", l, err)
		}
		lat, _ := rec["lat"].(float64)
		lon, _ := rec["lon"].(float64)
		if rec["kind"] != "gps" {
			continue
		}
		if !known[pos{lat, lon}] {
			t.Errorf("probe printed a position tally decode does not find in the capture: %s", l)
		}
		fixes++
	}
	if fixes < 3 {
		t.Errorf("%d gps readings printed, want several:\n%s", fixes, r.stdout)
	}
	if strings.Contains(r.stdout, "rejected: ") {
		t.Errorf("valid capture lines were rejected:\n%s", r.stdout)
	}
	if took > 6*time.Second {
		t.Errorf("probe --for 3s took %v", took)
	}
}

// TestProbeGarbage writes only noise: probe tries every rate, finds nothing
// and exits non-zero with the wiring checklist.
func TestProbeGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var chunks [][]byte
	for range 16 {
		b := make([]byte, 40)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		b[len(b)-1] = '\n' // line ends, as noise at the wrong rate has
		chunks = append(chunks, b)
	}
	p := testpty.New(t)
	stop := feed(t, p, chunks, 10*time.Millisecond)
	// Six rates at 300ms fit in --for 3s.
	r := tally(t, "probe", "--port", p.Path, "--driver", "nmea", "--listen", "300ms", "--for", "3s")
	stop()
	if r.code == 0 {
		t.Fatalf("probe on noise exited 0\nstdout: %s", r.stdout)
	}
	for _, want := range []string{"nothing valid arrived on " + p.Path, "TX and RX", "tally ports"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	for _, b := range []string{"4800", "9600", "38400", "115200", "19200", "57600"} {
		if !strings.Contains(r.stdout, "trying "+b+" baud") {
			t.Errorf("stdout does not show %s baud tried:\n%s", b, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "0 valid") || strings.Contains(r.stdout, "reading "+p.Path) {
		t.Errorf("noise was taken for valid input:\n%s", r.stdout)
	}
}

// TestProbeGarbageUntilDeadline is the same with the flags of the manual
// (--listen 700ms --for 3s): --for runs out before every rate was tried,
// and the technician must still get the checklist, not a bare
// "context deadline exceeded".
func TestProbeGarbageUntilDeadline(t *testing.T) {
	p := testpty.New(t)
	stop := feed(t, p, [][]byte{[]byte("\x00\xff\x13#!~~~\xfe\x80garbage\x01\n")}, 10*time.Millisecond)
	r := tally(t, "probe", "--port", p.Path, "--driver", "nmea", "--listen", "700ms", "--for", "3s")
	stop()
	if r.code == 0 {
		t.Fatalf("probe on noise exited 0\nstdout: %s", r.stdout)
	}
	for _, want := range []string{"nothing valid arrived", "TX and RX"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// TestProbeMissingPort names the port, says it is not there and points at
// tally ports.
func TestProbeMissingPort(t *testing.T) {
	port := filepath.Join(t.TempDir(), "ttyUSB-unplugged")
	r := tally(t, "probe", "--port", port, "--driver", "nmea", "--listen", "700ms", "--for", "3s")
	if r.code == 0 {
		t.Fatalf("probe on a missing port exited 0\nstdout: %s", r.stdout)
	}
	for _, want := range []string{port, "no such device", "tally ports"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if n := len(strings.Split(strings.TrimSpace(r.stderr), "\n")); n != 1 {
		t.Errorf("stderr has %d lines, want one clear error:\n%s", n, r.stderr)
	}
}

// TestPorts lists the machine's serial ports; what is there depends on the
// machine, but the command succeeds and says either.
func TestPorts(t *testing.T) {
	out := mustTally(t, "ports")
	if !strings.HasPrefix(out, "/dev/") && !strings.Contains(out, "no serial ports found") {
		t.Fatalf("tally ports printed neither ports nor advice:\n%s", out)
	}
	if strings.Contains(out, "no serial ports found") && !strings.Contains(out, "dmesg") {
		t.Errorf("no advice on finding the adapter:\n%s", out)
	}
	var ports []struct {
		Path string `json:"path"`
		USB  bool   `json:"usb"`
	}
	if err := json.Unmarshal([]byte(mustTally(t, "ports", "--json")), &ports); err != nil {
		t.Fatalf("ports --json: %v", err)
	}
	for _, p := range ports {
		if !strings.Contains(out, p.Path) {
			t.Errorf("%s is in --json but not in the listing:\n%s", p.Path, out)
		}
	}
}
