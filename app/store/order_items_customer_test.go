package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// itemCustomersAgree fails unless every item's customer_id is its order's
// customer while the order is not cancelled, and NULL otherwise (0050).
func itemCustomersAgree(t *testing.T, db *store.DB) {
	t.Helper()
	var rows []struct {
		ID                  int64
		ItemCust, OrderCust *int64
		Cancelled           bool
	}
	if err := db.G.Raw(`SELECT oi.id, oi.customer_id AS item_cust, o.customer_id AS order_cust, o.cancelled_at IS NOT NULL AS cancelled
FROM order_items oi JOIN orders o ON o.id = oi.order_id ORDER BY oi.id`).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		want := r.OrderCust
		if r.Cancelled {
			want = nil
		}
		if (want == nil) != (r.ItemCust == nil) || (want != nil && *want != *r.ItemCust) {
			t.Fatalf("item %d: customer_id %v, want %v (order's %v, cancelled %v)", r.ID, nullable(r.ItemCust), nullable(want), nullable(r.OrderCust), r.Cancelled)
		}
	}
}

func nullable(p *int64) any {
	if p == nil {
		return "NULL"
	}
	return *p
}

// "Bought vendor" follows its order through every write: items replaced,
// the order's customer changed (with or without items), a cancellation
// (which sticks), and the history import on both of its paths.
func TestPurchaseFollowsOrder(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		a, err := db.UpsertCustomerProfile(ctx, store.CustomerProfile{ShopID: shop.ID, ShopifyID: 7})
		if err != nil {
			t.Fatal(err)
		}
		b, err := db.UpsertCustomerProfile(ctx, store.CustomerProfile{ShopID: shop.ID, ShopifyID: 8})
		if err != nil {
			t.Fatal(err)
		}
		both := []int64{a.ID, b.ID}
		slices.Sort(both)
		members := func(def string) []int64 {
			t.Helper()
			n, err := segment.Parse([]byte(def))
			if err != nil {
				t.Fatal(err)
			}
			ids, err := db.SegmentCustomerIDs(ctx, shop, n, time.Now(), 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(ids)
			return ids
		}
		check := func(step, vendor string, want ...int64) {
			t.Helper()
			itemCustomersAgree(t, db)
			slices.Sort(want)
			if got := members(`{"field":"vendor","op":"=","value":"` + vendor + `"}`); !slices.Equal(got, want) {
				t.Fatalf("%s: bought %s: %v, want %v", step, vendor, got, want)
			}
			// "Did not buy" is the rest, never lost to a NULL.
			var rest []int64
			for _, id := range both {
				if !slices.Contains(want, id) {
					rest = append(rest, id)
				}
			}
			if got := members(`{"field":"vendor","op":"!=","value":"` + vendor + `"}`); !slices.Equal(got, rest) {
				t.Fatalf("%s: did not buy %s: %v, want %v", step, vendor, got, rest)
			}
		}
		at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		upsert := func(cust *int64, cancelled *time.Time, vendors ...string) {
			t.Helper()
			at = at.Add(time.Minute)
			u := at
			o := &store.Order{ShopID: shop.ID, ShopifyID: 1, CustomerID: cust, Name: "#1", OrderedAt: at, ShopifyUpdatedAt: &u,
				TotalPrice: decimal.NewFromInt(1000), CancelledAt: cancelled}
			for i, v := range vendors {
				o.Items = append(o.Items, store.OrderItem{ShopifyID: int64(10 + i), Vendor: v, Quantity: 1})
			}
			if _, err := db.UpsertOrderIfNewer(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		upsert(&a.ID, nil, "Kyoto", "Kyoto")
		check("created", "Kyoto", a.ID)
		upsert(&a.ID, nil, "Uji")
		check("items replaced", "Kyoto")
		check("items replaced", "Uji", a.ID)
		upsert(&b.ID, nil) // no items: the stored ones stay, with the new customer
		check("customer changed", "Uji", b.ID)
		upsert(&a.ID, nil, "Uji")
		check("customer changed back", "Uji", a.ID)
		upsert(nil, nil, "Uji")
		check("guest", "Uji")
		upsert(&a.ID, nil, "Uji")
		cancelled := at
		upsert(&a.ID, &cancelled)
		check("cancelled", "Uji")
		upsert(&a.ID, nil, "Uji") // a later delivery without the cancellation
		check("cancellation sticks", "Uji")

		// The history import (PostgreSQL arrays; SQLite rows).
		h := importing(t, db, shop.ID, store.HistoryOrders)
		old := time.Date(2021, 5, 1, 0, 0, 0, 0, time.UTC)
		hist := func(id, cust int64, vendor string, cancelled bool) store.ImportedOrder {
			o := histOrder(shop.ID, id, cust, "#h", at.Add(time.Hour), "Tea")
			o.Order.Items[0].Vendor = vendor
			if cancelled {
				o.Order.CancelledAt = &old
			}
			return o
		}
		batch := []store.ImportedOrder{hist(1, 7, "Uji", false), hist(2, 8, "Nara", false), hist(3, 7, "Nara", true), hist(4, 0, "Nara", false)}
		if _, err := db.ImportOrderBatch(ctx, h.ID, 0, batch, time.Now()); err != nil {
			t.Fatal(err)
		}
		check("imported over a cancelled order", "Uji")
		check("imported", "Nara", b.ID)
		// A newer history copy moves order 2 to customer 7.
		batch = []store.ImportedOrder{hist(2, 7, "Nara", false)}
		batch[0].Order.ShopifyUpdatedAt = new(at.Add(2 * time.Hour))
		if _, err := db.ImportOrderBatch(ctx, h.ID, 4, batch, time.Now()); err != nil {
			t.Fatal(err)
		}
		check("imported, customer changed", "Nara", a.ID)
	})
}

// Migration 0050 fills customer_id of the items already stored.
func TestMigration0050BackfillsItemCustomer(t *testing.T) {
	t.Parallel()
	testenv.EachEmptyDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.MigrateTo(ctx, nil, "0049"); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		exec := func(sql string, args ...any) {
			t.Helper()
			if err := db.G.Exec(sql, args...).Error; err != nil {
				t.Fatalf("%v\n%s", err, sql)
			}
		}
		exec("INSERT INTO shops (id, domain, created_at, updated_at) VALUES (1, 'a.myshopify.com', ?, ?)", at, at)
		for _, c := range []int64{101, 102} {
			exec("INSERT INTO customers (id, shop_id, shopify_id, email, created_at, updated_at) VALUES (?, 1, ?, '', ?, ?)", c, c, at, at)
		}
		// Orders: 11 of 101, 12 of 102 cancelled, 13 a guest's, 14 of 102.
		for _, o := range []struct {
			id        int64
			cust      any
			cancelled any
		}{{11, 101, nil}, {12, 102, at}, {13, nil, nil}, {14, 102, nil}} {
			exec(`INSERT INTO orders (id, shop_id, shopify_id, customer_id, name, cancelled_at, ordered_at, created_at, updated_at)
				VALUES (?, 1, ?, ?, '#', ?, ?, ?, ?)`, o.id, o.id, o.cust, o.cancelled, at, at, at)
			for i := range 2 {
				exec("INSERT INTO order_items (order_id, vendor, product_id) VALUES (?, 'Kyoto', ?)", o.id, o.id*10+int64(i))
			}
		}
		if err := db.Migrate(ctx, nil); err != nil {
			t.Fatal(err)
		}
		itemCustomersAgree(t, db)
		var got []struct {
			OrderID    int64
			CustomerID *int64
		}
		if err := db.G.Raw("SELECT order_id, customer_id FROM order_items ORDER BY order_id, id").Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		want := []any{int64(101), int64(101), "NULL", "NULL", "NULL", "NULL", int64(102), int64(102)}
		if len(got) != len(want) {
			t.Fatalf("%d items, want %d", len(got), len(want))
		}
		for i, g := range got {
			if nullable(g.CustomerID) != want[i] {
				t.Fatalf("item %d of order %d: customer %v, want %v", i, g.OrderID, nullable(g.CustomerID), want[i])
			}
		}
	})
}
