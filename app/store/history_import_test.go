package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

func importing(t *testing.T, db *store.DB, shopID int64, kind string) *store.HistoryImport {
	t.Helper()
	ctx := context.Background()
	hs, err := db.StartHistoryImport(ctx, shopID, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.StartHistoryImport(ctx, shopID, nil, time.Now()); !errors.Is(err, store.ErrHistoryBusy) {
		t.Fatalf("second start: %v", err)
	}
	for _, h := range hs {
		if h.Kind == kind {
			if ok, err := db.MoveHistoryImport(ctx, h.ID, store.HistoryPending, map[string]any{"status": store.HistoryImporting}, time.Now()); !ok || err != nil {
				t.Fatalf("move: %v %v", ok, err)
			}
			return &h
		}
	}
	t.Fatalf("no %s import", kind)
	return nil
}

func histOrder(shopID, id, cust int64, name string, updated time.Time, titles ...string) store.ImportedOrder {
	o := store.ImportedOrder{CustomerShopifyID: cust, Order: store.Order{ShopID: shopID, ShopifyID: id, Name: name,
		TotalPrice: decimal.NewFromInt(1000), FinancialStatus: "paid", OrderedAt: updated.Add(-time.Hour), ShopifyUpdatedAt: &updated}}
	for i, tt := range titles {
		o.Order.Items = append(o.Order.Items, store.OrderItem{ShopifyID: id*10 + int64(i), Title: tt, Quantity: 1, Price: decimal.NewFromInt(1000)})
	}
	return o
}

// History orders are written in batches with the cursor, never over a
// newer webhook copy, a cancellation sticks, and a rerun changes nothing.
func TestImportOrderBatch(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		old := time.Date(2021, 5, 1, 0, 0, 0, 0, time.UTC)
		live := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
		// Stored from webhooks: order 2 newer than history, order 3 cancelled.
		c, err := db.UpsertCustomerProfile(ctx, store.CustomerProfile{ShopID: shop.ID, ShopifyID: 7, Email: store.Str("live@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		w2 := histOrder(shop.ID, 2, 7, "#2-live", live, "Live tea").Order
		w2.CustomerID = &c.ID
		cancelled := old.Add(-time.Minute)
		// Order 3's webhook copy has an item: history, newer, replaces it.
		w3 := histOrder(shop.ID, 3, 7, "#3", old.Add(-time.Hour), "Webhook tea").Order
		w3.CustomerID, w3.CancelledAt, w3.CheckoutToken = &c.ID, &cancelled, "ck-3"
		for _, o := range []*store.Order{&w2, &w3} {
			if _, err := db.UpsertOrderIfNewer(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		// Customer 9 was redacted: its history order is not stored.
		c9, _ := db.UpsertCustomerProfile(ctx, store.CustomerProfile{ShopID: shop.ID, ShopifyID: 9})
		db.G.Model(&store.Customer{}).Where("id = ?", c9.ID).Update("redacted_at", time.Now())
		h := importing(t, db, shop.ID, store.HistoryOrders)
		batch := []store.ImportedOrder{
			histOrder(shop.ID, 6, 9, "#6 redacted", old, "Erased tea"),
			histOrder(shop.ID, 1, 7, "#1", old, "Sencha", "Matcha"),
			histOrder(shop.ID, 2, 7, "#2-old", old, "Old tea"),
			histOrder(shop.ID, 3, 7, "#3", old, "Hojicha"),
			histOrder(shop.ID, 4, 8, "#4", old),
			histOrder(shop.ID, 5, 0, "#5 guest", old, "Gift"),
		}
		n, err := db.ImportOrderBatch(ctx, h.ID, 0, batch, time.Now())
		if err != nil || n != 4 {
			t.Fatalf("written %d: %v", n, err)
		}
		// The same batch at a stale cursor is refused and writes nothing.
		if _, err := db.ImportOrderBatch(ctx, h.ID, 0, batch, time.Now()); !errors.Is(err, store.ErrHistoryCursor) {
			t.Fatalf("stale cursor: %v", err)
		}
		check := func(when string) {
			t.Helper()
			// Stats are recomputed once the file is in, not per batch.
			if _, err := db.RefreshShopCustomerStats(ctx, shop.ID); err != nil {
				t.Fatal(err)
			}
			o2, err := db.OrderByShopifyID(ctx, shop.ID, 2)
			if err != nil || o2.Name != "#2-live" || len(o2.Items) != 1 || o2.Items[0].Title != "Live tea" {
				t.Fatalf("%s: webhook order overwritten: %+v %v", when, o2, err)
			}
			o3, _ := db.OrderByShopifyID(ctx, shop.ID, 3)
			// History is newer here, but has no checkout token to give.
			if o3.CancelledAt == nil || len(o3.Items) != 1 || o3.Items[0].Title != "Hojicha" || o3.CheckoutToken != "ck-3" {
				t.Fatalf("%s: order 3 = %+v", when, o3)
			}
			o1, _ := db.OrderByShopifyID(ctx, shop.ID, 1)
			if len(o1.Items) != 2 || o1.CustomerID == nil || *o1.CustomerID != c.ID {
				t.Fatalf("%s: order 1 = %+v", when, o1)
			}
			cust, _ := db.Customer(ctx, shop.ID, c.ID)
			// 1 and 2 stand (3 is cancelled): 2 orders, last the live one.
			if cust.OrdersCount != 2 || !cust.TotalSpent.Equal(decimal.NewFromInt(2000)) || cust.LastOrderAt == nil || !cust.LastOrderAt.Equal(live.Add(-time.Hour)) {
				t.Fatalf("%s: stats %d %s %v", when, cust.OrdersCount, cust.TotalSpent, cust.LastOrderAt)
			}
			other, err := db.CustomerByShopifyID(ctx, shop.ID, 8)
			if err != nil || other.OrdersCount != 1 || other.Email != "" {
				t.Fatalf("%s: bare customer 8 = %+v %v", when, other, err)
			}
			if _, err := db.OrderByShopifyID(ctx, shop.ID, 6); err == nil {
				t.Fatalf("%s: order of a redacted customer stored", when)
			}
			var items int64
			db.G.Model(&store.OrderItem{}).Count(&items)
			if items != 5 {
				t.Fatalf("%s: %d items", when, items)
			}
		}
		check("first run")
		// A re-import (next cursor) of the same history changes nothing
		// and writes nothing.
		if n, err := db.ImportOrderBatch(ctx, h.ID, 6, batch, time.Now()); err != nil || n != 0 {
			t.Fatalf("rerun wrote %d: %v", n, err)
		}
		check("rerun")
		hs, _ := db.HistoryImports(ctx, shop.ID)
		for _, x := range hs {
			if x.Kind == store.HistoryOrders && (x.RowsDone != 12 || x.RowsWritten == 0) {
				t.Fatalf("import = %+v", x)
			}
		}
	})
}

// History customers fill empty profile fields only, never undo a newer
// tag or consent change, and a redacted customer stays erased.
func TestImportCustomerBatch(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		histAt := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		c1, err := db.UpsertCustomerProfile(ctx, store.CustomerProfile{ShopID: shop.ID, ShopifyID: 1, Email: store.Str("new@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		// customer.tags_removed after the history copy: "vip" stays removed.
		if _, err := db.ApplyCustomerTags(ctx, c1.ID, []string{"vip"}, false, histAt.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.SetMarketingConsent(ctx, c1.ID, store.ConsentEmail, "unsubscribed", histAt.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		c3, _ := db.UpsertCustomerProfile(ctx, store.CustomerProfile{ShopID: shop.ID, ShopifyID: 3})
		db.G.Model(&store.Customer{}).Where("id = ?", c3.ID).Update("redacted_at", time.Now())
		h := importing(t, db, shop.ID, store.HistoryCustomers)
		batch := []store.ImportedCustomer{
			{ShopifyID: 1, Email: "old@example.com", FirstName: "Hanako", Tags: []string{"vip", "tea"}, EmailConsent: "SUBSCRIBED", EmailConsentAt: &histAt, UpdatedAt: histAt},
			{ShopifyID: 2, Email: "b@example.com", Locale: "en", Tags: []string{"wholesale"}, Birthday: "1990-04-01", SMSConsent: "SUBSCRIBED", UpdatedAt: histAt},
			{ShopifyID: 3, Email: "erased@example.com", UpdatedAt: histAt},
		}
		n, err := db.ImportCustomerBatch(ctx, shop.ID, h.ID, 0, batch, time.Now())
		if err != nil || n != 2 {
			t.Fatalf("written %d: %v", n, err)
		}
		got1, _ := db.Customer(ctx, shop.ID, c1.ID)
		if got1.Email != "new@example.com" || got1.FirstName != "Hanako" || got1.Tags != "tea" || got1.AcceptsMarketing {
			t.Fatalf("customer 1 = %+v", got1)
		}
		got2, _ := db.CustomerByShopifyID(ctx, shop.ID, 2)
		if got2.Email != "b@example.com" || got2.Locale != "en" || got2.Tags != "wholesale" || got2.Birthday != "1990-04-01" || !got2.SMSMarketing {
			t.Fatalf("customer 2 = %+v", got2)
		}
		got3, _ := db.Customer(ctx, shop.ID, c3.ID)
		if got3.Email != "" {
			t.Fatalf("redacted customer refilled: %+v", got3)
		}
		if n, err := db.ImportCustomerBatch(ctx, shop.ID, h.ID, 3, batch, time.Now()); err != nil || n != 0 {
			t.Fatalf("rerun wrote %d: %v", n, err)
		}
		again, _ := db.CustomerByShopifyID(ctx, shop.ID, 2)
		if fmt.Sprint(again.Tags, again.Birthday) != fmt.Sprint(got2.Tags, got2.Birthday) {
			t.Fatalf("rerun changed customer 2: %+v", again)
		}
	})
}

// A customer the history creates gets its batch's order stats, so the
// refresh after the import writes only the customers those were wrong
// for: orders in other batches, or an order kept from a newer webhook
// copy. The stats come out exact either way, and a second refresh
// writes nothing.
func TestImportOrderBatchCustomerStats(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		old := time.Date(2021, 5, 1, 0, 0, 0, 0, time.UTC)
		live := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
		// Order 10 is stored from a newer webhook as a guest order: the
		// history's older copy, with customer 11, is not written.
		guest := histOrder(shop.ID, 10, 0, "#10", live).Order
		if _, err := db.UpsertOrderIfNewer(ctx, &guest); err != nil {
			t.Fatal(err)
		}
		h := importing(t, db, shop.ID, store.HistoryOrders)
		cancelled := histOrder(shop.ID, 32, 13, "#32", old.Add(time.Hour))
		at := old.Add(time.Minute)
		cancelled.Order.CancelledAt = &at
		batches := [][]store.ImportedOrder{
			{histOrder(shop.ID, 10, 11, "#10-old", old), histOrder(shop.ID, 11, 11, "#11", old), histOrder(shop.ID, 20, 12, "#20", old),
				histOrder(shop.ID, 30, 13, "#30", old), histOrder(shop.ID, 31, 13, "#31", old.Add(2*time.Hour)), cancelled},
			{histOrder(shop.ID, 21, 12, "#21", old.Add(24*time.Hour))},
		}
		from := int64(0)
		for _, b := range batches {
			if _, err := db.ImportOrderBatch(ctx, h.ID, from, b, time.Now()); err != nil {
				t.Fatal(err)
			}
			from += int64(len(b))
		}
		// 11 (order 10 is the guest's) and 12 (its second order came in
		// the next batch) are corrected; 13 was right.
		if n, err := db.RefreshShopCustomerStats(ctx, shop.ID); err != nil || n != 2 {
			t.Fatalf("refresh changed %d customers, want 2: %v", n, err)
		}
		want := map[int64]struct {
			n           int
			spent       int64
			first, last *time.Time
		}{
			11: {1, 1000, ptr(old.Add(-time.Hour)), ptr(old.Add(-time.Hour))},
			12: {2, 2000, ptr(old.Add(-time.Hour)), ptr(old.Add(23 * time.Hour))},
			13: {2, 2000, ptr(old.Add(-time.Hour)), ptr(old.Add(time.Hour))},
		}
		same := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
		for sid, w := range want {
			c, err := db.CustomerByShopifyID(ctx, shop.ID, sid)
			if err != nil || c.OrdersCount != w.n || !c.TotalSpent.Equal(decimal.NewFromInt(w.spent)) || !same(c.FirstOrderAt, w.first) || !same(c.LastOrderAt, w.last) {
				t.Fatalf("customer %d: %+v %v, want %+v", sid, c, err, w)
			}
		}
		if n, err := db.RefreshShopCustomerStats(ctx, shop.ID); err != nil || n != 0 {
			t.Fatalf("second refresh changed %d customers: %v", n, err)
		}
	})
}

// On PostgreSQL new orders are COPYed; an order a webhook stores between
// the batch's check and its COPY fails the COPY on the unique key, and
// the batch is written again through the upsert: the webhook's newer copy
// stands, the rest of the batch goes in.
func TestImportOrderBatchWebhookDuringCopy(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	shop := newShop(t, db)
	old := time.Date(2021, 5, 1, 0, 0, 0, 0, time.UTC)
	live := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	h := importing(t, db, shop.ID, store.HistoryOrders)
	stored, release, webhookDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		webhookDone <- db.Tx(ctx, func(tx *store.DB) error {
			o := histOrder(shop.ID, 1, 0, "#1-live", live, "Live tea").Order
			if _, err := tx.UpsertOrderIfNewer(ctx, &o); err != nil {
				return err
			}
			close(stored)
			<-release // commit once the import waits on this order
			return nil
		})
	}()
	<-stored
	type result struct {
		n   int
		err error
	}
	imported := make(chan result, 1)
	go func() {
		n, err := db.ImportOrderBatch(ctx, h.ID, 0, []store.ImportedOrder{
			histOrder(shop.ID, 1, 5, "#1-old", old, "Old tea"), histOrder(shop.ID, 2, 5, "#2", old, "Sencha"),
		}, time.Now())
		imported <- result{n, err}
	}()
	// The import's COPY waits on the webhook's uncommitted order 1.
	for {
		var waiting int
		if err := db.G.Raw("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&waiting).Error; err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case r := <-imported:
			t.Fatalf("import did not wait on the webhook's order: %d %v", r.n, r.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	close(release)
	if err := <-webhookDone; err != nil {
		t.Fatal(err)
	}
	r := <-imported
	if r.err != nil || r.n != 1 {
		t.Fatalf("written %d: %v", r.n, r.err)
	}
	o1, err := db.OrderByShopifyID(ctx, shop.ID, 1)
	if err != nil || o1.Name != "#1-live" || len(o1.Items) != 1 || o1.Items[0].Title != "Live tea" {
		t.Fatalf("webhook order overwritten: %+v %v", o1, err)
	}
	o2, err := db.OrderByShopifyID(ctx, shop.ID, 2)
	if err != nil || len(o2.Items) != 1 || o2.Items[0].Title != "Sencha" || o2.CustomerID == nil {
		t.Fatalf("order 2 = %+v %v", o2, err)
	}
	hs, _ := db.HistoryImports(ctx, shop.ID)
	for _, x := range hs {
		if x.Kind == store.HistoryOrders && (x.RowsDone != 2 || x.RowsWritten != 1) {
			t.Fatalf("import = %+v", x)
		}
	}
}

// History orders and items are stored exactly as given (on PostgreSQL
// they are COPYed in binary, numerics and times encoded by the store).
func TestImportOrderBatchValues(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		h := importing(t, db, shop.ID, store.HistoryOrders)
		prices := []string{"0", "1", "3000.0", "1500.5", "0.0001", "0.05", "12345.6789", "99999999.9999", "-25.5", "10000", "100000000", "7.25"}
		base := time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC)
		var batch []store.ImportedOrder
		for i, p := range prices {
			at := base.Add(time.Duration(i) * 1234567891 * time.Microsecond)
			o := histOrder(shop.ID, int64(100+i), int64(i%3), fmt.Sprintf("#%d 注文 \\ \"q\"", i), at, "Tea", "Cup")
			o.Order.TotalPrice, o.Order.SubtotalPrice = decimal.RequireFromString(p), decimal.RequireFromString(prices[len(prices)-1-i])
			o.Order.Email, o.Order.Locale, o.Order.DiscountCodes = fmt.Sprintf("c%d@example.com", i), "en", "A,B"
			if i%4 == 1 {
				o.Order.CancelledAt = &at
			}
			o.Order.Items[1].Price, o.Order.Items[1].Quantity = decimal.RequireFromString(p), i+1
			batch = append(batch, o)
		}
		if n, err := db.ImportOrderBatch(ctx, h.ID, 0, batch, time.Now()); err != nil || n != len(batch) {
			t.Fatalf("written %d: %v", n, err)
		}
		sameTime := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
		for _, in := range batch {
			got, err := db.OrderByShopifyID(ctx, shop.ID, in.Order.ShopifyID)
			if err != nil {
				t.Fatal(err)
			}
			w := in.Order
			if got.Name != w.Name || got.Email != w.Email || got.Locale != w.Locale || got.DiscountCodes != w.DiscountCodes ||
				!got.TotalPrice.Equal(w.TotalPrice) || !got.SubtotalPrice.Equal(w.SubtotalPrice) || !got.OrderedAt.Equal(w.OrderedAt) ||
				!sameTime(got.ShopifyUpdatedAt, w.ShopifyUpdatedAt) || !sameTime(got.CancelledAt, w.CancelledAt) || (got.CustomerID == nil) != (in.CustomerShopifyID == 0) {
				t.Fatalf("order %d stored as %+v, given %+v", w.ShopifyID, got, w)
			}
			if len(got.Items) != 2 {
				t.Fatalf("order %d: %d items", w.ShopifyID, len(got.Items))
			}
			for k, it := range got.Items {
				wi := w.Items[k]
				buyer := in.CustomerShopifyID != 0 && w.CancelledAt == nil
				if it.ShopifyID != wi.ShopifyID || it.Title != wi.Title || it.Quantity != wi.Quantity || !it.Price.Equal(wi.Price) || (it.CustomerID != nil) != buyer {
					t.Fatalf("order %d item %d stored as %+v, given %+v", w.ShopifyID, k, it, wi)
				}
			}
		}
	})
}

// On PostgreSQL a batch is written by two connections at once, in parts
// split by customer, and the cursor moves only once every part has
// committed. A part that fails after the other committed (a crash between
// the two commits) leaves the cursor at the batch's start; the batch read
// again writes the missing part and nothing twice, and the counts come out
// exact.
func TestImportOrderBatchPartFails(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	ctx := context.Background()
	shop := newShop(t, db)
	old := time.Date(2021, 5, 1, 0, 0, 0, 0, time.UTC)
	h := importing(t, db, shop.ID, store.HistoryOrders)
	// 40 orders of 20 customers, two each: both parts have orders.
	var batch []store.ImportedOrder
	for i := int64(1); i <= 40; i++ {
		batch = append(batch, histOrder(shop.ID, i, 1+i%20, fmt.Sprintf("#%d", i), old.Add(time.Duration(i)*time.Minute), "Sencha"))
	}
	// Order 7's item fails its part, as a crash would before its commit.
	for _, q := range []string{
		`CREATE FUNCTION fail_item() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'crash'; END $$`,
		`CREATE TRIGGER fail_item BEFORE INSERT ON order_items FOR EACH ROW WHEN (NEW.shopify_id = 70) EXECUTE FUNCTION fail_item()`,
	} {
		if err := db.G.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ImportOrderBatch(ctx, h.ID, 0, batch, time.Now()); err == nil {
		t.Fatal("the failed part was not reported")
	}
	var stored int64
	db.G.Model(&store.Order{}).Where("shop_id = ?", shop.ID).Count(&stored)
	if _, err := db.OrderByShopifyID(ctx, shop.ID, 7); err == nil || stored == 0 || stored >= 40 {
		t.Fatalf("after the failed part: %d orders stored (order 7: %v); want the other part's only", stored, err)
	}
	imp := func() store.HistoryImport {
		hs, _ := db.HistoryImports(ctx, shop.ID)
		for _, x := range hs {
			if x.Kind == store.HistoryOrders {
				return x
			}
		}
		t.Fatal("no orders import")
		return store.HistoryImport{}
	}
	if x := imp(); x.RowsDone != 0 || x.RowsWritten != stored {
		t.Fatalf("after the failed part: cursor %d, written %d; want 0, %d", x.RowsDone, x.RowsWritten, stored)
	}
	if err := db.G.Exec("DROP TRIGGER fail_item ON order_items").Error; err != nil {
		t.Fatal(err)
	}
	n, err := db.ImportOrderBatch(ctx, h.ID, 0, batch, time.Now())
	if err != nil || int64(n) != 40-stored {
		t.Fatalf("batch again: written %d, want %d: %v", n, 40-stored, err)
	}
	var orders, items, custs int64
	db.G.Model(&store.Order{}).Where("shop_id = ?", shop.ID).Count(&orders)
	db.G.Model(&store.OrderItem{}).Count(&items)
	db.G.Model(&store.Customer{}).Where("shop_id = ?", shop.ID).Count(&custs)
	if orders != 40 || items != 40 || custs != 20 {
		t.Fatalf("%d orders, %d items, %d customers; want 40, 40, 20", orders, items, custs)
	}
	if x := imp(); x.RowsDone != 40 || x.RowsWritten != 40 {
		t.Fatalf("cursor %d, written %d; want 40, 40", x.RowsDone, x.RowsWritten)
	}
}
