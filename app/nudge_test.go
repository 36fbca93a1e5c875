package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
)

// nudgeUser is the LINE user id of test friend n.
func nudgeUser(n int) string { return fmt.Sprintf("U%032x", 0xabc000+n) }

// runSweeps runs every due schedule run, as the reconciler and a worker
// would, after a Redis flush in between (the runs live in the database).
func (e *linkEnv) runSweeps(t *testing.T, clk *testClock) {
	t.Helper()
	ctx := context.Background()
	r := e.a.Reconciler()
	if err := r.EnsureBuiltins(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	opt := e.a.Redis.(asynq.RedisClientOpt)
	rc := redis.NewClient(&redis.Options{Addr: opt.Addr, DB: opt.DB})
	defer rc.Close()
	if err := rc.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	due, err := e.a.DB.DueSchedules(ctx, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	w := e.a.Worker()
	for _, s := range due {
		if s.Name != jobs.ScheduleAutomationSweep {
			continue
		}
		if err := w.RunScheduled(ctx, s.Name, s.NextAt); err != nil {
			t.Fatal(err)
		}
	}
}

// A friend who has not linked N days after following gets one "link and
// receive your coupon" push from the hourly sweep (a schedule in the
// database, so a Redis flush only delays it): once, held by quiet hours
// and the daily cap, and skipped with a reason when they blocked or linked
// meanwhile. Friends too new, blocked, or with the nudge off get nothing.
func TestLinkNudgeOnceUnderCapAndQuietHours(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	e, clk := newInboxEnv(t, db)
	ctx := context.Background()
	st := e.s.Settings
	st.DailyCap = 1
	if err := db.SaveShopSettings(ctx, e.s.ID, st); err != nil {
		t.Fatal(err)
	}
	follow := func(n int) *store.LineFriend {
		t.Helper()
		rt := fmt.Sprintf("rt-follow-%04d-%d", n, clk.Now().Unix())
		e.line.IssueReplyToken(rt)
		e.deliverLINE(t, lineEvent(t, "follow.json", nudgeUser(n), fmt.Sprintf("01HZZNUDGEFOLLOW%010d", n), rt, clk.Now(), ""))
		f, err := db.FriendByUser(ctx, e.s.ID, nudgeUser(n))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	nudge := func(f *store.LineFriend) *store.Message {
		t.Helper()
		m, err := db.MessageByKey(ctx, jobs.LinkNudgeKey(e.s.ID, f.ID))
		if err != nil {
			return nil
		}
		return m
	}
	// Day 0, noon JST: A (will be nudged), C (capped), D (links first),
	// E (blocks first), B (blocks at once).
	a, c, d, ev, b := follow(1), follow(2), follow(3), follow(4), follow(5)
	e.deliverLINE(t, lineEvent(t, "unfollow.json", nudgeUser(5), "01HZZNUDGEUNF0000000000005", "", clk.Now(), ""))
	e.runSweeps(t, clk)
	if n := countRows(t, db, &store.Message{}, "kind = ?", core.KindLinkNudge); n != 0 {
		t.Fatalf("%d nudges on day 0", n)
	}

	// Day 3, 15:00 JST. C already had today's one marketing message.
	clk.Add(3*24*time.Hour + 3*time.Hour)
	now := clk.Now()
	cid := c.ID
	if _, err := db.PlanMessage(ctx, &store.Message{ShopID: e.s.ID, FriendID: &cid, Kind: "campaign", DedupeKey: "camp-today-c",
		RefType: "campaign", ScheduledFor: now, Status: store.MsgSent, SentAt: &now}); err != nil {
		t.Fatal(err)
	}
	pushes := len(e.line.Pushes())
	e.runSweeps(t, clk)
	for _, f := range []*store.LineFriend{a, c, d, ev} {
		if m := nudge(f); m == nil || m.Status != store.MsgQueued {
			t.Fatalf("friend %d: nudge %+v", f.ID, m)
		}
	}
	if m := nudge(b); m != nil {
		t.Fatalf("blocked friend planned: %+v", m)
	}
	if err := db.UpdateFriend(ctx, d.ID, map[string]any{"customer_id": e.cust.ID}); err != nil {
		t.Fatal(err)
	}
	e.deliverLINE(t, lineEvent(t, "unfollow.json", nudgeUser(4), "01HZZNUDGEUNF0000000000004", "", clk.Now(), ""))
	e.sendQueued(t)

	if p := e.line.Pushes(); len(p) != pushes+1 || p[len(p)-1].To != nudgeUser(1) ||
		!strings.Contains(string(p[len(p)-1].Messages[0]), "/link/friend?t=") {
		t.Fatalf("pushes %+v", p[pushes:])
	}
	if m := nudge(a); m.Status != store.MsgSent || m.FriendID == nil || m.CustomerID != nil {
		t.Fatalf("A's nudge %+v", m)
	}
	// The cap moves it to the first allowed minute of tomorrow: the end of
	// the night's quiet hours (21:00–09:00 JST).
	tomorrow := time.Date(2026, 11, 29, 0, 0, 0, 0, time.FixedZone("JST", 9*3600)) // day 4, 00:00 JST
	nineAM := tomorrow.Add(9 * time.Hour)
	if m := nudge(c); m.Status != store.MsgQueued || !m.ScheduledFor.Equal(nineAM) {
		t.Fatalf("capped nudge %+v, want queued for %v", m, nineAM)
	}
	if m := nudge(d); m.Status != store.MsgSkipped || m.Reason != core.ReasonAlreadyLinked {
		t.Fatalf("linked friend's nudge %+v", m)
	}
	if m := nudge(ev); m.Status != store.MsgSkipped || m.Reason != jobs.ReasonBlocked {
		t.Fatalf("blocked friend's nudge %+v", m)
	}

	// Later sweeps nudge no one twice; the capped one waits out the night's
	// quiet hours (21:00–09:00 JST) and then goes.
	clk.Add(8 * time.Hour) // 23:00 JST
	e.runSweeps(t, clk)
	if n := countRows(t, db, &store.Message{}, "kind = ?", core.KindLinkNudge); n != 4 {
		t.Fatalf("%d nudges after another sweep", n)
	}
	clk.Add(2 * time.Hour) // 01:00 JST, day 4: cap is free, quiet hours are not
	e.sendQueued(t)
	if m := nudge(c); m.Status != store.MsgQueued || !m.ScheduledFor.Equal(nineAM) {
		t.Fatalf("nudge in quiet hours %+v, want queued for %v", m, nineAM)
	}
	clk.Add(8 * time.Hour) // 09:00 JST
	e.sendQueued(t)
	if m := nudge(c); m.Status != store.MsgSent {
		t.Fatalf("nudge after quiet hours %+v", m)
	}
	if n := len(e.line.Pushes()); n != pushes+2 {
		t.Fatalf("%d nudge pushes, want 2", n-pushes)
	}

	// Switched off in the admin: a new friend is not planned.
	st.Greeting.NudgeOff = true
	if err := db.SaveShopSettings(ctx, e.s.ID, st); err != nil {
		t.Fatal(err)
	}
	g := follow(6)
	clk.Add(4 * 24 * time.Hour)
	e.runSweeps(t, clk)
	if m := nudge(g); m != nil {
		t.Fatalf("nudge while off: %+v", m)
	}
}
