package nmea

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/internal/gpsdcheck"
	"github.com/tallygw/tally/sensors"
)

// captureDir holds gpsd's regression captures (BSD-2-Clause, see COPYING
// there): NAME.log is raw receiver output, NAME.log.chk what gpsd printed
// replaying it.
const captureDir = "../../../shared/testdata/gpsd"

// captureBuildTime pins rollover detection so the test does not depend on
// when it runs: the oldest capture (2008) must stay under 1024 weeks old.
var captureBuildTime = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// captureLines returns the device lines of a capture: '#' comment lines
// dropped, split on '\n' only (CRs stay, as a serial framer may leave them).
func captureLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read capture: %v", err)
	}
	var out [][]byte
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		if bytes.HasPrefix(line, []byte{'#'}) {
			continue
		}
		out = append(out, line)
	}
	return out
}

// decodeCapture runs every line of a capture through a Decoder.
func decodeCapture(t testing.TB, path string, opts Options, recv time.Time) ([]sensors.Reading, Stats, []string) {
	t.Helper()
	d := NewDecoder("gps0", opts)
	var out []sensors.Reading
	var errs []string
	for i, line := range captureLines(t, path) {
		rs, err := d.Decode(line, recv)
		if err != nil {
			errs = append(errs, fmt.Sprintf("line %d: %v", i+1, err))
		}
		out = append(out, rs...)
	}
	out = append(out, d.Flush()...)
	return out, d.Stats(), errs
}

// TestCapturesMatchGpsd replays every gpsd capture and checks each gpsd
// TPV with mode >= 2 and a time against the reading of the same time.
//
// gpsd reports a TPV after each sentence, so one epoch gives several TPVs
// with the same time. Positions must agree with all of them. Altitude,
// speed and track are compared with the last TPV of the epoch: earlier ones
// are partial, and before the epoch's RMC arrives gpsd fills speed with a
// value it derives from successive positions, which is not receiver output.
func TestCapturesMatchGpsd(t *testing.T) {
	logs, err := filepath.Glob(filepath.Join(captureDir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no captures in %s (err %v): the shared test data is missing", captureDir, err)
	}
	for _, logPath := range logs {
		name := strings.TrimSuffix(filepath.Base(logPath), ".log")
		t.Run(name, func(t *testing.T) {
			readings, stats, errs := decodeCapture(t, logPath, Options{BuildTime: captureBuildTime}, time.Time{})
			for _, e := range errs {
				t.Errorf("decode error: %s", e)
			}
			byTime := map[time.Time]sensors.Reading{}
			for _, r := range readings {
				if r.Kind != sensors.KindGPS || r.Time.IsZero() {
					continue
				}
				if _, dup := byTime[r.Time]; dup {
					t.Errorf("two gps readings for %s", r.Time.Format(time.RFC3339Nano))
				}
				byTime[r.Time] = r
			}

			// Group the timed TPVs with a fix by time, in file order.
			var times []string
			groups := map[string][]gpsdcheck.TPV{}
			var untimed []gpsdcheck.TPV
			for _, v := range gpsdcheck.ReadTPVs(t, logPath+".chk") {
				if v.Mode < 2 {
					continue
				}
				if v.Time == "" {
					untimed = append(untimed, v)
					continue
				}
				if _, ok := groups[v.Time]; !ok {
					times = append(times, v.Time)
				}
				groups[v.Time] = append(groups[v.Time], v)
			}

			matched, tpvs := 0, 0
			for _, ts := range times {
				group := groups[ts]
				tpvs += len(group)
				want, err := time.Parse(time.RFC3339Nano, ts)
				if err != nil {
					t.Fatalf("bad gpsd time %q: %v", ts, err)
				}
				r, ok := byTime[want]
				if !ok {
					t.Errorf("%s: gpsd reports a fix (mode %d), decoder has no reading at that time", ts, group[0].Mode)
					continue
				}
				var bad []string
				for _, v := range group {
					bad = append(bad, gpsdcheck.Within(r.Data, "lat", v.Lat, 1e-6)...)
					bad = append(bad, gpsdcheck.Within(r.Data, "lon", v.Lon, 1e-6)...)
				}
				last := group[len(group)-1]
				bad = append(bad, gpsdcheck.Within(r.Data, "alt_m", last.AltMSL, 0.01)...)
				bad = append(bad, gpsdcheck.Within(r.Data, "speed_mps", last.Speed, 0.01)...)
				bad = append(bad, gpsdcheck.Within(r.Data, "course_deg", last.Track, 0.01)...)
				if len(bad) > 0 {
					sort.Strings(bad)
					t.Errorf("%s: %s\n\traw: %q", ts, strings.Join(dedupe(bad), "; "), r.Raw)
					continue
				}
				matched += len(group)
				delete(byTime, want)
			}
			t.Logf("%s: %d of %d timed gpsd TPVs with a fix match (%d epochs); stats %+v",
				name, matched, tpvs, len(times), stats)

			// The other direction: every timed reading gpsd has no TPV for
			// must be one of the known, explained epochs.
			for ts, r := range byTime {
				key := ts.Format(time.RFC3339Nano)
				if why, ok := gpsdcheck.SilentEpochs[name][key]; ok {
					t.Logf("reading at %s has no timed gpsd TPV: %s", key, why)
					continue
				}
				t.Errorf("reading at %s has no timed gpsd TPV and no known reason: %q", key, r.Raw)
			}
			// Untimed TPVs with a fix: their position must be in a reading,
			// unless known otherwise.
			for _, v := range untimed {
				if v.Lat == nil || v.Lon == nil {
					continue // gpsd knew the mode (GSA) before any position
				}
				found := false
				for _, r := range readings {
					if r.Kind == sensors.KindGPS && gpsdcheck.Within(r.Data, "lat", v.Lat, 1e-6) == nil &&
						gpsdcheck.Within(r.Data, "lon", v.Lon, 1e-6) == nil {
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

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
