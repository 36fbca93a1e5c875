package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// RevokedSession is a signed-out admin cookie, kept until it would expire.
type RevokedSession struct {
	TokenHash string `gorm:"primaryKey"`
	ExpiresAt time.Time
}

// RevokeSession lists a session (by the hash of its cookie) as signed out
// until expires, and forgets revocations that have expired by now.
func (db *DB) RevokeSession(ctx context.Context, tokenHash string, expires, now time.Time) error {
	if err := db.WithContext(ctx).Where("expires_at < ?", now.UTC()).Delete(&RevokedSession{}).Error; err != nil {
		return fmt.Errorf("forgetting expired revocations: %w", err)
	}
	err := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&RevokedSession{TokenHash: tokenHash, ExpiresAt: expires.UTC()}).Error
	if err != nil {
		return fmt.Errorf("revoking a session: %w", err)
	}
	return nil
}

// SessionRevoked says whether a session was signed out.
func (db *DB) SessionRevoked(ctx context.Context, tokenHash string) (bool, error) {
	var n int64
	if err := db.WithContext(ctx).Model(&RevokedSession{}).Where("token_hash = ?", tokenHash).Count(&n).Error; err != nil {
		return false, fmt.Errorf("checking a session: %w", err)
	}
	return n > 0, nil
}
