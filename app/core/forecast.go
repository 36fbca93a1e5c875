package core

import "time"

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

// MonthForecast is the month's LINE spend on the dashboard: what was sent
// so far, and what is planned until the month ends priced at the shop's
// per-message price against the quota left.
type MonthForecast struct {
	Month   string   `json:"month"`
	Sent    int64    `json:"sent"`
	SentYen float64  `json:"sent_yen"`
	Planned Forecast `json:"planned"`
	// TotalYen is the month's cost if everything planned goes.
	TotalYen float64 `json:"total_yen"`
	// ScheduledCampaigns start this month but choose their recipients when
	// they start: they are not in Planned (the composer forecasts each).
	ScheduledCampaigns int64 `json:"scheduled_campaigns"`
}

// ForecastMonth prices the month's sent and planned messages.
func ForecastMonth(month string, sent, planned, scheduledCampaigns int64, yenPerMessage float64, quotaRemaining *int64) MonthForecast {
	f := MonthForecast{Month: month, Sent: sent, SentYen: float64(sent) * yenPerMessage,
		Planned: ForecastSend(planned, yenPerMessage, quotaRemaining), ScheduledCampaigns: scheduledCampaigns}
	f.TotalYen = f.SentYen + f.Planned.CostYen
	return f
}

// MonthBounds is the calendar month now falls in, in loc: LINE counts
// quotas by calendar month.
func MonthBounds(now time.Time, loc *time.Location) (start, end time.Time) {
	l := now.In(loc)
	start = time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc)
	return start, start.AddDate(0, 1, 0)
}
