package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// TestMarkSentKeepsRowsOnTheirPage (issue 16, migrations 0060 and 0061): a
// batch marked sent keeps each recipient's new row version on the page it
// was materialised on, as a HOT update that writes no index entry. With full
// pages every version moved to a new page at the end of the table, and 16
// workers took turns extending it; with status and sent_at indexed, each
// row also took an entry in all four indexes.
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
	// In a transaction, so that its own statistics count the HOT updates.
	var hot int64
	if err := db.Tx(ctx, func(tx *store.DB) error {
		if _, err := tx.FinishBatch(ctx, camp.ID, 0, ids, store.MsgSent, "", "request-id-of-the-multicast", time.Now()); err != nil {
			return err
		}
		return tx.G.Raw("SELECT pg_stat_get_xact_tuples_hot_updated('campaign_recipients'::regclass)").Scan(&hot).Error
	}); err != nil {
		t.Fatal(err)
	}
	if hot != int64(len(ids)) {
		t.Errorf("%d of %d recipients marked sent by a HOT update: an index of campaign_recipients covers a column the update writes", hot, len(ids))
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
