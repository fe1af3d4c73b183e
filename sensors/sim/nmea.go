package sim

import (
	"fmt"
	"math"
	"time"
)

// NMEA renders s as the $GPRMC and $GPGGA sentences (NMEA 0183 v2.3) a GPS
// receiver with a 3D fix sends once a second, each ending in its checksum
// and CR LF. t is the fix time written into the sentences, in UTC; pass
// s.Time to replay the voyage's own clock or the wall clock to look live.
func NMEA(s State, t time.Time) []byte {
	t = t.UTC()
	hms := fmt.Sprintf("%02d%02d%02d.%02d", t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1e7)
	lat := nmeaCoord(s.Lat, 2, "N", "S")
	lon := nmeaCoord(s.Lon, 3, "E", "W")
	knots := s.SpeedMPS / mpsPerKnot
	rmc := fmt.Sprintf("GPRMC,%s,A,%s,%s,%.1f,%.1f,%02d%02d%02d,,,A",
		hms, lat, lon, knots, wrap360(s.CourseDeg), t.Day(), int(t.Month()), t.Year()%100)
	gga := fmt.Sprintf("GPGGA,%s,%s,%s,1,%02d,%.1f,%.1f,M,,M,,",
		hms, lat, lon, s.Sats, s.HDOP, s.AltM)
	b := make([]byte, 0, len(rmc)+len(gga)+12)
	b = appendSentence(b, rmc)
	b = appendSentence(b, gga)
	return b
}

// nmeaCoord formats a latitude (deg = 2 digits) or longitude (deg = 3) as
// NMEA's degrees and decimal minutes with five decimals, then the
// hemisphere: "3036.30000,N".
func nmeaCoord(x float64, deg int, pos, neg string) string {
	h := pos
	if x < 0 {
		h, x = neg, -x
	}
	// Work in hundred-thousandths of a minute so that rounding can carry
	// into the degrees (59.999996' is 1°00.00000', not 0°60.00000').
	u := int64(math.Round(x * 60 * 1e5))
	d, m := u/(60*1e5), u%(60*1e5)
	return fmt.Sprintf("%0*d%02d.%05d,%s", deg, d, m/1e5, m%1e5, h)
}

// appendSentence appends "$" body "*" checksum CR LF.
func appendSentence(b []byte, body string) []byte {
	return fmt.Appendf(b, "$%s*%02X\r\n", body, nmeaChecksum(body))
}

// nmeaChecksum is the XOR of the bytes between "$" and "*".
func nmeaChecksum(body string) byte {
	var c byte
	for i := 0; i < len(body); i++ {
		c ^= body[i]
	}
	return c
}
