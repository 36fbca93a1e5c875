package app

// Process-level fault drills (issue 18): the whole worker process
// (RunWorkers: Asynq server, relay, reconciler) against a redis-server of
// the test's own that loses its data. They drive the app only through HTTP
// and RunWorkers, so they also run on code from before the fix
// (docs/RELIABILITY.md has both results).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// runWorkers runs a.RunWorkers (as `tsunagu worker` does) until the test ends.
func runWorkers(t *testing.T, a *App) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.RunWorkers(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("workers: %v", err)
		}
	})
}

// flushAll wipes every database of the private Redis, as a Redis restarted
// without persistence would.
func flushAll(t *testing.T, addr string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

// queuesIdle reports whether no task is pending, active or retrying. It
// reads Asynq's keys: after a flush Asynq's Inspector no longer lists the
// queues, although workers still serve them.
func queuesIdle(t *testing.T, addr string) bool {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx := context.Background()
	for _, q := range []string{jobs.QueueEvents, jobs.QueueMessages} {
		p := "asynq:{" + q + "}:"
		pending, err1 := c.LLen(ctx, p+"pending").Result()
		active, err2 := c.LLen(ctx, p+"active").Result()
		retry, err3 := c.ZCard(ctx, p+"retry").Result()
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		if pending+active+retry > 0 {
			return false
		}
	}
	return true
}

// Drill: a campaign is scheduled, then Redis loses everything (FLUSHALL)
// while the worker process keeps running. Before: the campaign stayed
// `scheduled` until a restart. After: the reconciler re-creates its start
// from the database within one interval; it goes out exactly once.
func TestDrillRedisFlushedWithCampaignScheduled(t *testing.T) {
	fake := linetest.NewServer(t)
	rs := testenv.StartRedisServer(t)
	opt := asynq.RedisClientOpt{Addr: rs.Addr}
	a := newTestApp(t, testenv.Postgres(t), opt, fake.URL)
	// Asynq schedules on the wall clock, so this drill runs on it; quiet
	// hours are off so the hour of day does not matter.
	a.Now = func() time.Time { return time.Now().UTC() }
	a.reconcileEvery = 50 * time.Millisecond
	au := seedAudience(t, a, 5)
	ctx := context.Background()
	au.shop.Settings.QuietStart, au.shop.Settings.QuietEnd = "00:00", "00:00"
	if err := a.DB.SaveShopSettings(ctx, au.shop.ID, au.shop.Settings); err != nil {
		t.Fatal(err)
	}
	runWorkers(t, a)
	at := time.Now().UTC().Add(2 * time.Second).Truncate(time.Second)
	body, _ := json.Marshal(map[string]any{
		"name": "Flushed", "builtin": "linked_never_ordered", "scheduled_at": at,
		"messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"hi"}`)},
	})
	req := httptest.NewRequest(http.MethodPost, "/api/campaigns", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(testShop+"|staff-1"), time.Now().Add(time.Hour))})
	rec := deliver(t, a, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	camp := decode[store.Campaign](t, rec)
	flushAll(t, rs.Addr)
	eventually(t, "the campaign to finish after the flush", func() bool {
		c, err := a.DB.Campaign(ctx, 0, camp.ID)
		return err == nil && c.Status == store.CampaignDone
	})
	// Let the reconciler run more rounds: nothing goes out again.
	eventually(t, "the queues to settle", func() bool { return queuesIdle(t, rs.Addr) })
	time.Sleep(10 * a.reconcileEvery)
	eventually(t, "the queues to settle", func() bool { return queuesIdle(t, rs.Addr) })
	mc := fake.Multicasts()
	if len(mc) != 1 {
		t.Fatalf("%d multicasts, want exactly 1", len(mc))
	}
	t.Logf("campaign: %d multicasts to %d users, 0 duplicated", len(mc), len(mc[0].To))
}

// Drill (issue 11's token sweep, now a schedule): the worker process runs
// the daily token sweep, then Redis loses everything. Before: the sweep
// lived only as a task that enqueued its successor, so it stopped for good
// and an idle shop's refresh token lapsed. After: the token_sweep schedule
// is in the database; the reconciler runs it when due.
func TestDrillRedisFlushKeepsTokenSweep(t *testing.T) {
	rs := testenv.StartRedisServer(t)
	opt := asynq.RedisClientOpt{Addr: rs.Addr}
	e := newLinkEnv(t, testenv.Postgres(t), opt, "")
	e.a.reconcileEvery = 20 * time.Millisecond
	e.installByCallback(t)
	before := e.reloadShop(t)
	runWorkers(t, e.a)
	// The first sweep (at start) has run: nothing is left in the queues.
	eventually(t, "the first sweep", func() bool { return queuesIdle(t, rs.Addr) })
	flushAll(t, rs.Addr)
	// Two idle months later the refresh token would lapse within the
	// sweep's horizon: a running sweep must refresh it.
	e.clock.Add(61 * 24 * time.Hour)
	eventually(t, "the sweep to refresh the idle shop", func() bool {
		s := e.reloadShop(t)
		return s.RefreshTokenExpiresAt != nil && before.RefreshTokenExpiresAt != nil &&
			s.RefreshTokenExpiresAt.After(*before.RefreshTokenExpiresAt)
	})
}
