package line

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Endpoint names a Messaging API endpoint for rate limiting. LINE limits
// each endpoint of each channel on its own ("rate limits for each API
// function (endpoint) on a per-channel basis").
type Endpoint string

// The endpoints Tsunagu calls.
const (
	EndpointPush            Endpoint = "push"
	EndpointMulticast       Endpoint = "multicast"
	EndpointReply           Endpoint = "reply"
	EndpointBotInfo         Endpoint = "bot_info"
	EndpointProfile         Endpoint = "profile"
	EndpointRichMenuCreate  Endpoint = "richmenu_create"
	EndpointRichMenuDelete  Endpoint = "richmenu_delete"
	EndpointRichMenuImage   Endpoint = "richmenu_image"
	EndpointRichMenuLink    Endpoint = "richmenu_link"
	EndpointRichMenuUnlink  Endpoint = "richmenu_unlink"
	EndpointRichMenuDefault Endpoint = "richmenu_default"
	EndpointQuota           Endpoint = "quota"
	EndpointInsight         Endpoint = "insight"
)

// RateLimit is at most N requests per Period.
type RateLimit struct {
	N      float64
	Period time.Duration
}

// DefaultLimits are LINE's published per-channel limits (Messaging API
// reference, "Rate limits", as of 2026): multicast 200 requests per second,
// creating and deleting rich menus 100 per hour, every other endpoint 2,000
// per second. Endpoints missing here get DefaultLimit.
func DefaultLimits() map[Endpoint]RateLimit {
	return map[Endpoint]RateLimit{
		EndpointMulticast:      {200, time.Second},
		EndpointRichMenuCreate: {100, time.Hour},
		EndpointRichMenuDelete: {100, time.Hour},
	}
}

// DefaultLimit is LINE's limit for "other API endpoints".
var DefaultLimit = RateLimit{2000, time.Second}

// Limiter paces Messaging API calls per LINE channel and endpoint with one
// GCRA counter in Redis, so every process (several `tsunagu worker`s, the
// HTTP servers) shares the same budget, as LINE advises ("use a shared
// counter across the whole source of requests"). It never lets more than
// the limit through in any window of the limit's period: the burst is taken
// out of the steady rate.
type Limiter struct {
	rl      *redis_rate.Limiter
	limits  map[Endpoint]redis_rate.Limit
	deflt   redis_rate.Limit
	ceiling float64
}

// NewLimiter returns a Limiter on rdb with LINE's default limits, each
// capped at ceiling requests per second (TSUNAGU_LINE_RATE); ceiling <= 0
// means LINE's limits alone.
func NewLimiter(rdb redis.UniversalClient, ceiling float64) *Limiter {
	return NewLimiterWith(rdb, DefaultLimits(), ceiling)
}

// NewLimiterWith is NewLimiter with explicit per-endpoint limits.
func NewLimiterWith(rdb redis.UniversalClient, limits map[Endpoint]RateLimit, ceiling float64) *Limiter {
	l := &Limiter{rl: redis_rate.NewLimiter(rdb), limits: make(map[Endpoint]redis_rate.Limit), ceiling: ceiling}
	for ep, r := range limits {
		l.limits[ep] = l.gcra(r)
	}
	l.deflt = l.gcra(DefaultLimit)
	return l
}

// gcra turns a limit (capped by the ceiling) into GCRA parameters whose
// burst plus steady rate never exceed the limit within one period.
func (l *Limiter) gcra(r RateLimit) redis_rate.Limit {
	if l.ceiling > 0 && r.N/r.Period.Seconds() > l.ceiling {
		r = RateLimit{l.ceiling, time.Second}
	}
	if r.N < 1 {
		// Fractional rates: one request per 1/N periods.
		return redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Duration(float64(r.Period) / r.N)}
	}
	n := int(math.Floor(r.N))
	// The burst lets a request that missed its moment (a worker busy
	// elsewhere) be made up, but each one is taken from the steady rate: at
	// 2.5 % of the limit, multicasts sustained 195 of LINE's 200 a second,
	// and a campaign that missed a few moments stayed under 0.95 of the
	// limit. 1 % (at least 1; 2 from 100 up, so that two rich menus can be
	// created back to back).
	burst := max(1, min(2, n/50), n/100)
	if n-burst < 1 {
		return redis_rate.Limit{Rate: 1, Burst: 1, Period: r.Period}
	}
	return redis_rate.Limit{Rate: n - burst, Burst: burst, Period: r.Period}
}

// Limit is what the limiter allows for ep (for logs and tests).
func (l *Limiter) Limit(ep Endpoint) redis_rate.Limit {
	if lim, ok := l.limits[ep]; ok {
		return lim
	}
	return l.deflt
}

// Wait blocks until channelKey may call ep or ctx ends. A nil Limiter never
// waits. An unreachable Redis is an error (the caller retries later) rather
// than an unpaced call.
func (l *Limiter) Wait(ctx context.Context, channelKey string, ep Endpoint) error {
	if l == nil {
		return nil
	}
	lim := l.Limit(ep)
	key := "tsunagu:line:" + channelKey + ":" + string(ep)
	for {
		res, err := l.rl.Allow(ctx, key, lim)
		if err != nil {
			return fmt.Errorf("line: rate limiter for %s: %w", ep, err)
		}
		if res.Allowed > 0 {
			return nil
		}
		t := time.NewTimer(max(res.RetryAfter, time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("line: waiting for the %s rate limit: %w", ep, ctx.Err())
		case <-t.C:
		}
	}
}
