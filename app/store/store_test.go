package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

func newShop(t *testing.T, db *store.DB) *store.Shop {
	t.Helper()
	s := &store.Shop{Domain: "tsunagu-test.myshopify.com", Name: "Test"}
	if err := db.CreateShop(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

// seedShop runs seed statements, binding the shop's id to each "?".
func seedShop(t *testing.T, db *store.DB, shopID int64, seed []string) {
	t.Helper()
	for _, q := range seed {
		var args []any
		for range strings.Count(q, "?") {
			args = append(args, shopID)
		}
		if err := db.G.Exec(q, args...).Error; err != nil {
			t.Fatalf("seeding: %v\n%s", err, q)
		}
	}
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		if err := db.Migrate(context.Background(), nil); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
	})
}

func TestInsertEventIdempotent(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for i, want := range []bool{true, false, false} {
			e := &store.Event{Source: "shopify", Topic: "orders/create", ExternalID: "wh-1", Payload: []byte(`{}`)}
			inserted, err := db.InsertEvent(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			if inserted != want || e.ID == 0 {
				t.Fatalf("delivery %d: inserted=%v id=%d, want inserted=%v", i, inserted, e.ID, want)
			}
		}
		ids, err := db.PendingEventIDs(ctx, time.Now().Add(time.Second), 10)
		if err != nil || len(ids) != 1 {
			t.Fatalf("pending = %v, %v; want one", ids, err)
		}
		if err := db.FinishEvent(ctx, ids[0], store.EventProcessed, "", time.Now()); err != nil {
			t.Fatal(err)
		}
		if ids, _ := db.PendingEventIDs(ctx, time.Now().Add(time.Second), 10); len(ids) != 0 {
			t.Fatalf("pending after finish = %v", ids)
		}
	})
}

func TestCustomerOrderStats(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		c := &store.Customer{ShopID: shop.ID, ShopifyID: 1 << 60, Email: "a@example.com", FirstName: "Hanako", LastName: "Yamada"}
		if err := db.UpsertCustomer(ctx, c); err != nil {
			t.Fatal(err)
		}
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for i, price := range []string{"1000", "2500.50", "99"} {
			o := &store.Order{ShopID: shop.ID, ShopifyID: int64(100 + i), CustomerID: &c.ID, Name: "#100" + string(rune('1'+i)),
				TotalPrice: decimal.RequireFromString(price), OrderedAt: base.Add(time.Duration(i) * time.Hour),
				Items: []store.OrderItem{{Title: "Tea", Quantity: 2, Price: decimal.RequireFromString("10")}}}
			if i == 2 {
				now := base
				o.CancelledAt = &now
			}
			if err := db.UpsertOrder(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		// A replayed order must not change anything.
		again := &store.Order{ShopID: shop.ID, ShopifyID: 100, CustomerID: &c.ID, Name: "#1001", TotalPrice: decimal.RequireFromString("1000"), OrderedAt: base}
		if err := db.UpsertOrder(ctx, again); err != nil {
			t.Fatal(err)
		}
		if err := db.RefreshCustomerStats(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		got, err := db.Customer(ctx, shop.ID, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.OrdersCount != 2 || !got.TotalSpent.Equal(decimal.RequireFromString("3500.5")) {
			t.Fatalf("stats = %d orders, %s spent; want 2, 3500.5", got.OrdersCount, got.TotalSpent)
		}
		if got.LastOrderAt == nil || !got.LastOrderAt.Equal(base.Add(time.Hour)) || !got.FirstOrderAt.Equal(base) {
			t.Fatalf("order dates = %v..%v", got.FirstOrderAt, got.LastOrderAt)
		}
		o, err := db.OrderByShopifyID(ctx, shop.ID, 101)
		if err != nil || len(o.Items) != 1 || o.Items[0].Quantity != 2 {
			t.Fatalf("order items = %+v, %v", o, err)
		}
	})
}

func TestRedactedCustomerStaysRedacted(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		c := &store.Customer{ShopID: shop.ID, ShopifyID: 7, Email: "a@example.com"}
		if err := db.UpsertCustomer(ctx, c); err != nil {
			t.Fatal(err)
		}
		db.G.Exec("UPDATE customers SET email = '', redacted_at = ? WHERE id = ?", time.Now().UTC(), c.ID)
		c2 := &store.Customer{ShopID: shop.ID, ShopifyID: 7, Email: "again@example.com"}
		if err := db.UpsertCustomer(ctx, c2); err != nil {
			t.Fatal(err)
		}
		if c2.Email != "" || c2.ID != c.ID {
			t.Fatalf("redacted customer refilled: %+v", c2)
		}
	})
}

func TestPlanMessageOnce(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		for i, want := range []bool{true, false} {
			m := &store.Message{ShopID: shop.ID, Kind: "thank_you", DedupeKey: "thank_you:o1:c1", ScheduledFor: time.Now()}
			created, err := db.PlanMessage(ctx, m)
			if err != nil || created != want || m.ID == 0 {
				t.Fatalf("plan %d: created=%v id=%d err=%v", i, created, m.ID, err)
			}
		}
		m, _ := db.MessageByKey(ctx, "thank_you:o1:c1")
		ok, err := db.TransitionMessage(ctx, m.ID, []string{store.MsgQueued}, store.MsgSending, nil)
		if err != nil || !ok {
			t.Fatalf("first transition: %v %v", ok, err)
		}
		ok, _ = db.TransitionMessage(ctx, m.ID, []string{store.MsgQueued}, store.MsgSending, nil)
		if ok {
			t.Fatal("second transition from queued succeeded")
		}
		if _, err := db.Message(ctx, 999999); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing message err = %v", err)
		}
	})
}

func TestOneLiveLinkPerUser(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		c1 := &store.Customer{ShopID: shop.ID, ShopifyID: 1}
		c2 := &store.Customer{ShopID: shop.ID, ShopifyID: 2}
		db.UpsertCustomer(ctx, c1)
		db.UpsertCustomer(ctx, c2)
		now := time.Now().UTC()
		if err := db.CreateLink(ctx, &store.LineLink{ShopID: shop.ID, CustomerID: c1.ID, LineUserID: "U1", LinkedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateLink(ctx, &store.LineLink{ShopID: shop.ID, CustomerID: c2.ID, LineUserID: "U1", LinkedAt: now}); err == nil {
			t.Fatal("second live link for one LINE user accepted")
		}
		db.G.Exec("UPDATE line_links SET unlinked_at = ? WHERE customer_id = ?", now, c1.ID)
		if err := db.CreateLink(ctx, &store.LineLink{ShopID: shop.ID, CustomerID: c2.ID, LineUserID: "U1", LinkedAt: now}); err != nil {
			t.Fatalf("relink after unlink refused: %v", err)
		}
	})
}

// TestInsertEventStoresEveryColumn: a plain received delivery (stored by a
// statement with its constants written in) and one with every column set
// read back as given, on both databases.
func TestInsertEventStoresEveryColumn(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
		later, next, channel := at.Add(time.Minute), at.Add(time.Hour), int64(7)
		for _, want := range []store.Event{
			{Source: "shopify", Topic: "orders/create", ExternalID: "a|1", ShopDomain: "a.myshopify.com", Payload: []byte(`{"id":1}`),
				Status: store.EventReceived, ReceivedAt: at},
			{Source: "line", Topic: "message", ExternalID: "a|2", ShopID: &shop.ID, ShopDomain: "a.myshopify.com", Payload: []byte(`{"id":2}`),
				Status: store.EventInvalid, Error: "malformed JSON", Attempts: 3, ReceivedAt: at, ProcessedAt: &later,
				NextAttemptAt: &next, LineChannelID: &channel},
			{Source: "shopify", Topic: "orders/paid", ExternalID: "a|3", ShopID: &shop.ID, Payload: []byte(`{}`), Status: store.EventReceived, ReceivedAt: at},
		} {
			e := want
			if inserted, err := db.InsertEvent(ctx, &e); err != nil || !inserted {
				t.Fatalf("%s: inserted %v, %v", want.ExternalID, inserted, err)
			}
			got, err := db.Event(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			want.ID = e.ID
			if g, w := eventColumns(got), eventColumns(&want); g != w {
				t.Errorf("stored %s\nwant   %s", g, w)
			}
		}
	})
}

func eventColumns(e *store.Event) string {
	ptr := func(p *int64) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprint(*p)
	}
	at := func(p *time.Time) string {
		if p == nil {
			return "nil"
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("id=%d %s %s %s shop=%s %s %s status=%s error=%q attempts=%d received=%s processed=%s next=%s channel=%s",
		e.ID, e.Source, e.Topic, e.ExternalID, ptr(e.ShopID), e.ShopDomain, e.Payload, e.Status, e.Error, e.Attempts,
		e.ReceivedAt.UTC().Format(time.RFC3339Nano), at(e.ProcessedAt), at(e.NextAttemptAt), ptr(e.LineChannelID))
}
