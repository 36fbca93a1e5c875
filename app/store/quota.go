package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// LineQuota is a LINE channel's monthly message quota as Tsunagu knows it
// (LINE counts the quota per account; migration 0049).
type LineQuota struct {
	ChannelID      int64 `gorm:"primaryKey;autoIncrement:false"`
	ShopID         int64
	Limited        bool
	MonthlyLimit   int64
	Used           int64
	CheckedAt      *time.Time
	ExhaustedMonth string
	ExhaustedAt    *time.Time
}

// LineQuota returns the quota row of the shop's primary channel; a channel
// never checked (or a shop without a channel) gets a zero row (unknown:
// treated as unlimited until read).
func (db *DB) LineQuota(ctx context.Context, shopID int64) (*LineQuota, error) {
	id, err := db.primaryChannelID(ctx, shopID)
	if err != nil || id == 0 {
		return &LineQuota{ShopID: shopID}, err
	}
	return db.ChannelQuota(ctx, shopID, id)
}

// ChannelQuota returns the quota row of one channel of a shop.
func (db *DB) ChannelQuota(ctx context.Context, shopID, channelID int64) (*LineQuota, error) {
	q := &LineQuota{ShopID: shopID, ChannelID: channelID}
	err := db.WithContext(ctx).Where("channel_id = ? AND shop_id = ?", channelID, shopID).Take(q).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return &LineQuota{ShopID: shopID, ChannelID: channelID}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading LINE quota of channel %d: %w", channelID, err)
	}
	return q, nil
}

// SaveChannelQuotaReading stores what LINE said of a channel's quota at checkedAt.
func (db *DB) SaveChannelQuotaReading(ctx context.Context, shopID, channelID int64, limited bool, limit, used int64, checkedAt time.Time) error {
	q := &LineQuota{ChannelID: channelID, ShopID: shopID, Limited: limited, MonthlyLimit: limit, Used: used, CheckedAt: &checkedAt}
	err := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "channel_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"limited", "monthly_limit", "used", "checked_at"}),
	}).Create(q).Error
	if err != nil {
		return fmt.Errorf("saving LINE quota of channel %d: %w", channelID, err)
	}
	return nil
}

// AddChannelQuotaUse counts n messages sent on a channel since the last
// reading. Every send on the channel updates this one row, so it commits
// asynchronously (asyncCommitFrom): the count is a cache that the next
// reading from LINE replaces.
func (db *DB) AddChannelQuotaUse(ctx context.Context, channelID int64, n int64) error {
	if err := db.WithContext(ctx).Exec("UPDATE line_channel_quotas SET used = used + ?"+db.asyncCommitFrom()+" WHERE channel_id = ?", n, channelID).Error; err != nil {
		return fmt.Errorf("counting LINE quota use of channel %d: %w", channelID, err)
	}
	return nil
}

// MarkChannelMonthlyLimit records that LINE refused a send on a channel for
// the monthly limit in month; it reports whether this is news (the first
// refusal that month).
func (db *DB) MarkChannelMonthlyLimit(ctx context.Context, shopID, channelID int64, month string, at time.Time) (bool, error) {
	q := &LineQuota{ChannelID: channelID, ShopID: shopID, ExhaustedMonth: month, ExhaustedAt: &at}
	res := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "channel_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"exhausted_month", "exhausted_at"}),
		Where:     clause.Where{Exprs: []clause.Expression{clause.Neq{Column: clause.Column{Table: "line_channel_quotas", Name: "exhausted_month"}, Value: month}}},
	}).Create(q)
	if res.Error != nil {
		return false, fmt.Errorf("recording the LINE monthly limit of channel %d: %w", channelID, res.Error)
	}
	return res.RowsAffected > 0, nil
}

// TableName is line_channel_quotas (migration 0049; line_quotas before).
func (LineQuota) TableName() string { return "line_channel_quotas" }
