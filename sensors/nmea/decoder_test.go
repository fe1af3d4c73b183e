package nmea

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors"
)

var testBuild = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// feed decodes lines (bodies without checksum get one) and flushes.
func feed(t *testing.T, d *Decoder, recv time.Time, lines ...string) []sensors.Reading {
	t.Helper()
	var out []sensors.Reading
	for _, l := range lines {
		if !strings.HasPrefix(l, "$") {
			l = withChecksum(l)
		}
		rs, err := d.Decode([]byte(l), recv)
		if err != nil {
			t.Fatalf("Decode(%q): %v", l, err)
		}
		out = append(out, rs...)
	}
	return append(out, d.Flush()...)
}

func kinds(rs []sensors.Reading) string {
	var s []string
	for _, r := range rs {
		k := r.Kind
		if ev, ok := r.Data["event"]; ok {
			k += ":" + ev.(string)
		}
		s = append(s, k)
	}
	return strings.Join(s, " ")
}

func TestDecoderMergesEpoch(t *testing.T) {
	d := NewDecoder("gps0", Options{BuildTime: testBuild})
	lines := []string{
		"$GPRMC,235724.02,A,4808.9978,N,01135.0800,E,010.0,045.5,060419,003.0,E,A*31",
		"GPVTG,045.5,T,042.5,M,010.0,N,0018.5,K,A",
		"$GPGGA,235724.02,4808.9978,N,01135.0800,E,1,04,01.4,00464.4,M,0046.2,M,,*5D",
		"$GPGSA,A,3,20,,,,31,13,,04,,,,,02.6,01.4,02.1*06",
		"$GPGSV,3,1,12,20,78,050,41,11,72,261,,06,41,278,,14,38,185,*79",
		"$GPGLL,4808.9978,N,01135.0800,E,235724.02,A,A*6B",
	}
	lines[0] = withChecksum(strings.TrimPrefix(lines[0][:strings.IndexByte(lines[0], '*')], "$"))
	var got []sensors.Reading
	for _, l := range lines {
		if !strings.HasPrefix(l, "$") {
			l = withChecksum(l)
		}
		rs, err := d.Decode([]byte(l), time.Time{})
		if err != nil {
			t.Fatalf("Decode(%q): %v", l, err)
		}
		if len(rs) != 0 {
			t.Fatalf("reading before the epoch closed: %v", rs)
		}
	}
	// The next epoch's first sentence closes this one.
	got, err := d.Decode([]byte("$GPRMC,235725.02,A,4808.9977,N,01135.0800,E,000.0,000.0,060419,003.0,E,A*30"), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d readings, want 1: %v", len(got), got)
	}
	r := got[0]
	wantTime := time.Date(2019, 4, 6, 23, 57, 24, 20e6, time.UTC)
	if r.Kind != sensors.KindGPS || r.Sensor != "gps0" || !r.Time.Equal(wantTime) || r.Clock != sensors.ClockGPS {
		t.Errorf("reading = %s %s %v %q, want gps gps0 %v gps", r.Kind, r.Sensor, r.Time, r.Clock, wantTime)
	}
	want := map[string]any{
		"lat": 48 + 8.9978/60, "lon": 11 + 35.08/60, "alt_m": 464.4,
		"speed_mps": 10 * 1852.0 / 3600, "course_deg": 45.5,
		"fix": Fix3D, "sats": int64(4), "hdop": 1.4,
	}
	if len(r.Data) != len(want) {
		t.Errorf("data = %v, want keys of %v", r.Data, want)
	}
	for k, w := range want {
		switch w := w.(type) {
		case float64:
			if g, ok := r.Data[k].(float64); !ok || math.Abs(g-w) > 1e-9 {
				t.Errorf("%s = %v (%T), want %v", k, r.Data[k], r.Data[k], w)
			}
		default:
			if r.Data[k] != w {
				t.Errorf("%s = %v (%T), want %v (%T)", k, r.Data[k], r.Data[k], w, w)
			}
		}
	}
	// Raw: the decoded sentences, GSV left out, joined by CRLF.
	wantRaw := strings.Join([]string{lines[0], withChecksum(lines[1]), lines[2], lines[3], lines[5]}, "\r\n")
	if string(r.Raw) != wantRaw {
		t.Errorf("raw =\n%q\nwant\n%q", r.Raw, wantRaw)
	}
	st := d.Stats()
	if st.Sentences != 6 || st.Unknown != 1 || st.Positions != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestDecoderFixValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"GSA 2D", []string{"GPGGA,120000,4808.9978,N,01135.0800,E,1,04,1.4,464.4,M,46.2,M,,", "GPGSA,A,2,20,31,13,,,,,,,,,,2.6,1.4,2.1"}, Fix2D},
		{"altitude without GSA", []string{"GPGGA,120000,4808.9978,N,01135.0800,E,1,04,1.4,464.4,M,46.2,M,,"}, Fix3D},
		{"no altitude, no GSA", []string{"GPGLL,4808.9978,N,01135.0800,E,120000,A,A"}, Fix2D},
		{"DGPS", []string{"GPGGA,120000,4808.9978,N,01135.0800,E,2,04,1.4,464.4,M,46.2,M,,"}, FixDGPS},
		{"SBAS 9", []string{"GPGGA,120000,4808.9978,N,01135.0800,E,9,04,1.4,464.4,M,46.2,M,,"}, FixDGPS},
		{"RTK fixed", []string{"GNGGA,120000,4808.9978,N,01135.0800,E,4,14,0.7,464.4,M,46.2,M,1.0,0002"}, FixRTKFixed},
		{"RTK float", []string{"GNGGA,120000,4808.9978,N,01135.0800,E,5,14,0.7,464.4,M,46.2,M,1.0,0002"}, FixRTKFloat},
		{"RTK from RMC mode", []string{"GNRMC,120000,A,4808.9978,N,01135.0800,E,0.0,,060419,,,R,V"}, FixRTKFixed},
		{"GGA quality beats RMC mode", []string{"GNRMC,120000,A,4808.9978,N,01135.0800,E,0.0,,060419,,,D,V", "GNGGA,120000,4808.9978,N,01135.0800,E,5,14,0.7,464.4,M,46.2,M,1.0,0002"}, FixRTKFloat},
		{"PPS is a plain fix", []string{"GPGGA,120000,4808.9978,N,01135.0800,E,3,04,1.4,464.4,M,46.2,M,,"}, Fix3D},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := feed(t, NewDecoder("gps0", Options{}), time.Time{}, tc.lines...)
			if len(rs) != 1 || rs[0].Data["fix"] != tc.want {
				t.Fatalf("readings %v, want one with fix %q", rs, tc.want)
			}
		})
	}
}

func TestDecoderSats(t *testing.T) {
	// u-blox caps GGA at 12; the GSA sentences list 25 distinct satellites
	// (Galileo and BeiDou share numbers 27 and 30, told apart by system id).
	rs := feed(t, NewDecoder("gps0", Options{}), time.Time{},
		"$GNGGA,223745.00,3806.62964,N,12237.61382,W,2,12,0.54,83.1,M,-29.5,M,,0000*44",
		"$GNGSA,A,3,29,20,18,16,51,13,44,26,,,,,0.99,0.54,0.83,1*0E",
		"$GNGSA,A,3,82,73,74,67,81,83,68,,,,,,0.99,0.54,0.83,2*08",
		"$GNGSA,A,3,03,05,30,27,15,,,,,,,,0.99,0.54,0.83,3*0D",
		"$GNGSA,A,3,32,28,30,33,27,,,,,,,,0.99,0.54,0.83,4*03",
	)
	if len(rs) != 1 || rs[0].Data["sats"] != int64(25) {
		t.Fatalf("sats = %v, want 25", rs[0].Data["sats"])
	}
	// Per-constellation GGAs without GSA: the largest count.
	rs = feed(t, NewDecoder("gps0", Options{}), time.Time{},
		"$GPGGA,020935.000,4404.1351,N,12118.8556,W,1,08,0.9,1123.9,M,-19.6,M,,0000*5E",
		"$GLGGA,020935.000,4404.1351,N,12118.8556,W,1,02,0.9,1123.9,M,-19.6,M,,0000*48",
	)
	if len(rs) != 1 || rs[0].Data["sats"] != int64(8) {
		t.Fatalf("sats = %v, want 8", rs[0].Data["sats"])
	}
}

func TestDecoderFixLostRegained(t *testing.T) {
	d := NewDecoder("gps0", Options{BuildTime: testBuild})
	valid := func(ts string) string {
		return fmt.Sprintf("GNRMC,%s,A,5541.1973,N,03737.2934,E,0.40,342.94,260514,,,A", ts)
	}
	noFix := func(ts string) string { return fmt.Sprintf("GNRMC,%s,V,,,,,0.00,340.16,260514,,,N", ts) }
	rs := feed(t, d, time.Time{},
		noFix("081400.000"), // power-up: no fix, no event (nothing was lost)
		valid("081401.000"), // first fix: regained
		valid("081402.000"),
		noFix("081403.000"), // lost
		noFix("081404.000"),
		valid("081405.000"), // regained
	)
	if got, want := kinds(rs), "status:fix_regained gps gps status:fix_lost status:fix_regained gps"; got != want {
		t.Fatalf("readings: %s\nwant      %s", got, want)
	}
	lost := rs[3]
	if lost.Data["fix"] != FixNone || !lost.Time.IsZero() || lost.Clock != "" || !bytes.Contains(lost.Raw, []byte("081403.000")) {
		t.Errorf("fix_lost reading = %+v", lost)
	}
	regained := rs[4]
	if regained.Data["fix"] != Fix2D || !regained.Time.Equal(time.Date(2014, 5, 26, 8, 14, 5, 0, time.UTC)) {
		t.Errorf("fix_regained reading = %+v", regained)
	}
	if st := d.Stats(); st.Status != 3 || st.Positions != 3 {
		t.Errorf("stats %+v", st)
	}

	// Starting with a fix gives no event.
	rs = feed(t, NewDecoder("gps0", Options{}), time.Time{}, valid("081401.000"))
	if got := kinds(rs); got != "gps" {
		t.Errorf("readings: %s, want gps", got)
	}
}

func TestDecoderTimeNeedsDate(t *testing.T) {
	d := NewDecoder("gps0", Options{BuildTime: testBuild})
	rs := feed(t, d, time.Time{},
		"$GPGLL,4808.9977,N,01135.0800,E,235723.02,A,A*63", // no date yet
		"GPGGA,235724.02,4808.9978,N,01135.0800,E,1,04,01.4,00464.4,M,0046.2,M,,",
		"GPZDA,235724.02,06,04,2019,,",                                            // date in the same epoch: used
		"GPGGA,235725.02,4808.9978,N,01135.0800,E,1,04,01.4,00464.4,M,0046.2,M,,", // carried over
		"GPGGA,235959.50,4808.9978,N,01135.0800,E,1,04,01.4,00464.4,M,0046.2,M,,",
		"GPGGA,000000.50,4808.9978,N,01135.0800,E,1,04,01.4,00464.4,M,0046.2,M,,", // past midnight
		"GPGGA,000001.50,4808.9978,N,01135.0800,E,1,04,01.4,00464.4,M,0046.2,M,,",
	)
	want := []string{
		"0001-01-01T00:00:00Z " + NoteDateUnknown,
		"2019-04-06T23:57:24.02Z",
		"2019-04-06T23:57:25.02Z",
		"2019-04-06T23:59:59.5Z",
		"2019-04-07T00:00:00.5Z",
		"2019-04-07T00:00:01.5Z",
	}
	if len(rs) != len(want) {
		t.Fatalf("got %d readings, want %d", len(rs), len(want))
	}
	for i, r := range rs {
		got := r.Time.Format(time.RFC3339Nano)
		if n, ok := r.Data["time_note"]; ok {
			got += " " + n.(string)
		}
		if got != want[i] {
			t.Errorf("reading %d: time %s, want %s", i, got, want[i])
		}
		if r.Time.IsZero() != (r.Clock == "") {
			t.Errorf("reading %d: time %v with clock %q", i, r.Time, r.Clock)
		}
	}
}

func TestDecoderCarryDateRefused(t *testing.T) {
	gga := func(ts string) string {
		return "GPGGA," + ts + ",4808.9978,N,01135.0800,E,1,04,01.4,00464.4,M,0046.2,M,,"
	}
	rmc := "GPRMC,120000.00,A,4808.9978,N,01135.0800,E,000.0,000.0,060419,003.0,E,A"
	recv := time.Date(2019, 4, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		ts    string
		recv  time.Time // of the GGA epoch
		trust bool
	}{
		{"a second later", "120001.00", recv.Add(time.Second), true},
		{"an hour later", "130000.00", recv.Add(time.Hour), true},
		{"two hours later", "140000.00", recv.Add(2 * time.Hour), false},
		{"earlier", "110000.00", recv.Add(time.Second), false},
		{"receiver off for three days", "120001.00", recv.Add(72 * time.Hour), false},
		{"no receive times", "120001.00", time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder("gps0", Options{BuildTime: testBuild})
			r0 := recv
			if tc.recv.IsZero() {
				r0 = time.Time{}
			}
			if _, err := d.Decode([]byte(withChecksum(rmc)), r0); err != nil {
				t.Fatal(err)
			}
			rs, err := d.Decode([]byte(withChecksum(gga(tc.ts))), tc.recv)
			if err != nil || len(rs) != 1 {
				t.Fatalf("first epoch: %v %v", rs, err)
			}
			rs = d.Flush()
			if len(rs) != 1 {
				t.Fatalf("got %d readings", len(rs))
			}
			if trusted := !rs[0].Time.IsZero(); trusted != tc.trust {
				t.Errorf("time %v (note %v), want trusted %v", rs[0].Time, rs[0].Data["time_note"], tc.trust)
			}
		})
	}
}

func TestDecoderIgnoresDateOfInvalidRMC(t *testing.T) {
	// MediaTek without a fix reports 1980-01-05; that date must not carry
	// over to a later GGA-only epoch.
	rs := feed(t, NewDecoder("gps0", Options{BuildTime: testBuild}), time.Time{},
		"$GPRMC,235946.005,V,8960.000000,N,00000.000000,E,0.000,0.00,050180,,,N*47",
		"GPGGA,235947.000,5212.982135,N,00653.101394,E,1,3,2.88,102.907,M,47.093,M,,",
	)
	if kinds(rs) != "status:fix_regained gps" || !rs[1].Time.IsZero() || rs[1].Data["time_note"] != NoteDateUnknown {
		t.Fatalf("readings %+v, want fix_regained and a position without time (date unknown)", rs)
	}
}

func TestDecoderWeekRollover(t *testing.T) {
	// A receiver hit by the 2019 rollover reports 1999-08-22 for
	// 2019-04-07 (1024 weeks earlier).
	lines := []string{
		"GPRMC,000010.00,A,4808.9978,N,01135.0800,E,000.0,000.0,220899,003.0,E,A",
		"GPGGA,000010.00,4808.9978,N,01135.0800,E,1,04,01.4,00464.4,M,0046.2,M,,",
	}
	trueTime := time.Date(2019, 4, 7, 0, 0, 10, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		build time.Time
		recv  time.Time
	}{
		{"relative to receive time", time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC), trueTime.Add(time.Second)},
		{"receive time a bit slow", time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC), trueTime.Add(-7 * 24 * time.Hour)},
		{"relative to build time", testBuild, time.Time{}},
		{"gateway clock unset (1970)", testBuild, time.Unix(0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := feed(t, NewDecoder("gps0", Options{BuildTime: tc.build}), tc.recv, lines...)
			if len(rs) != 1 {
				t.Fatalf("got %d readings", len(rs))
			}
			r := rs[0]
			if !r.Time.IsZero() || r.Clock != "" || r.Data["time_note"] != NoteRollover {
				t.Errorf("time %v clock %q note %v, want zero time and %q", r.Time, r.Clock, r.Data["time_note"], NoteRollover)
			}
			if _, ok := r.Data["lat"]; !ok {
				t.Errorf("position missing: %v", r.Data)
			}
		})
	}

	// The same date is trusted when nothing says it is 19.6 years old.
	rs := feed(t, NewDecoder("gps0", Options{BuildTime: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}), time.Time{}, lines...)
	if len(rs) != 1 || !rs[0].Time.Equal(time.Date(1999, 8, 22, 0, 0, 10, 0, time.UTC)) {
		t.Errorf("readings %+v, want time 1999-08-22T00:00:10Z", rs)
	}
}

// TestCaptureWeekRollover replays gp-320fw-2019-04-06-overflow, the capture
// of a receiver spoofed to 2019-04-06, just after the April 2019 rollover,
// which (not having restarted) still reports the right date. gpsd reports
// 2019-04-06 times, and so must the decoder, whatever the receive time.
// Shifting its dates back 1024 weeks gives what an affected receiver
// reports; those must not be trusted.
func TestCaptureWeekRollover(t *testing.T) {
	path := filepath.Join(captureDir, "gp-320fw-2019-04-06-overflow.log")
	first := time.Date(2019, 4, 6, 23, 57, 24, 20e6, time.UTC)

	for _, recv := range []time.Time{{}, first.Add(time.Second), time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)} {
		rs, _, errs := decodeCapture(t, path, Options{BuildTime: testBuild}, recv)
		if len(errs) > 0 {
			t.Fatalf("errors: %v", errs)
		}
		timed := 0
		for _, r := range rs {
			if r.Data["time_note"] == NoteRollover {
				t.Fatalf("recv %v: rollover suspected on a correct date: %+v", recv, r)
			}
			if !r.Time.IsZero() {
				timed++
				if r.Time.Before(first) || r.Time.After(first.Add(time.Minute)) {
					t.Errorf("recv %v: time %v outside the capture", recv, r.Time)
				}
			}
		}
		if timed != 20 {
			t.Errorf("recv %v: %d timed readings, want 20", recv, timed)
		}
	}

	// Rewrite every date 1024 weeks earlier (2019-04-06 -> 1999-08-21),
	// with fresh checksums.
	lines := captureLines(t, path)
	var shifted [][]byte
	for _, l := range lines {
		s := strings.TrimSpace(string(l))
		if i := strings.IndexByte(s, '*'); i > 0 {
			body := s[1:i]
			body = strings.Replace(body, ",060419,", ",210899,", 1)
			body = strings.Replace(body, ",06,04,2019,", ",21,08,1999,", 1)
			s = withChecksum(body)
		}
		shifted = append(shifted, []byte(s))
	}
	for _, recv := range []time.Time{{}, first.Add(time.Second)} {
		d := NewDecoder("gps0", Options{BuildTime: testBuild})
		var rs []sensors.Reading
		for _, l := range shifted {
			out, err := d.Decode(l, recv)
			if err != nil {
				t.Fatalf("Decode(%q): %v", l, err)
			}
			rs = append(rs, out...)
		}
		rs = append(rs, d.Flush()...)
		suspected := 0
		for _, r := range rs {
			if !r.Time.IsZero() {
				t.Errorf("recv %v: rollover date trusted: %v", recv, r.Time)
			}
			if r.Data["time_note"] == NoteRollover {
				suspected++
			}
		}
		if suspected != 20 {
			t.Errorf("recv %v: %d readings flagged, want 20", recv, suspected)
		}
	}
}

func TestDecoderErrorsAndStats(t *testing.T) {
	d := NewDecoder("gps0", Options{})
	lines := []struct {
		line  string
		class string // "" when the line is not an error
	}{
		{"", ""},
		{"\r", ""},
		{"$PMTK010,001*2E", ""},
		{"$POLYN,TIME,RESTART_OCCURRED", ""},
		{"$GPGSV,3,1,12,20,78,050,41,11,72,261,,06,41,278,,14,38,185,*79", ""},
		{"$GPGGA,081420.000,,,,,0,0,,,M,,M,,*4A", ClassChecksum},
		{"$GPZDA,235727.02,06,04,2019,,", ClassNoChecksum},
		{"$GPGGA,0814$GPGGA,081420.000,,,,,0,0,,,M,,M,,*47", ClassFraming},
		{"junk$GPZDA,235727.02,06,04,2019,,*6A", ClassFraming},
		{"$GPTXT," + strings.Repeat("x", 300), ClassTooLong},
		{withChecksum("GPGGA,081420.000,,,,,0"), ClassFields},
		{withChecksum("GPGLL,9100.0000,N,01135.0800,E,120000,A,A"), ClassRange},
		{withChecksum("GPGLL,4808.0000,N,01135.0800,E,12h000,A,A"), ClassSyntax},
		{"$GPZDA,235727.02,06,04,2019,,*6A", ""},
	}
	for _, l := range lines {
		rs, err := d.Decode([]byte(l.line), time.Time{})
		if len(rs) != 0 {
			t.Errorf("%q: unexpected readings %v", l.line, rs)
		}
		var se *SentenceError
		switch {
		case l.class == "" && err != nil:
			t.Errorf("%q: %v", l.line, err)
		case l.class != "" && (!errors.As(err, &se) || se.Class != l.class):
			t.Errorf("%q: error %v, want class %s", l.line, err, l.class)
		}
	}
	st := d.Stats()
	want := Stats{Sentences: 1, Proprietary: 2, Unknown: 1, Empty: 2, Errors: map[string]uint64{
		ClassChecksum: 1, ClassNoChecksum: 1, ClassFraming: 2, ClassTooLong: 1, ClassFields: 1, ClassRange: 1, ClassSyntax: 1,
	}}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("stats = %+v\nwant    %+v", st, want)
	}
	// Stats returns a copy.
	st.Errors[ClassRange] = 99
	if d.Stats().Errors[ClassRange] != 1 {
		t.Errorf("Stats shares its map")
	}
}

func TestDecoderBoundsEpoch(t *testing.T) {
	// A receiver that never sends a time must not grow an epoch forever.
	d := NewDecoder("gps0", Options{})
	vtg := []byte(withChecksum("GPVTG,045.5,T,042.5,M,010.0,N,0018.5,K,A"))
	for range 10 * maxEpochSentences {
		if _, err := d.Decode(vtg, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	d.mu.Lock()
	n, size := d.cur.n, len(d.cur.raw)
	d.mu.Unlock()
	if n > maxEpochSentences || size > maxEpochBytes {
		t.Errorf("epoch holds %d sentences, %d bytes", n, size)
	}
}

func TestDecoderConcurrentStats(t *testing.T) {
	d := NewDecoder("gps0", Options{})
	lines := captureLines(t, filepath.Join(captureDir, "nmea-rtk.log"))
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, l := range lines {
			if _, err := d.Decode(l, time.Time{}); err != nil {
				t.Error(err)
			}
		}
		d.Flush()
	})
	for range 100 {
		_ = d.Stats()
	}
	wg.Wait()
	if st := d.Stats(); st.Positions != 122 {
		t.Errorf("positions = %d, want 122", st.Positions)
	}
}

func TestDecoderDoesNotAliasInput(t *testing.T) {
	d := NewDecoder("gps0", Options{})
	buf := []byte(withChecksum("GPGGA,120000,4808.9978,N,01135.0800,E,1,04,1.4,464.4,M,46.2,M,,"))
	want := string(buf)
	if _, err := d.Decode(buf, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x' // the serial reader reuses its buffer
	}
	rs := d.Flush()
	if len(rs) != 1 || string(rs[0].Raw) != want {
		t.Fatalf("raw = %q, want %q", rs[0].Raw, want)
	}
}
