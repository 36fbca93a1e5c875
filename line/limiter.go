package line

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a token bucket per LINE channel. LINE's rate limits are per
// channel, so one busy shop must not slow down the others.
type Limiter struct {
	perSecond rate.Limit
	burst     int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// NewLimiter returns a Limiter that allows perSecond requests per channel with
// the given burst. perSecond <= 0 means unlimited.
func NewLimiter(perSecond float64, burst int) *Limiter {
	lim := rate.Limit(perSecond)
	if perSecond <= 0 {
		lim = rate.Inf
	}
	if burst < 1 {
		burst = 1
	}
	return &Limiter{perSecond: lim, burst: burst, buckets: make(map[string]*rate.Limiter)}
}

// bucket returns the channel's token bucket, creating it on first use.
func (l *Limiter) bucket(channelKey string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[channelKey]
	if !ok {
		b = rate.NewLimiter(l.perSecond, l.burst)
		l.buckets[channelKey] = b
	}
	return b
}

// Wait blocks until the channel may make one more request or ctx ends.
// A nil Limiter never waits.
func (l *Limiter) Wait(ctx context.Context, channelKey string) error {
	if l == nil {
		return nil
	}
	if err := l.bucket(channelKey).Wait(ctx); err != nil {
		return fmt.Errorf("line: waiting for rate limit: %w", err)
	}
	return nil
}

// Allow reports whether the channel may make a request at time now, taking a
// token if so. It never blocks; it exists for callers that prefer to
// reschedule work rather than wait, and for deterministic tests.
func (l *Limiter) Allow(channelKey string, now time.Time) bool {
	if l == nil {
		return true
	}
	return l.bucket(channelKey).AllowN(now, 1)
}
