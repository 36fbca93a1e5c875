package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/tsunagu/tsunagu/migrations"
)

// PlanMessage inserts a message unless one with its dedupe key exists, and
// loads the stored row into m either way. It reports whether it was new.
func (db *DB) PlanMessage(ctx context.Context, m *Message) (bool, error) {
	now := time.Now().UTC()
	if m.Status == "" {
		m.Status = MsgQueued
	}
	m.CreatedAt, m.UpdatedAt = now, now
	m.ScheduledFor = m.ScheduledFor.UTC()
	res := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "dedupe_key"}},
		DoNothing: true,
	}).Omit("id").Create(m)
	if res.Error != nil {
		return false, fmt.Errorf("planning message %s: %w", m.DedupeKey, res.Error)
	}
	if err := db.WithContext(ctx).Where("dedupe_key = ?", m.DedupeKey).Take(m).Error; err != nil {
		return false, fmt.Errorf("reloading message %s: %w", m.DedupeKey, err)
	}
	return res.RowsAffected == 1, nil
}

// Message loads one message.
func (db *DB) Message(ctx context.Context, id int64) (*Message, error) {
	var m Message
	if err := db.WithContext(ctx).Take(&m, id).Error; err != nil {
		return nil, fmt.Errorf("loading message %d: %w", id, notFound(err))
	}
	return &m, nil
}

// MessageByKey loads a message by dedupe key.
func (db *DB) MessageByKey(ctx context.Context, key string) (*Message, error) {
	var m Message
	if err := db.WithContext(ctx).Where("dedupe_key = ?", key).Take(&m).Error; err != nil {
		return nil, fmt.Errorf("loading message %s: %w", key, notFound(err))
	}
	return &m, nil
}

// TransitionMessage moves a message from one of the statuses in from to a
// new status with the given extra columns. It reports false when the
// message was no longer in a from status (someone else moved it first).
func (db *DB) TransitionMessage(ctx context.Context, id int64, from []string, to string, cols map[string]any) (bool, error) {
	upd := map[string]any{"status": to, "updated_at": time.Now().UTC()}
	for k, v := range cols {
		upd[k] = v
	}
	res := db.WithContext(ctx).Model(&Message{}).Where("id = ? AND status IN ?", id, from).Updates(upd)
	if res.Error != nil {
		return false, fmt.Errorf("moving message %d to %s: %w", id, to, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// DueMessages lists queued messages whose time passed before cutoff.
func (db *DB) DueMessages(ctx context.Context, cutoff time.Time, limit int) ([]Message, error) {
	var ms []Message
	err := db.WithContext(ctx).Where("status = ? AND scheduled_for < ?", MsgQueued, cutoff.UTC()).
		Order("scheduled_for").Limit(limit).Find(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("listing due messages: %w", err)
	}
	return ms, nil
}

// StuckSending lists messages left in "sending" (a worker died mid-send) since before cutoff.
func (db *DB) StuckSending(ctx context.Context, cutoff time.Time, limit int) ([]Message, error) {
	var ms []Message
	err := db.WithContext(ctx).Where("status = ? AND updated_at < ?", MsgSending, cutoff.UTC()).
		Order("updated_at").Limit(limit).Find(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("listing stuck messages: %w", err)
	}
	return ms, nil
}

// CountSentSince counts a customer's messages sent since t, leaving out the
// given kinds (for frequency caps, which exempt transactional kinds);
// campaign messages (recipient rows) always count.
func (db *DB) CountSentSince(ctx context.Context, customerID int64, exclude []string, since time.Time) (int64, error) {
	var n int64
	err := db.WithContext(ctx).Raw("SELECT (SELECT COUNT(*) FROM messages WHERE customer_id = ? AND kind NOT IN ? AND status = ? AND sent_at >= ?) + "+
		campaignSentSince("?"), customerID, exclude, MsgSent, since.UTC(), customerID, MsgSent, since.UTC()).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("counting messages of customer %d: %w", customerID, err)
	}
	return n, nil
}

// capLockSpace namespaces the per-customer advisory locks of ClaimUnderCap.
const capLockSpace = 0x74736e67 // "tsng"

// friendCapLockSpace namespaces the per-friend locks (friends without a customer).
const friendCapLockSpace = 0x74736e66 // "tsnf"

// ClaimUnderCap moves a marketing message to sending unless its customer has
// already had limit marketing messages since since — sent, or being sent by
// another worker in the last ten minutes. Counting and claiming are one step
// per customer (an advisory lock on PostgreSQL; SQLite transactions are
// serial), so two workers cannot both slip under the cap.
func (db *DB) ClaimUnderCap(ctx context.Context, m *Message, exclude []string, since time.Time, limit int, cols map[string]any) (claimed, over bool, err error) {
	// A message to a LINE friend without a customer is capped on the friend.
	col, space, cust := "customer_id", int32(capLockSpace), int64(0)
	switch {
	case m.CustomerID != nil:
		cust = *m.CustomerID
	case m.FriendID != nil:
		col, space, cust = "friend_id", friendCapLockSpace, *m.FriendID
	default:
		return false, false, fmt.Errorf("message %d has no customer or friend to cap", m.ID)
	}
	err = db.Tx(ctx, func(tx *DB) error {
		if tx.Dialect == migrations.Postgres {
			if err := tx.WithContext(ctx).Exec("SELECT pg_advisory_xact_lock(?, ?)", space, int32(cust)).Error; err != nil {
				return fmt.Errorf("locking %s %d for the daily cap: %w", col, cust, err)
			}
		}
		var n int64
		q := "SELECT (SELECT COUNT(*) FROM messages WHERE " + col + " = ? AND kind NOT IN ? AND id <> ? AND ((status = ? AND sent_at >= ?) OR (status = ? AND updated_at >= ?)))"
		args := []any{cust, exclude, m.ID, MsgSent, since.UTC(), MsgSending, time.Now().UTC().Add(-10 * time.Minute)}
		if col == "customer_id" {
			q += " + " + campaignSentSince("?")
			args = append(args, cust, MsgSent, since.UTC())
		}
		if err := tx.WithContext(ctx).Raw(q, args...).Scan(&n).Error; err != nil {
			return fmt.Errorf("counting messages of %s %d: %w", col, cust, err)
		}
		if n >= int64(limit) {
			over = true
			return nil
		}
		var err error
		claimed, err = tx.TransitionMessage(ctx, m.ID, []string{MsgQueued, MsgSending}, MsgSending, cols)
		return err
	})
	return claimed, over, err
}

// CancelMessages cancels queued messages matching ref with reason.
func (db *DB) CancelMessages(ctx context.Context, shopID int64, refType string, refID int64, kinds []string, reason string) (int64, error) {
	res := db.WithContext(ctx).Model(&Message{}).
		Where("shop_id = ? AND ref_type = ? AND ref_id = ? AND kind IN ? AND status = ?", shopID, refType, refID, kinds, MsgQueued).
		Updates(map[string]any{"status": MsgCancelled, "reason": reason, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return 0, fmt.Errorf("cancelling %s messages for %s %d: %w", kinds, refType, refID, res.Error)
	}
	return res.RowsAffected, nil
}

// InstallationID is this installation's random id (migration 0020), which
// salts LINE retry keys.
func (db *DB) InstallationID(ctx context.Context) (string, error) {
	var salt []string
	if err := db.WithContext(ctx).Raw("SELECT retry_salt FROM installation WHERE id = 1").Scan(&salt).Error; err != nil {
		return "", fmt.Errorf("reading the installation id: %w", err)
	}
	if len(salt) == 0 || salt[0] == "" {
		return "", errors.New("reading the installation id: none stored (migration 0020 not applied?)")
	}
	return salt[0], nil
}
