package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// TestMarkSentKeepsRowsOnTheirPage (issue 16, migration 0060): a batch
// marked sent keeps each recipient's new row version on the page it was
// materialised on. With full pages every version moved to a new page at
// the end of the table, and 16 workers took turns extending it.
func TestMarkSentKeepsRowsOnTheirPage(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	shop := newShop(t, db)
	camp := &store.Campaign{ShopID: shop.ID, Name: "pages", Status: store.CampaignSending, Definition: []byte(`{}`), Batches: 1,
		Variants: []store.CampaignVariant{{Name: "A", Weight: 1}}}
	if err := db.G.Create(camp).Error; err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO customers (shop_id, shopify_id, email, created_at, updated_at) SELECT ?, g, 'p' || g || '@example.com', now(), now() FROM generate_series(1, 500) g`,
		`INSERT INTO campaign_recipients (campaign_id, shop_id, customer_id, variant, batch, status, line_user_id, updated_at)
		 SELECT ?, shop_id, id, 'A', 0, 'queued', 'U' || md5(id::text), now() FROM customers WHERE shop_id = ? ORDER BY id`,
	} {
		args := []any{shop.ID}
		if len(q) > 40 && q[:40] == "INSERT INTO campaign_recipients (campaig" {
			args = []any{camp.ID, shop.ID}
		}
		if err := db.G.Exec(q, args...).Error; err != nil {
			t.Fatal(err)
		}
	}
	type row struct {
		ID   int64
		Page int64
	}
	pages := func() map[int64]int64 {
		var rs []row
		if err := db.G.Raw("SELECT id, (ctid::text::point)[0]::bigint AS page FROM campaign_recipients WHERE campaign_id = ?", camp.ID).Scan(&rs).Error; err != nil {
			t.Fatal(err)
		}
		m := map[int64]int64{}
		for _, r := range rs {
			m[r.ID] = r.Page
		}
		return m
	}
	before := pages()
	ids := make([]int64, 0, len(before))
	for id := range before {
		ids = append(ids, id)
	}
	if _, err := db.FinishBatch(ctx, camp.ID, 0, ids, store.MsgSent, "", "request-id-of-the-multicast", time.Now()); err != nil {
		t.Fatal(err)
	}
	moved := 0
	for id, p := range pages() {
		if p != before[id] {
			moved++
		}
	}
	if moved > len(before)/20 {
		t.Errorf("%d of %d recipients moved to another page when marked sent", moved, len(before))
	}
}
