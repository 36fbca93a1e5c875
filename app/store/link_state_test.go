package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// oldLinkSQL are the link conditions as segment compiled them before
// customers.link_state (migration 0056): a join to the live line_links row.
const (
	oldLinked = "EXISTS (SELECT 1 FROM line_links l WHERE l.customer_id = c.id AND l.unlinked_at IS NULL)"
	oldFriend = "EXISTS (SELECT 1 FROM line_links l WHERE l.customer_id = c.id AND l.unlinked_at IS NULL AND l.friend = TRUE AND l.blocked = FALSE)"
	oldBlock  = "EXISTS (SELECT 1 FROM line_links l WHERE l.customer_id = c.id AND l.unlinked_at IS NULL AND l.blocked = TRUE)"
	oldFNL    = "(EXISTS (SELECT 1 FROM line_friends f WHERE f.customer_id = c.id AND f.is_friend = TRUE AND f.blocked = FALSE AND f.redacted_at IS NULL) AND NOT " + oldLinked + ")"
)

// linkStateCases: a definition and the same set written with the old SQL.
var linkStateCases = []struct{ def, old string }{
	{`{"field":"linked","value":true}`, oldLinked},
	{`{"field":"linked","value":false}`, "NOT " + oldLinked},
	{`{"field":"friend","value":true}`, oldFriend},
	{`{"field":"friend","value":false}`, "NOT " + oldFriend},
	{`{"field":"blocked","value":true}`, oldBlock},
	{`{"field":"blocked","value":false}`, "NOT " + oldBlock},
	{`{"field":"friend_not_linked","value":true}`, oldFNL},
	{`{"field":"friend_not_linked","value":false}`, "NOT " + oldFNL},
	{`{"and":[{"field":"linked","value":true},{"not":{"field":"blocked","value":true}}]}`, oldLinked + " AND NOT " + oldBlock},
	{`{"or":[{"field":"friend","value":true},{"field":"region","value":"Tokyo"}]}`, "(" + oldFriend + " OR LOWER(c.region) = 'tokyo')"},
	{`{"and":[{"field":"region","value":"Osaka"},{"field":"linked","value":true},{"field":"orders_count","op":">=","value":1}]}`,
		"LOWER(c.region) = 'osaka' AND " + oldLinked + " AND c.orders_count >= 1"},
	{`{"builtin":"linked_never_ordered"}`, oldLinked + " AND c.orders_count = 0"},
}

// TestLinkStateFollowsLinks (issue 14): random links, unlinks, follows,
// blocks, re-links and redactions through the store's own methods, after
// which every link condition selects exactly the customers the old join to
// line_links selects, and link_state is what line_links says.
func TestLinkStateFollowsLinks(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		rng := rand.New(rand.NewPCG(14, 56))
		at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
		regions := []string{"Tokyo", "osaka", "Kyoto", ""}
		var custs []int64
		for i := range 60 {
			c := &store.Customer{ShopID: shop.ID, ShopifyID: int64(1000 + i), Email: fmt.Sprintf("c%d@example.com", i), Region: regions[i%4]}
			if err := db.UpsertCustomer(ctx, c); err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				if err := db.G.Exec("UPDATE customers SET orders_count = 2 WHERE id = ?", c.ID).Error; err != nil {
					t.Fatal(err)
				}
			}
			custs = append(custs, c.ID)
		}
		// A few LINE friend rows, for "friend, not linked".
		for i, id := range custs[:20] {
			fr := &store.LineFriend{ShopID: shop.ID, CustomerID: &id, LineUserID: fmt.Sprintf("F%d", i), IsFriend: i%4 != 3, Blocked: i%4 == 3, FollowSource: store.SourceFollow}
			if _, err := db.EnsureFriend(ctx, fr); err != nil {
				t.Fatal(err)
			}
		}
		users := 0
		for step := range 400 {
			at = at.Add(time.Minute)
			cust := custs[rng.IntN(len(custs))]
			live, err := db.LiveLink(ctx, cust)
			switch {
			case err != nil && rng.IntN(2) == 0: // link (both inserters)
				users++
				l := &store.LineLink{ShopID: shop.ID, CustomerID: cust, LineUserID: fmt.Sprintf("U%d", users),
					Friend: rng.IntN(3) > 0, Blocked: rng.IntN(4) == 0, LinkedAt: at}
				if rng.IntN(2) == 0 {
					if _, err := db.InsertLinkIfFree(ctx, l); err != nil {
						t.Fatal(err)
					}
				} else if err := db.CreateLink(ctx, l); err != nil {
					t.Fatal(err)
				}
			case err != nil:
			case rng.IntN(3) == 0:
				if _, err := db.Unlink(ctx, live.ID, "test", at); err != nil {
					t.Fatal(err)
				}
			case rng.IntN(20) == 0 && step > 100:
				if _, err := db.RedactCustomer(ctx, shop.ID, cust, "test", at); err != nil {
					t.Fatal(err)
				}
			default: // follow, unfollow, block, unblock
				if err := db.SetLinkReachability(ctx, live.ID, rng.IntN(2) == 0, rng.IntN(2) == 0, at); err != nil {
					t.Fatal(err)
				}
			}
			if step%100 == 99 {
				linkConditionsAgree(t, db, shop)
			}
		}
	})
}

// linkConditionsAgree compares each of linkStateCases with its old SQL,
// and every customer's link_state (redacted ones too) with line_links.
func linkConditionsAgree(t *testing.T, db *store.DB, shop *store.Shop) {
	t.Helper()
	ctx := context.Background()
	var wrong []int64
	if err := db.G.Raw(`SELECT c.id FROM customers c WHERE c.shop_id = ? AND c.link_state <> CASE
  WHEN `+oldBlock+` THEN 3 WHEN EXISTS (SELECT 1 FROM line_links l WHERE l.customer_id = c.id AND l.unlinked_at IS NULL AND l.friend = TRUE) THEN 2
  WHEN `+oldLinked+` THEN 1 ELSE 0 END`, shop.ID).Scan(&wrong).Error; err != nil {
		t.Fatal(err)
	}
	if len(wrong) > 0 {
		t.Errorf("customers %v: link_state disagrees with line_links", wrong)
	}
	for _, tc := range linkStateCases {
		n, err := segment.Parse([]byte(tc.def))
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.SegmentCustomerIDs(ctx, shop, n, segNow, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		count, err := db.CountSegment(ctx, shop, n, segNow)
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		if err := db.G.Raw("SELECT c.id FROM customers c WHERE c.shop_id = ? AND c.redacted_at IS NULL AND "+tc.old+" ORDER BY c.id", shop.ID).Scan(&want).Error; err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) || count != int64(len(want)) {
			t.Errorf("%s: got %v (count %d), the old SQL selects %v", tc.def, got, count, want)
		}
	}
}

// Migration 0056 fills link_state from the links already stored.
func TestMigration0056BackfillsLinkState(t *testing.T) {
	t.Parallel()
	testenv.EachEmptyDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.MigrateTo(ctx, nil, "0055"); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
		exec := func(sql string, args ...any) {
			t.Helper()
			if err := db.G.Exec(sql, args...).Error; err != nil {
				t.Fatalf("%v\n%s", err, sql)
			}
		}
		exec("INSERT INTO shops (id, domain, created_at, updated_at) VALUES (1, 'a.myshopify.com', ?, ?)", at, at)
		// Customer 101 never linked; 102 linked, not a friend; 103 a friend;
		// 104 blocked; 105 unlinked; 106 unlinked, then linked blocked again.
		for c := int64(101); c <= 106; c++ {
			exec("INSERT INTO customers (id, shop_id, shopify_id, email, created_at, updated_at) VALUES (?, 1, ?, '', ?, ?)", c, c, at, at)
		}
		for i, l := range []struct {
			cust            int64
			friend, blocked bool
			unlinked        any
		}{{102, false, false, nil}, {103, true, false, nil}, {104, true, true, nil}, {105, true, false, at}, {106, true, false, at}, {106, false, true, nil}} {
			exec(`INSERT INTO line_links (shop_id, customer_id, line_user_id, friend, blocked, linked_at, unlinked_at, created_at, updated_at)
				VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)`, l.cust, fmt.Sprintf("U%d", i), l.friend, l.blocked, at, l.unlinked, at, at)
		}
		if err := db.Migrate(ctx, nil); err != nil {
			t.Fatal(err)
		}
		var got []int
		if err := db.G.Raw("SELECT link_state FROM customers ORDER BY id").Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		want := []int{store.LinkStateNone, store.LinkStateLinked, store.LinkStateFriend, store.LinkStateBlocked, store.LinkStateNone, store.LinkStateBlocked}
		if !slices.Equal(got, want) {
			t.Errorf("link_state %v, want %v", got, want)
		}
	})
}
