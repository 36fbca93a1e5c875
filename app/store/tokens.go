package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagu/tsunagu/migrations"
)

// ErrStaleToken is returned by SaveShopToken when the pair was written by
// someone else since it was read (the fence behind the refresh lock).
var ErrStaleToken = errors.New("store: token pair changed since it was read")

// tokenLockClass is the first key of the per-shop PostgreSQL advisory lock
// taken while a shop's token pair is refreshed ("TSNG").
const tokenLockClass = 0x54534e47

// ShopToken is an encrypted token pair and its expiries.
type ShopToken struct {
	AccessTokenEnc        []byte
	AccessTokenExpiresAt  *time.Time
	RefreshTokenEnc       []byte
	RefreshTokenExpiresAt *time.Time
	Scopes                string
}

// LockShopToken takes the shop's token lock until the end of the current
// transaction, so only one process at a time refreshes a shop's pair. On
// PostgreSQL it is an advisory transaction lock; SQLite transactions are
// already exclusive (BEGIN IMMEDIATE on the single connection).
func (db *DB) LockShopToken(ctx context.Context, shopID int64) error {
	if db.Dialect != migrations.Postgres {
		return nil
	}
	if err := db.WithContext(ctx).Exec("SELECT pg_advisory_xact_lock(?, ?)", tokenLockClass, int32(shopID)).Error; err != nil {
		return fmt.Errorf("locking the token of shop %d: %w", shopID, err)
	}
	return nil
}

// SaveShopToken writes a whole token pair in one statement, clears
// needs_reauth and bumps token_version, provided the version is still
// expectVersion; otherwise it returns ErrStaleToken and writes nothing.
func (db *DB) SaveShopToken(ctx context.Context, shopID, expectVersion int64, t ShopToken, at time.Time) error {
	upd := map[string]any{
		"access_token_enc": t.AccessTokenEnc, "access_token_expires_at": utcPtr(t.AccessTokenExpiresAt),
		"refresh_token_enc": t.RefreshTokenEnc, "refresh_token_expires_at": utcPtr(t.RefreshTokenExpiresAt),
		"token_refreshed_at": at.UTC(), "token_version": expectVersion + 1,
		"needs_reauth_at": nil, "reauth_reason": "", "updated_at": at.UTC(),
	}
	if t.Scopes != "" {
		upd["scopes"] = t.Scopes
	}
	res := db.WithContext(ctx).Model(&Shop{}).Where("id = ? AND token_version = ?", shopID, expectVersion).Updates(upd)
	if res.Error != nil {
		return fmt.Errorf("saving the token of shop %d: %w", shopID, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("saving the token of shop %d: %w", shopID, ErrStaleToken)
	}
	return nil
}

// MarkShopNeedsReauth records that the shop's grant cannot be refreshed. It
// keeps the first time and reason; the pair is left for inspection.
func (db *DB) MarkShopNeedsReauth(ctx context.Context, shopID int64, reason string, at time.Time) error {
	err := db.WithContext(ctx).Model(&Shop{}).Where("id = ? AND needs_reauth_at IS NULL", shopID).
		Updates(map[string]any{"needs_reauth_at": at.UTC(), "reauth_reason": reason, "updated_at": at.UTC()}).Error
	if err != nil {
		return fmt.Errorf("marking shop %d needs_reauth: %w", shopID, err)
	}
	return nil
}

// ShopsToRefresh lists active shops holding a refresh token that expires
// before cutoff and that do not already wait for the merchant.
func (db *DB) ShopsToRefresh(ctx context.Context, cutoff time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := db.WithContext(ctx).Model(&Shop{}).
		Where("uninstalled_at IS NULL AND redacted_at IS NULL AND needs_reauth_at IS NULL AND refresh_token_enc IS NOT NULL AND refresh_token_expires_at < ?", cutoff.UTC()).
		Order("refresh_token_expires_at").Limit(limit).Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("listing shops to refresh: %w", err)
	}
	return ids, nil
}

// RequeueWaitingEvents makes the shop's events that waited for a new grant
// pending again and returns their ids, oldest first.
func (db *DB) RequeueWaitingEvents(ctx context.Context, shopID int64, domain string) ([]int64, error) {
	var ids []int64
	err := db.Tx(ctx, func(tx *DB) error {
		g := tx.WithContext(ctx)
		if err := g.Model(&Event{}).Where("(shop_id = ? OR shop_domain = ?) AND status = ?", shopID, domain, EventWaitingReauth).
			Order("id").Pluck("id", &ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		return g.Model(&Event{}).Where("id IN ?", ids).
			Updates(map[string]any{"status": EventReceived, "processed_at": nil, "error": ""}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("requeueing waiting events of shop %d: %w", shopID, err)
	}
	return ids, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
