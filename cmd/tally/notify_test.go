package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSystemdNotify runs the daemon as systemd would with Type=notify and
// WatchdogSec: it must send READY=1 once it takes readings, WATCHDOG=1
// pings at half the interval, and STOPPING=1 when told to stop.
func TestSystemdNotify(t *testing.T) {
	cfg, dir := gateway(t, "")
	mustTally(t, "keygen", "--config", cfg, "--data", dir)
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cmd := exec.Command(binary(t), "run", "--config", cfg, "--data", dir)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	var got []string
	buf := make([]byte, 256)
	deadline := time.Now().Add(10 * time.Second)
	watchdogs := 0
	for watchdogs < 3 && time.Now().Before(deadline) {
		conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("notifications so far %q: %v\n%s", got, err, logs.String())
		}
		msg := string(buf[:n])
		got = append(got, msg)
		if msg == "WATCHDOG=1" {
			watchdogs++
		}
	}
	if len(got) == 0 || got[0] != "READY=1" || watchdogs < 3 {
		t.Fatalf("notifications %q: want READY=1 first, then WATCHDOG=1 pings", got)
	}
	cmd.Process.Signal(os.Interrupt)
	sawStopping := false
	for time.Now().Before(deadline) && !sawStopping {
		conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			break
		}
		sawStopping = strings.HasPrefix(string(buf[:n]), "STOPPING=1")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, logs.String())
	}
	if !sawStopping {
		t.Fatal("no STOPPING=1 at shutdown")
	}
}
