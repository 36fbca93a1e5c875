package core

import (
	"fmt"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/templates"
)

// QuietUntil reports whether now is inside the daily window [start, end)
// ("HH:MM", local to loc, possibly wrapping midnight) and when it ends.
// Sends inside the window wait for its end; they are never dropped.
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

// CapExemptKinds are the message kinds the daily frequency cap neither
// counts nor holds back: the catalogue's transactional kinds, what the
// customer is waiting for (their order's thank-you and shipping notice, the
// coupon they linked for).
var CapExemptKinds = templates.KindNames(templates.Kind.IsTransactional)

// CapDay is the start of today and of tomorrow in loc: the window the
// daily cap counts.
func CapDay(now time.Time, loc *time.Location) (dayStart, next time.Time) {
	local := now.In(loc)
	dayStart = time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	return dayStart, dayStart.AddDate(0, 0, 1).UTC()
}

// DailyCapRule is the daily cap a message of kind is checked against at
// now, in the shop's day: queued messages of the kinds that outrank it
// (catalogue priorities) due before the day ends hold their slots, so a
// cart reminder due this afternoon keeps today's last slot from a campaign
// or a follow-up sent this morning.
func DailyCapRule(shop *store.Shop, kind string, now time.Time) store.CapRule {
	dayStart, next := CapDay(now, shop.Location())
	return store.CapRule{DayStart: dayStart, DayEnd: next, Now: now, Limit: shop.Settings.Cap(),
		Exempt: CapExemptKinds, Reserve: templates.Outranking(kind)}
}

// NextCapSlot is when a message the daily cap holds back today may go: the
// start of the shop's next day, after its quiet hours. ok is false when that
// is past the message's deadline (expires, nil for none): the message is
// then skipped (ReasonExpiredUnderCap), never sent late.
func NextCapSlot(shop *store.Shop, now time.Time, expires *time.Time) (at time.Time, ok bool) {
	_, at = CapDay(now, shop.Location())
	start, end := shop.Settings.Quiet()
	if after, quiet := QuietUntil(at, shop.Location(), start, end); quiet {
		at = after
	}
	return at, expires == nil || !at.After(*expires)
}
