package bench

import (
	"math/bits"
	"time"
)

// histogram counts durations at microsecond resolution in log-linear
// buckets: exact below 256 µs, then 128 buckets per power of two (each at
// most 0.8 % wide). It has a fixed size (about 40 KB) whatever the number
// of samples, so recording does not grow the process being measured.
// Not safe for concurrent use.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

const (
	histSubBits = 7
	histMaxUS   = 1<<40 - 1 // about 12.7 days; longer samples count as this
	histBuckets = (40 - histSubBits + 1) << histSubBits
)

func histBucket(us uint64) int {
	us = min(us, histMaxUS)
	e := max(0, bits.Len64(us)-histSubBits-1)
	return e<<histSubBits + int(us>>e)
}

// histUpper is the largest value, in microseconds, that falls in bucket i.
func histUpper(i int) uint64 {
	if i < 2<<histSubBits {
		return uint64(i)
	}
	e := i>>histSubBits - 1
	m := uint64(i - e<<histSubBits)
	return (m+1)<<e - 1
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0 // clocks of two processes read a hair apart
	}
	h.counts[histBucket(uint64(d/time.Microsecond))]++
	h.n++
	h.max = max(h.max, d)
}

// quantile returns the q-quantile (0 < q ≤ 1), rounded up to its bucket's
// upper bound and never above the largest sample; 0 without samples.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	if float64(rank) < q*float64(h.n) || rank == 0 {
		rank++
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(histUpper(i))*time.Microsecond+time.Microsecond-1, h.max)
		}
	}
	return h.max
}
