package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// LineUnit is one LINE aggregation unit a shop sends under (migration
// 0052): a campaign variant (CampaignID, Variant) or a journey kind (Kind).
// The counts are LINE's last answer; nil is a value LINE withheld under its
// privacy threshold (or not read yet: ReadAt nil).
type LineUnit struct {
	ID                   int64
	ShopID               int64
	Unit                 string
	CampaignID           *int64
	Variant              string
	Kind                 string
	FirstSentAt          time.Time
	LastSentAt           time.Time
	UniqueImpression     *int64
	UniqueClick          *int64
	UniqueMediaPlayed    *int64
	UniqueMediaPlayed100 *int64 `gorm:"column:unique_media_played_100"`
	StatsFrom            string
	StatsTo              string
	ReadAt               *time.Time
	ReadError            string
	Clicks               []LineUnitClick `gorm:"-"`
}

// LineUnitClick is one URL's clicks in a unit, as LINE last reported them.
type LineUnitClick struct {
	ID                   int64
	UnitID               int64
	Seq                  int64
	URL                  string `gorm:"column:url"`
	Click                *int64
	UniqueClick          *int64
	UniqueClickOfRequest *int64
}

// UseUnit records that u.Unit is sent under now and reports whether it may
// be: a unit already used since monthStart always may; a new one only while
// the shop has used fewer than budget units since monthStart (LINE counts
// at most 1,000 distinct names per channel a month). A known unit's
// last_sent_at is moved at most once an hour, so a busy journey does not
// write its row on every push.
func (db *DB) UseUnit(ctx context.Context, u LineUnit, now, monthStart time.Time, budget int) (bool, error) {
	now = now.UTC()
	var cur LineUnit
	err := db.WithContext(ctx).Where("shop_id = ? AND unit = ?", u.ShopID, u.Unit).Take(&cur).Error
	switch {
	case err == nil && !cur.LastSentAt.Before(monthStart):
		if now.Sub(cur.LastSentAt) >= time.Hour {
			if err := db.WithContext(ctx).Model(&LineUnit{}).Where("id = ?", cur.ID).Update("last_sent_at", now).Error; err != nil {
				return false, fmt.Errorf("touching unit %s: %w", u.Unit, err)
			}
		}
		return true, nil
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound):
		return false, fmt.Errorf("reading unit %s: %w", u.Unit, err)
	}
	var used int64
	if err := db.WithContext(ctx).Model(&LineUnit{}).Where("shop_id = ? AND last_sent_at >= ?", u.ShopID, monthStart.UTC()).Count(&used).Error; err != nil {
		return false, fmt.Errorf("counting this month's units: %w", err)
	}
	if used >= int64(budget) {
		return false, nil
	}
	u.FirstSentAt, u.LastSentAt = now, now
	err = db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "shop_id"}, {Name: "unit"}},
		DoUpdates: clause.Assignments(map[string]any{"last_sent_at": now}),
	}).Omit("id").Create(&u).Error
	if err != nil {
		return false, fmt.Errorf("recording unit %s: %w", u.Unit, err)
	}
	return true, nil
}

// UnitsToRead lists the units sent under since since (campaigns sent in
// the last days, journeys still sending), of shopID or of every shop when
// shopID is 0, by shop.
func (db *DB) UnitsToRead(ctx context.Context, shopID int64, since time.Time) ([]LineUnit, error) {
	q := db.WithContext(ctx).Where("last_sent_at >= ?", since.UTC())
	if shopID != 0 {
		q = q.Where("shop_id = ?", shopID)
	}
	var us []LineUnit
	if err := q.Order("shop_id, id").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("listing units to read: %w", err)
	}
	return us, nil
}

// SaveUnitStats stores LINE's answer for unit id (counts nil where LINE
// withheld them) and replaces its per-URL clicks; readErr non-empty records
// a failed read and keeps the last counts.
func (db *DB) SaveUnitStats(ctx context.Context, u *LineUnit, readErr string, now time.Time) error {
	return db.Tx(ctx, func(tx *DB) error {
		g := tx.WithContext(ctx)
		cols := map[string]any{"read_at": now.UTC(), "read_error": readErr}
		if readErr == "" {
			cols["unique_impression"] = u.UniqueImpression
			cols["unique_click"] = u.UniqueClick
			cols["unique_media_played"] = u.UniqueMediaPlayed
			cols["unique_media_played_100"] = u.UniqueMediaPlayed100
			cols["stats_from"], cols["stats_to"] = u.StatsFrom, u.StatsTo
		}
		if err := g.Model(&LineUnit{}).Where("id = ?", u.ID).Updates(cols).Error; err != nil {
			return fmt.Errorf("saving statistics of unit %s: %w", u.Unit, err)
		}
		if readErr != "" {
			return nil
		}
		if err := g.Where("unit_id = ?", u.ID).Delete(&LineUnitClick{}).Error; err != nil {
			return fmt.Errorf("replacing clicks of unit %s: %w", u.Unit, err)
		}
		for i := range u.Clicks {
			c := u.Clicks[i]
			c.ID, c.UnitID = 0, u.ID
			if err := g.Omit("id").Create(&c).Error; err != nil {
				return fmt.Errorf("saving clicks of unit %s: %w", u.Unit, err)
			}
		}
		return nil
	})
}

// CampaignUnits are a campaign's units (one per variant sent) with their
// per-URL clicks.
func (db *DB) CampaignUnits(ctx context.Context, shopID, campaignID int64) ([]LineUnit, error) {
	var us []LineUnit
	if err := db.WithContext(ctx).Where("shop_id = ? AND campaign_id = ?", shopID, campaignID).Order("variant").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("listing units of campaign %d: %w", campaignID, err)
	}
	return us, db.withClicks(ctx, us)
}

// KindUnits are a shop's journey units (one per message kind).
func (db *DB) KindUnits(ctx context.Context, shopID int64) ([]LineUnit, error) {
	var us []LineUnit
	if err := db.WithContext(ctx).Where("shop_id = ? AND campaign_id IS NULL AND kind <> ''", shopID).Order("kind").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("listing journey units: %w", err)
	}
	return us, nil
}

func (db *DB) withClicks(ctx context.Context, us []LineUnit) error {
	if len(us) == 0 {
		return nil
	}
	ids := make([]int64, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	var cs []LineUnitClick
	if err := db.WithContext(ctx).Where("unit_id IN ?", ids).Order("unit_id, seq, id").Find(&cs).Error; err != nil {
		return fmt.Errorf("listing unit clicks: %w", err)
	}
	for _, c := range cs {
		for i := range us {
			if us[i].ID == c.UnitID {
				us[i].Clicks = append(us[i].Clicks, c)
			}
		}
	}
	return nil
}
