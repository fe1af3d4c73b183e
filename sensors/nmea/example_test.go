package nmea_test

import (
	"fmt"
	"time"

	"github.com/tallygw/tally/sensors/nmea"
)

func ExampleParseSentence() {
	s, err := nmea.ParseSentence([]byte("$GPGGA,132820.60,4134.49821229,N,09345.03351845,W,2,09,1.0,278.020,M,-31.442,M,7.6,0133*7E"), nmea.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s%s %v %.9f %.9f %.3f m %v\n", s.Talker, s.Type, s.Time, s.Lat, s.Lon, s.AltMSL, s.Quality)

	_, err = nmea.ParseSentence([]byte("$GPGGA,132820.60,4134.49821229,N,09345.03351845,W,2,09,1.0,278.020,M,-31.442,M,7.6,0133*7F"), nmea.Options{})
	fmt.Println(err)
	// Output:
	// GPGGA 13h28m20.6s 41.574970205 -93.750558641 278.020 m dgps
	// bad checksum: got 7F, computed 7E
}

func ExampleDecoder() {
	d := nmea.NewDecoder("gps0", nmea.Options{})
	recv := time.Date(2022, 10, 18, 11, 32, 59, 0, time.UTC) // gateway clock
	lines := []string{
		"$GPRMC,113258,A,3238.9148,N,10822.4466,W,005.3,247.1,181022,009.3,E*6B",
		"$GPGGA,113258,3238.9148,N,10822.4466,W,2,08,1.1,1577.4,M,-24.6,M,,*4D",
		"$GPGSA,A,3,02,05,11,12,18,20,25,29,,,,,1.4,1.1,0.9*3D",
		"$PGRME,7.6,M,41.7,M,42.4,M*2F",
	}
	for _, l := range lines {
		if _, err := d.Decode([]byte(l), recv); err != nil {
			fmt.Println(err)
		}
	}
	for _, r := range d.Flush() {
		fmt.Println(r.Kind, r.Time.Format(time.RFC3339), r.Clock)
		fmt.Printf("lat %.6f lon %.6f alt %.1f m, %.2f m/s, %.1f deg, fix %s, %d sats, hdop %.1f\n",
			r.Data["lat"], r.Data["lon"], r.Data["alt_m"], r.Data["speed_mps"], r.Data["course_deg"],
			r.Data["fix"], r.Data["sats"], r.Data["hdop"])
	}
	st := d.Stats()
	fmt.Println(st.Sentences, "sentences,", st.Proprietary, "proprietary")
	// Output:
	// gps 2022-10-18T11:32:58Z gps
	// lat 32.648580 lon -108.374110 alt 1577.4 m, 2.73 m/s, 247.1 deg, fix dgps, 8 sats, hdop 1.1
	// 3 sentences, 1 proprietary
}
