package sim_test

import (
	"fmt"
	"time"

	"github.com/tallygw/tally/sensors/sim"
)

func ExampleVoyage_At() {
	v, err := sim.New(sim.Config{
		Start:     time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC),
		Seed:      1,
		Container: "CSQU3054383",
	}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.0f nm in %.1f days\n", v.Distance()/1852, v.Duration().Hours()/24)
	for _, e := range []time.Duration{0, 10 * 24 * time.Hour, v.Duration() / 2, v.Duration() + 3*time.Hour} {
		s := v.At(e)
		fmt.Printf("%s %6.2f %7.2f %5.1f kn %-8s %s, seal %s\n",
			s.Time.Format("Jan 02 15:04"), s.Lat, s.Lon, s.SpeedMPS/0.514444, s.Phase, s.Area, s.Seal)
	}
	// Output:
	// 10603 nm in 28.2 days
	// Mar 01 06:00  30.60  122.08  10.0 kn underway Shanghai, Yangshan, seal sealed
	// Mar 11 06:00   6.27   78.36  16.0 kn underway Indian Ocean, off Dondra Head, seal sealed
	// Mar 15 08:05  14.19   53.11  15.7 kn underway Arabian Sea, north of Socotra, seal sealed
	// Mar 29 13:10  51.97    4.04   0.0 kn arrived  Rotterdam, Maasvlakte, seal opened
}
