package store

import (
	"testing"
	"time"
)

// The UTC days a cap probe reads cover the shop's whole day, whatever its
// offset or length, plus the clock margin, and no more than needed.
func TestSentDays(t *testing.T) {
	t.Parallel()
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	dstEnd := time.Date(2026, 11, 1, 0, 0, 0, 0, ny) // a 25-hour day
	for _, tc := range []struct {
		name       string
		start, end time.Time
		want       []time.Time
	}{
		{"Tokyo", time.Date(2026, 11, 9, 15, 0, 0, 0, time.UTC), time.Date(2026, 11, 10, 15, 0, 0, 0, time.UTC), []time.Time{day(9), day(10)}},
		{"UTC", day(10), day(11), []time.Time{day(10), day(11)}},                                                      // the margin reaches past midnight
		{"no end", time.Date(2026, 11, 9, 15, 0, 0, 0, time.UTC), time.Time{}, []time.Time{day(9), day(10), day(11)}}, // 48 hours on
		{"New York, 25 hours", dstEnd, dstEnd.AddDate(0, 0, 1), []time.Time{day(1), day(2)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := CapRule{DayStart: tc.start, DayEnd: tc.end}.sentDays()
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
