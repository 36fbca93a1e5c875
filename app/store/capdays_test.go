package store

import (
	"testing"
	"time"
)

// The days a cap probe reads (midnight to midnight in Japan) cover the
// shop's day up to now and another clock's lead, whatever the shop's offset
// or day length, and no more: one for a shop in Japan until the last
// minutes of its day.
func TestSentDays(t *testing.T) {
	t.Parallel()
	// jst(d) is midnight on day d of November 2026 in Japan.
	jst := func(d int) time.Time { return time.Date(2026, 11, d-1, 15, 0, 0, 0, time.UTC) }
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	nyDay := time.Date(2026, 11, 1, 0, 0, 0, 0, ny) // a 25-hour day (daylight saving ends)
	for _, tc := range []struct {
		name            string
		start, now, end time.Time
		want            []time.Time
	}{
		{"Tokyo, afternoon", jst(10), jst(10).Add(15 * time.Hour), jst(11), []time.Time{jst(10)}},
		{"Tokyo, 23:50", jst(10), jst(10).Add(23*time.Hour + 50*time.Minute), jst(11), []time.Time{jst(10)}},
		{"Tokyo, 23:58", jst(10), jst(10).Add(23*time.Hour + 58*time.Minute), jst(11), []time.Time{jst(10), jst(11)}}, // another clock may be past midnight
		{"UTC, morning", jst(10).Add(9 * time.Hour), jst(10).Add(12 * time.Hour), jst(11).Add(9 * time.Hour), []time.Time{jst(10)}},
		{"UTC, evening", jst(10).Add(9 * time.Hour), jst(11).Add(5 * time.Hour), jst(11).Add(9 * time.Hour), []time.Time{jst(10), jst(11)}},
		{"New York, 25 hours", nyDay, nyDay.Add(24*time.Hour + 30*time.Minute), nyDay.Add(25 * time.Hour), []time.Time{jst(1), jst(2)}},
		{"no now: to the end", jst(10), time.Time{}, jst(11), []time.Time{jst(10), jst(11)}},
		{"no now, no end: two days on", jst(10), time.Time{}, time.Time{}, []time.Time{jst(10), jst(11), jst(12)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := CapRule{DayStart: tc.start, DayEnd: tc.end, Now: tc.now}.sentDays()
			if len(got) != len(tc.want) {
				t.Fatalf("sentDays = %v, want %v", got, tc.want)
			}
			for i := range got {
				if !got[i].Equal(tc.want[i]) {
					t.Fatalf("sentDays = %v, want %v", got, tc.want)
				}
			}
		})
	}
}
