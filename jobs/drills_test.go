package jobs

// Fault drills (issue 18), each on PostgreSQL + Redis with the test clock.
// Each one failed on the code before the fix; docs/RELIABILITY.md has the
// numbers they report.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/shopify"
)

// drillScheduler plays what Asynq and the relay do, on the test clock: a
// message task runs when its message is queued and due; a task that returns
// an error is retried with RetryDelay up to the message task's MaxRetry (8)
// and then dropped, as Asynq archives it.
type drillScheduler struct {
	e       *env
	tries   map[int64]int
	retryAt map[int64]time.Time
}

func newDrillScheduler(e *env) *drillScheduler {
	return &drillScheduler{e: e, tries: map[int64]int{}, retryAt: map[int64]time.Time{}}
}

// step runs every task due at the current test time.
func (s *drillScheduler) step() {
	e := s.e
	var due []store.Message
	e.w.DB.G.Where("shop_id = ? AND status = ? AND scheduled_for <= ?", e.shop.ID, store.MsgQueued, e.now).Order("id").Find(&due)
	ids := map[int64]bool{}
	for _, m := range due {
		ids[m.ID] = true
	}
	for id, at := range s.retryAt {
		if !at.After(e.now) {
			ids[id] = true
		}
	}
	for id := range ids {
		delete(s.retryAt, id)
		if err := e.w.SendMessage(e.ctx, id); err != nil {
			s.tries[id]++
			if s.tries[id] <= 8 {
				s.retryAt[id] = e.now.Add(RetryDelay(s.tries[id]-1, err, nil))
			}
		}
	}
}

// drillCounts is a drill's outcome: messages planned, sent, pushed (LINE
// accepted a request), duplicated (a customer got the same message twice)
// and lost (neither sent nor skipped with a reason by the end).
type drillCounts struct{ planned, sent, pushed, duplicated, lost, failed int }

func (e *env) drillCounts(kind string) drillCounts {
	var c drillCounts
	var ms []store.Message
	e.w.DB.G.Where("shop_id = ? AND kind = ?", e.shop.ID, kind).Find(&ms)
	c.planned = len(ms)
	for _, m := range ms {
		switch m.Status {
		case store.MsgSent:
			c.sent++
		case store.MsgFailed:
			c.failed++
			c.lost++
		case store.MsgSkipped, store.MsgCancelled:
		default:
			c.lost++
		}
	}
	e.line.mu.Lock()
	defer e.line.mu.Unlock()
	byKey := map[string]int{}
	for _, p := range e.line.pushes {
		byKey[p.RetryKey]++
	}
	c.pushed = len(e.line.pushes)
	for _, n := range byKey {
		if n > 1 {
			c.duplicated += n - 1
		}
	}
	return c
}

// Drill: LINE answers 500 for 30 minutes of test clock while 20 thank-yous
// are due. Before: each was marked failed after 9 attempts (~11 minutes)
// and nothing re-sent them: 20 lost. After: 0 lost, 0 duplicated.
func TestDrillLINEDown30Minutes(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, testenv.Postgres(t))
	e.w.Breaker = core.NewBreaker()
	e.line.err = &line.APIError{Status: http.StatusInternalServerError, Message: "Internal Server Error"}
	for i := 0; i < 20; i++ {
		c := e.customer(int64(9100+i), fmt.Sprintf("U%032d", 9100+i))
		e.mustEvent(shopify.TopicOrdersCreate, orderJSON(int64(9100+i), c.ShopifyID, ""))
	}
	s := newDrillScheduler(e)
	outageEnd := t0.Add(30 * time.Minute)
	var recovered time.Time
	for e.now = t0; !e.now.After(t0.Add(3 * time.Hour)); e.now = e.now.Add(15 * time.Second) {
		if !e.now.Before(outageEnd) {
			e.line.mu.Lock()
			e.line.err = nil
			e.line.mu.Unlock()
		}
		s.step()
		if c := e.drillCounts(KindThankYou); recovered.IsZero() && c.sent == 20 {
			recovered = e.now
		}
	}
	c := e.drillCounts(KindThankYou)
	t.Logf("LINE down 30 min: planned %d, sent %d, pushed %d, duplicated %d, lost %d, recovered %v after LINE returned",
		c.planned, c.sent, c.pushed, c.duplicated, c.lost, recovered.Sub(outageEnd))
	if c.planned != 20 || c.sent != 20 || c.lost != 0 || c.duplicated != 0 || c.pushed != 20 {
		t.Fatalf("after the outage: %+v, want 20 planned, 20 sent and pushed once each, 0 lost", c)
	}
	if d := recovered.Sub(outageEnd); d > time.Minute {
		t.Errorf("all sent %v after LINE returned, want within a minute", d)
	}
}

// A permanent refusal is the only way to "failed"; a message whose
// deadline passes during an outage is skipped with a reason, never sent late.
func TestDrillOutagePastDeadline(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, testenv.Postgres(t))
	e.w.Breaker = core.NewBreaker()
	e.line.err = &line.APIError{Status: http.StatusServiceUnavailable, Message: "Service Unavailable"}
	key := e.order(9300)
	s := newDrillScheduler(e)
	for e.now = t0; !e.now.After(t0.Add(26 * time.Hour)); e.now = e.now.Add(5 * time.Minute) {
		s.step()
	}
	m := e.msg(key)
	if m.Status != store.MsgSkipped || !strings.HasPrefix(m.Reason, core.ReasonExpired) {
		t.Fatalf("thank-you after a 26 h outage = %s/%q, want skipped/expired", m.Status, m.Reason)
	}
	if e.line.count() != 0 {
		t.Fatalf("%d pushes during the outage", e.line.count())
	}
}

// Drill: orders/updated (refunded) then a late orders/create (paid). Before:
// the order went back to paid and the thank-you was sent. After: the stale
// create changes nothing and no thank-you is planned or sent.
func TestDrillStaleCreateAfterRefund(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, testenv.Postgres(t))
	refunded := orderJSON(9400, 7001, `, "created_at": "2026-11-25T02:00:00Z", "updated_at": "2026-11-25T02:30:00Z"`)
	refunded = strings.Replace(refunded, `"financial_status": "paid"`, `"financial_status": "refunded"`, 1)
	created := orderJSON(9400, 7001, `, "created_at": "2026-11-25T02:00:00Z", "updated_at": "2026-11-25T02:00:01Z"`)
	e.mustEvent(shopify.TopicOrdersUpdated, refunded)
	e.mustEvent(shopify.TopicOrdersCreate, created)
	o, err := e.w.DB.OrderByShopifyID(e.ctx, e.shop.ID, 9400)
	if err != nil {
		t.Fatal(err)
	}
	if o.FinancialStatus != "refunded" {
		t.Fatalf("order is %q after a stale create, want refunded", o.FinancialStatus)
	}
	key := e.key(KindThankYou, "o9400")
	if m, err := e.w.DB.MessageByKey(e.ctx, key); err == nil {
		got, _ := e.sendAt(key, t0)
		t.Fatalf("thank-you planned (%s) and now %s/%q after a refund", m.Status, got.Status, got.Reason)
	}
	if e.line.count() != 0 {
		t.Fatalf("%d pushes", e.line.count())
	}
	// A newer update still applies.
	newer := orderJSON(9400, 7001, `, "created_at": "2026-11-25T02:00:00Z", "updated_at": "2026-11-25T03:00:00Z", "cancelled_at": "2026-11-25T03:00:00Z"`)
	e.mustEvent(shopify.TopicOrdersCancelled, newer)
	if o, _ := e.w.DB.OrderByShopifyID(e.ctx, e.shop.ID, 9400); o.CancelledAt == nil {
		t.Fatal("a newer orders/cancelled was not applied")
	}
}

// Drill: 520 old events keep failing (Asynq retries them) while 50
// webhooks were stored during a Redis outage. Before: the relay offered the
// same 500 oldest every round and the 50 never reached Redis. After: the
// relay reaches all 50 within two rounds.
func TestDrillBlockedRelay(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	e := newEnvOn(t, db)
	redisOpt := testenv.Redis(t)
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { client.Close() })
	q := NewQueue(client)
	old := e.now.Add(-time.Hour)
	for i := 0; i < 520; i++ {
		ev := &store.Event{Source: "shopify", Topic: shopify.TopicFulfillmentsCreate, ExternalID: fmt.Sprintf("old-%d", i),
			ShopDomain: e.shop.Domain, Payload: []byte(fulfillmentJSON(int64(80000+i), 999999, "T", "")), ReceivedAt: old.Add(time.Duration(i) * time.Millisecond), Attempts: 3}
		if _, err := db.InsertEvent(e.ctx, ev); err != nil {
			t.Fatal(err)
		}
		// In Redis already, waiting for a retry.
		if err := q.EnqueueEvent(e.ctx, ev.ID); err != nil {
			t.Fatal(err)
		}
	}
	var newIDs []int64
	for i := 0; i < 50; i++ {
		ev := &store.Event{Source: "shopify", Topic: shopify.TopicOrdersCreate, ExternalID: fmt.Sprintf("new-%d", i),
			ShopDomain: e.shop.Domain, Payload: []byte(orderJSON(int64(81000+i), 7001, "")), ReceivedAt: e.now.Add(-10 * time.Second)}
		if _, err := db.InsertEvent(e.ctx, ev); err != nil {
			t.Fatal(err)
		}
		newIDs = append(newIDs, ev.ID)
	}
	r := &Relay{DB: db, Queue: q, Now: func() time.Time { return e.now }}
	insp := asynq.NewInspector(redisOpt)
	t.Cleanup(func() { insp.Close() })
	rounds := 0
	for ; rounds < 5; rounds++ {
		if _, err := r.Sweep(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.now = e.now.Add(2 * time.Second)
		missing := 0
		for _, id := range newIDs {
			if _, err := insp.GetTaskInfo(QueueEvents, EventTaskID(id)); err != nil {
				missing++
			}
		}
		if missing == 0 {
			break
		}
	}
	t.Logf("blocked relay: 50 new events all in Redis after %d relay rounds", rounds+1)
	if rounds >= 2 {
		t.Fatalf("new events still not enqueued after %d relay rounds", rounds)
	}
}

// Drill: a NUL byte in text fields and an order with 10,000 line items.
// Before: PostgreSQL refused both (0x00 in text; >65,535 parameters), the
// event retried for 37 minutes and was dropped. After: both are applied and
// thanked; a 6,000-character name is shortened for display.
func TestDrillPoisonOrders(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, testenv.Postgres(t))
	nul := strings.Replace(orderJSON(9500, 7001, `, "note": "a\u0000b"`), `"name": "#9500"`, `"name": "#95\u000000"`, 1)
	nul = strings.Replace(nul, `"first_name": "Hanako"`, `"first_name": "Han\u0000ako"`, 1)
	nul = strings.Replace(nul, `"title": "ほうじ茶"`, `"title": "ほうじ\u0000茶 \ud800"`, 1)
	if err := e.event(shopify.TopicOrdersCreate, nul); err != nil {
		t.Fatalf("NUL order: %v", err)
	}
	var items strings.Builder
	for i := 0; i < 10000; i++ {
		if i > 0 {
			items.WriteString(",")
		}
		fmt.Fprintf(&items, `{"id":%d,"title":"t%d","quantity":1,"price":"1"}`, i+1, i)
	}
	big := fmt.Sprintf(`{"id": 9501, "name": "#9501", "currency": "JPY", "total_price": "10000", "financial_status": "paid",
		"line_items": [%s], "customer": {"id": 7001, "first_name": %q, "last_name": "Yamada"}}`, items.String(), strings.Repeat("名", 6000))
	if err := e.event(shopify.TopicOrdersCreate, big); err != nil {
		t.Fatalf("10,000-item order: %v", err)
	}
	o, err := e.w.DB.OrderByShopifyID(e.ctx, e.shop.ID, 9501)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Items) != 10000 {
		t.Fatalf("%d items stored, want 10000", len(o.Items))
	}
	for _, id := range []string{"o9500", "o9501"} {
		m, err := e.sendAt(e.key(KindThankYou, id), t0)
		if err != nil || m.Status != store.MsgSent {
			t.Fatalf("thank-you %s = %s/%q (%v), want sent", id, m.Status, m.Reason, err)
		}
	}
	// A negative id is refused as invalid, at once.
	if err := e.event(shopify.TopicOrdersCreate, orderJSON(-5, 7001, "")); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Fatalf("negative order id: %v, want invalid", err)
	}
}

// Drill: an order with neither checkout_token nor cart_token (as in
// Shopify's own orders/create example) for a customer with an abandoned
// checkout of the same item. Before: the cart reminder was sent after the
// order. After: it is cancelled (order_placed).
func TestDrillOrderWithoutTokens(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, testenv.Postgres(t))
	e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tokN", "cartN", 7001))
	order := strings.Replace(orderJSON(9600, 7001, ""), `"title": "ほうじ茶"`, `"title": "湯呑み"`, 1)
	e.mustEvent(shopify.TopicOrdersCreate, order)
	key := CartReminderKey(KindCartReminder, e.shop.ID, "tokN", e.cust.ID)
	m, err := e.sendAt(key, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if m.Status == store.MsgSent || e.line.count() != 0 {
		t.Fatalf("cart reminder after the order: %s/%q, %d pushes", m.Status, m.Reason, e.line.count())
	}
	if m.Reason != ReasonOrderPlaced {
		t.Fatalf("reason %q, want %s", m.Reason, ReasonOrderPlaced)
	}
	// Another customer orders other items around their cart's time: unsure,
	// so no reminder either.
	other := e.customer(7002, "U00000000000000000000000000000002")
	e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tokM", "cartM", 7002))
	e.mustEvent(shopify.TopicOrdersCreate, orderJSON(9601, 7002, ""))
	key = CartReminderKey(KindCartReminder, e.shop.ID, "tokM", other.ID)
	if m, _ := e.sendAt(key, t0.Add(2*time.Hour)); m.Status != store.MsgSkipped || m.Reason != core.ReasonRecentOrder {
		t.Fatalf("unsure match: %s/%q, want skipped/%s", m.Status, m.Reason, core.ReasonRecentOrder)
	}
}

// The no-token match compares when Tsunagu stored the order and first saw
// the checkout, on the worker's clock. A customer who ordered the same item
// five hours before starting a new cart still gets that cart's reminder:
// the order is outside CheckoutOrderWindow. (The rows used to take the
// database's wall clock, which put both "now" in a test-clock drill and
// skipped the reminder as order_placed.)
func TestCartReminderWindowOnWorkerClock(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, testenv.Postgres(t))
	e.now = t0.Add(-5 * time.Hour)
	order := strings.Replace(orderJSON(9700, 7001, ""), `"title": "ほうじ茶"`, `"title": "湯呑み"`, 1)
	e.mustEvent(shopify.TopicOrdersCreate, order)
	e.now = t0
	e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tokW", "cartW", 7001))
	m, err := e.sendAt(CartReminderKey(KindCartReminder, e.shop.ID, "tokW", e.cust.ID), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != store.MsgSent {
		t.Fatalf("reminder for a cart started 5 h after the last order: %s/%q, want sent", m.Status, m.Reason)
	}
}
