package store

import (
	"context"
	"fmt"
	"time"
)

// MonthSends counts what a shop's LINE month is made of, for the
// dashboard's cost forecast.
type MonthSends struct {
	// Sent: messages and campaign messages sent in the month so far.
	Sent int64
	// Planned: queued messages due before the month ends, and the queued
	// or held recipients of campaigns already started.
	Planned int64
	// ScheduledCampaigns start before the month ends; their recipients are
	// chosen when they start, so they are not in Planned.
	ScheduledCampaigns int64
}

// MonthSends counts the shop's sent and planned messages in [start, end).
// Each part reads an index: messages_shop_sent, messages_due, and the
// recipients of the shop's campaigns running in the month.
func (db *DB) MonthSends(ctx context.Context, shopID int64, start, end time.Time) (MonthSends, error) {
	var out MonthSends
	s, e := start.UTC(), end.UTC()
	q := `SELECT
  (SELECT COUNT(*) FROM messages WHERE shop_id = ? AND status = ? AND sent_at >= ? AND sent_at < ?)
  + (SELECT COUNT(*) FROM campaign_recipients r WHERE ` + shopCampaignsSince("r") + ` AND r.status = ? AND r.sent_at >= ? AND r.sent_at < ?) AS sent,
  (SELECT COUNT(*) FROM messages WHERE status = ? AND scheduled_for < ? AND shop_id = ?)
  + (SELECT COUNT(*) FROM campaign_recipients r WHERE r.campaign_id IN (SELECT k.id FROM campaigns k WHERE k.shop_id = ? AND k.status IN ?)
     AND r.status IN ? AND r.line_user_id <> '') AS planned,
  (SELECT COUNT(*) FROM campaigns WHERE shop_id = ? AND status = ? AND (scheduled_at IS NULL OR scheduled_at < ?)) AS scheduled_campaigns`
	args := []any{shopID, MsgSent, s, e, shopID, s, MsgSent, s, e,
		MsgQueued, e, shopID,
		shopID, []string{CampaignSending, CampaignWaitingWinner}, []string{MsgQueued, RecipientHeld},
		shopID, CampaignScheduled, e}
	if err := db.WithContext(ctx).Raw(q, args...).Scan(&out).Error; err != nil {
		return MonthSends{}, fmt.Errorf("counting the month's messages of shop %d: %w", shopID, err)
	}
	return out, nil
}
