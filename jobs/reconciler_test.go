package jobs

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tsunagu/tsunagu/app/testenv"
)

// Every periodic job (automation sweep, token sweep, a shop's rich-menu
// sync) lives in schedules: after Redis loses its tasks the reconciler
// puts each due run back, on the test clock, and a finished run is not
// offered again.
func TestSchedulesSurviveRedisFlush(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, testenv.Postgres(t))
	r := &Reconciler{DB: e.w.DB, Queue: e.w.Queue, Now: func() time.Time { return e.now }}
	rc := redis.NewClient(&redis.Options{Addr: e.redis.Addr, DB: e.redis.DB})
	defer rc.Close()
	if err := r.EnsureBuiltins(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := RequestRichMenuSync(e.ctx, e.w.DB, e.w.Queue, e.shop.ID, e.now); err != nil {
		t.Fatal(err)
	}
	menu := RichMenuSchedule(e.shop.ID)
	// (The Inspector cannot be used: after a flush Asynq's client does not
	// list the queue again, although workers serve it.)
	queued := func(name string, at time.Time) bool {
		n, err := rc.Exists(e.ctx, "asynq:{"+QueueMessages+"}:t:schedule:"+name+"@"+strconv.FormatInt(at.Unix(), 10)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	sweepAt := t0.Truncate(time.Hour).Add(time.Hour)
	cases := []struct {
		name string
		at   time.Time
	}{
		{ScheduleTokenSweep, t0},
		{menu, t0},
		{ScheduleAutomationSweep, sweepAt},
	}
	for _, round := range []string{"first", "after FLUSHDB"} {
		if round != "first" {
			if err := rc.FlushDB(e.ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		e.now = sweepAt.Add(15 * time.Second)
		if _, err := r.Reconcile(e.ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			if !queued(c.name, c.at) {
				t.Errorf("%s: run of %s due %v not in Redis", round, c.name, c.at)
			}
		}
	}
	// Each run done: the schedules move on and the next pass offers nothing.
	if err := rc.FlushDB(e.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if c.name == menu { // the fake LINE here links no menus
			if ok, err := e.w.DB.FinishScheduledRun(e.ctx, c.name, c.at, e.now); err != nil || !ok {
				t.Fatalf("finishing %s: %v %v", c.name, ok, err)
			}
			continue
		}
		if err := e.w.RunScheduled(e.ctx, c.name, c.at); err != nil {
			t.Fatalf("running %s: %v", c.name, err)
		}
	}
	if n, err := r.Reconcile(e.ctx); err != nil || n != 0 {
		t.Fatalf("after the runs the reconciler offered %d (%v)", n, err)
	}
	ss, err := e.w.DB.Schedules(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := map[string]time.Time{}
	for _, s := range ss {
		next[s.Name] = s.NextAt.UTC()
	}
	want := map[string]time.Time{
		ScheduleTokenSweep: t0.Add(24 * time.Hour), menu: t0.Add(2 * time.Hour), ScheduleAutomationSweep: sweepAt.Add(time.Hour),
	}
	for name, w := range want {
		if !next[name].Equal(w) {
			t.Errorf("%s next at %v, want %v", name, next[name], w)
		}
	}
	// A menu edit brings the sync forward again (and enqueues it at once).
	if err := RequestRichMenuSync(e.ctx, e.w.DB, e.w.Queue, e.shop.ID, e.now); err != nil {
		t.Fatal(err)
	}
	if !queued(menu, e.now) {
		t.Error("a requested rich-menu sync was not enqueued")
	}
}
