package nmea

import (
	"bytes"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors"
)

var errorClasses = []string{ClassFraming, ClassTooLong, ClassChecksum, ClassNoChecksum, ClassFields, ClassSyntax, ClassRange}

// captureSeeds returns the distinct lines of every capture.
func captureSeeds(f *testing.F) [][]byte {
	logs, _ := filepath.Glob(filepath.Join(captureDir, "*.log"))
	seen := map[string]bool{}
	var out [][]byte
	for _, p := range logs {
		for _, l := range captureLines(f, p) {
			if !seen[string(l)] {
				seen[string(l)] = true
				out = append(out, l)
			}
		}
	}
	return out
}

func FuzzParseSentence(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.line), false)
	}
	for _, tc := range errorCases {
		f.Add([]byte(tc.line), true)
	}
	for _, l := range captureSeeds(f) {
		f.Add(l, false)
	}
	f.Fuzz(func(t *testing.T, line []byte, allowNoChecksum bool) {
		s, err := ParseSentence(line, Options{AllowNoChecksum: allowNoChecksum})
		if err != nil {
			var se *SentenceError
			if !errors.As(err, &se) || !slices.Contains(errorClasses, se.Class) {
				t.Fatalf("error %T %v has no known class", err, err)
			}
			if se.Reason == "" || len(se.Reason) > 200 {
				t.Fatalf("reason %q", se.Reason)
			}
			return
		}
		if len(s.Raw) == 0 || s.Raw[0] != '$' || len(s.Raw) > MaxLineLen || !bytes.Contains(line, s.Raw) {
			t.Fatalf("raw %q of line %q", s.Raw, line)
		}
		if s.Has(FieldPosition) && (!s.Valid || !(math.Abs(s.Lat) <= 90) || !(math.Abs(s.Lon) <= 180)) {
			t.Fatalf("position %v,%v valid %v", s.Lat, s.Lon, s.Valid)
		}
		if s.Has(FieldSpeed) && !(s.SpeedMPS >= 0 && s.SpeedMPS <= maxSpeedMPS) {
			t.Fatalf("speed %v", s.SpeedMPS)
		}
		if s.Has(FieldCourse) && !(s.CourseDeg >= 0 && s.CourseDeg <= 360) {
			t.Fatalf("course %v", s.CourseDeg)
		}
		if s.Has(FieldAltitude) && !(s.AltMSL >= minAltM && s.AltMSL <= maxAltM) {
			t.Fatalf("altitude %v", s.AltMSL)
		}
		if s.Has(FieldTime) && (s.Time < 0 || s.Time >= 24*time.Hour+time.Second) {
			t.Fatalf("time %v", s.Time)
		}
	})
}

func FuzzDecoder(f *testing.F) {
	// Captures in chunks of 40 lines: whole files make slow inputs.
	logs, _ := filepath.Glob(filepath.Join(captureDir, "*.log"))
	for _, p := range logs {
		lines := captureLines(f, p)
		for chunk := range slices.Chunk(lines, 40) {
			f.Add(bytes.Join(chunk, []byte{'\n'}))
		}
	}
	var table []byte
	for _, tc := range parseCases {
		table = append(table, tc.line+"\n"...)
	}
	for _, tc := range errorCases {
		table = append(table, tc.line+"\n"...)
	}
	f.Add(table)
	f.Fuzz(func(t *testing.T, input []byte) {
		d := NewDecoder("gps0", Options{BuildTime: captureBuildTime})
		recv := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
		var rs []sensors.Reading
		for line := range bytes.SplitSeq(input, []byte{'\n'}) {
			out, err := d.Decode(line, recv)
			if err != nil && len(out) > 0 {
				t.Fatalf("readings and an error from %q", line)
			}
			rs = append(rs, out...)
		}
		rs = append(rs, d.Flush()...)
		for _, r := range rs {
			if r.Sensor != "gps0" || r.Time.IsZero() != (r.Clock == "") || len(r.Raw) == 0 {
				t.Fatalf("reading %+v", r)
			}
			switch r.Kind {
			case sensors.KindStatus:
				if ev := r.Data["event"]; ev != EventFixLost && ev != EventFixRegained {
					t.Fatalf("status %v", r.Data)
				}
			case sensors.KindGPS:
				lat, ok1 := r.Data["lat"].(float64)
				lon, ok2 := r.Data["lon"].(float64)
				if !ok1 || !ok2 || !(math.Abs(lat) <= 90) || !(math.Abs(lon) <= 180) {
					t.Fatalf("position %v", r.Data)
				}
				if _, ok := r.Data["fix"].(string); !ok {
					t.Fatalf("fix %v", r.Data)
				}
				if n, ok := r.Data["sats"]; ok {
					if _, ok := n.(int64); !ok {
						t.Fatalf("sats %T", n)
					}
				}
			default:
				t.Fatalf("kind %q", r.Kind)
			}
		}
		st := d.Stats()
		if st.Positions+st.Status != uint64(len(rs)) {
			t.Fatalf("stats %+v for %d readings", st, len(rs))
		}
	})
}
