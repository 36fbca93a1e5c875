package app

import (
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
)

func TestQuotaLeft(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	checked := now.Add(-time.Hour)
	lastMonth := now.AddDate(0, -1, 0)
	tests := []struct {
		name string
		q    store.LineQuota
		want int64 // -1: unknown
	}{
		{"never read", store.LineQuota{}, -1},
		{"unlimited plan", store.LineQuota{Limited: false, CheckedAt: &checked}, -1},
		{"read last month", store.LineQuota{Limited: true, MonthlyLimit: 200, Used: 10, CheckedAt: &lastMonth}, -1},
		{"some left", store.LineQuota{Limited: true, MonthlyLimit: 200, Used: 150, CheckedAt: &checked}, 50},
		{"over the limit", store.LineQuota{Limited: true, MonthlyLimit: 200, Used: 230, CheckedAt: &checked}, 0},
		{"LINE said exhausted", store.LineQuota{Limited: true, MonthlyLimit: 200, Used: 20, CheckedAt: &checked, ExhaustedMonth: "2026-11"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := quotaLeft(&tt.q, now, time.UTC)
			if (got == nil) != (tt.want < 0) || (got != nil && *got != tt.want) {
				t.Errorf("quotaLeft = %v, want %d", got, tt.want)
			}
		})
	}
}
