package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/tsunagu/tsunagu/migrations"
)

// UpdateShopSettings changes a shop's settings under a row lock: fn sees the
// settings as stored now and edits them in place; an error from fn aborts
// the change and is returned as is. Two writers of different parts of the
// settings (templates, journeys, automations) never undo each other, and a
// precondition fn checks holds until the write.
func (db *DB) UpdateShopSettings(ctx context.Context, shopID int64, fn func(st *Settings) error) (Settings, error) {
	var out Settings
	err := db.Tx(ctx, func(tx *DB) error {
		var s Shop
		q := tx.WithContext(ctx).Select("id", "settings")
		if tx.Dialect == migrations.Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.Take(&s, shopID).Error; err != nil {
			return fmt.Errorf("loading settings of shop %d: %w", shopID, notFound(err))
		}
		if err := fn(&s.Settings); err != nil {
			return err
		}
		s.UpdatedAt = time.Now().UTC()
		if err := tx.WithContext(ctx).Model(&s).Select("settings", "updated_at").Updates(&s).Error; err != nil {
			return fmt.Errorf("saving settings of shop %d: %w", shopID, err)
		}
		out = s.Settings
		return nil
	})
	return out, err
}
