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
	campaigns, args := campaignSentSince("?", "(SELECT c.shop_id FROM customers c WHERE c.id = ?)", []any{customerID, customerID}, since)
	err := db.WithContext(ctx).Raw("SELECT (SELECT COUNT(*) FROM messages WHERE customer_id = ? AND kind NOT IN ? AND status = ? AND sent_at >= ?) + "+campaigns,
		append([]any{customerID, exclude, MsgSent, since.UTC()}, args...)...).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("counting messages of customer %d: %w", customerID, err)
	}
	return n, nil
}

// CapUsed counts the slots of today's cap (cr) already taken for the
// customer or, without one, the LINE friend of m: marketing messages sent
// since the day's start (campaign messages included), and queued messages
// of kinds that outrank m's due before the day ends.
func (db *DB) CapUsed(ctx context.Context, m *Message, cr CapRule) (int64, error) {
	return db.capUsed(ctx, m, cr, 0, time.Time{})
}

func (db *DB) capUsed(ctx context.Context, m *Message, cr CapRule, self int64, sendingSince time.Time) (int64, error) {
	col, who := "customer_id", int64(0)
	switch {
	case m.CustomerID != nil:
		who = *m.CustomerID
	case m.FriendID != nil:
		col, who = "friend_id", *m.FriendID
	default:
		return 0, fmt.Errorf("message %d has no customer or friend to cap", m.ID)
	}
	sub, all := capMessagesSQL(col, "?", []any{who}, cr, db.capDays(cr), self, sendingSince)
	q := "SELECT " + sub
	if col == "customer_id" {
		campaigns, args := campaignSentSince("?", "?", []any{who, m.ShopID}, cr.DayStart)
		q += " + " + campaigns
		all = append(all, args...)
	}
	var n int64
	if err := db.WithContext(ctx).Raw(q, all...).Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("counting the daily cap of %s %d: %w", col, who, err)
	}
	return n, nil
}

// capLockSpace namespaces the per-customer advisory locks of ClaimUnderCap.
const capLockSpace = 0x74736e67 // "tsng"

// friendCapLockSpace namespaces the per-friend locks (friends without a customer).
const friendCapLockSpace = 0x74736e66 // "tsnf"

// ClaimUnderCap moves a marketing message to sending unless its customer
// (or friend) has no slot left today under cr (CapUsed, and messages being
// sent by another worker in the last ten minutes). Counting and claiming
// are one step per customer (an advisory lock on PostgreSQL; SQLite
// transactions are serial), so two workers cannot both slip under the cap.
func (db *DB) ClaimUnderCap(ctx context.Context, m *Message, cr CapRule, cols map[string]any) (claimed, over bool, err error) {
	space, lockID := int32(capLockSpace), int64(0)
	switch {
	case m.CustomerID != nil:
		lockID = *m.CustomerID
	case m.FriendID != nil:
		space, lockID = friendCapLockSpace, *m.FriendID
	default:
		return false, false, fmt.Errorf("message %d has no customer or friend to cap", m.ID)
	}
	err = db.Tx(ctx, func(tx *DB) error {
		if tx.Dialect == migrations.Postgres {
			if err := tx.WithContext(ctx).Exec("SELECT pg_advisory_xact_lock(?, ?)", space, int32(lockID)).Error; err != nil {
				return fmt.Errorf("locking the daily cap of message %d: %w", m.ID, err)
			}
		}
		n, err := tx.capUsed(ctx, m, cr, m.ID, time.Now().UTC().Add(-10*time.Minute))
		if err != nil {
			return err
		}
		if n >= int64(cr.Limit) {
			over = true
			return nil
		}
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
