package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// Pages must cover the timeline exactly once, in order, even when many
// rows of several sources share one timestamp (a batch of messages planned
// in one go) and one source has far more rows than a page.
func TestTimelinePagesExactlyOnce(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := &store.Shop{Domain: "pages.myshopify.com"}
		if err := db.CreateShop(ctx, shop); err != nil {
			t.Fatal(err)
		}
		c := &store.Customer{ShopID: shop.ID, ShopifyID: 1, Email: "p@example.com"}
		if err := db.UpsertCustomer(ctx, c); err != nil {
			t.Fatal(err)
		}
		same := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
		for i := 0; i < 9; i++ {
			m := &store.Message{ShopID: shop.ID, CustomerID: &c.ID, Kind: "campaign", DedupeKey: fmt.Sprintf("p:%d", i), ScheduledFor: same, Status: store.MsgSent}
			if _, err := db.PlanMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
			at := same
			if i%3 == 0 {
				at = same.Add(-time.Duration(i) * time.Hour)
			}
			if err := db.WithContext(ctx).Model(m).Update("created_at", at).Error; err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 25; i++ {
			at := same
			if i >= 5 {
				at = same.Add(-time.Duration(i) * time.Minute)
			}
			if err := db.AddActivity(ctx, &store.Activity{ShopID: shop.ID, CustomerID: &c.ID, Kind: store.ActClick, OccurredAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		all, next, err := db.Timeline(ctx, shop.ID, c.ID, nil, nil, 200)
		if err != nil || next != nil || len(all) != 34 {
			t.Fatalf("whole timeline: %d entries, next %v, %v", len(all), next, err)
		}
		key := func(e store.TimelineEntry) string { return fmt.Sprintf("%s:%d", e.Kind, e.ID) }
		var want []string
		for _, e := range all {
			want = append(want, key(e))
		}
		for _, limit := range []int{1, 2, 3, 4, 7} {
			var got []string
			var cur *store.TimelineCursor
			for page := 0; page < 100; page++ {
				es, next, err := db.Timeline(ctx, shop.ID, c.ID, cur, nil, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(es) > limit {
					t.Fatalf("limit %d: page of %d", limit, len(es))
				}
				for _, e := range es {
					got = append(got, key(e))
				}
				if next == nil {
					break
				}
				// Through the string form, as the API hands it out.
				if cur, err = store.ParseTimelineCursor(next.String()); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("limit %d:\n got %v\nwant %v", limit, got, want)
			}
		}
	})
}
