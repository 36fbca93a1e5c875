package core

import (
	"testing"
	"time"
)

func TestMarketingQuota(t *testing.T) {
	t.Parallel()
	free := Quota{Limited: true, Limit: 200}
	cases := []struct {
		name    string
		q       Quota
		reserve int
		n       int64
		want    string
	}{
		{"unlimited plan", Quota{}, 20, 1000, ""},
		{"well within the marketing share", Quota{Limited: true, Limit: 200, Used: 100}, 20, 1, ""},
		{"last message of the share", Quota{Limited: true, Limit: 200, Used: 159}, 20, 1, ""},
		{"into the transactional reserve", Quota{Limited: true, Limit: 200, Used: 160}, 20, 1, ReasonQuotaReserved},
		{"a batch that would cross the share", Quota{Limited: true, Limit: 200, Used: 100}, 20, 61, ReasonQuotaReserved},
		{"no reserve", Quota{Limited: true, Limit: 200, Used: 199}, 0, 1, ""},
		{"reserve clamped to 100", free, 150, 1, ReasonQuotaReserved},
		{"monthly limit hit this month", Quota{ExhaustedMonth: "2026-12"}, 20, 1, ReasonMonthlyLimit},
		{"monthly limit hit last month", Quota{ExhaustedMonth: "2026-11"}, 20, 1, ""},
	}
	for _, tc := range cases {
		if got := MarketingQuota(tc.q, "2026-12", tc.reserve, tc.n); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestQuotaMonthAndCost(t *testing.T) {
	t.Parallel()
	tokyo := time.FixedZone("JST", 9*3600)
	if m := QuotaMonth(time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC), tokyo); m != "2026-12" {
		t.Errorf("QuotaMonth = %s, want 2026-12 (already December in Tokyo)", m)
	}
	cases := []struct {
		used, n, free int64
		want          float64
	}{
		{0, 100, 0, 300},
		{0, 100, 5000, 0},
		{4950, 100, 5000, 150},
		{6000, 100, 5000, 300},
	}
	for _, tc := range cases {
		if got := ForecastCost(Quota{Used: tc.used}, tc.n, 3, tc.free); got != tc.want {
			t.Errorf("ForecastCost(used %d, n %d, free %d) = %v, want %v", tc.used, tc.n, tc.free, got, tc.want)
		}
	}
}
