package nmea

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestCaptureGolden pins everything the decoder makes of each capture
// (readings, fix kinds, status events, time notes, counters) in
// testdata/golden/NAME.json; regenerate with go test -run Golden -update.
func TestCaptureGolden(t *testing.T) {
	logs, err := filepath.Glob(filepath.Join(captureDir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no captures in %s (err %v): the shared test data is missing", captureDir, err)
	}
	for _, logPath := range logs {
		name := strings.TrimSuffix(filepath.Base(logPath), ".log")
		t.Run(name, func(t *testing.T) {
			readings, stats, errs := decodeCapture(t, logPath, Options{BuildTime: captureBuildTime}, time.Time{})
			// One JSON object per line: the counters, then each reading.
			type entry struct {
				Kind      string         `json:"kind"`
				Time      string         `json:"time,omitempty"`
				Clock     string         `json:"clock,omitempty"`
				Data      map[string]any `json:"data"`
				Sentences int            `json:"sentences"`
			}
			var got bytes.Buffer
			enc := json.NewEncoder(&got)
			header := struct {
				Stats  Stats    `json:"stats"`
				Errors []string `json:"errors"`
			}{stats, errs}
			if err := enc.Encode(header); err != nil {
				t.Fatal(err)
			}
			for _, r := range readings {
				e := entry{Kind: r.Kind, Clock: r.Clock, Data: r.Data, Sentences: bytes.Count(r.Raw, []byte("\r\n")) + 1}
				if !r.Time.IsZero() {
					e.Time = r.Time.Format(time.RFC3339Nano)
				}
				if err := enc.Encode(e); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join("testdata", "golden", name+".jsonl")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run Golden -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("decoded %s differs from %s; if the change is intended, rerun with -update and review the diff", logPath, path)
			}
		})
	}
}
