package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
)

// TransactionalKinds are exempt from the daily frequency cap.
var transactionalKinds = []string{KindThankYou, "shipping", "link_coupon"}

// quietDefer reports whether now falls in the shop's quiet hours and, if so,
// the first allowed minute after them.
func (w *Worker) quietDefer(shop *store.Shop, now time.Time) (time.Time, bool) {
	start, end := shop.Settings.Quiet()
	return QuietUntil(now, shop.Location(), start, end)
}

// QuietUntil reports whether now is inside the daily window [start, end)
// ("HH:MM", local to loc, possibly wrapping midnight) and when it ends.
func QuietUntil(now time.Time, loc *time.Location, start, end string) (time.Time, bool) {
	s, err1 := minuteOfDay(start)
	e, err2 := minuteOfDay(end)
	if err1 != nil || err2 != nil || s == e {
		return time.Time{}, false
	}
	local := now.In(loc)
	cur := local.Hour()*60 + local.Minute()
	in := s < e && cur >= s && cur < e || s > e && (cur >= s || cur < e)
	if !in {
		return time.Time{}, false
	}
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	if s > e && cur >= s {
		day = day.AddDate(0, 0, 1) // the window ends tomorrow morning
	}
	return day.Add(time.Duration(e) * time.Minute).UTC(), true
}

func minuteOfDay(hhmm string) (int, error) {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		return 0, fmt.Errorf("time of day %q: %w", hhmm, err)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// overCap reports whether the customer already had the shop's daily number of
// marketing messages today (in the shop's time zone), and when the next day starts.
func (w *Worker) overCap(ctx context.Context, shop *store.Shop, customerID int64, now time.Time) (bool, time.Time, error) {
	dayStart, next := capDay(shop, now)
	n, err := w.DB.CountSentSince(ctx, customerID, transactionalKinds, dayStart)
	if err != nil {
		return false, time.Time{}, err
	}
	return n >= int64(shop.Settings.Cap()), next, nil
}

// capDay is the start of today and of tomorrow in the shop's time zone: the
// window the daily cap counts.
func capDay(shop *store.Shop, now time.Time) (dayStart, next time.Time) {
	loc := shop.Location()
	local := now.In(loc)
	dayStart = time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	return dayStart, dayStart.AddDate(0, 0, 1).UTC()
}
