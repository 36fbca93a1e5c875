package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// A run requested on a real clock (with nanoseconds) is due at the whole
// second its task carries.
func TestRequestScheduleRunWholeSeconds(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 2, 13, 40, 5, 123456789, time.UTC)
		at, err := db.RequestScheduleRun(ctx, "richmenu_sync:1", time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		due, err := db.ScheduleDue(ctx, "richmenu_sync:1", time.Unix(at.Unix(), 0))
		if err != nil || !due || at.After(now) {
			t.Errorf("requested at %s: run at %s due %v %v", now, at, due, err)
		}
	})
}
