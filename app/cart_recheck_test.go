package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

// A cart reminder that nothing stored settles (the order's webhook is late
// or lost) is re-checked with Shopify's orders query before it is sent:
// a customer Shopify lists an order for since the cart gets no reminder
// (skipped with a reason); one without an order gets it.
func TestCartReminderRechecksShopify(t *testing.T) {
	t.Parallel()
	e := newLinkEnv(t, testenv.Postgres(t), testenv.Redis(t), "")
	e.installByCallback(t)
	ctx := context.Background()
	other := addCustomer(t, e.a.DB, e.s.ID, 7002)
	for i, c := range []*store.Customer{e.cust, other} {
		if err := e.a.DB.CreateLink(ctx, &store.LineLink{ShopID: e.s.ID, CustomerID: c.ID, LineUserID: fmt.Sprintf("U%032d", 700+i), Friend: true, LinkedAt: testNow}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*store.Customer{e.cust, other} {
		body := fmt.Sprintf(`{"token": "co-%d", "cart_token": "cart-%d", "currency": "JPY", "total_price": "2400",
			"abandoned_checkout_url": "https://shop.example/checkouts/co-%d/recover",
			"line_items": [{"title": "湯呑み", "quantity": 1, "price": "2400"}], "customer": {"id": %d}}`, c.ShopifyID, c.ShopifyID, c.ShopifyID, c.ShopifyID)
		if rec := deliver(t, e.a, webhookRequest("checkouts/create", fmt.Sprint("co-", c.ShopifyID), []byte(body), e.shop.APISecret)); rec.Code != http.StatusOK {
			t.Fatalf("checkout webhook: %d %s", rec.Code, rec.Body)
		}
	}
	e.processPending(t)
	// Customer 7001 ordered at Shopify; the orders/create webhook never came.
	// (Checkouts are stamped on the wall clock, so the order is too.)
	e.shop.AddOrder(testShop, shopifytest.Order{ID: 990001, Name: "#9901", CustomerID: e.cust.ShopifyID, CreatedAt: time.Now().UTC()})
	reminder := func(c *store.Customer) *store.Message {
		t.Helper()
		var m store.Message
		if err := e.a.DB.G.Where("customer_id = ? AND kind = ?", c.ID, jobs.KindCartReminder).Take(&m).Error; err != nil {
			t.Fatalf("no cart reminder planned for customer %d: %v", c.ShopifyID, err)
		}
		return &m
	}
	ordered, notOrdered := reminder(e.cust), reminder(other)
	e.clock.Add(ordered.ScheduledFor.Sub(e.clock.Now()) + time.Minute)
	w := e.a.Worker()
	for _, m := range []*store.Message{ordered, notOrdered} {
		if err := w.SendMessage(ctx, m.ID); err != nil {
			t.Fatalf("sending %d: %v", m.ID, err)
		}
	}
	got, _ := e.a.DB.Message(ctx, ordered.ID)
	if got.Status != store.MsgSkipped || got.Reason != jobs.ReasonOrderAtShopify {
		t.Fatalf("reminder after an order at Shopify: %s %q", got.Status, got.Reason)
	}
	if got, _ := e.a.DB.Message(ctx, notOrdered.ID); got.Status != store.MsgSent {
		t.Fatalf("reminder without an order: %s %q", got.Status, got.Reason)
	}
	if n := len(e.line.Pushes()); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
	asked := 0
	for _, r := range e.shop.Requests() {
		if r.Operation == "orders" {
			asked++
			if q, _ := r.Variables["query"].(string); !strings.Contains(q, "customer_id:") || r.Status != http.StatusOK {
				t.Errorf("orders query %q answered %d", q, r.Status)
			}
		}
	}
	if asked != 2 {
		t.Fatalf("asked Shopify %d times, want 2", asked)
	}
}
