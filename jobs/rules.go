package jobs

import (
	"context"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
)

// transactionalKinds are exempt from the daily frequency cap (one list,
// shared with the admin's reachability funnel).
var transactionalKinds = core.CapExemptKinds

// quietDefer reports whether now falls in the shop's quiet hours and, if so,
// the first allowed minute after them.
func (w *Worker) quietDefer(shop *store.Shop, now time.Time) (time.Time, bool) {
	start, end := shop.Settings.Quiet()
	return QuietUntil(now, shop.Location(), start, end)
}

// QuietUntil reports whether now is inside the daily window [start, end)
// ("HH:MM", local to loc, possibly wrapping midnight) and when it ends.
func QuietUntil(now time.Time, loc *time.Location, start, end string) (time.Time, bool) {
	return core.QuietUntil(now, loc, start, end)
}

// overCap reports whether the customer already had the shop's daily number of
// marketing messages today (in the shop's time zone), and when the next day starts.
func (w *Worker) overCap(ctx context.Context, shop *store.Shop, m *store.Message, now time.Time) (bool, time.Time, error) {
	dayStart, next := capDay(shop, now)
	var n int64
	var err error
	if m.CustomerID != nil {
		n, err = w.DB.CountSentSince(ctx, *m.CustomerID, transactionalKinds, dayStart)
	} else if m.FriendID != nil {
		// A friend without a customer is capped on their own messages.
		n, err = w.DB.CountFriendSentSince(ctx, *m.FriendID, transactionalKinds, dayStart)
	}
	if err != nil {
		return false, time.Time{}, err
	}
	return n >= int64(shop.Settings.Cap()), next, nil
}

// capDay is the start of today and of tomorrow in the shop's time zone: the
// window the daily cap counts.
func capDay(shop *store.Shop, now time.Time) (dayStart, next time.Time) {
	return core.CapDay(now, shop.Location())
}
