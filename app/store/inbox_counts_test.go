package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// The inbox badges count exactly up to InboxCountCap and then say "more":
// each badge reads a bounded number of rows however large the inbox.
func TestCountInboxCapped(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
		add := func(from, n int, unread int, unanswered bool) {
			t.Helper()
			rows := make([]store.LineFriend, n)
			for i := range rows {
				rows[i] = store.LineFriend{ShopID: shop.ID, LineUserID: fmt.Sprintf("U%032x", from+i), FirstSeenAt: at, LastInboundAt: &at,
					Unread: unread, Unanswered: unanswered, CreatedAt: at, UpdatedAt: at}
			}
			if err := db.G.Omit("id").CreateInBatches(rows, 500).Error; err != nil {
				t.Fatal(err)
			}
		}
		add(0, 3, 2, true)
		add(100, 5, 0, true)
		c, err := db.CountInbox(ctx, shop.ID)
		if err != nil || c != (store.InboxCounts{Unread: 3, Unanswered: 8}) {
			t.Fatalf("counts %+v %v", c, err)
		}
		add(10_000, store.InboxCountCap, 1, false)
		c, err = db.CountInbox(ctx, shop.ID)
		if err != nil || c != (store.InboxCounts{Unread: store.InboxCountCap, UnreadMore: true, Unanswered: 8}) {
			t.Fatalf("counts past the cap %+v %v", c, err)
		}
	})
}
