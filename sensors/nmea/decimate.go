package nmea

import (
	"math"
	"time"

	"github.com/tallygw/tally/sensors"
)

// earthRadiusM is the mean Earth radius (IUGG), for haversine distances.
const earthRadiusM = 6371008.8

// Decimator thins a stream of gps readings for the daemon: a receiver
// that reports ten times a second from a container parked for a week need
// not fill the log. Offline decoding does not decimate.
//
// A gps reading is kept when it is the first, when MinInterval has passed
// since the last kept one, when it is at least MinDistanceM metres
// (haversine) from the last kept one, or when its fix kind differs from
// the last kept one. A zero MinInterval or MinDistanceM disables that
// criterion; with both zero everything is kept. Readings of other kinds
// (fix lost / regained status) are always kept, and the gps reading after
// one is kept too.
//
// A Decimator is pure (it reads no clock) and not safe for concurrent use.
type Decimator struct {
	MinInterval  time.Duration
	MinDistanceM float64

	have      bool
	lastTime  time.Time
	lastLat   float64
	lastLon   float64
	lastFix   any
	lastValid bool // lastLat/lastLon are set
}

// Keep reports whether r should be recorded, judging time by r.Time. A gps
// reading without Time (no trusted GPS time) is kept, since the interval
// cannot be judged; use KeepAt to judge it by the receive time instead.
func (d *Decimator) Keep(r sensors.Reading) bool {
	return d.KeepAt(r, r.Time)
}

// KeepAt is Keep with the reading's time given by the caller, typically
// the gateway receive time.
func (d *Decimator) KeepAt(r sensors.Reading, at time.Time) bool {
	if r.Kind != sensors.KindGPS {
		if r.Kind == sensors.KindStatus {
			d.have = false // the next position after a fix change is kept
		}
		return true
	}
	lat, okLat := r.Data["lat"].(float64)
	lon, okLon := r.Data["lon"].(float64)
	fix := r.Data["fix"]
	keep := !d.have ||
		(d.MinInterval == 0 && d.MinDistanceM == 0) ||
		at.IsZero() || d.lastTime.IsZero() || at.Before(d.lastTime) ||
		fix != d.lastFix ||
		!okLat || !okLon || !d.lastValid ||
		(d.MinInterval > 0 && at.Sub(d.lastTime) >= d.MinInterval) ||
		(d.MinDistanceM > 0 && HaversineM(d.lastLat, d.lastLon, lat, lon) >= d.MinDistanceM)
	if keep {
		d.have = true
		d.lastTime = at
		d.lastFix = fix
		d.lastLat, d.lastLon, d.lastValid = lat, lon, okLat && okLon
	}
	return keep
}

// HaversineM is the great-circle distance in metres between two points
// given in decimal degrees.
func HaversineM(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	a = math.Min(1, math.Max(0, a))
	return 2 * earthRadiusM * math.Asin(math.Sqrt(a))
}
