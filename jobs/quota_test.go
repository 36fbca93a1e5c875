package jobs

import (
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
	"github.com/tsunagu/tsunagu/shopify"
)

// LINE's monthly-limit 429 stops marketing for the month (skipped with a
// reason, no more requests to LINE) but not shipping and thank-you
// messages, which go out once the allowance is back. Marketing beyond its
// share of the quota is skipped as quota_reserved.
func TestMonthlyLimitStopsMarketingNotShipping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fake := linetest.NewServer(t)
	e.w.LINE = line.NewMessenger(fake.URL, nil)
	// Our last reading showed plenty left; since then the merchant's own
	// broadcasts in LINE Official Account Manager used the month up.
	ch, err := e.w.DB.LineChannel(e.ctx, e.shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.w.DB.SaveChannelQuotaReading(e.ctx, e.shop.ID, ch.ID, true, 1000, 10, t0.Add(55*time.Minute)); err != nil {
		t.Fatal(err)
	}
	fake.SetMonthlyLimit("tok", 0)
	e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tk1", "ct1", 7001))
	e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tk2", "ct2", 7001))

	m, err := e.sendAt(e.key(KindCartReminder, "ktk1"), t0.Add(time.Hour))
	if err != nil || m.Status != store.MsgSkipped || m.Reason != core.ReasonMonthlyLimit {
		t.Fatalf("cart reminder at the monthly limit: %v %s %q", err, m.Status, m.Reason)
	}
	requests := fake.Requests()
	m, err = e.sendAt(e.key(KindCartReminder, "ktk2"), t0.Add(time.Hour))
	if err != nil || m.Status != store.MsgSkipped || m.Reason != core.ReasonMonthlyLimit || fake.Requests() != requests {
		t.Fatalf("second cart reminder: %v %s %q, %d more requests", err, m.Status, m.Reason, fake.Requests()-requests)
	}
	// The thank-you is not stopped: LINE refuses it for now, it stays to be retried.
	// (The order comes after the reminders: an order by the same customer
	// would settle the carts as recent_order before any quota rule.)
	thanks := e.order(7101)
	if m, _ := e.sendAt(thanks, t0.Add(time.Hour)); m.Status == store.MsgSkipped || m.Status == store.MsgFailed || m.Status == store.MsgSent {
		t.Fatalf("thank-you at the monthly limit: %s %q, want kept for a retry", m.Status, m.Reason)
	}
	fake.SetMonthlyLimit("tok", 1000) // the reservation of a delivery in progress is released
	if m, err := e.sendAt(thanks, t0.Add(2*time.Hour)); err != nil || m.Status != store.MsgSent {
		t.Fatalf("thank-you once LINE takes it: %v %s %q", err, m.Status, m.Reason)
	}
	q, _ := e.w.DB.LineQuota(e.ctx, e.shop.ID)
	if q.ExhaustedMonth != "2026-11" {
		t.Errorf("exhausted month %q", q.ExhaustedMonth)
	}
}

// Marketing may use the quota up to the transactional reserve.
func TestQuotaReserved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fake := linetest.NewServer(t)
	e.w.LINE = line.NewMessenger(fake.URL, nil)
	fake.SetMonthlyLimit("tok", 10) // 20 % reserved: marketing may use 8
	e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tk1", "ct1", 7001))
	// Other sends on the channel (another customer's notices, the merchant's
	// own messages) use the quota. Orders by this customer would settle the
	// cart as recent_order before any quota rule, so they go to someone else.
	for i := range 8 {
		if _, err := e.w.LINE.Push(e.ctx, "tok", "U00000000000000000000000000000002", []line.Message{line.TextMessage("notice")}, ""); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	if fake.Usage("tok") != 8 {
		t.Fatalf("usage %d, want 8", fake.Usage("tok"))
	}
	m, err := e.sendAt(e.key(KindCartReminder, "ktk1"), t0.Add(time.Hour))
	if err != nil || m.Status != store.MsgSkipped || m.Reason != core.ReasonQuotaReserved {
		t.Fatalf("cart reminder over the marketing share: %v %s %q", err, m.Status, m.Reason)
	}
}
