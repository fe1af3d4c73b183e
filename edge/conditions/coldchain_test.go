package conditions

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// evenly returns samples one hour apart.
func evenly(cs ...float64) []Sample {
	out := make([]Sample, len(cs))
	for i, c := range cs {
		out[i] = Sample{At: t0.Add(time.Duration(i) * time.Hour), Celsius: c}
	}
	return out
}

// The published vectors (testdata/vectors.md), equal weights, to 3
// decimals.
func TestMKTVectors(t *testing.T) {
	tests := []struct {
		in   []float64
		want string
	}{
		{repeat(5, 10), "5.000"},
		{[]float64{2, 4, 6, 8, 10}, "6.477"},
		{[]float64{2, 8}, "5.536"},
		{[]float64{20, 25, 30}, "25.858"},
		{cat(repeat(5, 23), []float64{25}), "7.756"},
	}
	for _, tt := range tests {
		got, err := MKT(evenly(tt.in...))
		if err != nil {
			t.Fatal(err)
		}
		if s := fmt.Sprintf("%.3f", got); s != tt.want {
			t.Errorf("MKT(%v) = %s, want %s", tt.in, s, tt.want)
		}
	}
}

// Uneven samples are weighted by the interval until the next sample: 2 °C
// held for 3 h and 8 °C for 1 h is the MKT of [2, 2, 2, 8] evenly.
func TestMKTWeighted(t *testing.T) {
	want, _ := MKT(evenly(2, 2, 2, 8))
	uneven := []Sample{{t0, 2}, {t0.Add(3 * time.Hour), 8}}
	got, err := MKTUntil(uneven, t0.Add(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("MKTUntil = %v, want %v", got, want)
	}
	// Without an end, the last sample weighs the median interval: here the
	// one interval, 3 h: [2, 8] evenly.
	got, _ = MKT(uneven)
	if want, _ := MKT(evenly(2, 8)); math.Abs(got-want) > 1e-9 {
		t.Errorf("MKT = %v, want %v", got, want)
	}
	// Median, not mean: one long gap does not inflate the last sample.
	s := []Sample{{t0, 4}, {t0.Add(time.Hour), 4}, {t0.Add(2 * time.Hour), 4}, {t0.Add(50 * time.Hour), 20}}
	got, _ = MKT(s)
	want, _ = MKTUntil(s, s[3].At.Add(time.Hour))
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("MKT = %v, want %v (the last sample weighted 1 h)", got, want)
	}
	// One sample, or samples at one instant, weigh the same.
	if got, _ := MKT([]Sample{{t0, 7}}); math.Abs(got-7) > 1e-9 {
		t.Errorf("one sample: %v", got)
	}
	same := []Sample{{t0, 2}, {t0, 8}}
	if got, _ := MKT(same); fmt.Sprintf("%.3f", got) != "5.536" {
		t.Errorf("samples at one instant: %v", got)
	}
	// Cold: no underflow at -80 °C or colder.
	if got, _ := MKT(evenly(-80, -80)); math.Abs(got+80) > 1e-9 {
		t.Errorf("MKT at -80 = %v", got)
	}
	if got, _ := MKT(evenly(-270, -260)); math.IsNaN(got) || got < -270 || got > -260 {
		t.Errorf("MKT near absolute zero = %v", got)
	}
}

func TestMKTErrors(t *testing.T) {
	for name, s := range map[string][]Sample{
		"empty":        nil,
		"NaN":          {{t0, math.NaN()}},
		"below 0 K":    {{t0, -300}},
		"out of order": {{t0.Add(time.Hour), 1}, {t0, 2}},
	} {
		if _, err := MKT(s); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := MKTUntil(evenly(1, 2), t0); err == nil {
		t.Error("end before the last sample: no error")
	}
}

func TestStats(t *testing.T) {
	// 4 °C for 2 h, 9 °C for 1 h, 1 °C for 1 h (held until the end).
	s := []Sample{{t0, 4}, {t0.Add(time.Hour), 4}, {t0.Add(2 * time.Hour), 9}, {t0.Add(3 * time.Hour), 1}}
	c, err := StatsUntil(s, t0.Add(4*time.Hour), 2, 8)
	if err != nil {
		t.Fatal(err)
	}
	mkt, _ := MKT(evenly(4, 4, 9, 1))
	want := ColdChain{Min: 1, Max: 9, Mean: 4.5, MKT: mkt, AboveS: 3600, BelowS: 3600, SpanS: 4 * 3600, Samples: 4}
	if c != want {
		t.Errorf("StatsUntil = %+v\nwant %+v", c, want)
	}
	// The limits are inclusive, as in the rules.
	c, _ = Stats(s, 1, 9)
	if c.AboveS != 3600 || c.BelowS != 3600 {
		t.Errorf("inclusive limits: %+v", c)
	}
	c, _ = Stats(s, math.Inf(-1), math.Inf(1))
	if c.AboveS != 0 || c.BelowS != 0 {
		t.Errorf("no limits: %+v", c)
	}
}

func ExampleMKT() {
	// Hourly readings of a chilled container: mostly 5 °C, one hour at 25.
	var s []Sample
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for h := range 24 {
		c := 5.0
		if h == 23 {
			c = 25
		}
		s = append(s, Sample{At: start.Add(time.Duration(h) * time.Hour), Celsius: c})
	}
	mkt, err := MKT(s)
	if err != nil {
		panic(err)
	}
	fmt.Printf("MKT %.3f °C\n", mkt)
	// Output: MKT 7.756 °C
}
