package bench

import (
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	// Every value lands in a bucket whose upper bound is at least the value
	// and at most 0.8 % above it; buckets are ordered.
	prev := -1
	for _, us := range []uint64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1000, 4095, 4096, 99_999, 1 << 30, histMaxUS} {
		b := histBucket(us)
		if b < prev {
			t.Errorf("bucket(%d) = %d, below the previous value's %d", us, b, prev)
		}
		prev = b
		up := histUpper(b)
		if up < us || float64(up-us) > 0.008*float64(us)+1 {
			t.Errorf("value %d µs: bucket %d has upper bound %d", us, b, up)
		}
		if b > 0 && histUpper(b-1) >= us {
			t.Errorf("value %d µs: the bucket below (%d) already reaches %d", us, b-1, histUpper(b-1))
		}
		if b >= histBuckets {
			t.Errorf("value %d µs: bucket %d out of range %d", us, b, histBuckets)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
		tol     float64 // relative
	}{
		{"empty", nil, 0.99, 0, 0},
		{"one", []time.Duration{3 * time.Millisecond}, 0.5, 3 * time.Millisecond, 0.008},
		{"max caps", []time.Duration{1500 * time.Microsecond}, 0.99, 1500 * time.Microsecond, 0},
		{"p50 of 1..100 ms", ms(1, 100), 0.5, 50 * time.Millisecond, 0.008},
		{"p99 of 1..100 ms", ms(1, 100), 0.99, 99 * time.Millisecond, 0.008},
		{"p100", ms(1, 100), 1, 100 * time.Millisecond, 0},
		{"negative is zero", []time.Duration{-time.Millisecond}, 0.5, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, s := range tt.samples {
				h.record(s)
			}
			got := h.quantile(tt.q)
			if got < tt.want || float64(got-tt.want) > tt.tol*float64(tt.want)+float64(time.Microsecond) {
				t.Errorf("quantile(%v) = %v, want %v (+%.1f %%)", tt.q, got, tt.want, tt.tol*100)
			}
		})
	}
}

func ms(from, to int) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, time.Duration(i)*time.Millisecond)
	}
	return out
}
