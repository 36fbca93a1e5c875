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

// overCap reports whether the customer (or friend) has no slot left in
// today's daily cap for m (in the shop's time zone): marketing messages
// sent today, and queued ones of higher priority due today, take them.
func (w *Worker) overCap(ctx context.Context, shop *store.Shop, m *store.Message, now time.Time) (bool, error) {
	n, err := w.DB.CapUsed(ctx, m, core.DailyCapRule(shop, m.Kind, now))
	if err != nil {
		return false, err
	}
	return n >= int64(shop.Settings.Cap()), nil
}

// heldByCap moves a message the daily cap holds back today to the next
// allowed time, or skips it (ReasonExpiredUnderCap) when that time is past
// its deadline: a cart reminder is never sent a day late.
func (w *Worker) heldByCap(ctx context.Context, shop *store.Shop, m *store.Message, now time.Time) error {
	next, ok := core.NextCapSlot(shop, now, m.ExpiresAt)
	if !ok {
		_, err := w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgQueued, store.MsgSending}, store.MsgSkipped,
			map[string]any{"reason": core.ReasonExpiredUnderCap})
		return err
	}
	return w.reschedule(ctx, m, next)
}
