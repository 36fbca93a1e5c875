package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
)

// Under the daily cap the message that matters more wins: a cart reminder
// due this afternoon keeps today's last slot from a campaign sent this
// morning, and a reminder the cap would push to tomorrow — past its
// deadline — is skipped with its reason, and not sent the next day either.
// PostgreSQL, Redis, the fake LINE and the fake Shopify (the reminder's
// order re-check).
func TestCartReminderWinsTheLastDailySlot(t *testing.T) {
	t.Parallel()
	e := newLinkEnv(t, testenv.Postgres(t), testenv.Redis(t), "")
	e.installByCallback(t)
	ctx := context.Background()
	db := e.a.DB
	late := addCustomer(t, db, e.s.ID, 7002)
	users := map[int64]string{}
	for i, c := range []*store.Customer{e.cust, late} {
		users[c.ID] = fmt.Sprintf("U%032d", 800+i)
		if err := db.CreateLink(ctx, &store.LineLink{ShopID: e.s.ID, CustomerID: c.ID, LineUserID: users[c.ID], Friend: true, LinkedAt: testNow}); err != nil {
			t.Fatal(err)
		}
	}
	// The cap is 2. e.cust had one marketing message this morning, late two.
	for c, n := range map[*store.Customer]int{e.cust: 1, late: 2} {
		for i := range n {
			sent := testNow.Add(-time.Duration(i+1) * time.Hour)
			if _, err := db.PlanMessage(ctx, &store.Message{ShopID: e.s.ID, CustomerID: &c.ID, Kind: jobs.KindFollowUp3,
				DedupeKey: fmt.Sprintf("fu/%d/%d", c.ID, i), ScheduledFor: sent, Status: store.MsgSent, SentAt: &sent}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Both leave a cart at noon JST: a reminder each, due at 13:00.
	for _, c := range []*store.Customer{e.cust, late} {
		body := fmt.Sprintf(`{"token": "co-%d", "cart_token": "cart-%d", "currency": "JPY", "total_price": "2400",
			"abandoned_checkout_url": "https://shop.example/checkouts/co-%d/recover",
			"line_items": [{"title": "湯呑み", "quantity": 1, "price": "2400"}], "customer": {"id": %d}}`, c.ShopifyID, c.ShopifyID, c.ShopifyID, c.ShopifyID)
		if rec := deliver(t, e.a, webhookRequest("checkouts/create", fmt.Sprint("co-", c.ShopifyID), []byte(body), e.shop.APISecret)); rec.Code != http.StatusOK {
			t.Fatalf("checkout webhook: %d %s", rec.Code, rec.Body)
		}
	}
	e.processPending(t)
	reminder := func(c *store.Customer) *store.Message {
		t.Helper()
		var m store.Message
		if err := db.G.Where("customer_id = ? AND kind = ?", c.ID, jobs.KindCartReminder).Take(&m).Error; err != nil {
			t.Fatalf("cart reminder of customer %d: %v", c.ShopifyID, err)
		}
		return &m
	}

	// A campaign to everyone goes out now, before the reminders are due.
	rec := adminCall(t, e.a, http.MethodPost, "/api/campaigns", map[string]any{
		"name": "Lunch sale", "definition": map[string]any{"and": []any{}},
		"messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"ランチセール"}`)}, "send": true,
	})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create campaign: %d %s", rec.Code, rec.Body)
	}
	camp := decode[store.Campaign](t, rec)
	w := e.a.Worker()
	if err := w.StartCampaign(ctx, camp.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.SendCampaignBatch(ctx, camp.ID, 0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*store.Customer{e.cust, late} {
		var r store.CampaignRecipient
		if err := db.G.Where("campaign_id = ? AND customer_id = ?", camp.ID, c.ID).Take(&r).Error; err != nil {
			t.Fatal(err)
		}
		if r.Status != store.MsgSkipped || r.Reason != jobs.ReasonFrequencyCap {
			t.Errorf("campaign message to customer %d: %s %q, want skipped by the cap (the reminder holds the slot)", c.ShopifyID, r.Status, r.Reason)
		}
	}
	for _, m := range e.line.Multicasts() {
		if slices.Contains(m.To, users[e.cust.ID]) || slices.Contains(m.To, users[late.ID]) {
			t.Errorf("the campaign reached a capped customer: %v", m.To)
		}
	}

	// 13:00 JST: the reminders are due.
	e.clock.Add(reminder(e.cust).ScheduledFor.Sub(e.clock.Now()) + time.Minute)
	for _, c := range []*store.Customer{e.cust, late} {
		if err := w.SendMessage(ctx, reminder(c).ID); err != nil {
			t.Fatal(err)
		}
	}
	if m := reminder(e.cust); m.Status != store.MsgSent {
		t.Errorf("cart reminder with the slot it held: %s %q, want sent", m.Status, m.Reason)
	}
	if m := reminder(late); m.Status != store.MsgSkipped || m.Reason != core.ReasonExpiredUnderCap {
		t.Errorf("cart reminder over the cap: %s %q, want skipped %s", m.Status, m.Reason, core.ReasonExpiredUnderCap)
	}
	// The next morning nothing more goes: the skipped reminder stays skipped.
	e.clock.Add(20 * time.Hour)
	if err := w.SendMessage(ctx, reminder(late).ID); err != nil {
		t.Fatal(err)
	}
	pushes := e.line.Pushes()
	if len(pushes) != 1 || pushes[0].To != users[e.cust.ID] {
		t.Fatalf("pushes %+v, want the one reminder to customer 7001", pushes)
	}
	if m := reminder(late); m.Status != store.MsgSkipped || m.Reason != core.ReasonExpiredUnderCap {
		t.Errorf("the next day the reminder is %s %q", m.Status, m.Reason)
	}
}
