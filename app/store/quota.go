package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// LineQuota is a shop's LINE monthly message quota as Tsunagu knows it.
type LineQuota struct {
	ShopID         int64 `gorm:"primaryKey;autoIncrement:false"`
	Limited        bool
	MonthlyLimit   int64
	Used           int64
	CheckedAt      *time.Time
	ExhaustedMonth string
	ExhaustedAt    *time.Time
}

// LineQuota returns the shop's quota row; a shop never checked gets a zero
// row (unknown: treated as unlimited until read).
func (db *DB) LineQuota(ctx context.Context, shopID int64) (*LineQuota, error) {
	q := &LineQuota{ShopID: shopID}
	err := db.WithContext(ctx).Where("shop_id = ?", shopID).Take(q).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return &LineQuota{ShopID: shopID}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading LINE quota of shop %d: %w", shopID, err)
	}
	return q, nil
}

// SaveQuotaReading stores what LINE said of the quota at checkedAt.
func (db *DB) SaveQuotaReading(ctx context.Context, shopID int64, limited bool, limit, used int64, checkedAt time.Time) error {
	q := &LineQuota{ShopID: shopID, Limited: limited, MonthlyLimit: limit, Used: used, CheckedAt: &checkedAt}
	err := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "shop_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"limited", "monthly_limit", "used", "checked_at"}),
	}).Create(q).Error
	if err != nil {
		return fmt.Errorf("saving LINE quota of shop %d: %w", shopID, err)
	}
	return nil
}

// AddQuotaUse counts n messages sent since the last reading. Every send of
// a shop updates this one row, so it commits asynchronously
// (asyncCommitFrom): the count is a cache that the next reading from LINE
// replaces.
func (db *DB) AddQuotaUse(ctx context.Context, shopID int64, n int64) error {
	if err := db.WithContext(ctx).Exec("UPDATE line_quotas SET used = used + ?"+db.asyncCommitFrom()+" WHERE shop_id = ?", n, shopID).Error; err != nil {
		return fmt.Errorf("counting LINE quota use of shop %d: %w", shopID, err)
	}
	return nil
}

// MarkMonthlyLimit records that LINE refused a send for the monthly limit
// in month; it reports whether this is news (the first refusal that month).
func (db *DB) MarkMonthlyLimit(ctx context.Context, shopID int64, month string, at time.Time) (bool, error) {
	q := &LineQuota{ShopID: shopID, ExhaustedMonth: month, ExhaustedAt: &at}
	res := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "shop_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"exhausted_month", "exhausted_at"}),
		Where:     clause.Where{Exprs: []clause.Expression{clause.Neq{Column: clause.Column{Table: "line_quotas", Name: "exhausted_month"}, Value: month}}},
	}).Create(q)
	if res.Error != nil {
		return false, fmt.Errorf("recording the LINE monthly limit of shop %d: %w", shopID, res.Error)
	}
	return res.RowsAffected > 0, nil
}

// TableName is line_quotas (migration 0021).
func (LineQuota) TableName() string { return "line_quotas" }
