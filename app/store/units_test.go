package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// UseUnit keeps a shop within its monthly budget of distinct unit names:
// a unit already used this month always passes, a new one only under the
// budget, and a new month starts the count again.
func TestUseUnitBudget(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		month := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		now := month.Add(48 * time.Hour)
		use := func(unit string, at, start time.Time) bool {
			ok, err := db.UseUnit(ctx, store.LineUnit{ShopID: shop.ID, Unit: unit}, at, start, 2)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		for _, c := range []struct {
			unit      string
			at, start time.Time
			want      bool
		}{
			{"a", now, month, true},
			{"b", now, month, true},
			{"c", now, month, false},                                  // a third name this month
			{"a", now.Add(2 * time.Hour), month, true},                // known names still pass
			{"c", now.AddDate(0, 1, 0), month.AddDate(0, 1, 0), true}, // next month
		} {
			if got := use(c.unit, c.at, c.start); got != c.want {
				t.Errorf("UseUnit(%s at %s) = %v, want %v", c.unit, c.at.Format(time.DateOnly), got, c.want)
			}
		}
	})
}
