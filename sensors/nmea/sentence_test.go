package nmea

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// withChecksum wraps an NMEA body (without '$' and '*') into a sentence
// with its checksum.
func withChecksum(body string) string {
	var c byte
	for i := 0; i < len(body); i++ {
		c ^= body[i]
	}
	return fmt.Sprintf("$%s*%02X", body, c)
}

func tod(h, m, s int, frac time.Duration) time.Duration {
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + frac
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// want is what a table case expects of a parsed sentence; zero fields of
// the optional values are checked through Fields.
type want struct {
	talker, typ string
	fields      Field
	valid       bool
	time        time.Duration
	date        time.Time
	lat, lon    float64
	alt         float64
	speed       float64
	course      float64
	quality     Quality
	fixMode     int
	sats        int
	hdop        float64
	satIDs      []int
	systemID    int
}

// parseCases are valid sentences, most taken from the gpsd captures.
var parseCases = []struct {
	name string
	line string
	want want
}{
	{
		name: "GGA RTK longer than 82 characters",
		line: "$GNGGA,133900.00,4134.50180323,N,09345.03586581,W,4,19,0.7,280.827,M,-31.442,M,6.0,0002*61",
		want: want{talker: "GN", typ: "GGA", valid: true,
			fields: FieldTime | FieldPosition | FieldAltitude | FieldQuality | FieldSats | FieldHDOP,
			time:   tod(13, 39, 0, 0), lat: 41 + 34.50180323/60, lon: -(93 + 45.03586581/60),
			alt: 280.827, quality: QualityRTKFixed, sats: 19, hdop: 0.7},
	},
	{
		name: "GGA fractional time is exact",
		line: "$GPGGA,132820.60,4134.49821229,N,09345.03351845,W,2,09,1.0,278.020,M,-31.442,M,7.6,0133*7E",
		want: want{talker: "GP", typ: "GGA", valid: true,
			fields: FieldTime | FieldPosition | FieldAltitude | FieldQuality | FieldSats | FieldHDOP,
			time:   tod(13, 28, 20, 600*time.Millisecond), lat: 41 + 34.49821229/60, lon: -(93 + 45.03351845/60),
			alt: 278.02, quality: QualityDGPS, sats: 9, hdop: 1.0},
	},
	{
		name: "GGA SiRF-TriG fifteenth field",
		line: "$GNGGA,074155.799,3114.8770,N,12135.2463,E,1,05,1.3,156.9,M,8.3,M,,0000,4.9*77",
		want: want{talker: "GN", typ: "GGA", valid: true,
			fields: FieldTime | FieldPosition | FieldAltitude | FieldQuality | FieldSats | FieldHDOP,
			time:   tod(7, 41, 55, 799*time.Millisecond), lat: 31 + 14.8770/60, lon: 121 + 35.2463/60,
			alt: 156.9, quality: QualityGPS, sats: 5, hdop: 1.3},
	},
	{
		name: "GGA no fix ignores the placeholder position",
		line: "$GPGGA,235946.005,8960.000000,N,00000.000000,E,0,0,,137.000,M,13.000,M,,*49",
		want: want{talker: "GP", typ: "GGA", fields: FieldTime | FieldQuality | FieldSats,
			time: tod(23, 59, 46, 5*time.Millisecond), quality: QualityNone},
	},
	{
		name: "GGA empty",
		line: "$GPGGA,081420.000,,,,,0,0,,,M,,M,,*47",
		want: want{talker: "GP", typ: "GGA", fields: FieldTime | FieldQuality | FieldSats, time: tod(8, 14, 20, 0)},
	},
	{
		name: "RMC NMEA 2.0, no fraction, west",
		line: "$GPRMC,113258,A,3238.9148,N,10822.4466,W,005.3,247.1,181022,009.3,E*6B",
		want: want{talker: "GP", typ: "RMC", valid: true,
			fields: FieldTime | FieldDate | FieldPosition | FieldSpeed | FieldCourse,
			time:   tod(11, 32, 58, 0), date: day(2022, 10, 18), lat: 32 + 38.9148/60, lon: -(108 + 22.4466/60),
			speed: 5.3 * 1852 / 3600, course: 247.1},
	},
	{
		name: "RMC NMEA 4.10, empty course",
		line: "$GNRMC,223745.00,A,3806.62964,N,12237.61382,W,0.040,,110720,,,D,V*0E",
		want: want{talker: "GN", typ: "RMC", valid: true,
			fields: FieldTime | FieldDate | FieldPosition | FieldSpeed | FieldQuality,
			time:   tod(22, 37, 45, 0), date: day(2020, 7, 11), lat: 38 + 6.62964/60, lon: -(122 + 37.61382/60),
			speed: 0.040 * 1852 / 3600, quality: QualityDGPS},
	},
	{
		name: "RMC status V keeps the date, drops the position",
		line: "$GPRMC,235946.005,V,8960.000000,N,00000.000000,E,0.000,0.00,050180,,,N*47",
		want: want{talker: "GP", typ: "RMC", fields: FieldTime | FieldDate | FieldQuality,
			time: tod(23, 59, 46, 5*time.Millisecond), date: day(1980, 1, 5), quality: QualityNone},
	},
	{
		name: "RMC two-digit year 99 is 1999",
		line: withChecksum("GPRMC,120000,A,4808.9978,N,01135.0800,E,0.0,0.0,210899,,"),
		want: want{talker: "GP", typ: "RMC", valid: true,
			fields: FieldTime | FieldDate | FieldPosition | FieldSpeed | FieldCourse,
			time:   tod(12, 0, 0, 0), date: day(1999, 8, 21), lat: 48 + 8.9978/60, lon: 11 + 35.08/60},
	},
	{
		name: "RMC dead reckoning is not a valid fix",
		line: withChecksum("GPRMC,120000,A,4808.9978,N,01135.0800,E,0.0,0.0,210819,,,E"),
		want: want{talker: "GP", typ: "RMC", fields: FieldTime | FieldDate | FieldQuality,
			time: tod(12, 0, 0, 0), date: day(2019, 8, 21), quality: QualityEstimated},
	},
	{
		name: "GLL with mode",
		line: "$GPGLL,4808.9977,N,01135.0800,E,235723.02,A,A*63",
		want: want{talker: "GP", typ: "GLL", valid: true, fields: FieldTime | FieldPosition | FieldQuality,
			time: tod(23, 57, 23, 20*time.Millisecond), lat: 48 + 8.9977/60, lon: 11 + 35.08/60, quality: QualityGPS},
	},
	{
		name: "GLL NMEA 2.0 without mode, south",
		line: withChecksum("GPGLL,3351.2500,S,15112.5000,E,010203.5,A"),
		want: want{talker: "GP", typ: "GLL", valid: true, fields: FieldTime | FieldPosition,
			time: tod(1, 2, 3, 500*time.Millisecond), lat: -(33 + 51.25/60), lon: 151 + 12.5/60},
	},
	{
		name: "VTG knots",
		line: "$GPVTG,000.0,T,357.0,M,000.1,N,0000.2,K,A*11",
		want: want{talker: "GP", typ: "VTG", valid: true, fields: FieldSpeed | FieldCourse | FieldQuality,
			speed: 0.1 * 1852 / 3600, quality: QualityGPS},
	},
	{
		name: "VTG km/h only",
		line: withChecksum("GPVTG,054.7,T,034.4,M,,N,010.2,K"),
		want: want{talker: "GP", typ: "VTG", valid: true, fields: FieldSpeed | FieldCourse,
			speed: 10.2 / 3.6, course: 54.7},
	},
	{
		name: "VTG mode N",
		line: "$GPVTG,0.00,T,,M,0.000,N,0.000,K,N*32",
		want: want{talker: "GP", typ: "VTG", fields: FieldQuality, quality: QualityNone},
	},
	{
		name: "GSA NMEA 4.10 with system id",
		line: "$GNGSA,A,3,29,20,18,16,51,13,44,26,,,,,0.99,0.54,0.83,1*0E",
		want: want{talker: "GN", typ: "GSA", valid: true, fields: FieldFixMode | FieldHDOP,
			fixMode: 3, hdop: 0.54, satIDs: []int{29, 20, 18, 16, 51, 13, 44, 26}, systemID: 1},
	},
	{
		name: "GSA SiRF-TriG float in system id field",
		line: "$BDGSA,A,3,02,03,04,,,,,,,,,,5.1,1.3,4.9,3.3*2F",
		want: want{talker: "BD", typ: "GSA", valid: true, fields: FieldFixMode | FieldHDOP,
			fixMode: 3, hdop: 1.3, satIDs: []int{2, 3, 4}},
	},
	{
		name: "GSA three-digit ids",
		line: "$GNGSA,A,2,208,211,213,,,,,,,,,,1.6,1.3,0.9,4*01",
		want: want{talker: "GN", typ: "GSA", valid: true, fields: FieldFixMode | FieldHDOP,
			fixMode: 2, hdop: 1.3, satIDs: []int{208, 211, 213}, systemID: 4},
	},
	{
		name: "GSA no fix",
		line: "$GPGSA,A,1,,,,,,,,,,,,,,,*1E",
		want: want{talker: "GP", typ: "GSA", fields: FieldFixMode, fixMode: 1},
	},
	{
		name: "GNS four constellations",
		line: "$GNGNS,074155.799,3114.8770,N,12135.2463,E,ANNA,05,1.3,156.9,8.3,,0000*52",
		want: want{talker: "GN", typ: "GNS", valid: true,
			fields: FieldTime | FieldPosition | FieldAltitude | FieldQuality | FieldSats | FieldHDOP,
			time:   tod(7, 41, 55, 799*time.Millisecond), lat: 31 + 14.8770/60, lon: 121 + 35.2463/60,
			alt: 156.9, quality: QualityGPS, sats: 5, hdop: 1.3},
	},
	{
		name: "GNS NMEA 4.10 navigation status",
		line: "$GNGNS,043539.00,4333.190206,N,00127.618380,E,AAAAN,14,1.3,250.8,50.0,,,V*62",
		want: want{talker: "GN", typ: "GNS", valid: true,
			fields: FieldTime | FieldPosition | FieldAltitude | FieldQuality | FieldSats | FieldHDOP,
			time:   tod(4, 35, 39, 0), lat: 43 + 33.190206/60, lon: 1 + 27.618380/60,
			alt: 250.8, quality: QualityGPS, sats: 14, hdop: 1.3},
	},
	{
		name: "GNS best mode wins",
		line: withChecksum("GNGNS,043539.00,4333.190206,N,00127.618380,E,ARFN,14,1.3,250.8,50.0,,"),
		want: want{talker: "GN", typ: "GNS", valid: true,
			fields: FieldTime | FieldPosition | FieldAltitude | FieldQuality | FieldSats | FieldHDOP,
			time:   tod(4, 35, 39, 0), lat: 43 + 33.190206/60, lon: 1 + 27.618380/60,
			alt: 250.8, quality: QualityRTKFixed, sats: 14, hdop: 1.3},
	},
	{
		name: "GNS no fix",
		line: "$GNGNS,074150.799,,,,,NNNN,00,,,0.0,,0000*63",
		want: want{talker: "GN", typ: "GNS", fields: FieldTime | FieldQuality | FieldSats, time: tod(7, 41, 50, 799*time.Millisecond)},
	},
	{
		name: "ZDA",
		line: "$GPZDA,235727.02,06,04,2019,,*6A",
		want: want{talker: "GP", typ: "ZDA", valid: true, fields: FieldTime | FieldDate,
			time: tod(23, 57, 27, 20*time.Millisecond), date: day(2019, 4, 6)},
	},
	{
		name: "ZDA empty date",
		line: withChecksum("GNZDA,,,,,,"),
		want: want{talker: "GN", typ: "ZDA", valid: true},
	},
	{
		name: "leading space, CR CR",
		line: " $GNRMC,074157.799,A,3114.8902,N,12135.2443,E,0.32,4.94,250215,,,A*7F\r\r",
		want: want{talker: "GN", typ: "RMC", valid: true,
			fields: FieldTime | FieldDate | FieldPosition | FieldSpeed | FieldCourse | FieldQuality,
			time:   tod(7, 41, 57, 799*time.Millisecond), date: day(2015, 2, 25), lat: 31 + 14.8902/60,
			lon: 121 + 35.2443/60, speed: 0.32 * 1852 / 3600, course: 4.94, quality: QualityGPS},
	},
	{
		name: "other talkers: Galileo",
		line: "$GARMC,043539.00,A,4333.190206,N,00127.618380,E,0.0,,040925,1.7,W,A,V*6D",
		want: want{talker: "GA", typ: "RMC", valid: true,
			fields: FieldTime | FieldDate | FieldPosition | FieldSpeed | FieldQuality,
			time:   tod(4, 35, 39, 0), date: day(2025, 9, 4), lat: 43 + 33.190206/60, lon: 1 + 27.618380/60,
			quality: QualityGPS},
	},
	{
		name: "other talkers: QZSS",
		line: withChecksum("GQGLL,0000.0000,N,00000.0000,E,000000.00,A,A"),
		want: want{talker: "GQ", typ: "GLL", valid: true, fields: FieldTime | FieldPosition | FieldQuality,
			quality: QualityGPS},
	},
	{
		name: "latitude 90 exactly, longitude 180 exactly",
		line: withChecksum("GIGLL,9000.0000,S,18000.0000,W,120000,A,A"),
		want: want{talker: "GI", typ: "GLL", valid: true, fields: FieldTime | FieldPosition | FieldQuality,
			time: tod(12, 0, 0, 0), lat: -90, lon: -180, quality: QualityGPS},
	},
	{
		name: "unknown type is returned, not decoded",
		line: "$GPGSV,3,1,12,20,78,050,41,11,72,261,,06,41,278,,14,38,185,*79",
		want: want{talker: "GP", typ: "GSV"},
	},
}

func TestParseSentence(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			line := tc.line
			s, err := ParseSentence([]byte(line), Options{})
			if err != nil {
				t.Fatalf("ParseSentence(%q): %v", line, err)
			}
			w := tc.want
			if s.Talker != w.talker || s.Type != w.typ {
				t.Errorf("talker/type = %q/%q, want %q/%q", s.Talker, s.Type, w.talker, w.typ)
			}
			if s.Fields != w.fields {
				t.Errorf("fields = %b, want %b", s.Fields, w.fields)
			}
			if s.Valid != w.valid {
				t.Errorf("valid = %v, want %v", s.Valid, w.valid)
			}
			if !s.Checksum {
				t.Errorf("checksum not recorded")
			}
			if got := string(s.Raw); got != strings.TrimSpace(line) {
				t.Errorf("raw = %q", got)
			}
			check := func(name string, f Field, got, want float64, tol float64) {
				t.Helper()
				if s.Has(f) && math.Abs(got-want) > tol {
					t.Errorf("%s = %.10f, want %.10f", name, got, want)
				}
			}
			check("lat", FieldPosition, s.Lat, w.lat, 1e-12)
			check("lon", FieldPosition, s.Lon, w.lon, 1e-12)
			check("alt", FieldAltitude, s.AltMSL, w.alt, 1e-9)
			check("speed", FieldSpeed, s.SpeedMPS, w.speed, 1e-9)
			check("course", FieldCourse, s.CourseDeg, w.course, 1e-9)
			check("hdop", FieldHDOP, s.HDOP, w.hdop, 1e-9)
			if s.Has(FieldTime) && s.Time != w.time {
				t.Errorf("time = %v, want %v", s.Time, w.time)
			}
			if s.Has(FieldDate) && !s.Date.Equal(w.date) {
				t.Errorf("date = %v, want %v", s.Date, w.date)
			}
			if s.Has(FieldQuality) && s.Quality != w.quality {
				t.Errorf("quality = %v, want %v", s.Quality, w.quality)
			}
			if s.Has(FieldSats) && s.Sats != w.sats {
				t.Errorf("sats = %d, want %d", s.Sats, w.sats)
			}
			if s.FixMode != w.fixMode {
				t.Errorf("fix mode = %d, want %d", s.FixMode, w.fixMode)
			}
			if !slices.Equal(s.SatIDs, w.satIDs) || s.SystemID != w.systemID {
				t.Errorf("satellites = %v system %d, want %v system %d", s.SatIDs, s.SystemID, w.satIDs, w.systemID)
			}
		})
	}
}

func TestParseSentenceChecksumCase(t *testing.T) {
	upper := withChecksum("GPZDA,235727.02,06,04,2019,,") // *6A
	lower := strings.ToLower(upper[len(upper)-2:])
	for _, line := range []string{upper, upper[:len(upper)-2] + lower} {
		if _, err := ParseSentence([]byte(line), Options{}); err != nil {
			t.Errorf("%q: %v", line, err)
		}
	}
}

func TestParseSentenceIgnored(t *testing.T) {
	for _, tc := range []struct {
		line        string
		proprietary bool
		typ         string
	}{
		{"$PMTK010,001*2E", true, "PMTK010"},
		{"$POLYN,TIME,RESTART_OCCURRED", true, "POLYN"}, // MTK sends these without checksum
		{"$PGRME,7.6,M,41.7,M,42.4,M*2F", true, "PGRME"},
		{"$PQVERNO,R,L70BGR03A05S,2019/10/09,21:12*23", true, "PQVERNO"},
		{"$GNTXT,01,01,00,txbuf alloc*61", false, "TXT"},
		{"$GPGST,150119.000,004.0,008.7,004.7,132.3,006.8,007.2,00014*71", false, "GST"},
	} {
		s, err := ParseSentence([]byte(tc.line), Options{})
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if s.Proprietary != tc.proprietary || s.Type != tc.typ || s.Supported() {
			t.Errorf("%q: proprietary %v type %q supported %v", tc.line, s.Proprietary, s.Type, s.Supported())
		}
	}
}

func TestParseSentenceNoChecksum(t *testing.T) {
	line := []byte("$GPGGA,132820.60,4134.49821229,N,09345.03351845,W,2,09,1.0,278.020,M,-31.442,M,7.6,0133")
	_, err := ParseSentence(line, Options{})
	var se *SentenceError
	if !errors.As(err, &se) || se.Class != ClassNoChecksum || se.Error() != "missing checksum" {
		t.Fatalf("without AllowNoChecksum: err %v, want missing checksum", err)
	}
	s, err := ParseSentence(line, Options{AllowNoChecksum: true})
	if err != nil {
		t.Fatalf("with AllowNoChecksum: %v", err)
	}
	if s.Checksum || !s.Has(FieldPosition) {
		t.Errorf("checksum %v, fields %b", s.Checksum, s.Fields)
	}
}

var errorCases = []struct {
	name   string
	line   string
	class  string
	reason string // the whole error text
}{
	{"bad checksum", "$GPGGA,081420.000,,,,,0,0,,,M,,M,,*4A", ClassChecksum, "bad checksum: got 4A, computed 47"},
	{"malformed checksum", "$GPGGA,081420.000,,,,,0,0,,,M,,M,,*4", ClassChecksum, `malformed checksum "4"`},
	{"checksum not hex", "$GPGGA,081420.000,,,,,0,0,,,M,,M,,*G7", ClassChecksum, `malformed checksum "G7"`},
	{"two stars", "$GPGGA,081420.000,,,,,0,0,,,M,,M,,*47*47", ClassChecksum, `malformed checksum "47*47"`},
	{"proprietary bad checksum", "$PMTK010,001*2F", ClassChecksum, "bad checksum: got 2F, computed 2E"},
	{"missing checksum", "$GPZDA,235727.02,06,04,2019,,", ClassNoChecksum, "missing checksum"},
	{"empty", "  \r", ClassFraming, "empty line"},
	{"no dollar", "GPGGA,081420.000,,,,,0,0,,,M,,M,,*47", ClassFraming, "no '$': not an NMEA sentence"},
	{"junk before dollar", "xx$GPGGA,081420.000,,,,,0,0,,,M,,M,,*47", ClassFraming, `junk before '$': "xx"`},
	{"glued", "$GPGGA,081420.000,,,,$GPGGA,081420.000,,,,,0,0,,,M,,M,,*47", ClassFraming, "glued sentences: second '$' at byte 21"},
	{"binary byte", "$GPGGA,0814\x0020.000,,,,,0,0,,,M,,M,,*47", ClassFraming, "control or non-ASCII byte 0x00 at byte 11"},
	{"non-ASCII", "$GPGGA,0814\xc320.000,,,,,0,0,,,M,,M,,*47", ClassFraming, "control or non-ASCII byte 0xc3 at byte 11"},
	{"too long", "$GPTXT," + strings.Repeat("A", 260), ClassTooLong, "line too long: 267 bytes (max 256)"},
	{"bad address", withChecksum("GPGG,1"), ClassFields, `bad address field "GPGG"`},
	{"lower-case address", withChecksum("gpgga,1"), ClassFields, `bad address field "gpgga"`},
	{"empty address", withChecksum(",1,2"), ClassFields, `bad address field ""`},
	{"fragment", withChecksum("GPGGA,081420.000,,,,,0"), ClassFields, "GGA: 6 fields, want 14 to 15"},
	{"RMC too many fields", withChecksum("GPRMC,113258,A,3238.9148,N,10822.4466,W,005.3,247.1,181022,009.3,E,A,V,X"), ClassFields, "RMC: 14 fields, want 11 to 13"},
	{"ZDA fields", withChecksum("GPZDA,235727.02,06,04,2019"), ClassFields, "ZDA: 4 fields, want 6"},
	{"latitude above 90", withChecksum("GPGGA,120000,9100.0000,N,01135.0800,E,1,04,1.4,464.4,M,46.2,M,,"), ClassRange, "GGA latitude: 91.000000 out of range (max 90)"},
	{"latitude minutes 60", withChecksum("GPGLL,4860.0000,N,01135.0800,E,120000,A,A"), ClassRange, "GLL latitude: minutes 60.0000 out of range"},
	{"longitude above 180", withChecksum("GPGLL,4808.0000,N,18001.0000,E,120000,A,A"), ClassRange, "GLL longitude: 180.016667 out of range (max 180)"},
	{"latitude not a number", withChecksum("GPGLL,48O8.0000,N,01135.0800,E,120000,A,A"), ClassSyntax, `GLL latitude: "48O8.0000" is not (d)ddmm.mmmm`},
	{"latitude negative", withChecksum("GPGLL,-4808.0000,N,01135.0800,E,120000,A,A"), ClassSyntax, `GLL latitude: "-4808.0000" is not (d)ddmm.mmmm`},
	{"bad hemisphere", withChecksum("GPGLL,4808.0000,X,01135.0800,E,120000,A,A"), ClassSyntax, `GLL latitude: "4808.0000","X" is not a value and N/S`},
	{"latitude without longitude", withChecksum("GPGLL,4808.0000,N,,,120000,A,A"), ClassFields, "GLL position: latitude without longitude"},
	{"time hour 24", withChecksum("GPGGA,240000,,,,,0,0,,,M,,M,,"), ClassRange, "GGA time: 240000 out of range"},
	{"time short", withChecksum("GPGGA,2400,,,,,0,0,,,M,,M,,"), ClassSyntax, `GGA time: "2400" is not hhmmss.ss`},
	{"date 31 February", withChecksum("GPRMC,113258,A,3238.9148,N,10822.4466,W,005.3,247.1,310222,009.3,E"), ClassRange, "RMC date: 2022-02-31 is not a date"},
	{"date month 13", withChecksum("GPRMC,113258,A,3238.9148,N,10822.4466,W,005.3,247.1,011322,009.3,E"), ClassRange, "RMC date: 2022-13-01 out of range"},
	{"ZDA partial date", withChecksum("GPZDA,235727.02,06,,2019,,"), ClassSyntax, `ZDA date: "06"/""/"2019" is not dd/mm/yyyy`},
	{"speed negative", withChecksum("GPRMC,113258,A,3238.9148,N,10822.4466,W,-5.3,247.1,181022,009.3,E"), ClassRange, "RMC speed: -5.3 out of range [0, 1943.84]"},
	{"speed absurd", withChecksum("GPVTG,0,T,,M,9999,N,,K,A"), ClassRange, "VTG speed: 9999 out of range [0, 1943.84]"},
	{"speed exponent", withChecksum("GPRMC,113258,A,3238.9148,N,10822.4466,W,1e3,247.1,181022,009.3,E"), ClassSyntax, `RMC speed: "1e3" is not a number`},
	{"speed NaN", withChecksum("GPRMC,113258,A,3238.9148,N,10822.4466,W,NaN,247.1,181022,009.3,E"), ClassSyntax, `RMC speed: "NaN" is not a number`},
	{"course above 360", withChecksum("GPRMC,113258,A,3238.9148,N,10822.4466,W,5.3,361,181022,009.3,E"), ClassRange, "RMC course: 361 out of range [0, 360]"},
	{"altitude absurd", withChecksum("GPGGA,120000,4808.9978,N,01135.0800,E,1,04,1.4,200000,M,46.2,M,,"), ClassRange, "GGA altitude: 200000 out of range [-2000, 100000]"},
	{"altitude in feet", withChecksum("GPGGA,120000,4808.9978,N,01135.0800,E,1,04,1.4,464.4,F,46.2,M,,"), ClassSyntax, `GGA altitude unit: "F" is not M`},
	{"quality out of range", withChecksum("GPGGA,120000,4808.9978,N,01135.0800,E,10,04,1.4,464.4,M,46.2,M,,"), ClassRange, "GGA quality: 10 out of range [0, 9]"},
	{"hdop negative", withChecksum("GPGGA,120000,4808.9978,N,01135.0800,E,1,04,-1.4,464.4,M,46.2,M,,"), ClassRange, "GGA HDOP: -1.4 out of range [0, 999.99]"},
	{"sats not a number", withChecksum("GPGGA,120000,4808.9978,N,01135.0800,E,1,4x,1.4,464.4,M,46.2,M,,"), ClassSyntax, `GGA satellites: "4x" is not an integer`},
	{"RMC status", withChecksum("GPRMC,113258,X,3238.9148,N,10822.4466,W,005.3,247.1,181022,009.3,E"), ClassSyntax, `RMC status: "X" is not A or V`},
	{"RMC mode", withChecksum("GPRMC,113258,A,3238.9148,N,10822.4466,W,005.3,247.1,181022,009.3,E,Z"), ClassSyntax, `RMC mode: "Z" is not a mode indicator`},
	{"GNS mode", withChecksum("GNGNS,043539.00,4333.190206,N,00127.618380,E,AXN,14,1.3,250.8,50.0,,"), ClassSyntax, `GNS mode: "AXN" is not a mode indicator`},
	{"GSA fix mode", withChecksum("GPGSA,A,4,,,,,,,,,,,,,,,"), ClassRange, "GSA fix mode: 4 out of range [1, 3]"},
	{"GSA satellite id", withChecksum("GPGSA,A,3,2a,,,,,,,,,,,,1,1,1"), ClassSyntax, `GSA satellite id: "2a" is not an integer`},
}

func TestParseSentenceErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSentence([]byte(tc.line), Options{})
			if err == nil {
				t.Fatalf("ParseSentence(%q) = %+v, want error", tc.line, s)
			}
			var se *SentenceError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *SentenceError", err, err)
			}
			if se.Class != tc.class || se.Error() != tc.reason {
				t.Errorf("error = [%s] %q, want [%s] %q", se.Class, se.Error(), tc.class, tc.reason)
			}
		})
	}
}

func TestQualityString(t *testing.T) {
	if QualityRTKFloat.String() != "rtk-float" || Quality(42).String() != "quality(42)" {
		t.Errorf("got %q, %q", QualityRTKFloat, Quality(42))
	}
}
