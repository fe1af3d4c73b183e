package sim

import (
	"math"
	"testing"
	"time"
)

// Reference positions of the two terminals, as gazetteers give them.
var (
	yangshan   = [2]float64{30.6167, 122.0667} // Yangshan Deep-Water Port, 30°37′N 122°04′E
	maasvlakte = [2]float64{51.9500, 4.0167}   // Maasvlakte, Rotterdam, 51°57′N 4°01′E
)

var testStart = time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)

func newVoyage(t *testing.T, c Config) *Voyage {
	t.Helper()
	if c.Start.IsZero() {
		c.Start = testStart
	}
	v, err := New(c, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func TestRouteEnds(t *testing.T) {
	v := newVoyage(t, Config{Seed: 7})
	s := v.At(0)
	if d := distance(s.Lat, s.Lon, yangshan[0], yangshan[1]); d > 5000 {
		t.Errorf("departure %.4f,%.4f is %.1f km from Yangshan, want < 5 km", s.Lat, s.Lon, d/1000)
	}
	for _, e := range []time.Duration{v.Duration(), v.Duration() + time.Hour, v.Duration() + 30*24*time.Hour} {
		s := v.At(e)
		if d := distance(s.Lat, s.Lon, maasvlakte[0], maasvlakte[1]); d > 5000 {
			t.Errorf("At(%v) %.4f,%.4f is %.1f km from Maasvlakte, want < 5 km", e, s.Lat, s.Lon, d/1000)
		}
		if s.Phase != PhaseArrived || s.SpeedMPS != 0 {
			t.Errorf("At(%v): phase %q speed %v, want arrived and stationary", e, s.Phase, s.SpeedMPS)
		}
	}
	// Stationary after arrival: only GPS noise moves the fix.
	a, b := v.At(v.Duration()+time.Hour), v.At(v.Duration()+10*24*time.Hour)
	if d := distance(a.Lat, a.Lon, b.Lat, b.Lon); d > 30 {
		t.Errorf("container moved %.0f m while at the berth", d)
	}
}

func TestRouteLength(t *testing.T) {
	v := newVoyage(t, Config{})
	nm := v.Distance() / metresPerNM
	if nm < 10500*0.95 || nm > 10500*1.05 {
		t.Errorf("route is %.0f nm, want 10,500 nm ± 5 %%", nm)
	}
	// Sum of the legs, measured independently of the plan.
	wps := route()
	var sum float64
	for i := 0; i+1 < len(wps); i++ {
		sum += distance(wps[i].lat, wps[i].lon, wps[i+1].lat, wps[i+1].lon)
	}
	if math.Abs(sum-v.Distance()) > 1 {
		t.Errorf("plan length %.0f m, legs add up to %.0f m", v.Distance(), sum)
	}
	// About four weeks at 16 knots.
	if d := v.Duration(); d < 26*24*time.Hour || d > 30*24*time.Hour {
		t.Errorf("voyage takes %v at 16 kn, want 26 to 30 days", d)
	}
}

// TestRouteClearsLandmarks keeps the track off capes, islands and rocks,
// small ones in particular, which coarse land data sets leave out. The
// positions are the gazetteers', to about a kilometre.
func TestRouteClearsLandmarks(t *testing.T) {
	landmarks := []struct {
		name     string
		lat, lon float64
		minKm    float64 // 0 means 5 km
	}{
		{"Langgang Islands", 30.43, 122.93, 0},
		{"Yushan Islands", 28.88, 122.25, 0},
		{"Dongyin", 26.37, 120.50, 0},
		{"Wuqiu", 24.99, 119.45, 0},
		{"Penghu, Mudou", 23.78, 119.60, 0},
		{"Penghu, Huayu", 23.41, 119.32, 0},
		{"Pratas Island", 20.70, 116.72, 0},
		{"Lincoln Island, Paracels", 16.67, 112.73, 0},
		{"Phu Quy", 10.52, 108.93, 0},
		{"Pulau Aur", 2.45, 104.52, 0},
		{"Pedra Branca", 1.3303, 104.4058, 3},     // Singapore Strait: the lanes pass close
		{"Raffles Lighthouse", 1.160, 103.741, 1}, // ditto
		{"Tanjung Piai", 1.266, 103.508, 0},
		{"One Fathom Bank Lighthouse", 2.875, 100.995, 0},
		{"Pulau Jarak", 3.983, 100.10, 0},
		{"Pulau Perak", 5.68, 98.94, 0},
		{"Diamond Point", 5.25, 97.50, 0},
		{"Rondo", 6.07, 95.11, 0},
		{"Indira Point, Great Nicobar", 6.75, 93.84, 0},
		{"Great Basses", 6.18, 81.48, 0},
		{"Dondra Head", 5.92, 80.59, 0},
		{"Minicoy", 8.28, 73.05, 0},
		{"Thuraakunu, Maldives", 7.10, 72.90, 0},
		{"Socotra, Hadibu", 12.65, 54.02, 0},
		{"Abd al Kuri", 12.18, 52.25, 0},
		{"Perim", 12.66, 43.42, 0},
		{"Seven Brothers", 12.47, 43.42, 0},
		{"Greater Hanish", 13.72, 42.73, 0},
		{"Zuqar", 14.02, 42.75, 0},
		{"Jabal al-Tair", 15.55, 41.83, 0},
		{"Zubair", 15.05, 42.18, 0},
		{"Daedalus Reef", 24.92, 35.87, 0},
		{"The Brothers", 26.31, 34.85, 0},
		{"Shadwan", 27.50, 34.02, 0},
		{"Ras Mohammed", 27.73, 34.25, 0},
		{"Gavdos", 34.84, 24.08, 0},
		{"Capo Passero", 36.69, 15.14, 0},
		{"Gozo", 36.08, 14.25, 0},
		{"Pantelleria", 36.78, 11.99, 0},
		{"Cape Bon", 37.08, 11.05, 0},
		{"Zembra", 37.12, 10.80, 0},
		{"La Galite", 37.53, 8.93, 0},
		{"Alboran", 35.94, -3.03, 0},
		{"Cabo de Gata", 36.72, -2.19, 0},
		{"Europa Point", 36.11, -5.35, 0},
		{"Tarifa", 36.00, -5.61, 0},
		{"Ceuta", 35.90, -5.29, 0},
		{"Cape Spartel", 35.79, -5.92, 0},
		{"Cape St Vincent", 37.02, -8.99, 0},
		{"Cabo da Roca", 38.78, -9.50, 0},
		{"Farilhões", 39.47, -9.54, 0},
		{"Cape Finisterre", 42.88, -9.27, 0},
		{"Ushant", 48.46, -5.13, 0},
		{"Casquets", 49.72, -2.38, 0},
		{"Cap de la Hague", 49.72, -1.94, 0},
		{"Beachy Head", 50.73, 0.24, 0},
		{"Dover", 51.13, 1.31, 0},
		{"Cap Gris Nez", 50.87, 1.58, 0},
	}
	wps := route()
	for _, l := range landmarks {
		min := l.minKm
		if min == 0 {
			min = 5
		}
		p := toVec(l.lat, l.lon)
		best, where := math.Inf(1), ""
		for i := 0; i+1 < len(wps); i++ {
			a, b := toVec(wps[i].lat, wps[i].lon), toVec(wps[i+1].lat, wps[i+1].lon)
			θ := angle(a, b)
			n := int(θ*earthRadius/500) + 1 // every 500 m
			for k := 0; k <= n; k++ {
				if d := angle(p, slerp(a, b, θ, float64(k)/float64(n))) * earthRadius / 1000; d < best {
					best, where = d, wps[i+1].area
				}
			}
		}
		if best < min {
			t.Errorf("track passes %.1f km from %s (%s), want at least %.0f km", best, l.name, where, min)
		}
	}
}

func TestRouteTable(t *testing.T) {
	wps := route()
	canal := 0
	for i, w := range wps {
		if w.area == "" || math.Abs(w.lat) > 90 || math.Abs(w.lon) > 180 {
			t.Errorf("waypoint %d: %+v", i, w)
		}
		if w.canal {
			canal++
		}
		if i > 0 {
			// The longest open-ocean leg, Eight Degree Channel to Socotra, is
			// about 1,200 nm; a longer one is a typo.
			if d := distance(wps[i-1].lat, wps[i-1].lon, w.lat, w.lon) / metresPerNM; d > 1300 || d < 0.3 {
				t.Errorf("leg %d to %s is %.1f nm", i, w.area, d)
			}
		}
	}
	if canal == 0 {
		t.Error("no Suez Canal legs")
	}
}

func TestSpeedAndCourse(t *testing.T) {
	for _, knots := range []float64{0, 12, 21} {
		v := newVoyage(t, Config{Knots: knots, Seed: 3})
		want := knots
		if want == 0 {
			want = DefaultKnots
		}
		var sea, canal, anchored int
		for e := time.Duration(0); e < v.Duration(); e += 20 * time.Minute {
			s := v.At(e)
			switch s.Phase {
			case PhaseCanal:
				canal++
				if kn := s.SpeedMPS / mpsPerKnot; math.Abs(kn-min(want, canalKnots)) > 0.3 {
					t.Fatalf("%v kn: canal speed %.2f kn at %v", want, kn, e)
				}
			case PhaseAnchored:
				anchored++
				if s.SpeedMPS != 0 {
					t.Fatalf("%v kn: moving at anchor at %v", want, e)
				}
			case PhaseUnderway:
				l := v.legs[sortLeg(v, e)]
				if l.to.maxKnots != 0 {
					continue // harbour channel
				}
				sea++
				if kn := s.SpeedMPS / mpsPerKnot; math.Abs(kn-want) > 0.31 {
					t.Fatalf("%v kn: speed %.2f kn at %v in %s", want, kn, e, s.Area)
				}
				// The course points at where the ship is a little later.
				n := v.At(e + 5*time.Minute)
				if sortLeg(v, e+5*time.Minute) == sortLeg(v, e) {
					c := bearing(s.Lat, s.Lon, n.Lat, n.Lon)
					if d := math.Abs(math.Remainder(c-s.CourseDeg, 360)); d > 2 {
						t.Fatalf("%v kn: course %.1f° at %v in %s, track goes %.1f°", want, s.CourseDeg, e, s.Area, c)
					}
				}
			default:
				t.Fatalf("phase %q before arrival", s.Phase)
			}
		}
		if sea == 0 || canal == 0 || anchored == 0 {
			t.Errorf("%v kn: %d samples at sea, %d in the canal, %d at anchor; want some of each", want, sea, canal, anchored)
		}
		// Suez convoy wait: 6 h at anchor.
		if got := time.Duration(anchored) * 20 * time.Minute; got < suezWait-time.Hour || got > suezWait+time.Hour {
			t.Errorf("%v kn: %v at anchor, want about %v", want, got, suezWait)
		}
	}
}

// sortLeg is the index of the leg sailed at e.
func sortLeg(v *Voyage, e time.Duration) int {
	for i, l := range v.legs {
		if e < l.arrive {
			return i
		}
	}
	return len(v.legs) - 1
}

func TestTrackContinuous(t *testing.T) {
	v := newVoyage(t, Config{Seed: 11})
	prev := v.At(0)
	step := 10 * time.Minute
	maxJump := DefaultKnots*mpsPerKnot*step.Seconds() + 20 // + GPS noise
	for e := step; e < v.Duration()+time.Hour; e += step {
		s := v.At(e)
		if d := distance(prev.Lat, prev.Lon, s.Lat, s.Lon); d > maxJump {
			t.Fatalf("jump of %.0f m between %v and %v (%s)", d, e-step, e, s.Area)
		}
		if s.Sailed < prev.Sailed {
			t.Fatalf("sailed distance went back at %v", e)
		}
		prev = s
	}
}
