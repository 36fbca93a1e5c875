package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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

// clock is the test's movable "now" for the app and its workers.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// hangingPusher pushes for real, then hangs until its task is killed: a
// worker that dies after LINE accepted the message but before it recorded so.
type hangingPusher struct {
	jobs.Pusher
	pushed chan struct{}
	once   sync.Once
}

func (h *hangingPusher) Push(ctx context.Context, token, to string, msgs []line.Message, retryKey string) (line.SendResult, error) {
	res, err := h.Pusher.Push(ctx, token, to, msgs, retryKey)
	if err != nil {
		return res, err
	}
	h.once.Do(func() { close(h.pushed) })
	<-ctx.Done()
	return line.SendResult{}, ctx.Err()
}

// startJourneyWorkers runs Asynq workers whose LINE client is pusher (nil:
// the app's); stop kills them after grace, requeueing what is in flight.
func startJourneyWorkers(t *testing.T, a *App, pusher jobs.Pusher, grace time.Duration) (stop func()) {
	t.Helper()
	w := a.Worker()
	if pusher != nil {
		w.LINE = pusher
	}
	return startTestWorkers(t, a, w, 4, grace)
}

// startTestWorkers runs an Asynq server with w's handlers that polls and
// retries quickly; stop shuts it down after grace (also at the test's end).
func startTestWorkers(t *testing.T, a *App, w *jobs.Worker, concurrency int, grace time.Duration) (stop func()) {
	t.Helper()
	cfg := jobs.ServerConfig(concurrency, a.Log)
	cfg.TaskCheckInterval = 20 * time.Millisecond
	cfg.DelayedTaskCheckInterval = 50 * time.Millisecond
	cfg.ShutdownTimeout = grace
	cfg.RetryDelayFunc = func(int, error, *asynq.Task) time.Duration { return 100 * time.Millisecond }
	srv := asynq.NewServer(a.Redis, cfg)
	if err := srv.Start(w.Mux()); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(srv.Shutdown) }
	t.Cleanup(stop)
	return stop
}

// The journeys end to end on PostgreSQL + Redis with real Asynq workers and
// the fake LINE server, on a clock the test moves: thank-you, shipping,
// cart reminder (sent without an order, cancelled by one), follow-ups
// (sent, or never sent after a cancel), quiet hours, duplicate webhooks and
// a worker killed mid-send — and every message pushed exactly once.
func TestJourneysEndToEnd(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	fake := linetest.NewServer(t)
	fake.AddToken(testLINEToken)
	a := newTestApp(t, db, testenv.Redis(t), fake.URL)
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	var clk clock
	// Noon in Tokyo, in the past so Asynq runs every task at once and the
	// worker's clock alone decides what is due.
	t0 := time.Date(2025, 1, 15, 3, 0, 0, 0, time.UTC)
	clk.Set(t0)
	a.Now = clk.Now
	ctx := context.Background()

	users := map[string]string{}
	custs := map[string]*store.Customer{}
	var shop *store.Shop
	for i, name := range []string{"A", "B", "C", "D", "E", "F"} {
		users[name] = fmt.Sprintf("U%032x", 0xa0+i)
		shop, custs[name] = seedLinkedCustomer(t, a, int64(9100+i), users[name])
	}
	post := func(topic, id, body string) {
		t.Helper()
		if rec := deliver(t, a, webhookRequest(topic, id, []byte(body), testSecret)); rec.Code != 200 {
			t.Fatalf("%s %s: %d %s", topic, id, rec.Code, rec.Body)
		}
	}
	order := func(id int64, cust string, extra string) string {
		return fmt.Sprintf(`{"id": %d, "name": "#%d", "currency": "JPY", "total_price": "4800", "financial_status": "paid",
			"order_status_url": "https://shop.example/orders/%d",
			"line_items": [{"id": 1, "title": "ほうじ茶", "quantity": 2, "price": "2400"}],
			"customer": {"id": %d, "first_name": "花子", "last_name": "山田"}%s}`, id, id, id, custs[cust].ShopifyID, extra)
	}
	checkout := func(token, cust string) string {
		return fmt.Sprintf(`{"token": %q, "cart_token": "cart-%s", "currency": "JPY", "total_price": "2400",
			"abandoned_checkout_url": "https://shop.example/checkouts/%s/recover",
			"line_items": [{"title": "湯呑み", "quantity": 1, "price": "2400"}], "customer": {"id": %d}}`, token, token, token, custs[cust].ShopifyID)
	}
	key := func(kind, ref, cust string) string {
		return fmt.Sprintf("%s/s%d/%s/c%d", kind, shop.ID, ref, custs[cust].ID)
	}
	status := func(k string) string {
		m, err := a.DB.MessageByKey(ctx, k)
		if err != nil {
			return "absent"
		}
		return m.Status
	}
	waitStatus := func(k, want string) {
		t.Helper()
		eventually(t, k+" "+want, func() bool { return status(k) == want })
	}
	processed := func(n int64) {
		t.Helper()
		eventually(t, fmt.Sprintf("%d events processed", n), func() bool {
			var c int64
			db.G.Model(&store.Event{}).Where("processed_at IS NOT NULL").Count(&c)
			return c >= n
		})
	}
	// advance moves the clock and lets the relay enqueue what became due.
	advance := func(to time.Time) {
		clk.Set(to)
		if _, err := a.Relay().Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}

	stop := startJourneyWorkers(t, a, nil, 5*time.Second)

	// A: order (delivered twice, then paid) and a fulfillment with tracking (twice).
	post("orders/create", "a-create", order(8001, "A", ""))
	post("orders/create", "a-create", order(8001, "A", ""))
	post("orders/paid", "a-paid", order(8001, "A", ""))
	processed(2)
	ful := `{"id": 3001, "order_id": 8001, "status": "success", "tracking_company": "ヤマト運輸", "tracking_number": "4470-1234-5678", "tracking_url": "https://track.example/4470"}`
	post("fulfillments/create", "a-ful-1", ful)
	post("fulfillments/update", "a-ful-2", ful)
	// B: checkout, never ordered. C: checkout, then the order.
	post("checkouts/create", "b-co", checkout("cob", "B"))
	post("checkouts/create", "c-co", checkout("coc", "C"))
	processed(6)
	post("orders/create", "c-create", order(8003, "C", `, "checkout_token": "coc"`))
	// D: order, then cancelled.
	post("orders/create", "d-create", order(8004, "D", ""))
	processed(8)
	waitStatus(key("thank_you", "o8004", "D"), store.MsgSent)
	post("orders/cancelled", "d-cancel", order(8004, "D", `, "cancelled_at": "2025-01-15T03:30:00Z", "financial_status": "voided"`))
	processed(9)

	for _, k := range []string{key("thank_you", "o8001", "A"), key("shipping", "f3001/t4470-1234-5678", "A"),
		key("thank_you", "o8003", "C"), key("thank_you", "o8004", "D")} {
		waitStatus(k, store.MsgSent)
	}
	if s := status(key("cart_reminder", "kcoc", "C")); s != store.MsgCancelled {
		t.Fatalf("C's cart reminder is %s, want cancelled by the order", s)
	}
	for _, k := range []string{"follow_up_3", "follow_up_7", "follow_up_30"} {
		if s := status(key(k, "o8004", "D")); s != store.MsgCancelled {
			t.Fatalf("D's %s is %s, want cancelled with the order", k, s)
		}
	}

	// An hour later B's reminder goes out; C's never does.
	advance(t0.Add(61 * time.Minute))
	waitStatus(key("cart_reminder", "kcob", "B"), store.MsgSent)

	// Days 3, 7 and 30: A and C get their follow-ups, D gets none.
	for _, d := range []int{3, 7, 30} {
		advance(t0.Add(time.Duration(d)*24*time.Hour + time.Minute))
		kind := fmt.Sprintf("follow_up_%d", d)
		waitStatus(key(kind, "o8001", "A"), store.MsgSent)
		waitStatus(key(kind, "o8003", "C"), store.MsgSent)
	}
	// Journey pushes go under one aggregation unit per kind (issue 16).
	kindUnits := map[string]bool{}
	for _, p := range fake.Pushes() {
		for _, u := range p.Units {
			if len(p.Units) != 1 || !line.ValidUnit(u) {
				t.Fatalf("push units %q, want one valid name", p.Units)
			}
			if _, k, ok := strings.Cut(u, "_j_"); ok {
				kindUnits[k] = true
			}
		}
	}
	for _, k := range []string{"thank_you", "shipping", "cart_reminder", "follow_up_3", "follow_up_30"} {
		if !kindUnits[k] {
			t.Errorf("no push went under the unit of %s (units %v)", k, kindUnits)
		}
	}

	// Quiet hours: E orders at 22:30 in Tokyo; the thank-you waits for 09:00.
	night := time.Date(2025, 2, 15, 22, 30, 0, 0, tokyo)
	clk.Set(night)
	post("orders/create", "e-create", order(8005, "E", ""))
	morning := time.Date(2025, 2, 16, 9, 0, 0, 0, tokyo)
	eventually(t, "E's thank-you deferred", func() bool {
		m, err := a.DB.MessageByKey(ctx, key("thank_you", "o8005", "E"))
		return err == nil && m.Status == store.MsgQueued && m.ScheduledFor.Equal(morning)
	})
	if n := pushesTo(fake, users["E"]); n != 0 {
		t.Fatalf("E got %d pushes during quiet hours", n)
	}
	advance(morning.Add(time.Minute))
	waitStatus(key("thank_you", "o8005", "E"), store.MsgSent)

	// F: the worker dies after LINE accepted the push, before recording it.
	stop()
	hang := &hangingPusher{Pusher: a.Messenger, pushed: make(chan struct{})}
	kill := startJourneyWorkers(t, a, hang, 300*time.Millisecond)
	post("orders/create", "f-create", order(8006, "F", ""))
	select {
	case <-hang.pushed:
	case <-time.After(20 * time.Second):
		t.Fatal("F's push never happened")
	}
	kill()
	if s := status(key("thank_you", "o8006", "F")); s != store.MsgSending {
		t.Fatalf("F's thank-you is %s after the kill, want sending", s)
	}
	startJourneyWorkers(t, a, nil, 5*time.Second)
	waitStatus(key("thank_you", "o8006", "F"), store.MsgSent)

	// Exactly one push per message, none refused, and the counts per customer.
	seen := map[string]bool{}
	for _, p := range fake.Pushes() {
		if seen[p.RetryKey] {
			t.Fatalf("retry key %s pushed twice", p.RetryKey)
		}
		seen[p.RetryKey] = true
	}
	want := map[string]int{"A": 5, "B": 1, "C": 4, "D": 1, "E": 1, "F": 1}
	for name, n := range want {
		if got := pushesTo(fake, users[name]); got != n {
			t.Errorf("%s got %d pushes, want %d", name, got, n)
		}
	}
	if r := fake.Rejected(); len(r) > 0 {
		t.Fatalf("LINE refused: %v", r)
	}

	// The shipping notice's link is tracked: the click is recorded and
	// redirects to the carrier with UTM parameters.
	var ship store.Message
	db.G.Where("dedupe_key = ?", key("shipping", "f3001/t4470-1234-5678", "A")).Take(&ship)
	i := strings.Index(ship.Content, "/c/")
	if i < 0 {
		t.Fatalf("no tracked link in %s", ship.Content)
	}
	path := strings.SplitN(ship.Content[i:], `"`, 2)[0]
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("click answered %d", rec.Code)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if loc.Host != "track.example" || loc.Query().Get("utm_source") != "line" || loc.Query().Get("utm_campaign") != "shipping" {
		t.Fatalf("redirect to %s", loc)
	}
	var clicks []store.Activity
	db.G.Where("kind = ?", store.ActClick).Find(&clicks)
	if len(clicks) != 1 || clicks[0].RefType != "message" || clicks[0].RefID != ship.ID || *clicks[0].CustomerID != custs["A"].ID {
		t.Fatalf("clicks = %+v", clicks)
	}
}

func pushesTo(fake *linetest.Server, user string) int {
	n := 0
	for _, p := range fake.Pushes() {
		if p.To == user {
			n++
		}
	}
	return n
}

func TestClickRejectsBadTokens(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
	forged := a.Signer.Sign("session", []byte(`{"m":1,"k":"x","u":"https://evil.example"}`), testNow.Add(time.Hour))
	for _, path := range []string{"/c/garbage", "/c/" + forged} {
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusNotFound || rec.Header().Get("Location") != "" {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Header().Get("Location"))
		}
	}
}
