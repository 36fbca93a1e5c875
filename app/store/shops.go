package store

import (
	"context"
	"fmt"
	"time"
)

// ShopByDomain loads a shop by its myshopify domain.
func (db *DB) ShopByDomain(ctx context.Context, domain string) (*Shop, error) {
	var s Shop
	if err := db.WithContext(ctx).Where("domain = ?", domain).Take(&s).Error; err != nil {
		return nil, fmt.Errorf("loading shop %s: %w", domain, notFound(err))
	}
	return &s, nil
}

// Shop loads a shop by id.
func (db *DB) Shop(ctx context.Context, id int64) (*Shop, error) {
	var s Shop
	if err := db.WithContext(ctx).Take(&s, id).Error; err != nil {
		return nil, fmt.Errorf("loading shop %d: %w", id, notFound(err))
	}
	return &s, nil
}

// CreateShop inserts a shop row.
func (db *DB) CreateShop(ctx context.Context, s *Shop) error {
	if s.Timezone == "" {
		s.Timezone = "Asia/Tokyo"
	}
	if s.Currency == "" {
		s.Currency = "JPY"
	}
	if s.Locale == "" {
		s.Locale = "ja"
	}
	if err := db.WithContext(ctx).Create(s).Error; err != nil {
		return fmt.Errorf("creating shop %s: %w", s.Domain, err)
	}
	return nil
}

// SaveShopSettings replaces a shop's settings.
func (db *DB) SaveShopSettings(ctx context.Context, shopID int64, st Settings) error {
	s := Shop{ID: shopID, Settings: st}
	if err := db.WithContext(ctx).Model(&s).Select("settings", "updated_at").Updates(&s).Error; err != nil {
		return fmt.Errorf("saving settings of shop %d: %w", shopID, err)
	}
	return nil
}

// MarkShopUninstalled records that the app was removed from the shop.
func (db *DB) MarkShopUninstalled(ctx context.Context, shopID int64, at time.Time) error {
	return db.WithContext(ctx).Model(&Shop{}).Where("id = ?", shopID).
		Updates(map[string]any{"uninstalled_at": at.UTC(), "access_token_enc": nil, "refresh_token_enc": nil,
			"access_token_expires_at": nil, "refresh_token_expires_at": nil, "updated_at": at.UTC()}).Error
}

// LineChannel loads the shop's primary LINE channel (the only one of a shop
// with one LINE account).
func (db *DB) LineChannel(ctx context.Context, shopID int64) (*LineChannel, error) {
	var c LineChannel
	if err := db.WithContext(ctx).Where("shop_id = ? AND is_primary", shopID).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("loading LINE channel of shop %d: %w", shopID, notFound(err))
	}
	return &c, nil
}

// LineChannelByID loads one LINE channel of a shop.
func (db *DB) LineChannelByID(ctx context.Context, shopID, id int64) (*LineChannel, error) {
	var c LineChannel
	if err := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("loading LINE channel %d of shop %d: %w", id, shopID, notFound(err))
	}
	return &c, nil
}

// LineChannelFor loads the channel with id, or the shop's primary channel
// when id is zero.
func (db *DB) LineChannelFor(ctx context.Context, shopID, id int64) (*LineChannel, error) {
	if id == 0 {
		return db.LineChannel(ctx, shopID)
	}
	return db.LineChannelByID(ctx, shopID, id)
}

// LineChannels lists a shop's LINE channels, the primary first.
func (db *DB) LineChannels(ctx context.Context, shopID int64) ([]LineChannel, error) {
	var cs []LineChannel
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Order("is_primary DESC, id").Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("listing LINE channels of shop %d: %w", shopID, err)
	}
	return cs, nil
}

// SetPrimaryLineChannel makes channel id the shop's primary channel.
func (db *DB) SetPrimaryLineChannel(ctx context.Context, shopID, id int64) error {
	return db.Tx(ctx, func(tx *DB) error {
		if _, err := tx.LineChannelByID(ctx, shopID, id); err != nil {
			return err
		}
		g := tx.WithContext(ctx)
		now := time.Now().UTC()
		if err := g.Model(&LineChannel{}).Where("shop_id = ? AND is_primary AND id <> ?", shopID, id).
			Updates(map[string]any{"is_primary": false, "updated_at": now}).Error; err != nil {
			return fmt.Errorf("clearing the primary LINE channel of shop %d: %w", shopID, err)
		}
		if err := g.Model(&LineChannel{}).Where("id = ?", id).
			Updates(map[string]any{"is_primary": true, "updated_at": now}).Error; err != nil {
			return fmt.Errorf("making LINE channel %d primary: %w", id, err)
		}
		return nil
	})
}

// LineChannelByWebhookKey loads the channel a LINE webhook URL names.
func (db *DB) LineChannelByWebhookKey(ctx context.Context, key string) (*LineChannel, error) {
	var c LineChannel
	if err := db.WithContext(ctx).Where("webhook_key = ?", key).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("loading LINE channel by webhook key: %w", notFound(err))
	}
	return &c, nil
}

// TouchLineWebhook records that a verified LINE webhook arrived for
// channel channelID at at; it writes at most once a minute.
func (db *DB) TouchLineWebhook(ctx context.Context, channelID int64, at time.Time) error {
	at = at.UTC()
	err := db.WithContext(ctx).Model(&LineChannel{}).
		Where("id = ? AND (last_webhook_at IS NULL OR last_webhook_at < ?)", channelID, at.Add(-time.Minute)).
		UpdateColumn("last_webhook_at", at).Error
	if err != nil {
		return fmt.Errorf("recording LINE webhook arrival: %w", err)
	}
	return nil
}

// SaveLineChannel creates or replaces a LINE channel row. A shop's first
// channel becomes its primary.
func (db *DB) SaveLineChannel(ctx context.Context, c *LineChannel) error {
	if c.ID == 0 && !c.IsPrimary {
		var n int64
		if err := db.WithContext(ctx).Model(&LineChannel{}).Where("shop_id = ? AND is_primary", c.ShopID).Count(&n).Error; err != nil {
			return fmt.Errorf("looking for the primary LINE channel of shop %d: %w", c.ShopID, err)
		}
		c.IsPrimary = n == 0
	}
	if err := db.WithContext(ctx).Save(c).Error; err != nil {
		return fmt.Errorf("saving LINE channel of shop %d: %w", c.ShopID, err)
	}
	return nil
}
