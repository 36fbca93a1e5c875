package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// TestFinishBatchUsingCountsQuotaWithTheBatch (issue 16): a batch LINE
// accepted is settled, counted on the campaign row and counted against its
// channel's cached quota by one call (on PostgreSQL the two counters share
// one statement); a retry that settles no one counts the quota use but not
// the batch again.
func TestFinishBatchUsingCountsQuotaWithTheBatch(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		ch := &store.LineChannel{ShopID: shop.ID, WebhookKey: "q", MessagingTokenEnc: []byte("x")}
		if err := db.SaveLineChannel(ctx, ch); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		if err := db.SaveChannelQuotaReading(ctx, shop.ID, ch.ID, true, 5000, 100, now); err != nil {
			t.Fatal(err)
		}
		if err := db.G.Exec(`INSERT INTO customers (shop_id, shopify_id, email, created_at, updated_at) VALUES (?, 1, 'a@example.com', ?, ?), (?, 2, 'b@example.com', ?, ?)`,
			shop.ID, now, now, shop.ID, now, now).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.G.Exec(`INSERT INTO campaigns (shop_id, name, definition, variants, status, batches, created_at, updated_at) VALUES (?, 'c', '{}', '[]', 'sending', 2, ?, ?)`,
			shop.ID, now, now).Error; err != nil {
			t.Fatal(err)
		}
		var campID int64
		db.G.Raw("SELECT id FROM campaigns WHERE shop_id = ?", shop.ID).Scan(&campID)
		if err := db.G.Exec(`INSERT INTO campaign_recipients (campaign_id, shop_id, customer_id, variant, batch, status, line_user_id, updated_at)
SELECT ?, shop_id, id, 'A', 0, 'queued', 'U' || shopify_id, ? FROM customers WHERE shop_id = ?`, campID, now, shop.ID).Error; err != nil {
			t.Fatal(err)
		}
		rs, err := db.CampaignRecipients(ctx, campID)
		if err != nil || len(rs) != 2 {
			t.Fatalf("%d recipients, %v", len(rs), err)
		}
		ids := []int64{rs[0].ID, rs[1].ID}
		use := store.QuotaUse{ChannelID: ch.ID, N: 2}
		prog, err := db.FinishBatchUsing(ctx, campID, 0, ids, store.MsgSent, "", "req-1", now, use)
		if err != nil || prog == nil || prog.BatchesDone != 1 {
			t.Fatalf("progress %+v, %v; want the batch counted", prog, err)
		}
		used := func() int64 {
			q, err := db.ChannelQuota(ctx, shop.ID, ch.ID)
			if err != nil {
				t.Fatal(err)
			}
			return q.Used
		}
		if u := used(); u != 102 {
			t.Errorf("quota used %d after the batch, want 102", u)
		}
		again, err := db.FinishBatchUsing(ctx, campID, 0, ids, store.MsgSent, "", "req-1", now, use)
		if err != nil || again != nil {
			t.Fatalf("a retry counted the batch again: %+v, %v", again, err)
		}
		if u := used(); u != 104 {
			t.Errorf("quota used %d after a retry LINE accepted too, want 104", u)
		}
		c, err := db.Campaign(ctx, 0, campID)
		if err != nil || c.BatchesDone != 1 {
			t.Fatalf("batches done %d, %v; want 1", c.BatchesDone, err)
		}
	})
}
