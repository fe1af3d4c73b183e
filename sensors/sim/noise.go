package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// gauss is a standard normal deviate drawn from the RNG seeded with
// Config.Seed, for stream and key. The same (seed, stream, key) always gives
// the same value, which keeps At a pure function of voyage time.
func (v *Voyage) gauss(stream, key uint64) float64 {
	r := rand.New(rand.NewPCG(uint64(v.cfg.Seed), mix(stream, key)))
	return r.NormFloat64()
}

// smooth is value noise: standard normal values at multiples of step,
// blended with a smoothstep between them, so that it drifts rather than
// jumps. Its spread is a little under N(0, 1) between the knots.
func (v *Voyage) smooth(stream uint64, e, step time.Duration) float64 {
	i := uint64(e / step)
	f := float64(e%step) / float64(step)
	f = f * f * (3 - 2*f)
	a, b := v.gauss(stream, i), v.gauss(stream, i+1)
	// Rescale so the blend keeps unit variance: Var = (1-f)² + f².
	return ((1-f)*a + f*b) / math.Sqrt((1-f)*(1-f)+f*f)
}

// mix combines a stream number and a key into one well-spread 64-bit
// value (the SplitMix64 finaliser).
func mix(stream, key uint64) uint64 {
	z := key + stream*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// clamp3 limits a standard normal deviate to three standard deviations, so
// that no noisy quantity strays further than its model allows.
func clamp3(x float64) float64 { return math.Max(-3, math.Min(3, x)) }
