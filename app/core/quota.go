package core

import "time"

// Reasons a marketing message is not sent because of the channel's monthly
// message quota.
const (
	// ReasonQuotaReserved: the rest of the month's quota is kept for
	// transactional messages (thank-you, shipping).
	ReasonQuotaReserved = "quota_reserved"
	// ReasonMonthlyLimit: LINE answered "You have reached your monthly
	// limit." this month; marketing stops until the next month.
	ReasonMonthlyLimit = "monthly_limit"
)

// DefaultTransactionalReserve is the share (percent) of a limited monthly
// quota that marketing may not use, so shipping notices still go out at the
// end of the month.
const DefaultTransactionalReserve = 20

// QuotaReserve is the merchant's reserve setting (nil: the default),
// clamped to 0..100.
func QuotaReserve(setting *int) int {
	if setting == nil {
		return DefaultTransactionalReserve
	}
	return min(max(*setting, 0), 100)
}

// QuotaTTL is how long a quota read from LINE is trusted before it is read
// again; sends in between are counted locally.
const QuotaTTL = 10 * time.Minute

// Quota is what Tsunagu knows of a channel's monthly message quota.
type Quota struct {
	Limited bool  // false: the plan has no monthly limit
	Limit   int64 // messages this month, when Limited
	Used    int64 // sent this month
	// ExhaustedMonth is the month ("2006-01", shop time) in which LINE
	// answered with its monthly-limit 429; "" if never.
	ExhaustedMonth string
}

// QuotaMonth names the month t falls in, in loc (LINE counts calendar
// months; the shop's zone is Japan for Japanese accounts).
func QuotaMonth(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01") }

// MarketingQuota decides whether n marketing messages may go in month: ""
// if they may, else the reason to skip them. Transactional messages are not
// asked: they may use the whole quota.
func MarketingQuota(q Quota, month string, reservePercent int, n int64) string {
	if q.ExhaustedMonth != "" && q.ExhaustedMonth == month {
		return ReasonMonthlyLimit
	}
	if !q.Limited {
		return ""
	}
	reservePercent = min(max(reservePercent, 0), 100)
	share := q.Limit * int64(100-reservePercent) / 100
	if q.Used+n > share {
		return ReasonQuotaReserved
	}
	return ""
}

// ForecastCost is what n messages cost at yenPerMessage, counting only
// those beyond the free part of the quota (free plans pay nothing; LINE
// refuses what exceeds a limited quota instead of charging for it).
func ForecastCost(q Quota, n int64, yenPerMessage float64, freeMessages int64) float64 {
	paid := n
	if free := freeMessages - q.Used; free > 0 {
		paid = max(n-free, 0)
	}
	return float64(paid) * yenPerMessage
}
