package line_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// maxInWindow is the most times that fall into any half-open window of
// length w.
func maxInWindow(times []time.Time, w time.Duration) int {
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	most, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) >= w {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

func TestLimiterLimits(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	t.Cleanup(func() { rdb.Close() })
	cases := []struct {
		name    string
		ceiling float64
		ep      line.Endpoint
		rate    int
		burst   int
		period  time.Duration
	}{
		{"push at LINE's default", 0, line.EndpointPush, 1980, 20, time.Second},
		{"push under a ceiling", 1000, line.EndpointPush, 990, 10, time.Second},
		{"multicast keeps LINE's lower limit", 1000, line.EndpointMulticast, 198, 2, time.Second},
		{"rich menu creation per hour", 1000, line.EndpointRichMenuCreate, 98, 2, time.Hour},
		{"ceiling of 10", 10, line.EndpointPush, 9, 1, time.Second},
		{"fractional ceiling", 0.5, line.EndpointProfile, 1, 1, 2 * time.Second},
	}
	for _, tc := range cases {
		l := line.NewLimiter(rdb, tc.ceiling).Limit(tc.ep)
		if l.Rate != tc.rate || l.Burst != tc.burst || l.Period != tc.period {
			t.Errorf("%s: %v, want %d/%v burst %d", tc.name, l, tc.rate, tc.period, tc.burst)
		}
	}
}

// Two limiters with their own Redis connections (two processes) share one
// budget per channel and endpoint: together they never exceed the ceiling
// in any one-second window, while another channel and another endpoint
// are not slowed down.
func TestLimiterSharedAcrossProcesses(t *testing.T) {
	t.Parallel()
	opt := testenv.Redis(t)
	var limiters []*line.Limiter
	for range 2 {
		c := redis.NewClient(&redis.Options{Addr: opt.Addr, DB: opt.DB})
		t.Cleanup(func() { c.Close() })
		limiters = append(limiters, line.NewLimiter(c, 20))
	}
	ctx := context.Background()
	var (
		mu    sync.Mutex
		times []time.Time
		wg    sync.WaitGroup
	)
	start := time.Now()
	for _, l := range limiters {
		for range 3 { // several goroutines per process, like Asynq's workers
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					if err := l.Wait(ctx, "chan-a", line.EndpointPush); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					times = append(times, time.Now())
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if n := maxInWindow(times, time.Second); n > 20 {
		t.Errorf("%d calls within one second across two processes, limit 20", n)
	}
	if el := time.Since(start); el < 1200*time.Millisecond {
		t.Errorf("60 calls at 20/s took %v", el)
	}
	// Other channels and endpoints have budgets of their own.
	quick, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := limiters[0].Wait(quick, "chan-b", line.EndpointPush); err != nil {
		t.Errorf("another channel waited: %v", err)
	}
	if err := limiters[1].Wait(quick, "chan-a", line.EndpointMulticast); err != nil {
		t.Errorf("another endpoint waited: %v", err)
	}
}

// The Messenger waits on the limiter before every call: with the budget
// spent, a call whose context ends first never reaches LINE.
func TestMessengerWaitsOnLimiter(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	m := line.NewMessenger(fake.URL, fake.Client(), line.WithLimiter(line.NewLimiter(testenv.RedisClient(t), 0.001)))
	if _, err := m.BotInfo(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := m.BotInfo(ctx, token); err == nil {
		t.Fatal("BotInfo with a spent budget and an ending context: want error")
	}
	if n := fake.Requests(); n != 1 {
		t.Errorf("fake saw %d requests, want 1", n)
	}
	if _, err := m.BotInfo(context.Background(), "other-token"); err != nil {
		t.Errorf("other channel: %v", err)
	}
	// Rich menu calls are paced too, on a budget of their own.
	fake.AddToken(token)
	if err := m.UnlinkRichMenu(context.Background(), token, userID); err != nil {
		t.Fatalf("first unlink: %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := m.UnlinkRichMenu(ctx2, token, userID); err == nil {
		t.Error("second unlink with a spent budget: want error")
	}
	if n := fake.Requests(); n != 3 {
		t.Errorf("fake saw %d requests, want 3", n)
	}
}
