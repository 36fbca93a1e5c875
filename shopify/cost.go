package shopify

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// GraphQL Admin API rate limiting is a leaky bucket of cost points per shop
// (per app and shop): each response reports in extensions.cost what the
// query was expected to cost (requestedQueryCost), what it did cost
// (actualQueryCost, null when throttled) and the bucket (throttleStatus:
// maximumAvailable, currentlyAvailable, restoreRate per second). A query
// whose requested cost exceeds currentlyAvailable is refused with a
// THROTTLED error. Tsunagu keeps its own view of each shop's bucket and
// waits before a call that would overdraw it, instead of learning it from
// refusals.

// ThrottleStatus is extensions.cost.throttleStatus of a GraphQL response.
type ThrottleStatus struct {
	MaximumAvailable   float64
	CurrentlyAvailable float64
	RestoreRate        float64 // points per second
}

// Defaults assumed for a shop before its first response tells the truth:
// Shopify's smallest bucket, so a guess never overdraws.
const (
	defaultBucketMax  = 1000
	defaultBucketRate = 50
	// maxQueryCost is the most a single query may cost on Shopify.
	maxQueryCost = 1000
	// unknownQueryCost is taken for the first call of a query (one at a
	// time, see costHints.learn); its answer tells the real cost.
	unknownQueryCost = 50
	// maxCostWait is the longest one wait for the bucket lasts before the
	// estimate is read again (another call may have taught it meanwhile).
	maxCostWait = 250 * time.Millisecond
)

// CostBudget tracks each shop's GraphQL cost bucket. Take takes cost
// points when the bucket holds them (returning 0), else takes nothing and
// says how long until it will. Observe merges what Shopify reported after a
// call: refund (what was taken minus what the call really cost; all of it
// when the call was throttled and did not run) goes back first, then the
// lower of the estimate and the report wins (the report cannot see calls
// still in flight); the maximum and the restore rate are the report's. A
// zero status (no report: the call failed before GraphQL) only refunds.
// Implementations are safe for concurrent use.
type CostBudget interface {
	Take(ctx context.Context, shop string, cost float64) (time.Duration, error)
	Observe(ctx context.Context, shop string, st ThrottleStatus, refund float64)
}

// reserve waits until budget lets a call of cost() points through and
// returns the points taken; cost is read again after each wait, as the
// first answer of a query teaches it.
func reserve(ctx context.Context, budget CostBudget, shop string, cost func() float64) (float64, error) {
	for {
		c := cost()
		wait, err := budget.Take(ctx, shop, c)
		if err != nil {
			return 0, err
		}
		if wait <= 0 {
			return c, nil
		}
		if err := sleep(ctx, min(wait, maxCostWait)); err != nil {
			return 0, err
		}
	}
}

// bucket is the arithmetic shared by both budgets.
type bucket struct {
	max, avail, rate float64
	at               time.Time
}

func (b *bucket) level(now time.Time) float64 {
	return math.Min(b.max, b.avail+math.Max(0, now.Sub(b.at).Seconds())*b.rate)
}

// take takes cost now or says how long to wait for it.
func (b *bucket) take(now time.Time, cost float64) time.Duration {
	cost = math.Min(cost, b.max)
	lvl := b.level(now)
	if lvl >= cost {
		b.avail, b.at = lvl-cost, now
		return 0
	}
	return time.Duration(math.Ceil((cost - lvl) / b.rate * float64(time.Second)))
}

func (b *bucket) observe(now time.Time, st ThrottleStatus, refund float64) {
	lvl := b.level(now) + refund
	if st.MaximumAvailable <= 0 || st.RestoreRate <= 0 { // no report: only the refund
		b.avail, b.at = math.Min(lvl, b.max), now
		return
	}
	b.max, b.rate = st.MaximumAvailable, st.RestoreRate
	b.avail, b.at = math.Min(math.Min(lvl, st.CurrentlyAvailable), b.max), now
}

// MemoryBudget is a CostBudget for one process: right as long as no other
// process calls the same shops (use RedisBudget when several do).
type MemoryBudget struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	now     func() time.Time
}

// NewMemoryBudget returns an empty per-process budget.
func NewMemoryBudget() *MemoryBudget {
	return &MemoryBudget{buckets: map[string]*bucket{}, now: time.Now}
}

func (m *MemoryBudget) get(shop string) *bucket {
	b, ok := m.buckets[shop]
	if !ok {
		b = &bucket{max: defaultBucketMax, avail: defaultBucketMax, rate: defaultBucketRate, at: m.now()}
		m.buckets[shop] = b
	}
	return b
}

// Take implements CostBudget.
func (m *MemoryBudget) Take(_ context.Context, shop string, cost float64) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.get(shop).take(m.now(), cost), nil
}

// Observe implements CostBudget.
func (m *MemoryBudget) Observe(_ context.Context, shop string, st ThrottleStatus, refund float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.get(shop).observe(m.now(), st, refund)
}

// RedisBudget is a CostBudget shared by every process through Redis: one
// hash per shop, read and written by Lua scripts (atomic), so two workers
// of the same shop draw from one bucket.
type RedisBudget struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisBudget returns a budget kept in rdb.
func NewRedisBudget(rdb redis.UniversalClient) *RedisBudget {
	return &RedisBudget{rdb: rdb, prefix: "tsunagu:shopify:cost:"}
}

// The scripts share the refill: KEYS[1] is the shop's hash (max, avail,
// rate, at in ms); ARGV[1] is now in ms, ARGV[2] and ARGV[3] the default
// max and rate.
const bucketLevel = `
local h = redis.call('HMGET', KEYS[1], 'max', 'avail', 'rate', 'at')
local now = tonumber(ARGV[1])
local max = tonumber(h[1]) or tonumber(ARGV[2])
local rate = tonumber(h[3]) or tonumber(ARGV[3])
local avail = tonumber(h[2]) or max
local at = tonumber(h[4]) or now
avail = math.min(max, avail + math.max(0, now - at) / 1000 * rate)
`

// takeScript: ARGV[4] is the cost. Returns 0 when taken, else the
// milliseconds until the bucket holds it.
var takeScript = redis.NewScript(bucketLevel + `
local cost = math.min(tonumber(ARGV[4]), max)
if avail >= cost then
  redis.call('HSET', KEYS[1], 'max', max, 'avail', tostring(avail - cost), 'rate', rate, 'at', now)
  redis.call('PEXPIRE', KEYS[1], 3600000)
  return 0
end
return math.ceil((cost - avail) / rate * 1000)
`)

// observeScript: ARGV[4..6] are Shopify's maximumAvailable,
// currentlyAvailable and restoreRate (0: no report, keep the estimate's),
// ARGV[7] the refund.
var observeScript = redis.NewScript(bucketLevel + `
local rmax, ravail, rrate = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if rmax <= 0 or rrate <= 0 then
  rmax, ravail, rrate = max, max, rate
end
avail = math.min(avail + tonumber(ARGV[7]), ravail, rmax)
redis.call('HSET', KEYS[1], 'max', rmax, 'avail', tostring(avail), 'rate', rrate, 'at', now)
redis.call('PEXPIRE', KEYS[1], 3600000)
return 0
`)

// Take implements CostBudget.
func (r *RedisBudget) Take(ctx context.Context, shop string, cost float64) (time.Duration, error) {
	ms, err := takeScript.Run(ctx, r.rdb, []string{r.prefix + shop}, time.Now().UnixMilli(), defaultBucketMax, defaultBucketRate,
		strconv.FormatFloat(cost, 'f', -1, 64)).Int64()
	if err != nil {
		return 0, fmt.Errorf("shopify: taking %v cost points for %s: %w", cost, shop, err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Observe implements CostBudget. A Redis error only loses the update: the
// next Take works from the older estimate and Shopify's THROTTLED answer
// remains the backstop.
func (r *RedisBudget) Observe(ctx context.Context, shop string, st ThrottleStatus, refund float64) {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	_ = observeScript.Run(ctx, r.rdb, []string{r.prefix + shop}, time.Now().UnixMilli(), defaultBucketMax, defaultBucketRate,
		f(st.MaximumAvailable), f(st.CurrentlyAvailable), f(st.RestoreRate), f(refund)).Err()
}

// costHints remembers the last requested cost of each query, the estimate
// taken from the bucket before the next call of it. A query not run yet is
// learned by one call at a time: concurrent callers wait for its answer
// rather than all guessing at once.
type costHints struct {
	mu       sync.Mutex
	m        map[string]float64
	learning map[string]chan struct{}
}

// learn returns once q's cost is known or this caller is the one to learn
// it; done must be called after the answer was recorded (set).
func (h *costHints) learn(ctx context.Context, q string) (done func(), err error) {
	for {
		h.mu.Lock()
		if _, ok := h.m[q]; ok {
			h.mu.Unlock()
			return func() {}, nil
		}
		ch, busy := h.learning[q]
		if !busy {
			if h.learning == nil {
				h.learning = map[string]chan struct{}{}
			}
			ch = make(chan struct{})
			h.learning[q] = ch
			h.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					h.mu.Lock()
					delete(h.learning, q)
					h.mu.Unlock()
					close(ch)
				})
			}, nil
		}
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return func() {}, ctx.Err()
		case <-ch:
		}
	}
}

func (h *costHints) get(op string) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.m[op]; ok {
		return c
	}
	return unknownQueryCost
}

func (h *costHints) set(op string, cost float64) {
	if cost <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]float64{}
	}
	h.m[op] = math.Min(cost, maxQueryCost)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
