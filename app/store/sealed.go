package store

import (
	"context"
	"fmt"
)

// SealedValue is one encrypted credential at rest, named by its shop and
// field (never logged with its value).
type SealedValue struct {
	ShopID int64
	Field  string // shop.access_token, line.login_secret, …
	Value  []byte
}

// SealedSample returns up to limit encrypted credentials (a shop's Shopify
// tokens and its LINE channel secrets), newest shops first, so start-up can
// check that the configured key opens them.
func (db *DB) SealedSample(ctx context.Context, limit int) ([]SealedValue, error) {
	var out []SealedValue
	var shops []Shop
	if err := db.WithContext(ctx).Select("id", "access_token_enc", "refresh_token_enc").
		Where("access_token_enc IS NOT NULL").Order("id DESC").Limit(limit).Find(&shops).Error; err != nil {
		return nil, fmt.Errorf("sampling sealed shop tokens: %w", err)
	}
	for _, s := range shops {
		out = append(out, SealedValue{s.ID, "shop.access_token", s.AccessTokenEnc}, SealedValue{s.ID, "shop.refresh_token", s.RefreshTokenEnc})
	}
	var chans []LineChannel
	if err := db.WithContext(ctx).Order("shop_id DESC").Limit(limit).Find(&chans).Error; err != nil {
		return nil, fmt.Errorf("sampling sealed LINE secrets: %w", err)
	}
	for _, c := range chans {
		out = append(out, c.Sealed()...)
	}
	n := 0
	for _, v := range out {
		if len(v.Value) > 0 {
			out[n] = v
			n++
		}
	}
	return out[:n], nil
}

// Sealed lists the channel's encrypted fields.
func (c *LineChannel) Sealed() []SealedValue {
	return []SealedValue{
		{c.ShopID, "line.login_secret", c.LoginSecretEnc},
		{c.ShopID, "line.messaging_secret", c.MessagingSecretEnc},
		{c.ShopID, "line.messaging_token", c.MessagingTokenEnc},
	}
}
