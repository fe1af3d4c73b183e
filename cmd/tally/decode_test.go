package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/internal/gpsdcheck"
	"github.com/tallygw/tally/sensors/nmea"
)

// The shared test data, from this package's directory.
const (
	gpsdDir   = "../../../shared/testdata/gpsd"
	esealFile = "../../../shared/testdata/eseal/eseal_messages.txt"
)

// decodeRun is one run of `tally decode`: its readings (stdout, one JSON
// object a line) and the summary it printed last on stderr.
type decodeRun struct {
	readings               []map[string]any
	stdout, stderr         string
	summary                string // the summary line
	lines, total, rejected int    // its numbers
}

var summaryRE = regexp.MustCompile(`(?m)^decode: (\d+) lines, (\d+) readings, (\d+) rejected$`)

// decode runs the real binary and parses what it printed. It fails the test
// unless the command exits 0, every stdout line is a JSON object and the
// summary's reading count is the number of those lines.
func decode(t *testing.T, args ...string) decodeRun {
	t.Helper()
	r := tally(t, append([]string{"decode"}, args...)...)
	if r.code != 0 {
		t.Fatalf("tally decode %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	d := decodeRun{stdout: r.stdout, stderr: r.stderr}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stdout line is not a JSON object: %q: %v", sc.Text(), err)
		}
		d.readings = append(d.readings, m)
	}
	m := summaryRE.FindAllStringSubmatch(r.stderr, -1)
	if len(m) != 1 {
		t.Fatalf("want one summary line on stderr, got %d:\n%s", len(m), r.stderr)
	}
	d.summary = m[0][0]
	d.lines, _ = strconv.Atoi(m[0][1])
	d.total, _ = strconv.Atoi(m[0][2])
	d.rejected, _ = strconv.Atoi(m[0][3])
	if d.total != len(d.readings) {
		t.Fatalf("summary %q, but stdout has %d readings", d.summary, len(d.readings))
	}
	return d
}

// badNMEALine reports whether a capture line is one the nmea decoder must
// reject, by the rules of NMEA 0183 as the decoder applies them: junk
// before '$', a wrong or malformed checksum, a standard sentence without a
// checksum, a line longer than nmea.MaxLineLen. Blank lines and proprietary
// sentences without a checksum are ignored, not rejected.
func badNMEALine(line string) bool {
	s := strings.TrimSpace(line)
	if s == "" {
		return false
	}
	if len(s) > nmea.MaxLineLen || (s[0] != '$' && s[0] != '!') {
		return true
	}
	star := strings.LastIndexByte(s, '*')
	if star < 0 {
		return !strings.HasPrefix(s, "$P")
	}
	want, err := strconv.ParseUint(s[star+1:], 16, 8)
	if err != nil || len(s)-star-1 != 2 {
		return true
	}
	var sum byte
	for i := 1; i < star; i++ {
		sum ^= s[i]
	}
	return sum != byte(want)
}

// TestDecodeGpsdCaptures decodes every gpsd capture with the real binary and
// checks the readings against what gpsd itself reported (the .chk files):
// every gpsd fix time is a reading time, positions agree with every TPV of
// the epoch to 1e-6 degrees, altitude, speed and course with its last TPV.
func TestDecodeGpsdCaptures(t *testing.T) {
	logs, err := filepath.Glob(filepath.Join(gpsdDir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no captures in %s (err %v): the shared test data is missing", gpsdDir, err)
	}
	// The binary's week-rollover reference is the later of its build time
	// and the wall clock (decode passes time.Now() as the receive time); an
	// epoch that old is correctly reported without a time. Today no capture
	// is, but the oldest (2008-08) becomes one in early 2028.
	now := time.Now()
	for _, logPath := range logs {
		name := strings.TrimSuffix(filepath.Base(logPath), ".log")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			var fileLines, badLines int
			for l := range strings.SplitSeq(strings.TrimSuffix(string(raw), "\n"), "\n") {
				fileLines++
				l = strings.TrimSuffix(l, "\r") // as bufio.ScanLines does
				if !isComment([]byte(l)) && badNMEALine(l) {
					badLines++
				}
			}
			d := decode(t, "--driver", "nmea", logPath)
			if d.lines != fileLines {
				t.Errorf("summary %q: the file has %d lines", d.summary, fileLines)
			}
			if badLines == 0 && d.rejected != 0 {
				t.Errorf("summary %q: the capture has no bad line, want 0 rejected\n%s", d.summary, d.stderr)
			}
			if badLines > 0 && d.rejected < badLines {
				t.Errorf("summary %q: the capture has %d bad lines", d.summary, badLines)
			}

			byTime := map[time.Time]map[string]any{}
			var untimedGPS []map[string]any
			for _, r := range d.readings {
				if r["kind"] != "gps" {
					continue
				}
				if r["sensor"] != "nmea" {
					t.Errorf("reading sensor %v, want the driver name nmea", r["sensor"])
				}
				ts, ok := r["time"].(string)
				if !ok {
					untimedGPS = append(untimedGPS, r)
					continue
				}
				tm, err := time.Parse(time.RFC3339Nano, ts)
				if err != nil || !strings.HasSuffix(ts, "Z") {
					t.Fatalf("reading time %q is not RFC 3339 UTC: %v", ts, err)
				}
				if r["clock"] != "gps" {
					t.Errorf("reading at %s: clock %v, want gps", ts, r["clock"])
				}
				if _, dup := byTime[tm]; dup {
					t.Errorf("two gps readings at %s", ts)
				}
				byTime[tm] = r
			}

			// gpsd's timed TPVs with a fix, grouped by time in file order.
			var times []string
			groups := map[string][]gpsdcheck.TPV{}
			var untimed []gpsdcheck.TPV
			for _, v := range gpsdcheck.ReadTPVs(t, logPath+".chk") {
				switch {
				case v.Mode < 2:
				case v.Time == "":
					untimed = append(untimed, v)
				default:
					if _, ok := groups[v.Time]; !ok {
						times = append(times, v.Time)
					}
					groups[v.Time] = append(groups[v.Time], v)
				}
			}
			if len(times) == 0 {
				t.Fatalf("%s.chk has no timed TPV with a fix", name)
			}
			matched := 0
			for _, ts := range times {
				group := groups[ts]
				want, err := time.Parse(time.RFC3339Nano, ts)
				if err != nil {
					t.Fatalf("bad gpsd time %q: %v", ts, err)
				}
				last := group[len(group)-1]
				if age := now.Sub(want); age > nmea.RolloverAge-24*time.Hour {
					if age < nmea.RolloverAge+24*time.Hour {
						t.Logf("%s: within a day of the rollover horizon; not checked", ts)
						continue
					}
					// Indistinguishable from a week rollover: the reading must
					// be there, untimed and saying why.
					found := false
					for _, r := range untimedGPS {
						if r["time_note"] == nmea.NoteRollover && gpsdcheck.Within(r, "lat", last.Lat, 1e-6) == nil && gpsdcheck.Within(r, "lon", last.Lon, 1e-6) == nil {
							found = true
						}
					}
					if !found {
						t.Errorf("%s is over %v old: want an untimed reading noting %q at gpsd's position", ts, nmea.RolloverAge, nmea.NoteRollover)
					}
					continue
				}
				r, ok := byTime[want]
				if !ok {
					t.Errorf("%s: gpsd reports a fix (mode %d), tally decode has no reading at that time", ts, group[0].Mode)
					continue
				}
				var bad []string
				for _, v := range group {
					bad = append(bad, gpsdcheck.Within(r, "lat", v.Lat, 1e-6)...)
					bad = append(bad, gpsdcheck.Within(r, "lon", v.Lon, 1e-6)...)
				}
				bad = append(bad, gpsdcheck.Within(r, "alt_m", last.AltMSL, 0.01)...)
				bad = append(bad, gpsdcheck.Within(r, "speed_mps", last.Speed, 0.01)...)
				bad = append(bad, gpsdcheck.Within(r, "course_deg", last.Track, 0.01)...)
				if len(bad) > 0 {
					sort.Strings(bad)
					t.Errorf("%s: %s", ts, strings.Join(bad, "; "))
					continue
				}
				matched++
				delete(byTime, want)
			}
			t.Logf("%s: %d of %d gpsd fix epochs match; %s", name, matched, len(times), d.summary)

			// Every timed reading gpsd has no TPV for is a known epoch.
			for tm, r := range byTime {
				key := tm.UTC().Format(time.RFC3339Nano)
				if why, ok := gpsdcheck.SilentEpochs[name][key]; ok {
					t.Logf("reading at %s has no timed gpsd TPV: %s", key, why)
					continue
				}
				t.Errorf("reading at %s has no timed gpsd TPV and no known reason: %v", key, r)
			}
			// Untimed TPVs with a position: in some reading, unless known.
			for _, v := range untimed {
				if v.Lat == nil || v.Lon == nil {
					continue
				}
				found := false
				for _, r := range d.readings {
					if r["kind"] == "gps" && gpsdcheck.Within(r, "lat", v.Lat, 1e-6) == nil && gpsdcheck.Within(r, "lon", v.Lon, 1e-6) == nil {
						found = true
						break
					}
				}
				key := fmt.Sprintf("%.9f,%.9f", *v.Lat, *v.Lon)
				why, known := gpsdcheck.NoFixPositions[name][key]
				switch {
				case !found && known:
					t.Logf("untimed gpsd TPV at %s has no reading: %s", key, why)
				case !found:
					t.Errorf("untimed gpsd TPV (mode %d) at %s has no reading at that position", v.Mode, key)
				case known:
					t.Errorf("untimed gpsd TPV at %s was expected to have no reading (%s), but has one", key, why)
				}
			}
		})
	}
}

// TestDecodeCountsBadLines corrupts one checksum in a real capture: that
// line, and only it, is rejected, named by its line number on stderr (and
// not listed with -q).
func TestDecodeCountsBadLines(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(gpsdDir, "sirfstarv-nmea.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	bad := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "$GPGGA,") {
			bad = i
			break
		}
	}
	if bad < 0 {
		t.Fatal("no GGA in the capture")
	}
	orig := strings.TrimRight(lines[bad], "\r")
	// Flip one digit of the latitude: the checksum no longer matches.
	i := strings.IndexAny(orig[7:], "0123456789") + 7
	c := byte('0')
	if orig[i] == '0' {
		c = '1'
	}
	lines[bad] = orig[:i] + string(c) + orig[i+1:]
	if !badNMEALine(lines[bad]) {
		t.Fatalf("corrupted line %q still checks", lines[bad])
	}
	path := filepath.Join(t.TempDir(), "corrupt.log")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	good := decode(t, "--driver", "nmea", filepath.Join(gpsdDir, "sirfstarv-nmea.log"))
	d := decode(t, "--driver", "nmea", path)
	if d.rejected != 1 {
		t.Fatalf("summary %q, want 1 rejected", d.summary)
	}
	if want := fmt.Sprintf("line %d: bad checksum", bad+1); !strings.Contains(d.stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, d.stderr)
	}
	if len(d.readings) > len(good.readings) || len(d.readings) < len(good.readings)-1 {
		t.Errorf("%d readings with one bad GGA, %d without", len(d.readings), len(good.readings))
	}
	q := decode(t, "-q", "--driver", "nmea", path)
	if q.rejected != 1 || strings.Contains(q.stderr, "bad checksum") {
		t.Errorf("with -q stderr should hold the summary only:\n%s", q.stderr)
	}
}

// TestDecodeESeal decodes the real e-seal messages: one reading per report
// message (with a date and time), none for the device's replies to
// commands, in file order.
func TestDecodeESeal(t *testing.T) {
	raw, err := os.ReadFile(esealFile)
	if err != nil {
		t.Fatal(err)
	}
	type report struct{ sealID, time, door string }
	var want []report
	dateRE := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	for l := range strings.SplitSeq(string(raw), "\n") {
		l = strings.TrimRight(l, "\r")
		if !strings.HasPrefix(l, "##S,") {
			continue
		}
		// ##S,<devtype>,<deviceId>,<customerId>,<fw>,<type>,<index>,<date>,<time>,
		//   <interval>,<A|V>,<lat lon>,<course>,<speed>,<door>,...
		f := strings.Split(l, ",")
		if len(f) > 14 && dateRE.MatchString(f[7]) {
			want = append(want, report{sealID: f[2], time: f[7] + "T" + f[8] + "Z", door: f[14]})
		}
	}
	if len(want) < 2 {
		t.Fatalf("only %d report messages in %s", len(want), esealFile)
	}
	d := decode(t, "--driver", "eseal", esealFile)
	if d.rejected != 0 {
		t.Errorf("summary %q, want 0 rejected", d.summary)
	}
	if len(d.readings) != len(want) {
		t.Fatalf("%d readings, want one per report message (%d):\n%s", len(d.readings), len(want), d.stdout)
	}
	states := map[string]string{"Close": "sealed", "Open": "opened"}
	for i, r := range d.readings {
		w := want[i]
		if r["kind"] != "seal" || r["seal_id"] != w.sealID || r["time"] != w.time || r["clock"] != "device" {
			t.Errorf("reading %d: kind %v seal_id %v time %v clock %v, want seal %s %s device",
				i, r["kind"], r["seal_id"], r["time"], r["clock"], w.sealID, w.time)
		}
		if r["state"] != states[w.door] {
			t.Errorf("reading %d: door %s gave state %v, want %s", i, w.door, r["state"], states[w.door])
		}
		if id, _ := r["msg_id"].(string); !strings.HasPrefix(id, w.sealID+":") {
			t.Errorf("reading %d: msg_id %q does not name seal %s", i, id, w.sealID)
		}
	}
}

// TestDecodeLinesFromConfig decodes a thermometer capture with the pattern
// of a sensor in a config file: good lines become readings, a line that
// does not match and a value out of range are rejected with their reason.
func TestDecodeLinesFromConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tally.yaml")
	os.WriteFile(cfg, []byte(`gateway:
  id: gw-lines
sensors:
  - id: hold-thermo
    driver: lines
    serial:
      port: /dev/ttyUSB7
    lines:
      pattern: '^T=(?P<t>[-+]?\d+(?:\.\d+)?)C$'
      kind: temperature
      fields:
        t: {name: celsius, min: -60, max: 80}
`), 0o644)
	capture := filepath.Join(dir, "thermo.txt")
	os.WriteFile(capture, []byte("# thermometer on the hold, 9600 8N1\r\nT=+23.5C\r\nT=-18.3C\r\nNOISE@@\r\nT=99.0C\r\n\r\nT=+0004.0C\r\n"), 0o644)

	d := decode(t, "--config", cfg, "--sensor", "hold-thermo", capture)
	want := []float64{23.5, -18.3, 4}
	if len(d.readings) != len(want) {
		t.Fatalf("%d readings, want %d:\n%s", len(d.readings), len(want), d.stdout)
	}
	for i, r := range d.readings {
		if r["sensor"] != "hold-thermo" || r["kind"] != "temperature" || r["celsius"] != want[i] {
			t.Errorf("reading %d: %v, want hold-thermo temperature celsius %v", i, r, want[i])
		}
	}
	// Line 6 (blank) is neither a reading nor rejected, as on a live port.
	if d.lines != 7 || d.rejected != 2 {
		t.Errorf("summary %q, want 7 lines and 2 rejected", d.summary)
	}
	for _, w := range []string{`line 4: lines: no match for pattern`, `line 5: lines: field celsius: 99 above max 80`} {
		if !strings.Contains(d.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, d.stderr)
		}
	}

	// The same with --driver lines given too; a wrong driver, a missing
	// sensor and a lines decode without a config are refused.
	if d2 := decode(t, "--driver", "lines", "--config", cfg, "--sensor", "hold-thermo", capture); len(d2.readings) != len(want) {
		t.Errorf("--driver lines --sensor: %d readings", len(d2.readings))
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--driver", "nmea", "--config", cfg, "--sensor", "hold-thermo", capture}, 2, "sensor hold-thermo uses driver lines, not nmea"},
		{[]string{"--config", cfg, "--sensor", "nope", capture}, 1, `no sensor "nope" in ` + cfg},
		{[]string{"--driver", "lines", capture}, 1, "driver lines needs a lines section"},
		{[]string{"--driver", "modbus", capture}, 1, "does not decode text lines"},
	} {
		r := tally(t, append([]string{"decode"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("decode %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.want)
		}
	}
}
