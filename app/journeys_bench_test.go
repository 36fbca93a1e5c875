package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// countingPusher counts LINE's answers by kind.
type countingPusher struct {
	jobs.Pusher
	ok, tooMany, other, dup atomic.Int64
}

func (c *countingPusher) Push(ctx context.Context, token, to string, msgs []line.Message, retryKey string) (line.SendResult, error) {
	res, err := c.Pusher.Push(ctx, token, to, msgs, retryKey)
	var apiErr *line.APIError
	switch {
	case err == nil && res.Duplicate:
		c.dup.Add(1)
	case err == nil:
		c.ok.Add(1)
	case errors.As(err, &apiErr) && apiErr.Status == 429:
		c.tooMany.Add(1)
	default:
		c.other.Add(1)
	}
	return res, err
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkJourneys: N orders arrive as signed webhooks in a burst and are
// planned into 4N messages (thank-you + day-3/7/30 follow-ups); then, 31
// days later on the app's clock, all 4N are sent through the fake LINE
// server limited to RATE requests/s, with Tsunagu's limiter set to the same
// rate. Run once (-benchtime=1x); see docs/bench/issue5.md.
//
//	TSUNAGU_BENCH_ORDERS (10000), TSUNAGU_BENCH_RATE (500), TSUNAGU_BENCH_CONCURRENCY (16)
func BenchmarkJourneys(b *testing.B) {
	orders := envInt("TSUNAGU_BENCH_ORDERS", 10000)
	rate := envInt("TSUNAGU_BENCH_RATE", 500)
	conc := envInt("TSUNAGU_BENCH_CONCURRENCY", 16)
	for i := 0; i < b.N; i++ {
		runJourneyBench(b, orders, rate, conc)
	}
}

func runJourneyBench(b *testing.B, orders, rate, conc int) {
	ctx := context.Background()
	db := testenv.Postgres(b)
	fake := linetest.NewServer(b)
	fake.AddToken(testLINEToken)
	fake.SetRateLimit(float64(rate))
	cfg := testConfig(fake.URL)
	cfg.LineRate = float64(rate)
	a, err := Assemble(cfg, quietLogger(), db, testenv.Redis(b))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	var clk clock
	t0 := time.Date(2025, 1, 15, 3, 0, 0, 0, time.UTC) // noon in Tokyo, in the real past
	clk.Set(t0)
	a.Now = clk.Now

	// One installed shop, N linked customers; a high daily cap so the three
	// follow-ups that fall due together are not spread over days.
	now := t0
	shop := &store.Shop{Domain: testShop, Name: "Bench", InstalledAt: &now, Settings: store.Settings{DailyCap: 10}}
	if err := db.CreateShop(ctx, shop); err != nil {
		b.Fatal(err)
	}
	if err := db.SaveLineChannel(ctx, &store.LineChannel{ShopID: shop.ID, WebhookKey: "wk", MessagingTokenEnc: a.Box.Seal(testLINEToken)}); err != nil {
		b.Fatal(err)
	}
	custs := make([]store.Customer, orders)
	for i := range custs {
		custs[i] = store.Customer{ShopID: shop.ID, ShopifyID: int64(100000 + i), FirstName: "Hanako", LastName: "Yamada", CreatedAt: now, UpdatedAt: now}
	}
	if err := db.G.CreateInBatches(&custs, 1000).Error; err != nil {
		b.Fatal(err)
	}
	links := make([]store.LineLink, orders)
	for i := range links {
		links[i] = store.LineLink{ShopID: shop.ID, CustomerID: custs[i].ID, LineUserID: fmt.Sprintf("U%032x", i+1), Friend: true, LinkedAt: now, CreatedAt: now, UpdatedAt: now}
	}
	if err := db.CreateLinks(ctx, links); err != nil {
		b.Fatal(err)
	}

	pusher := &countingPusher{Pusher: a.Messenger}
	start := func(queue string) func() {
		w := a.Worker()
		w.LINE = pusher
		cfg := jobs.ServerConfig(conc, a.Log)
		cfg.Queues = map[string]int{queue: 1}
		cfg.TaskCheckInterval = 20 * time.Millisecond
		srv := asynq.NewServer(a.Redis, cfg)
		if err := srv.Start(w.Mux()); err != nil {
			b.Fatal(err)
		}
		return srv.Shutdown
	}
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				b.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	count := func(where string, args ...any) int64 {
		var n int64
		db.G.Model(&store.Message{}).Where(where, args...).Count(&n)
		return n
	}
	b.ResetTimer()

	// Phase 1: the burst, planned by event workers only.
	stopEvents := start(jobs.QueueEvents)
	planStart := time.Now()
	// Shopify delivers in parallel: 8 concurrent senders.
	var wg sync.WaitGroup
	var failed atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < orders; i += 8 {
				body := fmt.Sprintf(`{"id": %d, "name": "#%d", "currency": "JPY", "total_price": "4800", "financial_status": "paid",
			"line_items": [{"id": 1, "title": "ほうじ茶", "quantity": 2, "price": "2400"}],
			"customer": {"id": %d, "first_name": "Hanako", "last_name": "Yamada"}}`, 900000+i, 1000+i, custs[i].ShopifyID)
				if code := deliverB(a, webhookRequest("orders/create", fmt.Sprintf("bench-%d", i), []byte(body), testSecret)); code != 200 {
					failed.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d webhooks refused", n)
	}
	ingest := time.Since(planStart)
	// Events the dispatcher could not hand over wait for the relay; enqueue them now.
	ids, _ := db.PendingEventIDs(ctx, t0.Add(time.Hour), orders)
	for _, id := range ids {
		a.Queue.EnqueueEvent(ctx, id)
	}
	want := int64(4 * orders)
	waitFor("planning", 20*time.Minute, func() bool { return count("1 = 1") >= want })
	plan := time.Since(planStart)
	stopEvents()
	planned := count("status = ?", store.MsgQueued)

	// Phase 2: 31 days later every message is due; send them all.
	clk.Set(t0.Add(31 * 24 * time.Hour))
	sendStart := time.Now()
	stopSend := start(jobs.QueueMessages)
	// Thank-yous were enqueued at planning; follow-up tasks woke early and
	// wait for the relay, which enqueues what is due.
	relayDone := make(chan struct{})
	relayCtx, stopRelay := context.WithCancel(ctx)
	go func() {
		defer close(relayDone)
		r := a.Relay()
		r.Batch = 5000
		for relayCtx.Err() == nil {
			r.Sweep(relayCtx)
			time.Sleep(500 * time.Millisecond)
		}
	}()
	waitFor("sending", 30*time.Minute, func() bool {
		return count("status IN ?", []string{store.MsgSent, store.MsgFailed, store.MsgSkipped}) >= want
	})
	send := time.Since(sendStart)
	stopRelay()
	<-relayDone
	stopSend()
	b.StopTimer()

	sent := count("status = ?", store.MsgSent)
	pushes := fake.Pushes()
	keys := map[string]bool{}
	dups := 0
	for _, p := range pushes {
		if keys[p.RetryKey] {
			dups++
		}
		keys[p.RetryKey] = true
	}
	// Achieved rate over the steady part: first to last accepted push.
	var first, last time.Time
	for _, p := range pushes {
		if first.IsZero() || p.At.Before(first) {
			first = p.At
		}
		if p.At.After(last) {
			last = p.At
		}
	}
	achieved := float64(len(pushes)-1) / last.Sub(first).Seconds()
	b.ReportMetric(float64(orders)/plan.Seconds(), "orders/s-planned")
	b.ReportMetric(float64(planned)/plan.Seconds(), "msgs/s-planned")
	b.ReportMetric(achieved, "pushes/s-achieved")
	b.ReportMetric(float64(pusher.tooMany.Load()), "429s")
	b.ReportMetric(float64(dups), "duplicates")
	b.Logf("orders=%d webhooks ingested in %v (%.0f/s); planned %d messages in %v (%.0f orders/s, %.0f messages/s)",
		orders, ingest.Round(time.Millisecond), float64(orders)/ingest.Seconds(), planned, plan.Round(time.Millisecond),
		float64(orders)/plan.Seconds(), float64(planned)/plan.Seconds())
	b.Logf("sent %d/%d in %v: configured %d/s, achieved %.1f pushes/s (first to last push), 429s=%d other errors=%d LINE duplicates(409)=%d, duplicate retry keys=%d, rejected=%d",
		sent, want, send.Round(time.Millisecond), rate, achieved, pusher.tooMany.Load(), pusher.other.Load(), pusher.dup.Load(), dups, len(fake.Rejected()))
	if sent != want || dups != 0 || pusher.tooMany.Load() != 0 || len(pushes) != int(want) {
		b.Fatalf("sent %d of %d, %d pushes, %d duplicates, %d 429s", sent, want, len(pushes), dups, pusher.tooMany.Load())
	}
}

func deliverB(a *App, req *http.Request) int {
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	return rec.Code
}
