package conditions

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors"
	"github.com/tallygw/tally/sensors/sim"
)

// voyage is the simulator's default voyage: Yangshan to Rotterdam, frozen
// cargo at -18 °C, one six-hour reefer power failure 60 % of the way.
func voyage(t testing.TB) *sim.Voyage {
	t.Helper()
	v, err := sim.New(sim.Config{Start: t0, Seed: 7, Container: "CSQU3054383", SealID: "TS100001"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// voyageStream samples the voyage every step of voyage time until half a
// day after arrival: a GPS and a reefer reading each round (received 300 ms
// after their sensor time), the seal when it is sealed, every 6 hours and
// when it opens, and a Tick every round.
func voyageStream(v *sim.Voyage, step time.Duration) []action {
	var out []action
	add := func(r sensors.Reading, recv time.Time) { out = append(out, action{r: &r, recv: recv}) }
	ids := v.Sensors()
	lastSeal := ""
	for e := time.Duration(0); e <= v.Duration()+12*time.Hour; e += step {
		s := v.At(e)
		recv := s.Time.Add(300 * time.Millisecond)
		add(sensors.Reading{Sensor: ids[0], Kind: sensors.KindGPS, Time: s.Time, Clock: sensors.ClockGPS, Container: "CSQU3054383",
			Data: map[string]any{"lat": s.Lat, "lon": s.Lon, "speed_mps": s.SpeedMPS, "fix": "3d"}}, recv)
		add(sensors.Reading{Sensor: ids[1], Kind: sensors.KindTemperature, Time: s.Time, Clock: sensors.ClockDevice, Container: "CSQU3054383",
			Data: map[string]any{"celsius": math.Round(s.ReeferC*10) / 10, "probe": "supply"}}, recv)
		if s.Seal != lastSeal || e%(6*time.Hour) == 0 {
			add(sensors.Reading{Sensor: ids[2], Kind: sensors.KindSeal, Time: s.Time, Clock: sensors.ClockDevice, Container: "CSQU3054383",
				Data: map[string]any{"seal_id": "TS100001", "state": s.Seal, "lat": s.Lat, "lon": s.Lon}}, recv)
			lastSeal = s.Seal
		}
		out = append(out, action{recv: recv.Add(time.Minute)})
	}
	return out
}

func voyageConfig(allowed string) Config {
	return Config{
		Zones:     []Zone{{Name: "Yangshan", Circle: &Circle{Lat: 30.6, Lon: 122.08, RadiusM: 8000}}},
		ZonesFile: "testdata/zones.geojson",
		Rules: []Rule{
			// Frozen cargo: 4 °C above the setpoint for an hour.
			{Name: "reefer-warm", Type: TypeTemperature, Sensors: []string{"sim-reefer"}, AboveC: ptr(-14.0),
				Duration: time.Hour, HysteresisC: 2},
			{Name: "reefer-warm-24h", Type: TypeTemperature, Sensors: []string{"sim-*"}, AboveC: ptr(-14.0),
				Duration: 2 * time.Hour, Mode: ModeCumulative, Window: 24 * time.Hour},
			{Name: "quiet", Type: TypeSilence, Sensors: []string{"sim-gps", "sim-reefer"}, After: time.Hour},
			{Name: "seal", Type: TypeSeal, Sensors: []string{"sim-seal"}, AllowedZones: []string{allowed}},
			{Name: "fence", Type: TypeGeofence, Sensors: []string{"sim-gps"}},
			{Name: "clock", Type: TypeClock, Sensors: []string{"sim-gps"}},
		},
	}
}

func TestVoyage(t *testing.T) {
	v := voyage(t)
	acts := voyageStream(v, 15*time.Minute)
	ref := record(t, voyageConfig("Rotterdam Maasvlakte"), acts)
	evs := ref.g.events

	// The power failure fires the excursion rule exactly once, while the
	// simulator has the power off, and it ends after power returns.
	failAt := t0.Add(time.Duration(sim.DefaultExcursionStart * float64(v.Duration())))
	warm := []Event{}
	for _, e := range evs {
		if e.Rule == "reefer-warm" {
			warm = append(warm, e)
		}
	}
	if got := kinds(warm); !slices.Equal(got, []string{KindExcursion, KindExcursionEnd}) {
		t.Fatalf("reefer-warm: %s", dump(warm))
	}
	start, end := warm[0], warm[1]
	if start.At.Before(failAt.Add(time.Hour)) || start.At.After(failAt.Add(sim.DefaultExcursionDuration)) {
		t.Errorf("excursion fired at %v; the power failed at %v for %v", start.At, failAt, sim.DefaultExcursionDuration)
	}
	if p := start.Values["peak_c"].(float64); p < -14 || p > -18+sim.DefaultExcursionPeakC+1 {
		t.Errorf("peak %v", p)
	}
	if d := end.Values["duration_s"].(float64); d < 4*3600 || d > 7*3600 {
		t.Errorf("excursion lasted %v s; the simulator warms above -14 °C for about 5 h", d)
	}
	if start.Container != "CSQU3054383" || start.Clock != sensors.ClockDevice || start.FromSeq != end.FromSeq {
		t.Errorf("start %s", dump(warm))
	}
	// The cumulative rule fires once too and ends a day later, when the
	// excursion leaves its 24 h window.
	var c []Event
	for _, e := range evs {
		if e.Rule == "reefer-warm-24h" {
			c = append(c, e)
		}
	}
	if len(c) != 2 || c[0].Kind != KindExcursion || c[1].Values["reason"] != "window" || c[1].At.Sub(c[0].At) < 20*time.Hour {
		t.Errorf("reefer-warm-24h: %s", dump(c))
	}

	// The seal: sealed at departure, opened at the berth, inside the
	// destination: no breach.
	seal := only(evs, KindSealChange)
	if len(seal) != 2 || seal[0].Values["state"] != sensors.SealSealed || seal[1].Values["state"] != sensors.SealOpened {
		t.Errorf("seal: %s", dump(seal))
	}
	if b := only(evs, KindSealBreach); len(b) != 0 {
		t.Errorf("breach at the destination: %s", dump(b))
	}

	// Zones: out of Yangshan, through the canal, into Rotterdam.
	var fence []string
	for _, e := range evs {
		if e.Rule == "fence" {
			fence = append(fence, e.Kind+" "+e.Values["zone"].(string))
		}
	}
	want := []string{
		"geofence_enter Yangshan", "geofence_exit Yangshan",
		"geofence_enter Suez Canal", "geofence_exit Suez Canal",
		"geofence_enter Rotterdam Maasvlakte",
	}
	if !slices.Equal(fence, want) {
		t.Errorf("zones: %q, want %q", fence, want)
	}
	if n := len(only(evs, KindClockJump)) + len(only(evs, KindSilence)); n != 0 {
		t.Errorf("clock jumps or silences in a clean voyage: %s", dump(evs))
	}

	// The same voyage with the seal allowed to open only in Yangshan: the
	// opening at Rotterdam is a breach.
	other := record(t, voyageConfig("Yangshan"), acts)
	if b := only(other.g.events, KindSealBreach); len(b) != 1 || b[0].Values["reason"] != "outside the allowed zones" {
		t.Errorf("opened outside the allowed zone: %s", dump(b))
	}

	// Cold-chain figures of the reefer record.
	var samples []Sample
	for _, a := range acts {
		if a.r != nil && a.r.Kind == sensors.KindTemperature {
			samples = append(samples, Sample{At: a.r.Time, Celsius: a.r.Data["celsius"].(float64)})
		}
	}
	cc, err := Stats(samples, -25, -14)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Max < -12 || cc.Min > -18 || !(cc.MKT > cc.Mean) || cc.AboveS < 4*3600 || cc.AboveS > 7*3600 || cc.BelowS != 0 {
		t.Errorf("cold chain %+v", cc)
	}
	t.Logf("voyage: %d readings, %d events; reefer mean %.2f °C, MKT %.2f °C, max %.1f °C, %.1f h at or above -14 °C",
		len(samples), len(evs), cc.Mean, cc.MKT, cc.Max, cc.AboveS/3600)
}

// A gateway restarted in the middle of the voyage's excursion — with a
// replay from seq 0, or from a checkpoint — logs exactly the events of an
// uninterrupted voyage: one excursion.
func TestVoyageRestart(t *testing.T) {
	v := voyage(t)
	acts := voyageStream(v, 15*time.Minute)
	cfg := voyageConfig("Rotterdam Maasvlakte")
	ref := record(t, cfg, acts)
	want := ref.g.events

	// The action that fired the excursion.
	fired := -1
	for i := range acts {
		for _, e := range want[ref.evBefore[i]:ref.evAfter[i]] {
			if e.Rule == "reefer-warm" && e.Kind == KindExcursion {
				fired = i
			}
		}
	}
	if fired < 0 {
		t.Fatal("no excursion")
	}
	for _, i := range []int{fired - 12, fired - 1, fired, fired + 1, fired + 12} {
		for _, cp := range []*Checkpoint{nil, &ref.cp[i-3]} {
			g, resumed := restart(t, cfg, ref, ref.logAfter[i], ref.evAfter[i], cp)
			if len(resumed) != 0 {
				t.Fatalf("restart after action %d: Resume returned %s", i, dump(resumed))
			}
			g.play(acts[i+1:])
			sameEvents(t, "voyage restart", g.events, want)
		}
	}
}
