package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// What the bench reads about processes from Linux's /proc.

// memStatus is a process's resident memory in bytes: now (VmRSS) and the
// peak since the last resetPeak (VmHWM).
type memStatus struct {
	RSS, HWM int64
}

// readMem reads /proc/<pid>/status; pid "self" is this process.
func readMem(pid string) (memStatus, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return memStatus{}, fmt.Errorf("resident memory: %w (the bench needs Linux /proc)", err)
	}
	defer f.Close()
	var m memStatus
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return memStatus{}, fmt.Errorf("resident memory: /proc/%s/status: %s: %q", pid, key, val)
		}
		if key == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.HWM = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return memStatus{}, fmt.Errorf("resident memory: %w", err)
	}
	return m, nil
}

// resetPeak resets this process's VmHWM to its current VmRSS (Linux ≥ 4.0).
func resetPeak() error {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak resident memory: %w", err)
	}
	return nil
}

// cpuTime is the user plus system CPU time a process used so far.
func cpuTime(pid string) (time.Duration, error) {
	if pid == "self" {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0, fmt.Errorf("cpu time: %w", err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
	}
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// the last ')'. utime and stime are fields 14 and 15, in clock ticks
	// (USER_HZ, 100 on Linux).
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("cpu time: /proc/%s/stat: no command name", pid)
	}
	fields := strings.Fields(string(raw[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("cpu time: /proc/%s/stat: %d fields", pid, len(fields))
	}
	var ticks int64
	for _, s := range fields[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time: /proc/%s/stat: %q", pid, s)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// loadAvg returns the 1, 5 and 15 minute load averages, or nil.
func loadAvg() []float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 3 {
		return nil
	}
	out := make([]float64, 3)
	for i := range out {
		if out[i], err = strconv.ParseFloat(fields[i], 64); err != nil {
			return nil
		}
	}
	return out
}

// machineBusy is the CPU time all CPUs spent busy so far (user, nice,
// system, irq, softirq, steal: everything but idle and iowait), from the
// first line of /proc/stat, in clock ticks of 10 ms.
func machineBusy() (time.Duration, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("machine cpu time: %w", err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, fmt.Errorf("machine cpu time: /proc/stat starts with %q", line)
	}
	var ticks int64
	for i, s := range fields[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("machine cpu time: /proc/stat: %q", s)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
