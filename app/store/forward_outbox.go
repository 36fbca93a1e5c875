package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/tsunagu/tsunagu/migrations"
)

// QueuedForward is one verified LINE webhook request waiting to reach one
// forwarding destination: the outbox of forwarding. It is written before
// LINE is answered and deleted once delivered or given up.
type QueuedForward struct {
	ID        int64
	ShopID    int64
	ForwardID int64
	Body      []byte
	Signature string
	CreatedAt time.Time
	// NextAt is when the relay may offer the row (again).
	NextAt time.Time
}

// TableName names the outbox table.
func (QueuedForward) TableName() string { return "forward_outbox" }

// QueueForwards stores one outbox row per destination for a request (one
// statement) and returns their ids in the order of forwardIDs. The relay
// leaves them alone until next.
func (db *DB) QueueForwards(ctx context.Context, shopID int64, forwardIDs []int64, body []byte, signature string, at, next time.Time) ([]int64, error) {
	if len(forwardIDs) == 0 {
		return nil, nil
	}
	rows := make([]QueuedForward, len(forwardIDs))
	for i, id := range forwardIDs {
		rows[i] = QueuedForward{ShopID: shopID, ForwardID: id, Body: body, Signature: signature, CreatedAt: at.UTC(), NextAt: next.UTC()}
	}
	if err := db.WithContext(ctx).Omit("id").Create(&rows).Error; err != nil {
		return nil, fmt.Errorf("queueing %d forwards: %w", len(rows), err)
	}
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	return ids, nil
}

// QueuedForwardByID loads one outbox row.
func (db *DB) QueuedForwardByID(ctx context.Context, id int64) (*QueuedForward, error) {
	var q QueuedForward
	if err := db.WithContext(ctx).Take(&q, id).Error; err != nil {
		return nil, fmt.Errorf("loading queued forward %d: %w", id, notFound(err))
	}
	return &q, nil
}

// DropQueuedForward deletes an outbox row (delivered or given up).
func (db *DB) DropQueuedForward(ctx context.Context, id int64) error {
	if err := db.WithContext(ctx).Delete(&QueuedForward{}, id).Error; err != nil {
		return fmt.Errorf("deleting queued forward %d: %w", id, err)
	}
	return nil
}

// HoldQueuedForward keeps the relay away from a row until next (its task
// is being retried meanwhile).
func (db *DB) HoldQueuedForward(ctx context.Context, id int64, next time.Time) error {
	if err := db.WithContext(ctx).Model(&QueuedForward{}).Where("id = ?", id).Update("next_at", next.UTC()).Error; err != nil {
		return fmt.Errorf("holding queued forward %d: %w", id, err)
	}
	return nil
}

// ClaimDueForwards returns up to limit outbox rows due at now and moves
// each one's next_at to now+hold, so every relay round offers other rows
// and concurrent relays do not offer the same ones.
func (db *DB) ClaimDueForwards(ctx context.Context, now time.Time, hold time.Duration, limit int) ([]int64, error) {
	var ids []int64
	err := db.Tx(ctx, func(tx *DB) error {
		q := tx.WithContext(ctx).Model(&QueuedForward{}).Where("next_at <= ?", now.UTC()).Order("next_at").Limit(limit)
		if tx.Dialect == migrations.Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		if err := q.Pluck("id", &ids).Error; err != nil {
			return fmt.Errorf("listing due forwards: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := tx.WithContext(ctx).Model(&QueuedForward{}).Where("id IN ?", ids).Update("next_at", now.Add(hold).UTC()).Error; err != nil {
			return fmt.Errorf("holding offered forwards: %w", err)
		}
		return nil
	})
	return ids, err
}

// ReleaseForwards makes rows due again at once (their offer failed).
func (db *DB) ReleaseForwards(ctx context.Context, ids []int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if err := db.WithContext(ctx).Model(&QueuedForward{}).Where("id IN ?", ids).Update("next_at", now.UTC()).Error; err != nil {
		return fmt.Errorf("releasing %d forwards: %w", len(ids), err)
	}
	return nil
}
