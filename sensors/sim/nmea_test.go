package sim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNMEAChecksumVectors(t *testing.T) {
	// Published example sentences with their checksums.
	for _, s := range []string{
		"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A",
		"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47",
	} {
		body, sum, _ := strings.Cut(s[1:], "*")
		if got := fmt.Sprintf("%02X", nmeaChecksum(body)); got != sum {
			t.Errorf("checksum of %s = %s, want %s", s, got, sum)
		}
	}
}

// parseSentence checks framing and checksum independently of the code under
// test and returns the comma-separated fields.
func parseSentence(t *testing.T, line string) []string {
	t.Helper()
	if !strings.HasPrefix(line, "$") || len(line) < 4 || line[len(line)-3] != '*' {
		t.Fatalf("bad framing: %q", line)
	}
	body := line[1 : len(line)-3]
	var x byte
	for _, c := range []byte(body) {
		x ^= c
	}
	want, err := strconv.ParseUint(line[len(line)-2:], 16, 8)
	if err != nil || byte(want) != x || strings.ToUpper(line[len(line)-2:]) != line[len(line)-2:] {
		t.Fatalf("checksum of %q: computed %02X", line, x)
	}
	return strings.Split(body, ",")
}

// parseCoord reads NMEA ddmm.mmmmm / dddmm.mmmmm and a hemisphere.
func parseCoord(t *testing.T, v, h string, deg int) float64 {
	t.Helper()
	d, err1 := strconv.Atoi(v[:deg])
	m, err2 := strconv.ParseFloat(v[deg:], 64)
	if err1 != nil || err2 != nil || m >= 60 || v[deg+2] != '.' {
		t.Fatalf("bad coordinate %q", v)
	}
	x := float64(d) + m/60
	if h == "S" || h == "W" {
		x = -x
	}
	return x
}

func TestNMEA(t *testing.T) {
	tests := []struct {
		name string
		s    State
		t    time.Time
		lat  string // formatted latitude field
		lon  string
	}{
		{"Yangshan", State{Lat: 30.605, Lon: 122.08, SpeedMPS: 8.23, CourseDeg: 114.9, Sats: 10, HDOP: 0.9, AltM: 1.2},
			time.Date(2026, 3, 1, 6, 5, 9, 470_000_000, time.UTC), "3036.30000,N", "12204.80000,E"},
		{"south west", State{Lat: -33.8568, Lon: -70.6693, Sats: 7, HDOP: 1.4, AltM: -2.5},
			time.Date(2031, 12, 24, 23, 59, 59, 0, time.FixedZone("CLT", -3*3600)), "3351.40800,S", "07040.15800,W"},
		{"minutes carry", State{Lat: 51.9999999999, Lon: 3.99999999, Sats: 12, HDOP: 0.7},
			time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "5200.00000,N", "00400.00000,E"},
		{"greenwich equator", State{Lat: 0, Lon: 0, CourseDeg: 359.99, Sats: 9, HDOP: 1},
			time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "0000.00000,N", "00000.00000,E"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := string(NMEA(tt.s, tt.t))
			if !strings.HasSuffix(out, "\r\n") || strings.Count(out, "\r\n") != 2 || strings.Count(out, "\n") != 2 {
				t.Fatalf("want two CR LF terminated sentences: %q", out)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
			rmc, gga := parseSentence(t, lines[0]), parseSentence(t, lines[1])
			if rmc[0] != "GPRMC" || len(rmc) != 13 || gga[0] != "GPGGA" || len(gga) != 15 {
				t.Fatalf("fields: %q / %q", rmc, gga)
			}
			u := tt.t.UTC()
			hms := fmt.Sprintf("%02d%02d%02d.%02d", u.Hour(), u.Minute(), u.Second(), u.Nanosecond()/1e7)
			if rmc[1] != hms || gga[1] != hms {
				t.Errorf("time %s / %s, want %s", rmc[1], gga[1], hms)
			}
			if want := u.Format("020106"); rmc[9] != want {
				t.Errorf("date %s, want %s", rmc[9], want)
			}
			if rmc[2] != "A" || rmc[12] != "A" || gga[6] != "1" {
				t.Errorf("status %s mode %s quality %s, want a valid autonomous fix", rmc[2], rmc[12], gga[6])
			}
			if got := rmc[3] + "," + rmc[4]; got != tt.lat {
				t.Errorf("latitude %s, want %s", got, tt.lat)
			}
			if got := rmc[5] + "," + rmc[6]; got != tt.lon {
				t.Errorf("longitude %s, want %s", got, tt.lon)
			}
			if strings.Join(gga[2:6], ",") != tt.lat+","+tt.lon {
				t.Errorf("GGA position %v differs from RMC", gga[2:6])
			}
			if lat := parseCoord(t, rmc[3], rmc[4], 2); math.Abs(lat-tt.s.Lat) > 1e-6 {
				t.Errorf("latitude reads back as %.7f, want %.7f", lat, tt.s.Lat)
			}
			if lon := parseCoord(t, rmc[5], rmc[6], 3); math.Abs(lon-tt.s.Lon) > 1e-6 {
				t.Errorf("longitude reads back as %.7f, want %.7f", lon, tt.s.Lon)
			}
			if kn, _ := strconv.ParseFloat(rmc[7], 64); math.Abs(kn-tt.s.SpeedMPS/0.514444) > 0.06 {
				t.Errorf("speed %s kn for %.2f m/s", rmc[7], tt.s.SpeedMPS)
			}
			if c, err := strconv.ParseFloat(rmc[8], 64); err != nil || c < 0 || c >= 360.05 {
				t.Errorf("course %q", rmc[8])
			}
			if gga[7] != fmt.Sprintf("%02d", tt.s.Sats) || gga[8] != fmt.Sprintf("%.1f", tt.s.HDOP) ||
				gga[9] != fmt.Sprintf("%.1f", tt.s.AltM) || gga[10] != "M" {
				t.Errorf("GGA quality fields %v", gga[7:11])
			}
		})
	}
}

// Every state of the voyage renders as sentences that read back to it.
func TestNMEAVoyage(t *testing.T) {
	v := newVoyage(t, Config{Seed: 2})
	for e := time.Duration(0); e < v.Duration()+time.Hour; e += 97 * time.Minute {
		s := v.At(e)
		lines := strings.Split(strings.TrimSuffix(string(NMEA(s, s.Time)), "\r\n"), "\r\n")
		rmc := parseSentence(t, lines[0])
		parseSentence(t, lines[1])
		lat, lon := parseCoord(t, rmc[3], rmc[4], 2), parseCoord(t, rmc[5], rmc[6], 3)
		if d := distance(lat, lon, s.Lat, s.Lon); d > 0.2 {
			t.Fatalf("At(%v): NMEA position %.1f m off", e, d)
		}
	}
}

func ExampleNMEA() {
	s := State{
		Lat: 30.605, Lon: 122.08, // off Yangshan
		SpeedMPS: 5.14, CourseDeg: 114.9,
		Sats: 10, HDOP: 0.9, AltM: 1.2,
	}
	fmt.Printf("%q\n", NMEA(s, time.Date(2026, 3, 1, 6, 5, 9, 0, time.UTC)))
	// Output:
	// "$GPRMC,060509.00,A,3036.30000,N,12204.80000,E,10.0,114.9,010326,,,A*66\r\n$GPGGA,060509.00,3036.30000,N,12204.80000,E,1,10,0.9,1.2,M,,M,,*7B\r\n"
}
