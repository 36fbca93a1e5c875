package store_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// TestGateCountsOtherCampaignsOnlyWhenOneMaySentToday (issue 16): the daily
// cap counts what other campaigns of the shop sent today — one still
// sending, one finished today — and not what one finished days ago sent;
// and the per-recipient lookup of campaign sends runs only when such a
// campaign exists. The first campaign of the day gates each recipient with
// one index probe fewer; without the guard the probe ran for every
// recipient (loops=3 below instead of "never executed").
func TestGateCountsOtherCampaignsOnlyWhenOneMaySentToday(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	shop := newShop(t, db)
	exec := func(q string, args ...any) {
		t.Helper()
		if err := db.G.Exec(q, args...).Error; err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	exec(`INSERT INTO customers (shop_id, shopify_id, email, created_at, updated_at) SELECT ?, g, 'g' || g || '@example.com', now(), now() FROM generate_series(1, 3) g`, shop.ID)
	exec(`INSERT INTO line_links (shop_id, customer_id, line_user_id, friend, linked_at, created_at, updated_at) SELECT shop_id, id, 'U' || shopify_id, true, now(), now(), now() FROM customers WHERE shop_id = ?`, shop.ID)
	campaign := func(name, status string, finished *time.Time) int64 {
		t.Helper()
		var id int64
		if err := db.G.Raw(`INSERT INTO campaigns (shop_id, name, definition, variants, status, started_at, finished_at, batches, created_at, updated_at)
VALUES (?, ?, '{}', '[]', ?, now() - interval '4 days', ?, 1, now(), now()) RETURNING id`, shop.ID, name, status, finished).Scan(&id).Error; err != nil {
			t.Fatal(err)
		}
		return id
	}
	recipient := func(campID int64, shopifyID int, status string, sentAt *time.Time) {
		t.Helper()
		exec(`INSERT INTO campaign_recipients (campaign_id, shop_id, customer_id, variant, batch, status, line_user_id, sent_at, updated_at)
SELECT ?, shop_id, id, 'A', 0, ?, 'U' || shopify_id, ?, now() FROM customers WHERE shop_id = ? AND shopify_id = ?`, campID, status, sentAt, shop.ID, shopifyID)
	}
	now := time.Now().UTC()
	daysAgo := now.Add(-72 * time.Hour)
	old := campaign("three days ago", store.CampaignDone, &daysAgo)
	recipient(old, 2, store.MsgSent, &daysAgo)
	camp := campaign("now", store.CampaignSending, nil)
	for c := 1; c <= 3; c++ {
		recipient(camp, c, store.MsgQueued, nil)
	}
	cr := store.CapRule{DayStart: now.Add(-12 * time.Hour), DayEnd: now.Add(12 * time.Hour), Now: now, Limit: 1, Exempt: []string{"thank_you"}}
	probe := regexp.MustCompile(`on campaign_recipients x[^\n]*`)

	// Only a campaign finished days ago: no lookup of campaign sends.
	plan, err := db.ExplainAnalyzeGate(ctx, camp, 0, cr)
	if err != nil {
		t.Fatal(err)
	}
	if m := probe.FindString(plan); !strings.Contains(m, "never executed") {
		t.Errorf("with no other campaign today the campaign-sends lookup ran: %q\n%s", m, plan)
	}

	// One finished today and one still sending, each sent to a customer today.
	today := campaign("this morning", store.CampaignDone, &now)
	recipient(today, 1, store.MsgSent, &now)
	running := campaign("running", store.CampaignSending, nil)
	recipient(running, 3, store.MsgSent, &now)
	if plan, err = db.ExplainAnalyzeGate(ctx, camp, 0, cr); err != nil {
		t.Fatal(err)
	}
	if m := probe.FindString(plan); m == "" || strings.Contains(m, "never executed") {
		t.Errorf("with other campaigns today the campaign-sends lookup did not run: %q\n%s", m, plan)
	}
	g, err := db.GateBatch(ctx, camp, 0, cr, now)
	if err != nil {
		t.Fatal(err)
	}
	if g.Skipped != 2 || len(g.Send) != 1 {
		t.Fatalf("skipped %d, sending %+v; want customers 1 and 3 capped, 2 sent", g.Skipped, g.Send)
	}
	rs, err := db.CampaignRecipients(ctx, camp)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		want := "frequency_cap"
		if r.LineUserID == "U2" {
			want = ""
		}
		if r.Reason != want {
			t.Errorf("recipient %s: reason %q, want %q", r.LineUserID, r.Reason, want)
		}
	}
}

// TestCapCountsTheShopsDayAcrossIndexDays (issue 16): on PostgreSQL the
// cap finds today's sends by day in Japan (messages_sent_day), and a shop
// elsewhere has days that straddle two of those. For a shop on UTC, in the
// evening: sends on both sides of midnight in Japan count, one before the
// shop's day started does not, in the gate and in the single-message count
// (CapUsed) alike.
func TestCapCountsTheShopsDayAcrossIndexDays(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		dayStart := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC) // 09:00 in Japan
		now := dayStart.Add(20 * time.Hour)                       // 05:00 on the 11th in Japan
		create := func(v any) {
			t.Helper()
			if err := db.G.Create(v).Error; err != nil {
				t.Fatal(err)
			}
		}
		camp := sendingCampaign(t, db, shop.ID, "cap day")
		c := &store.Customer{ShopID: shop.ID, ShopifyID: 1, Email: "d@example.com"}
		create(c)
		create(&store.LineLink{ShopID: shop.ID, CustomerID: c.ID, LineUserID: "Uday", Friend: true, LinkedAt: dayStart.Add(-48 * time.Hour)})
		create(&store.CampaignRecipient{CampaignID: camp.ID, ShopID: shop.ID, CustomerID: c.ID, Variant: "A", Status: store.MsgQueued, LineUserID: "Uday", UpdatedAt: now})
		for i, at := range []time.Time{
			dayStart.Add(-time.Hour),     // 23:00 on the 9th: yesterday
			dayStart.Add(time.Hour),      // 01:00: today, the 10th in Japan
			dayStart.Add(16 * time.Hour), // 16:00: today, the 11th in Japan
		} {
			at := at
			create(&store.Message{ShopID: shop.ID, CustomerID: &c.ID, Kind: "follow_up_3", DedupeKey: fmt.Sprintf("day%d", i), Status: store.MsgSent,
				ScheduledFor: at, SentAt: &at, CreatedAt: at, UpdatedAt: at})
		}
		cr := store.CapRule{DayStart: dayStart, DayEnd: dayStart.Add(24 * time.Hour), Now: now, Limit: 3, Exempt: []string{"thank_you"}}
		used, err := db.CapUsed(ctx, &store.Message{ShopID: shop.ID, CustomerID: &c.ID, Kind: "follow_up_7"}, cr)
		if err != nil {
			t.Fatal(err)
		}
		if used != 2 {
			t.Errorf("CapUsed = %d, want 2 (the two sends since midnight)", used)
		}
		for _, tc := range []struct {
			limit int
			want  string
		}{{3, ""}, {2, "frequency_cap"}} {
			cr.Limit = tc.limit
			if err := db.G.Exec("UPDATE campaign_recipients SET status = ?, reason = '' WHERE campaign_id = ?", store.MsgQueued, camp.ID).Error; err != nil {
				t.Fatal(err)
			}
			g, err := db.GateBatch(ctx, camp.ID, 0, cr, now)
			if err != nil {
				t.Fatal(err)
			}
			var r store.CampaignRecipient
			if err := db.G.Where("campaign_id = ?", camp.ID).First(&r).Error; err != nil {
				t.Fatal(err)
			}
			if sent := len(g.Send) == 1; r.Reason != tc.want || sent != (tc.want == "") {
				t.Errorf("limit %d: reason %q, to send %v; want reason %q", tc.limit, r.Reason, sent, tc.want)
			}
		}
	})
}
