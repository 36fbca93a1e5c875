package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// TestGateDecidesEachLinkAndCapState (issue 16): the gate's reason for each
// state a recipient can reach between materialisation and its batch, on
// both databases. The probes read indexes of the exceptions (migration
// 0059: redacted customers, live links with their blocked flag, pending
// messages); every case below must still be decided as before: a redacted,
// blocked or unlinked customer is never sent to, a relinked one is, and the
// cap counts today's sent marketing and the queued messages that outrank a
// campaign, and nothing else.
func TestGateDecidesEachLinkAndCapState(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		now := time.Now().UTC().Truncate(time.Second)
		dayStart := now.Add(-6 * time.Hour)
		camp := sendingCampaign(t, db, shop.ID, "gate")
		create := func(v any) {
			t.Helper()
			if err := db.G.Create(v).Error; err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		// customer makes a recipient whose link rows are links (unlinked
		// when the time is set, blocked when the flag is) and returns its id.
		type link struct {
			unlinked *time.Time
			blocked  bool
		}
		customer := func(links ...link) int64 {
			t.Helper()
			n++
			c := &store.Customer{ShopID: shop.ID, ShopifyID: int64(n), Email: fmt.Sprintf("g%d@example.com", n)}
			create(c)
			for i, l := range links {
				create(&store.LineLink{ShopID: shop.ID, CustomerID: c.ID, LineUserID: fmt.Sprintf("U%d_%d", n, i), Friend: true,
					Blocked: l.blocked, LinkedAt: now.Add(-48 * time.Hour), UnlinkedAt: l.unlinked})
			}
			create(&store.CampaignRecipient{CampaignID: camp.ID, ShopID: shop.ID, CustomerID: c.ID, Variant: "A", Batch: 0,
				Status: store.MsgQueued, LineUserID: fmt.Sprintf("U%d_0", n), UpdatedAt: now})
			return c.ID
		}
		message := func(cust int64, kind, status string, scheduled time.Time, sent *time.Time) {
			t.Helper()
			n++
			create(&store.Message{ShopID: shop.ID, CustomerID: &cust, Kind: kind, DedupeKey: fmt.Sprintf("k%d", n), Status: status,
				ScheduledFor: scheduled, SentAt: sent, CreatedAt: now, UpdatedAt: now})
		}
		gone := now.Add(-time.Hour)
		yesterday := dayStart.Add(-time.Hour)
		live := link{}
		want := map[int64]string{}
		want[customer(live)] = ""
		want[customer()] = "not_linked"
		want[customer(link{unlinked: &gone})] = "unlinked"
		want[customer(link{blocked: true})] = "blocked"
		want[customer(link{unlinked: &gone}, live)] = ""                       // relinked
		want[customer(link{unlinked: &gone}, link{blocked: true})] = "blocked" // relinked, then blocked
		want[customer(link{unlinked: &gone, blocked: true}, live)] = ""        // an old link's flag does not count
		red := customer(live)
		if err := db.G.Exec("UPDATE customers SET redacted_at = ? WHERE id = ?", now, red).Error; err != nil {
			t.Fatal(err)
		}
		want[red] = "redacted"
		c := customer(live) // sent marketing today: capped
		message(c, "follow_up_3", store.MsgSent, now.Add(-time.Hour), &gone)
		want[c] = "frequency_cap"
		c = customer(live) // sent marketing yesterday, a thank-you today: not capped
		message(c, "follow_up_3", store.MsgSent, yesterday, &yesterday)
		message(c, "thank_you", store.MsgSent, now.Add(-time.Hour), &gone)
		want[c] = ""
		c = customer(live) // a queued reminder that outranks the campaign holds today's slot
		message(c, "cart_reminder", store.MsgQueued, now.Add(time.Hour), nil)
		want[c] = "frequency_cap"
		c = customer(live) // one due tomorrow, one of a kind that does not outrank it, one cancelled: not capped
		message(c, "cart_reminder", store.MsgQueued, now.Add(30*time.Hour), nil)
		message(c, "follow_up_7", store.MsgQueued, now.Add(time.Hour), nil)
		message(c, "cart_reminder", store.MsgCancelled, now.Add(time.Hour), nil)
		want[c] = ""

		cr := store.CapRule{DayStart: dayStart, DayEnd: dayStart.Add(24 * time.Hour), Now: now, Limit: 1,
			Exempt: []string{"thank_you", "shipping"}, Reserve: []string{"cart_reminder"}}
		g, err := db.GateBatch(ctx, camp.ID, 0, cr, now)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := db.CampaignRecipients(ctx, camp.ID)
		if err != nil {
			t.Fatal(err)
		}
		sending := map[int64]bool{}
		for _, r := range g.Send {
			sending[r.CustomerID] = true
		}
		if len(rs) != len(want) {
			t.Fatalf("%d recipients, want %d", len(rs), len(want))
		}
		for _, r := range rs {
			if r.Reason != want[r.CustomerID] || sending[r.CustomerID] != (want[r.CustomerID] == "") {
				t.Errorf("customer %d: reason %q, sent %v; want reason %q", r.CustomerID, r.Reason, sending[r.CustomerID], want[r.CustomerID])
			}
		}
	})
}

// TestGateSkipKeepsASettledOutcome (issue 16): the gate reads a batch and
// writes its skips afterwards, with no transaction around the two. A
// recipient that another run of the batch settles in between (here: sent,
// written just before the skip's update) keeps that outcome: the skip is
// written only where the row is still queued, and is not counted.
func TestGateSkipKeepsASettledOutcome(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		now := time.Now().UTC().Truncate(time.Second)
		camp := sendingCampaign(t, db, shop.ID, "gate")
		c := &store.Customer{ShopID: shop.ID, ShopifyID: 1, Email: "g1@example.com"} // no link: the gate skips it as not_linked
		if err := db.G.Create(c).Error; err != nil {
			t.Fatal(err)
		}
		r := &store.CampaignRecipient{CampaignID: camp.ID, ShopID: shop.ID, CustomerID: c.ID, Variant: "A", Status: store.MsgQueued, LineUserID: "U1", UpdatedAt: now}
		if err := db.G.Create(r).Error; err != nil {
			t.Fatal(err)
		}
		// The other run's write lands between the gate's read and its skip.
		settled := false
		err := db.G.Callback().Update().Before("gorm:update").Register("test:settle_first", func(tx *gorm.DB) {
			if settled || tx.Statement.Table != "campaign_recipients" {
				return
			}
			settled = true
			if err := tx.Session(&gorm.Session{NewDB: true}).Exec("UPDATE campaign_recipients SET status = ?, line_request_id = ?, sent_at = ? WHERE id = ?",
				store.MsgSent, "req-other-run", now, r.ID).Error; err != nil {
				t.Error(err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		cr := store.CapRule{DayStart: now.Add(-time.Hour), DayEnd: now.Add(23 * time.Hour), Now: now, Limit: 1}
		g, err := db.GateBatch(ctx, camp.ID, 0, cr, now)
		if err != nil {
			t.Fatal(err)
		}
		if !settled {
			t.Fatal("the gate wrote no skip: the recipient was not gated as not_linked")
		}
		if len(g.Send) != 0 || g.Skipped != 0 {
			t.Errorf("gate: %d to send, %d skipped; want 0 and 0 (the other run settled it)", len(g.Send), g.Skipped)
		}
		var got store.CampaignRecipient
		if err := db.G.First(&got, r.ID).Error; err != nil {
			t.Fatal(err)
		}
		if got.Status != store.MsgSent || got.Reason != "" || got.LineRequestID != "req-other-run" {
			t.Errorf("recipient after the gate: status %q, reason %q, request %q; want the other run's sent outcome", got.Status, got.Reason, got.LineRequestID)
		}
	})
}

// TestGateRunsItsGenericPlan (issue 16): the gate statement runs the
// generic plan its prepared statement caches (scanGated), not a plan made
// again for every batch. Without the plan_cache_mode set beside it, the
// first five runs on a connection are custom plans, and on a database with
// statistics every later one was too (the gate planned per batch).
func TestGateRunsItsGenericPlan(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	sqlDB, err := db.G.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.SetMaxOpenConns(1) // one session: its prepared statements are the gate's
	shop := newShop(t, db)
	camp := sendingCampaign(t, db, shop.ID, "gate")
	now := time.Now().UTC()
	cr := store.CapRule{DayStart: now.Add(-time.Hour), DayEnd: now.Add(time.Hour), Now: now, Limit: 1, Exempt: []string{"thank_you"}}
	for batch := range 3 {
		if _, err := db.GateBatch(ctx, camp.ID, batch, cr, now); err != nil {
			t.Fatal(err)
		}
	}
	var plans struct{ Generic, Custom int64 }
	if err := db.G.Raw("SELECT generic_plans AS generic, custom_plans AS custom FROM pg_prepared_statements WHERE statement LIKE 'SELECT r.id, r.shop_id, r.customer_id, r.variant, r.line_user_id, CASE%'").
		Scan(&plans).Error; err != nil {
		t.Fatal(err)
	}
	if plans.Generic != 3 || plans.Custom != 0 {
		t.Errorf("the gate ran %d generic and %d custom plans; want 3 generic", plans.Generic, plans.Custom)
	}
}

// sendingCampaign creates a sending campaign of one variant, A, for the
// gate to read its recipients from.
func sendingCampaign(t *testing.T, db *store.DB, shopID int64, name string) *store.Campaign {
	t.Helper()
	camp := &store.Campaign{ShopID: shopID, Name: name, Status: store.CampaignSending, Definition: []byte(`{}`),
		Variants: []store.CampaignVariant{{Name: "A", Weight: 1}}}
	if err := db.G.Create(camp).Error; err != nil {
		t.Fatal(err)
	}
	return camp
}
