package uplink

import "time"

// bucket is a token bucket: rate tokens a second, holding at most burst.
// Its burst is a tenth of a second's worth (at least one message): the
// rate holds over any second, and a goroutine scheduled late catches up a
// little instead of losing its share.
type bucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

// newBucket returns a bucket for rate messages a second, or nil for no
// limit (rate 0).
func newBucket(rate float64) *bucket {
	if rate <= 0 {
		return nil
	}
	burst := max(1, rate/10)
	return &bucket{rate: rate, burst: burst, tokens: burst}
}

// delay refills the bucket up to now and returns how long until a token is
// available (0: take one now).
func (b *bucket) delay(now time.Time) time.Duration {
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// take spends one token; call it after delay returned 0.
func (b *bucket) take() { b.tokens-- }
