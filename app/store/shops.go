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

// LineChannel loads the shop's LINE channel configuration.
func (db *DB) LineChannel(ctx context.Context, shopID int64) (*LineChannel, error) {
	var c LineChannel
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("loading LINE channel of shop %d: %w", shopID, notFound(err))
	}
	return &c, nil
}

// LineChannelByWebhookKey loads the channel a LINE webhook URL names.
func (db *DB) LineChannelByWebhookKey(ctx context.Context, key string) (*LineChannel, error) {
	var c LineChannel
	if err := db.WithContext(ctx).Where("webhook_key = ?", key).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("loading LINE channel by webhook key: %w", notFound(err))
	}
	return &c, nil
}

// TouchLineWebhook records that a verified LINE webhook arrived for the
// shop's channel at at; it writes at most once a minute.
func (db *DB) TouchLineWebhook(ctx context.Context, shopID int64, at time.Time) error {
	at = at.UTC()
	err := db.WithContext(ctx).Model(&LineChannel{}).
		Where("shop_id = ? AND (last_webhook_at IS NULL OR last_webhook_at < ?)", shopID, at.Add(-time.Minute)).
		UpdateColumn("last_webhook_at", at).Error
	if err != nil {
		return fmt.Errorf("recording LINE webhook arrival: %w", err)
	}
	return nil
}

// SaveLineChannel creates or replaces the shop's LINE channel row.
func (db *DB) SaveLineChannel(ctx context.Context, c *LineChannel) error {
	if err := db.WithContext(ctx).Save(c).Error; err != nil {
		return fmt.Errorf("saving LINE channel of shop %d: %w", c.ShopID, err)
	}
	return nil
}
