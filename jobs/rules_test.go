package jobs

import (
	"testing"
	"time"
)

func TestQuietUntil(t *testing.T) {
	t.Parallel()
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	at := func(day, h, m int) time.Time { return time.Date(2026, 11, day, h, m, 0, 0, tokyo) }
	cases := []struct {
		name       string
		now        time.Time
		start, end string
		quiet      bool
		until      time.Time
	}{
		{"noon is allowed", at(25, 12, 0), "21:00", "09:00", false, time.Time{}},
		{"evening in window wraps to tomorrow", at(25, 22, 30), "21:00", "09:00", true, at(26, 9, 0)},
		{"window start is quiet", at(25, 21, 0), "21:00", "09:00", true, at(26, 9, 0)},
		{"early morning ends today", at(25, 3, 15), "21:00", "09:00", true, at(25, 9, 0)},
		{"window end is allowed", at(25, 9, 0), "21:00", "09:00", false, time.Time{}},
		{"same-day window", at(25, 13, 0), "12:00", "14:00", true, at(25, 14, 0)},
		{"equal bounds mean none", at(25, 23, 0), "00:00", "00:00", false, time.Time{}},
		{"bad time means none", at(25, 23, 0), "25:00", "09:00", false, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			until, quiet := QuietUntil(tc.now.UTC(), tokyo, tc.start, tc.end)
			if quiet != tc.quiet || !until.Equal(tc.until) {
				t.Fatalf("QuietUntil = %v, %v; want %v, %v", until.In(tokyo), quiet, tc.until, tc.quiet)
			}
		})
	}
}
