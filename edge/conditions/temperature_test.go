package conditions

import (
	"slices"
	"testing"
	"time"

	"github.com/tallygw/tally/sensors"
)

func warmRule(mut func(*Rule)) Config {
	r := Rule{
		Name: "warm", Type: TypeTemperature, Sensors: []string{"reefer-*"},
		AboveC: ptr(8.0), Duration: 30 * time.Minute, MaxGap: 10 * time.Minute,
	}
	if mut != nil {
		mut(&r)
	}
	return Config{Rules: []Rule{r}}
}

// Readings every 5 min, duration 30m: the excursion is measured in time,
// each reading holding until the next. Six readings in excursion (0 … 25
// min) make 30 min when the next reading arrives at 30 min: the rule fires.
// Five make 25 min: it does not.
func TestConsecutiveBoundary(t *testing.T) {
	step := 5 * time.Minute
	tests := []struct {
		name   string
		values []float64
		fire   bool
		at     time.Duration // At - t0
		from   int64         // seq of the first reading in excursion
	}{
		{"six intervals fire", cat(repeat(4, 2), repeat(9, 6), repeat(4, 3)), true, 10*time.Minute + 30*time.Minute, 2},
		{"five intervals do not", cat(repeat(4, 2), repeat(9, 5), repeat(4, 3)), false, 0, 0},
		{"at the threshold is in excursion", cat(repeat(4, 2), repeat(8, 6), repeat(4, 3)), true, 40 * time.Minute, 2},
		{"just below is not", cat(repeat(4, 2), repeat(7.99, 6), repeat(4, 3)), false, 0, 0},
		{"still in excursion at the end fires", cat(repeat(4, 1), repeat(9, 8)), true, 35 * time.Minute, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, warmRule(nil))
			evs := g.feedTemps("reefer-1", step, tt.values...)
			starts := only(evs, KindExcursion)
			if !tt.fire {
				if len(evs) != 0 {
					t.Fatalf("events %s, want none", dump(evs))
				}
				return
			}
			if len(starts) != 1 {
				t.Fatalf("events %s, want one excursion", dump(evs))
			}
			ev := starts[0]
			if !ev.At.Equal(t0.Add(tt.at)) || ev.FromSeq != tt.from {
				t.Errorf("excursion at %v from seq %d, want %v from %d", ev.At, ev.FromSeq, t0.Add(tt.at), tt.from)
			}
			// The reading that completed 30 min is 30 min after the first.
			if want := tt.from + 6; ev.ToSeq != want {
				t.Errorf("excursion to seq %d, want %d", ev.ToSeq, want)
			}
			if ev.Values["duration_s"] != 1800.0 || ev.Values["limit_s"] != 1800.0 || ev.Values["threshold_c"] != 8.0 {
				t.Errorf("values %v", ev.Values)
			}
		})
	}
}

func TestConsecutiveEnd(t *testing.T) {
	g := newGateway(t, warmRule(nil))
	// 4, then 9 9 12 9 9 9 9 (35 min) then 4.
	evs := g.feedTemps("reefer-1", 5*time.Minute, cat(repeat(4, 1), []float64{9, 9, 12, 9, 9, 9, 9}, repeat(4, 2))...)
	if got := kinds(evs); !slices.Equal(got, []string{KindExcursion, KindExcursionEnd}) {
		t.Fatalf("events %s", dump(evs))
	}
	end := evs[1]
	// seq 8 is the event reading the gateway appended after seq 7.
	if end.FromSeq != 1 || end.ToSeq != 9 || !end.At.Equal(t0.Add(40*time.Minute)) {
		t.Errorf("end %s", dump(evs[1:]))
	}
	if end.Values["duration_s"] != 2100.0 || end.Values["peak_c"] != 12.0 || end.Values["reason"] != "recovered" {
		t.Errorf("end values %v", end.Values)
	}
	if evs[0].Values["peak_c"] != 12.0 {
		t.Errorf("start peak %v", evs[0].Values["peak_c"])
	}
}

// A gap (an interval longer than max_gap) is not time in excursion and
// breaks a consecutive run.
func TestConsecutiveGap(t *testing.T) {
	g := newGateway(t, warmRule(nil))                      // max_gap 10m
	times := []time.Duration{0, 5, 10, 15, 30, 35, 40, 45} // 15 → 30 is a gap
	var evs []Event
	for _, m := range times {
		at := t0.Add(m * time.Minute)
		evs = append(evs, g.accept(temp("reefer-1", at, 9), at)...)
	}
	// 0…15 counts 15 min, then the gap, then 30…45 counts 15 min: no
	// run reaches 30 min.
	if len(evs) != 0 {
		t.Fatalf("events %s, want none: a gap breaks the run", dump(evs))
	}

	// A gap after the rule fired ends the excursion at the last reading
	// before it.
	g = newGateway(t, warmRule(nil))
	var all []Event
	for _, m := range []time.Duration{0, 5, 10, 15, 20, 25, 30, 35, 60} {
		at := t0.Add(m * time.Minute)
		all = append(all, g.accept(temp("reefer-1", at, 9), at)...)
	}
	if got := kinds(all); !slices.Equal(got, []string{KindExcursion, KindExcursionEnd}) {
		t.Fatalf("events %s", dump(all))
	}
	end := all[1]
	if !end.At.Equal(t0.Add(35*time.Minute)) || end.Values["reason"] != "gap" || end.Values["duration_s"] != 2100.0 || end.ToSeq != 9 {
		t.Errorf("end %s", dump(all[1:]))
	}
	// Exactly max_gap is not a gap.
	g = newGateway(t, warmRule(nil))
	var evs2 []Event
	for _, m := range []time.Duration{0, 10, 20, 30, 40} {
		at := t0.Add(m * time.Minute)
		evs2 = append(evs2, g.accept(temp("reefer-1", at, 9), at)...)
	}
	if len(only(evs2, KindExcursion)) != 1 {
		t.Errorf("intervals of exactly max_gap: events %s, want an excursion", dump(evs2))
	}
}

// Cumulative mode sums time in excursion across gaps and interruptions.
func TestCumulativeAcrossGaps(t *testing.T) {
	cfg := warmRule(func(r *Rule) { r.Mode = ModeCumulative; r.Window = 24 * time.Hour })
	g := newGateway(t, cfg)
	// Stretch 1: 9 °C at 0, 5, 10 → 15 min counted (10 → 15 closes it).
	// Gap 15 → 60 (not counted). Stretch 2: 9 °C at 60, 65 → 10 min, back
	// to 4 at 70. Stretch 3: 9 at 80, 85, … the sum reaches 30 min 5 min
	// after 80.
	type rd struct {
		m time.Duration
		v float64
	}
	stream := []rd{{0, 9}, {5, 9}, {10, 9}, {15, 4}, {60, 9}, {65, 9}, {70, 4}, {75, 4}, {80, 9}, {90, 9}, {95, 4}}
	var evs []Event
	for _, x := range stream {
		at := t0.Add(x.m * time.Minute)
		evs = append(evs, g.accept(temp("reefer-1", at, x.v), at)...)
	}
	starts := only(evs, KindExcursion)
	if len(starts) != 1 {
		t.Fatalf("events %s, want one excursion", dump(evs))
	}
	ev := starts[0]
	// 15 + 10 = 25 min before 80; 5 more min at 85.
	if want := t0.Add(85 * time.Minute); !ev.At.Equal(want) {
		t.Errorf("At %v, want %v", ev.At, want)
	}
	if ev.FromSeq != 8 || ev.ToSeq != 9 {
		t.Errorf("seq %d..%d, want 8..9 (the stretch that reached it, the reading that closed the interval)", ev.FromSeq, ev.ToSeq)
	}
	if ev.Values["duration_s"] != 2100.0 || ev.Values["mode"] != ModeCumulative || ev.Values["window_s"] != 86400.0 {
		t.Errorf("values %v", ev.Values)
	}

	// The same stream in consecutive mode never fires.
	g = newGateway(t, warmRule(func(r *Rule) { r.MaxGap = 10 * time.Minute }))
	for _, x := range stream {
		at := t0.Add(x.m * time.Minute)
		if evs := g.accept(temp("reefer-1", at, x.v), at); len(evs) != 0 {
			t.Fatalf("consecutive: events %s", dump(evs))
		}
	}
}

// With a window, a cumulative excursion ends when the sum drops back below
// the duration, and can fire again later.
func TestCumulativeWindow(t *testing.T) {
	cfg := warmRule(func(r *Rule) {
		r.Mode = ModeCumulative
		r.Window = 2 * time.Hour
		r.Duration = 20 * time.Minute
		r.MaxGap = 30 * time.Minute
	})
	g := newGateway(t, cfg)
	var evs []Event
	for m := time.Duration(0); m <= 6*60; m += 10 {
		v := 4.0
		if m < 30 || m >= 300 && m < 330 { // 0…30 and 300…330 in excursion
			v = 9
		}
		at := t0.Add(m * time.Minute)
		evs = append(evs, g.accept(temp("reefer-1", at, v), at)...)
	}
	want := []string{KindExcursion, KindExcursionEnd, KindExcursion}
	if got := kinds(evs); !slices.Equal(got, want) {
		t.Fatalf("events %s, want %v", dump(evs), want)
	}
	if !evs[0].At.Equal(t0.Add(20 * time.Minute)) {
		t.Errorf("first fires at %v", evs[0].At)
	}
	// 30 min in excursion from 0 to 30: the 2 h window ending at τ holds
	// less than 20 min once τ − 2h > 10 min, i.e. just after 2h10m.
	if want := t0.Add(130*time.Minute + time.Nanosecond); !evs[1].At.Equal(want) || evs[1].Values["reason"] != "window" {
		t.Errorf("end at %v (%v), want %v", evs[1].At, evs[1].Values["reason"], want)
	}
	if evs[2].FromSeq == evs[0].FromSeq {
		t.Errorf("second excursion has the first's identity")
	}
}

// A sensor hovering at the limit makes one excursion with hysteresis, and
// flaps without it.
func TestHysteresis(t *testing.T) {
	hover := []float64{7.5, 8.1, 7.9, 8.2, 7.8, 8.0, 7.9, 8.1, 7.95, 8.05, 7.9, 8.1, 7.6, 8.2, 7.8, 8.0, 7.7, 6.0, 6.0}
	g := newGateway(t, warmRule(func(r *Rule) { r.HysteresisC = 0.5; r.Duration = 20 * time.Minute }))
	evs := g.feedTemps("reefer-1", 5*time.Minute, hover...)
	if got := kinds(evs); !slices.Equal(got, []string{KindExcursion, KindExcursionEnd}) {
		t.Fatalf("with hysteresis: events %s, want one excursion and its end", dump(evs))
	}
	if evs[0].FromSeq != 1 || g.log[evs[1].ToSeq].Reading.Data["celsius"] != 6.0 {
		t.Errorf("excursion seq %d..%d, want from 1 (the first ≥ 8) to the first < 7.5", evs[0].FromSeq, evs[1].ToSeq)
	}
	// 7.5 is exactly threshold − hysteresis: still in excursion.
	g = newGateway(t, warmRule(func(r *Rule) { r.HysteresisC = 0.5; r.Duration = 10 * time.Minute }))
	evs = g.feedTemps("reefer-1", 5*time.Minute, 8, 7.5, 7.5, 7.49, 4)
	if got := kinds(evs); !slices.Equal(got, []string{KindExcursion, KindExcursionEnd}) || g.log[evs[1].ToSeq].Reading.Data["celsius"] != 7.49 {
		t.Errorf("threshold − hysteresis: events %s", dump(evs))
	}

	// Without hysteresis the same readings never stay 20 min in excursion:
	// every dip below 8 ends the run.
	g = newGateway(t, warmRule(func(r *Rule) { r.Duration = 20 * time.Minute }))
	if evs := g.feedTemps("reefer-1", 5*time.Minute, hover...); len(evs) != 0 {
		t.Errorf("without hysteresis: events %s", dump(evs))
	}
	// And with duration 0 it flaps: one excursion per crossing.
	g = newGateway(t, warmRule(func(r *Rule) { r.Duration = 0 }))
	if evs := g.feedTemps("reefer-1", 5*time.Minute, hover...); len(only(evs, KindExcursion)) < 5 {
		t.Errorf("duration 0 without hysteresis: %d excursions, want a flapping many", len(only(evs, KindExcursion)))
	}
	g = newGateway(t, warmRule(func(r *Rule) { r.Duration = 0; r.HysteresisC = 0.5 }))
	if evs := g.feedTemps("reefer-1", 5*time.Minute, hover...); len(only(evs, KindExcursion)) != 1 {
		t.Errorf("duration 0 with hysteresis: events %s, want one excursion", dump(evs))
	}
}

func TestBelowThreshold(t *testing.T) {
	cfg := Config{Rules: []Rule{{
		Name: "cold", Type: TypeTemperature, Sensors: []string{"reefer-1"},
		BelowC: ptr(-25.0), Duration: 15 * time.Minute, HysteresisC: 1,
	}}}
	g := newGateway(t, cfg)
	evs := g.feedTemps("reefer-1", 5*time.Minute, -20, -25, -27, -24.5, -24, -23.9, -20)
	if got := kinds(evs); !slices.Equal(got, []string{KindExcursion, KindExcursionEnd}) {
		t.Fatalf("events %s", dump(evs))
	}
	if evs[0].Values["peak_c"] != -27.0 || evs[0].Values["direction"] != "below" || g.log[evs[1].ToSeq].Reading.Data["celsius"] != -23.9 {
		t.Errorf("events %s", dump(evs))
	}
}

// Probes of one sensor are separate series; readings of other kinds and
// sensors are ignored.
func TestSeriesAndFilters(t *testing.T) {
	g := newGateway(t, warmRule(func(r *Rule) { r.Probes = []string{"supply"}; r.Duration = 10 * time.Minute }))
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	ret := func(m int, v float64) sensors.Reading {
		r := temp("reefer-1", at(m), v)
		r.Data["probe"] = "return"
		return r
	}
	var evs []Event
	for m := 0; m <= 30; m += 5 {
		// The return probe is warm all along but not watched; the supply
		// probe alternates, so interleaving the two must not mix them.
		evs = append(evs, g.accept(ret(m, 20), at(m))...)
		v := 4.0
		if m >= 10 {
			v = 9
		}
		evs = append(evs, g.accept(temp("reefer-1", at(m), v), at(m))...)
		evs = append(evs, g.accept(temp("other", at(m), 30), at(m))...)
		h := temp("reefer-1", at(m), 30)
		h.Kind = "humidity"
		evs = append(evs, g.accept(h, at(m))...)
	}
	if len(evs) != 1 || evs[0].Values["probe"] != "supply" || !evs[0].At.Equal(at(20)) {
		t.Fatalf("events %s, want one supply excursion at 20 min", dump(evs))
	}
}
