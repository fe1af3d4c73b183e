package conditions

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// ActivationOverR is ΔH/R for the mean kinetic temperature, in kelvin: the
// conventional activation energy ΔH = 83.144 kJ/mol over the gas constant
// R = 8.3144 J/(mol·K), exactly 10,000 K (USP <1079.2>).
const ActivationOverR = 10000.0

// absoluteZeroC is 0 K in °C.
const absoluteZeroC = -273.15

// Sample is one temperature at one time.
type Sample struct {
	At      time.Time
	Celsius float64
}

// ColdChain summarises a temperature record.
type ColdChain struct {
	Min     float64 // lowest sample, °C
	Max     float64 // highest sample, °C
	Mean    float64 // time-weighted mean, °C
	MKT     float64 // mean kinetic temperature, °C
	AboveS  float64 // seconds at or above highC
	BelowS  float64 // seconds at or below lowC
	SpanS   float64 // seconds the samples cover (the sum of the weights)
	Samples int
}

// MKT returns the mean kinetic temperature of samples in °C:
//
//	MKT = (ΔH/R) / −ln( Σ wᵢ·exp(−(ΔH/R)/Tᵢ) / Σ wᵢ ) − 273.15,  Tᵢ in kelvin
//
// Each sample is weighted by the interval until the next one (its value is
// taken to hold until then, as the rules do); the last sample, which has no
// next, is weighted by the median interval. Evenly spaced samples therefore
// weigh the same, and the formula is the textbook one. A single sample, or
// samples all at one instant, weigh the same. Samples must be in time order.
func MKT(samples []Sample) (float64, error) {
	w, _, err := weights(samples, time.Time{})
	if err != nil {
		return 0, err
	}
	return mkt(samples, w), nil
}

// MKTUntil is MKT with the last sample weighted by the time from it until
// end, for a record that is known to hold until then (the end of a voyage).
func MKTUntil(samples []Sample, end time.Time) (float64, error) {
	if end.IsZero() {
		return 0, errors.New("mkt: end time is zero")
	}
	w, _, err := weights(samples, end)
	if err != nil {
		return 0, err
	}
	return mkt(samples, w), nil
}

// Stats summarises samples, weighted as MKT weights them. A sample at or
// above highC counts its weight in AboveS, at or below lowC in BelowS (the
// thresholds are inclusive, as in the rules); pass math.Inf(1) and
// math.Inf(-1) for no limit.
func Stats(samples []Sample, lowC, highC float64) (ColdChain, error) {
	return stats(samples, time.Time{}, lowC, highC)
}

// StatsUntil is Stats with the last sample weighted until end.
func StatsUntil(samples []Sample, end time.Time, lowC, highC float64) (ColdChain, error) {
	if end.IsZero() {
		return ColdChain{}, errors.New("cold chain: end time is zero")
	}
	return stats(samples, end, lowC, highC)
}

func stats(samples []Sample, end time.Time, lowC, highC float64) (ColdChain, error) {
	if math.IsNaN(lowC) || math.IsNaN(highC) {
		return ColdChain{}, errors.New("cold chain: a limit is NaN")
	}
	w, timed, err := weights(samples, end)
	if err != nil {
		return ColdChain{}, err
	}
	c := ColdChain{Min: math.Inf(1), Max: math.Inf(-1), Samples: len(samples), MKT: mkt(samples, w)}
	var sum, total float64
	for i, s := range samples {
		c.Min, c.Max = math.Min(c.Min, s.Celsius), math.Max(c.Max, s.Celsius)
		sum += w[i] * s.Celsius
		total += w[i]
		if s.Celsius >= highC {
			c.AboveS += w[i]
		}
		if s.Celsius <= lowC {
			c.BelowS += w[i]
		}
	}
	c.Mean = sum / total
	if timed {
		c.SpanS = total
	} else {
		c.AboveS, c.BelowS = 0, 0 // the weights are counts, not seconds
	}
	return c, nil
}

// weights returns each sample's weight in seconds, or 1 each (timed false)
// when the samples span no time.
func weights(samples []Sample, end time.Time) (w []float64, timed bool, err error) {
	n := len(samples)
	if n == 0 {
		return nil, false, errors.New("cold chain: no samples")
	}
	for i, s := range samples {
		if math.IsNaN(s.Celsius) || math.IsInf(s.Celsius, 0) || s.Celsius <= absoluteZeroC {
			return nil, false, fmt.Errorf("cold chain: sample %d: %v °C is not a temperature", i, s.Celsius)
		}
		if i > 0 && s.At.Before(samples[i-1].At) {
			return nil, false, fmt.Errorf("cold chain: sample %d at %s is before sample %d at %s: samples must be in time order",
				i, stamp(s.At), i-1, stamp(samples[i-1].At))
		}
	}
	if !end.IsZero() && end.Before(samples[n-1].At) {
		return nil, false, fmt.Errorf("cold chain: end %s is before the last sample at %s", stamp(end), stamp(samples[n-1].At))
	}
	w = make([]float64, n)
	for i := 0; i+1 < n; i++ {
		w[i] = samples[i+1].At.Sub(samples[i].At).Seconds()
	}
	if end.IsZero() {
		w[n-1] = median(w[:n-1])
	} else {
		w[n-1] = end.Sub(samples[n-1].At).Seconds()
	}
	var total float64
	for _, x := range w {
		total += x
	}
	if total == 0 {
		for i := range w {
			w[i] = 1
		}
		return w, false, nil
	}
	return w, true, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// mkt computes the formula with a log-sum-exp, so that no term underflows.
func mkt(samples []Sample, w []float64) float64 {
	xs := make([]float64, len(samples))
	m := math.Inf(-1)
	for i, s := range samples {
		if w[i] == 0 {
			continue
		}
		xs[i] = -ActivationOverR / (s.Celsius - absoluteZeroC)
		m = math.Max(m, xs[i])
	}
	var sum, total float64
	for i := range samples {
		if w[i] == 0 {
			continue
		}
		sum += w[i] * math.Exp(xs[i]-m)
		total += w[i]
	}
	lnMean := m + math.Log(sum/total)
	return ActivationOverR/-lnMean + absoluteZeroC
}
