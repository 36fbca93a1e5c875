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

// TestGateBatchPlanKeepsIndexes: on a database with history (a past
// campaign, many messages, statistics from ANALYZE) the batch gate must stay
// index lookups per recipient. The old form (EXISTS in the WHERE of an
// UPDATE) flipped to hash joins over all of line_links and customers once
// campaign_recipients had statistics: seconds per batch.
func TestGateBatchPlanKeepsIndexes(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	shop := newShop(t, db)
	const n = 10000
	seed := []string{
		`INSERT INTO customers (shop_id, shopify_id, email, created_at, updated_at) SELECT ?, g, 'p' || g || '@example.com', now(), now() FROM generate_series(1, 10000) g`,
		`INSERT INTO line_links (shop_id, customer_id, line_user_id, friend, linked_at, created_at, updated_at) SELECT shop_id, id, 'U' || md5(id::text), true, now(), now(), now() FROM customers WHERE shop_id = ? AND id % 10 <> 0`,
		`INSERT INTO campaigns (shop_id, name, definition, variants, status, created_at, updated_at) VALUES (?, 'past', '{}', '[]', 'done', now(), now()), (?, 'now', '{}', '[]', 'sending', now(), now())`,
		`INSERT INTO campaign_recipients (campaign_id, shop_id, customer_id, variant, batch, status, line_user_id, sent_at, updated_at)
		 SELECT k.id, c.shop_id, c.id, 'A', (c.id - (SELECT MIN(id) FROM customers)) / 500, CASE WHEN k.name = 'past' THEN 'sent' ELSE 'queued' END, 'U', now(), now()
		 FROM customers c CROSS JOIN campaigns k WHERE c.shop_id = ? AND k.shop_id = c.shop_id`,
		`INSERT INTO messages (shop_id, customer_id, kind, dedupe_key, ref_type, ref_id, line_user_id, scheduled_for, status, reason, content, line_request_id, attempts, sent_at, created_at, updated_at)
		 SELECT c.shop_id, c.id, 'follow_up_3', 'f' || c.id || ':' || g, 'order', g, 'U', now(), 'sent', '', '', '', 1, now() - g * interval '1 hour', now(), now()
		 FROM customers c CROSS JOIN generate_series(1, 3) g WHERE c.shop_id = ?`,
		`ANALYZE`,
	}
	for _, q := range seed {
		var args []any
		for range strings.Count(q, "?") {
			args = append(args, shop.ID)
		}
		if err := db.G.Exec(q, args...).Error; err != nil {
			t.Fatalf("seeding: %v\n%s", err, q)
		}
	}
	var campID int64
	if err := db.G.Raw("SELECT id FROM campaigns WHERE name = 'now'").Scan(&campID).Error; err != nil {
		t.Fatal(err)
	}
	cr := store.CapRule{DayStart: time.Now().Add(-24 * time.Hour), Limit: 2, Exempt: []string{"thank_you", "shipping"}}
	for _, batch := range []int{0, n/500 - 1} {
		plan, err := db.ExplainGateBatch(ctx, campID, batch, cr)
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`Seq Scan on (line_links|customers|messages|campaign_recipients)`).FindString(plan); m != "" {
			t.Errorf("batch %d: the gate scans a whole table (%s):\n%s", batch, m, plan)
		}
		for _, want := range []string{"campaign_recipients_batch", "line_links_customer", "customers_pkey", "messages_customer", "campaign_recipients_customer"} {
			if !strings.Contains(plan, want) {
				t.Errorf("batch %d: the gate does not use %s:\n%s", batch, want, plan)
			}
		}
	}
}
