package nmea

import (
	"math"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors"
)

func gpsAt(sec int, lat, lon float64, fix string) sensors.Reading {
	var ts time.Time
	if sec >= 0 {
		ts = time.Date(2026, 1, 1, 0, 0, sec, 0, time.UTC)
	}
	return sensors.Reading{Kind: sensors.KindGPS, Time: ts, Data: map[string]any{"lat": lat, "lon": lon, "fix": fix}}
}

func TestDecimator(t *testing.T) {
	// 0.0001 degree of latitude is about 11.1 m.
	const lat0, lon0 = 53.5, 9.9
	status := sensors.Reading{Kind: sensors.KindStatus, Data: map[string]any{"event": EventFixLost}}
	steps := []struct {
		name string
		r    sensors.Reading
		keep bool
	}{
		{"first", gpsAt(0, lat0, lon0, Fix3D), true},
		{"too soon, too close", gpsAt(5, lat0+0.00005, lon0, Fix3D), false},
		{"moved 11 m", gpsAt(6, lat0+0.0001, lon0, Fix3D), true},
		{"close to the last kept", gpsAt(7, lat0+0.00015, lon0, Fix3D), false},
		{"fix kind changed", gpsAt(8, lat0+0.00015, lon0, FixRTKFixed), true},
		{"interval passed", gpsAt(38, lat0+0.00015, lon0, FixRTKFixed), true},
		{"status always kept", status, true},
		{"first after a status", gpsAt(39, lat0+0.00015, lon0, FixRTKFixed), true},
		{"too soon again", gpsAt(40, lat0+0.00015, lon0, FixRTKFixed), false},
		{"no trusted time: kept", gpsAt(-1, lat0+0.00015, lon0, FixRTKFixed), true},
		{"after an untimed one: kept", gpsAt(41, lat0+0.00015, lon0, FixRTKFixed), true},
		{"clock went back: kept", gpsAt(20, lat0+0.00015, lon0, FixRTKFixed), true},
	}
	d := Decimator{MinInterval: 30 * time.Second, MinDistanceM: 10}
	for _, s := range steps {
		if got := d.Keep(s.r); got != s.keep {
			t.Errorf("%s: Keep = %v, want %v", s.name, got, s.keep)
		}
	}
}

func TestDecimatorCriteria(t *testing.T) {
	stream := []sensors.Reading{
		gpsAt(0, 10, 10, Fix3D), gpsAt(1, 10, 10, Fix3D), gpsAt(2, 10.001, 10, Fix3D), gpsAt(3, 10.001, 10, Fix3D),
	}
	for _, tc := range []struct {
		name string
		d    Decimator
		want []bool
	}{
		{"disabled keeps everything", Decimator{}, []bool{true, true, true, true}},
		{"interval only", Decimator{MinInterval: 2 * time.Second}, []bool{true, false, true, false}},
		{"distance only", Decimator{MinDistanceM: 100}, []bool{true, false, true, false}},
	} {
		for i, r := range stream {
			if got := tc.d.Keep(r); got != tc.want[i] {
				t.Errorf("%s: reading %d: Keep = %v, want %v", tc.name, i, got, tc.want[i])
			}
		}
	}
}

func TestDecimatorKeepAt(t *testing.T) {
	// Readings without GPS time judged by the receive time.
	d := Decimator{MinInterval: 10 * time.Second}
	recv := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := gpsAt(-1, 1, 1, Fix2D)
	for i, want := range []bool{true, false, true, false} {
		if got := d.KeepAt(r, recv.Add(time.Duration(i)*5*time.Second)); got != want {
			t.Errorf("reading %d: KeepAt = %v, want %v", i, got, want)
		}
	}
}

func TestHaversine(t *testing.T) {
	for _, tc := range []struct {
		lat1, lon1, lat2, lon2, want, tol float64
	}{
		{0, 0, 1, 0, math.Pi / 180 * earthRadiusM, 1e-6},                 // one degree of latitude
		{0, 179.5, 0, -179.5, math.Pi / 180 * earthRadiusM, 1e-6},        // across the antimeridian
		{90, 0, -90, 0, math.Pi * earthRadiusM, 1e-6},                    // pole to pole
		{51.4778, -0.0015, 48.8583, 2.2945, 334_000, 1_000},              // Greenwich to the Eiffel tower, ~334 km
		{41.574970205, -93.750558641, 41.574970205, -93.750558641, 0, 0}, // same point
	} {
		if got := HaversineM(tc.lat1, tc.lon1, tc.lat2, tc.lon2); math.Abs(got-tc.want) > tc.tol {
			t.Errorf("HaversineM(%v,%v,%v,%v) = %f, want %f", tc.lat1, tc.lon1, tc.lat2, tc.lon2, got, tc.want)
		}
	}
}
