package core

import (
	"fmt"
	"time"
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
// counts nor holds back: what the customer is waiting for (their order's
// thank-you and shipping notice, the coupon they linked for).
var CapExemptKinds = []string{"thank_you", "shipping", "link_coupon"}

// CapDay is the start of today and of tomorrow in loc: the window the
// daily cap counts.
func CapDay(now time.Time, loc *time.Location) (dayStart, next time.Time) {
	local := now.In(loc)
	dayStart = time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	return dayStart, dayStart.AddDate(0, 0, 1).UTC()
}
