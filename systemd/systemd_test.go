package systemd_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/edge/config"
)

const (
	unitFile = "tally.service"
	// execPath is the binary the unit starts; the tests replace it in a copy.
	execPath = "/usr/local/bin/tally"
	// maxExposure is the highest `systemd-analyze security` exposure level
	// accepted, times ten (the unit scores 1.9 with systemd 252).
	maxExposure = 25
)

const installHint = "apt-get install -y systemd (bash .ci/run deps installs it)"

// systemdAnalyze returns the path of systemd-analyze, failing the test (not
// skipping it) when it is missing.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (%v): %s", err, installHint)
	}
	return p
}

// verifiableCopy writes the unit to a temp dir with ExecStart pointing at a
// stand-in executable there, and returns the copy's path. verify checks that
// the ExecStart binary exists and is executable; it does not check that
// User= exists (systemd 252), so the tally user needs no creating here.
func verifiableCopy(t *testing.T, unit []byte) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "tally")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("ExecStart="+execPath+" ")) {
		t.Fatalf("%s: no ExecStart=%s line to rewrite", unitFile, execPath)
	}
	unit = bytes.ReplaceAll(unit, []byte("ExecStart="+execPath+" "), []byte("ExecStart="+bin+" "))
	path := filepath.Join(dir, unitFile)
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// verify runs `systemd-analyze verify --man=no` on the unit at path and
// returns the lines of its output that are about that unit; other lines
// (about host units it pulls in) are logged. verify exits 0 on warnings such
// as unknown keys, so the output is what tells.
func verify(t *testing.T, path string) (unitLines []string, exitErr error) {
	t.Helper()
	cmd := exec.Command(systemdAnalyze(t), "verify", "--man=no", path)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case line == "":
		case strings.Contains(line, unitFile) || strings.Contains(line, filepath.Dir(path)):
			unitLines = append(unitLines, line)
		default:
			t.Logf("systemd-analyze verify (not about %s): %s", unitFile, line)
		}
	}
	return unitLines, err
}

func readUnit(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerify(t *testing.T) {
	path := verifiableCopy(t, readUnit(t))
	lines, err := verify(t, path)
	if err != nil {
		t.Errorf("systemd-analyze verify %s: %v", unitFile, err)
	}
	for _, l := range lines {
		t.Errorf("systemd-analyze verify: %s", l)
	}
}

// TestVerifyReportsWarnings makes sure TestVerify's "no output" means
// something: on this systemd, an unknown key comes out as a warning.
func TestVerifyReportsWarnings(t *testing.T) {
	unit := bytes.Replace(readUnit(t), []byte("[Service]\n"), []byte("[Service]\nNoSuchSetting=yes\n"), 1)
	lines, _ := verify(t, verifiableCopy(t, unit))
	joined := strings.Join(lines, "\n")
	if !strings.Contains(joined, "NoSuchSetting") {
		t.Fatalf("systemd-analyze verify did not report an unknown key; got %q", joined)
	}
}

// TestSecurityExposure runs the offline `systemd-analyze security` review
// and fails if the unit's exposure level rises above maxExposure/10.
func TestSecurityExposure(t *testing.T) {
	path := verifiableCopy(t, readUnit(t))
	cmd := exec.Command(systemdAnalyze(t), "security", "--offline=true",
		"--threshold="+strconv.Itoa(maxExposure), "--no-pager", path)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_COLORS=0", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	overall := regexp.MustCompile(`Overall exposure level for \S+: [0-9.]+ \S+`).Find(out)
	if overall == nil {
		t.Fatalf("systemd-analyze security printed no overall exposure level: %v\n%s", err, out)
	}
	t.Logf("%s", overall)
	if err != nil {
		t.Errorf("exposure above %d.%d (%v); review:\n%s", maxExposure/10, maxExposure%10, err, out)
	}
}

// unit is a parsed unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, b []byte) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		case section == "":
			t.Fatalf("%s:%d: setting outside a section", unitFile, n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s:%d: not key=value: %q", unitFile, n, line)
			}
			if strings.HasSuffix(v, `\`) {
				t.Fatalf("%s:%d: continuation lines are not supported by this test", unitFile, n)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// one returns the single value of section/key.
func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	vs, ok := u[section][key]
	if !ok {
		t.Errorf("[%s] %s= is missing", section, key)
		return ""
	}
	if len(vs) != 1 {
		t.Errorf("[%s] %s= is set %d times: %q", section, key, len(vs), vs)
	}
	return vs[len(vs)-1]
}

// TestSettings pins what the daemon and the hardening rely on, including
// what verify cannot see (a DeviceAllow= glob on a path is accepted and
// silently does nothing).
func TestSettings(t *testing.T) {
	u := parseUnit(t, readUnit(t))
	want := map[string]string{
		"Type":                    "notify",
		"NotifyAccess":            "main",
		"ExecStart":               execPath + " run --config /etc/tally/tally.yaml",
		"WatchdogSec":             "30s",
		"Restart":                 "on-failure",
		"User":                    "tally",
		"Group":                   "tally",
		"SupplementaryGroups":     "dialout",
		"DynamicUser":             "no",
		"StateDirectory":          "tally",
		"StateDirectoryMode":      "0700",
		"ConfigurationDirectory":  "tally",
		"UMask":                   "0077",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"NoNewPrivileges":         "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"ProtectClock":            "yes",
		"ProtectHostname":         "yes",
		"RestrictNamespaces":      "yes",
		"RestrictRealtime":        "yes",
		"RestrictSUIDSGID":        "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"SystemCallFilter":        "@system-service",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"DevicePolicy":            "closed",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := u["Service"][k]; !ok {
			t.Errorf("[Service] %s=%s is missing", k, want[k])
			continue
		}
		if got := u.one(t, "Service", k); got != want[k] {
			t.Errorf("[Service] %s=%s, want %s=%s", k, got, k, want[k])
		}
	}

	// Serial ports must stay reachable.
	if v, ok := u["Service"]["PrivateDevices"]; ok {
		t.Errorf("[Service] PrivateDevices=%q is set: it hides the serial ports; use DevicePolicy=closed and DeviceAllow=", v)
	}
	allowed := map[string]bool{}
	for _, v := range u["Service"]["DeviceAllow"] {
		spec, access, _ := strings.Cut(v, " ")
		if strings.HasPrefix(spec, "/dev/") && strings.ContainsAny(spec, "*?[") {
			t.Errorf("DeviceAllow=%s: device paths are not globbed; use a device group (char-ttyUSB)", v)
		}
		if strings.TrimSpace(access) == "rw" {
			allowed[spec] = true
		}
	}
	for _, g := range []string{"char-ttyUSB", "char-ttyACM", "char-ttyS", "char-ttyAMA"} {
		if !allowed[g] {
			t.Errorf("DeviceAllow=%s rw is missing", g)
		}
	}

	// The state directory is the daemon's default data_dir, and systemd
	// waits longer than the daemon's own shutdown deadline before SIGKILL.
	var cfg config.Config
	cfg.SetDefaults()
	if got := "/var/lib/" + u.one(t, "Service", "StateDirectory"); got != cfg.DataDir {
		t.Errorf("StateDirectory gives %s but the default data_dir is %s", got, cfg.DataDir)
	}
	stop, err := time.ParseDuration(u.one(t, "Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if def := cfg.Shutdown.Timeout.D(); stop <= def {
		t.Errorf("TimeoutStopSec=%s is not longer than the default shutdown.timeout %s", stop, def)
	}

	if got := u.one(t, "Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("[Install] WantedBy=%s, want multi-user.target", got)
	}
}
