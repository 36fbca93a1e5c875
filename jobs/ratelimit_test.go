package jobs

import (
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// startWorkerProcess runs an Asynq server for a copy of w whose LINE client
// has its own HTTP client, Redis connection and limiter at ceiling
// requests/s: one `tsunagu worker` process.
func startWorkerProcess(t *testing.T, w Worker, redisOpt asynq.RedisClientOpt, lineURL string, ceiling float64) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisOpt.Addr, DB: redisOpt.DB})
	t.Cleanup(func() { rdb.Close() })
	w.LINE = line.NewMessenger(lineURL, nil, line.WithLimiter(line.NewLimiter(rdb, ceiling)))
	cfg := ServerConfig(4, w.log())
	cfg.TaskCheckInterval = 20 * time.Millisecond
	cfg.DelayedTaskCheckInterval = 50 * time.Millisecond
	cfg.RetryDelayFunc = func(int, error, *asynq.Task) time.Duration { return 100 * time.Millisecond }
	srv := asynq.NewServer(redisOpt, cfg)
	if err := srv.Start(w.Mux()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(srv.Shutdown) })
}

// Two worker processes with TSUNAGU_LINE_RATE=10 share one budget: LINE
// (the fake, itself limited to 10/s) never sees more than 10 requests in
// any one-second window and never answers 429.
func TestTwoWorkersShareTheLINERate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fake := linetest.NewServer(t)
	fake.SetRateLimit(10)
	const n = 30
	for i := range n {
		e.order(int64(9100 + i)) // a thank-you each, exempt from the daily cap
	}
	for range 2 {
		startWorkerProcess(t, *e.w, e.redis, fake.URL, 10)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(fake.Pushes()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pushes after 60 s", len(fake.Pushes()), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var at []time.Time
	for _, p := range fake.Pushes() {
		at = append(at, p.At)
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	most, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= time.Second {
			j++
		}
		most = max(most, i-j+1)
	}
	if most > 10 {
		t.Errorf("%d requests within one second from two workers at TSUNAGU_LINE_RATE=10", most)
	}
	if r := fake.Requests(); r != n {
		t.Errorf("LINE saw %d requests for %d messages (429s?)", r, n)
	}
	for sent := 0; sent < n; {
		sent = 0
		for _, m := range e.messages() {
			if m.Kind == KindThankYou && m.Status == store.MsgSent {
				sent++
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d thank-yous recorded as sent", sent, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
