package core

// Forecast is what a send will cost and whether the month's LINE quota
// covers it. LINE counts one message per recipient of a multicast however
// many message objects the request carries.
type Forecast struct {
	Recipients    int64   `json:"recipients"`
	YenPerMessage float64 `json:"yen_per_message"`
	CostYen       float64 `json:"cost_yen"`
	// QuotaRemaining is this month's remaining LINE messages, nil when unknown.
	QuotaRemaining *int64 `json:"quota_remaining,omitempty"`
	// OverQuota: the send needs more messages than remain; LINE will refuse the rest.
	OverQuota bool `json:"over_quota"`
	// QuotaAfter is what remains after the send (never below 0).
	QuotaAfter *int64 `json:"quota_after,omitempty"`
}

// ForecastSend prices recipients at yenPerMessage against the quota left.
func ForecastSend(recipients int64, yenPerMessage float64, quotaRemaining *int64) Forecast {
	f := Forecast{Recipients: recipients, YenPerMessage: yenPerMessage, CostYen: float64(recipients) * yenPerMessage}
	if quotaRemaining != nil {
		left := *quotaRemaining
		f.QuotaRemaining = &left
		after := left - recipients
		f.OverQuota = after < 0
		if after < 0 {
			after = 0
		}
		f.QuotaAfter = &after
	}
	return f
}
