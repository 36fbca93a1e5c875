package store_test

import (
	"context"
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
