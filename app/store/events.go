package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm/clause"

	"github.com/tsunagu/tsunagu/migrations"
)

// insertEventInto names the columns both insert statements write, in order.
const insertEventInto = `INSERT INTO events (source, topic, external_id, shop_id, shop_domain, payload, status, error, attempts, received_at, processed_at, next_attempt_at, line_channel_id)`

// insertEventSQL is InsertEvent's statement on PostgreSQL: no row (and no
// id) when the event is a duplicate.
const insertEventSQL = insertEventInto + `
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (source, external_id) DO NOTHING RETURNING id`

// insertReceivedEventSQL is insertEventSQL for the usual delivery: received,
// with no error, attempt, shop, channel or later times yet. Those are written
// into the statement, so six values are encoded and sent instead of
// thirteen on every webhook.
const insertReceivedEventSQL = insertEventInto + `
VALUES ($1, $2, $3, NULL, $4, $5, '` + EventReceived + `', '', 0, $6, NULL, NULL, NULL) ON CONFLICT (source, external_id) DO NOTHING RETURNING id`

// InsertEvent stores an inbound delivery unless one with the same source and
// external id exists. It returns the stored event and whether it is new.
func (db *DB) InsertEvent(ctx context.Context, e *Event) (inserted bool, err error) {
	if e.Status == "" {
		e.Status = EventReceived
	}
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = time.Now().UTC()
	}
	var fresh bool
	if db.Dialect == migrations.Postgres {
		// A plain statement: gorm's Create (reflection, callbacks, building
		// the SQL) was a quarter of the webhook ingest's CPU beside it. The
		// pool (or transaction) is db's own: a WithContext session would
		// clone gorm's statement only to hand the same pool back.
		pool := db.G.Statement.ConnPool
		var row *sql.Row
		if e.Status == EventReceived && e.Error == "" && e.Attempts == 0 && e.ShopID == nil && e.ProcessedAt == nil &&
			e.NextAttemptAt == nil && e.LineChannelID == nil {
			row = pool.QueryRowContext(ctx, insertReceivedEventSQL, e.Source, e.Topic, e.ExternalID, e.ShopDomain, e.Payload, e.ReceivedAt)
		} else {
			row = pool.QueryRowContext(ctx, insertEventSQL, e.Source, e.Topic, e.ExternalID, e.ShopID,
				e.ShopDomain, e.Payload, e.Status, e.Error, e.Attempts, e.ReceivedAt, e.ProcessedAt, e.NextAttemptAt, e.LineChannelID)
		}
		err := row.Scan(&e.ID)
		switch {
		case err == nil:
			fresh = true
		case !errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("inserting %s event %s: %w", e.Source, e.Topic, err)
		}
	} else {
		res := db.WithContext(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "source"}, {Name: "external_id"}},
			DoNothing: true,
		}).Create(e)
		if res.Error != nil {
			return false, fmt.Errorf("inserting %s event %s: %w", e.Source, e.Topic, res.Error)
		}
		fresh = res.RowsAffected > 0
	}
	if !fresh {
		var existing Event
		if err := db.WithContext(ctx).Select("id", "status", "processed_at").
			Where("source = ? AND external_id = ?", e.Source, e.ExternalID).Take(&existing).Error; err != nil {
			return false, fmt.Errorf("reading duplicate event: %w", notFound(err))
		}
		e.ID, e.Status, e.ProcessedAt = existing.ID, existing.Status, existing.ProcessedAt
		return false, nil
	}
	return true, nil
}

// Event loads one event.
func (db *DB) Event(ctx context.Context, id int64) (*Event, error) {
	var e Event
	if err := db.WithContext(ctx).Take(&e, id).Error; err != nil {
		return nil, fmt.Errorf("loading event %d: %w", id, notFound(err))
	}
	return &e, nil
}

// PendingEventIDs lists unprocessed events received before cutoff, oldest first.
func (db *DB) PendingEventIDs(ctx context.Context, cutoff time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := db.WithContext(ctx).Model(&Event{}).
		Where("processed_at IS NULL AND received_at < ?", cutoff.UTC()).
		Order("received_at").Limit(limit).Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("listing pending events: %w", err)
	}
	return ids, nil
}

// ClaimPendingEvents takes up to limit unprocessed events received before
// cutoff whose next attempt is due at now, by next-attempt time, and moves
// each one's next attempt to now+hold (plus its own backoff), so the next
// call offers other events: old events that keep failing cannot starve new
// ones. On PostgreSQL the batch is taken with SKIP LOCKED, so several
// relays share the work instead of offering the same rows.
func (db *DB) ClaimPendingEvents(ctx context.Context, now, cutoff time.Time, hold time.Duration, limit int) ([]int64, error) {
	var ids []int64
	err := db.Tx(ctx, func(tx *DB) error {
		q := tx.WithContext(ctx).Model(&Event{}).
			Where("processed_at IS NULL AND received_at < ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)", cutoff.UTC(), now.UTC()).
			Order("COALESCE(next_attempt_at, received_at)").Limit(limit)
		if tx.Dialect == migrations.Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		if err := q.Pluck("id", &ids).Error; err != nil {
			return fmt.Errorf("listing pending events: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		// An event that keeps failing is offered less often (up to hourly);
		// Asynq retries it meanwhile.
		for _, step := range []struct {
			cond string
			next time.Time
		}{{"attempts < 3", now.Add(hold)}, {"attempts >= 3 AND attempts < 6", now.Add(10 * hold)}, {"attempts >= 6", now.Add(time.Hour)}} {
			if err := tx.WithContext(ctx).Exec("UPDATE events SET next_attempt_at = ? WHERE id IN ? AND "+step.cond, step.next.UTC(), ids).Error; err != nil {
				return fmt.Errorf("holding offered events: %w", err)
			}
		}
		return nil
	})
	return ids, err
}

// DeadEvents lists a shop's dead-lettered events, newest first.
func (db *DB) DeadEvents(ctx context.Context, shopDomain string, limit int) ([]Event, error) {
	var es []Event
	err := db.WithContext(ctx).Omit("payload").Where("shop_domain = ? AND status IN ?", shopDomain, []string{EventDead, EventFailed}).
		Order("id DESC").Limit(limit).Find(&es).Error
	if err != nil {
		return nil, fmt.Errorf("listing dead events of %s: %w", shopDomain, err)
	}
	return es, nil
}

// ReplayEvent puts a shop's dead-lettered event back into the outbox: it is
// applied again as if just received. It reports false when no such dead
// event exists.
func (db *DB) ReplayEvent(ctx context.Context, shopDomain string, id int64) (bool, error) {
	res := db.WithContext(ctx).Model(&Event{}).
		Where("id = ? AND shop_domain = ? AND status IN ?", id, shopDomain, []string{EventDead, EventFailed}).
		Updates(map[string]any{"status": EventReceived, "processed_at": nil, "attempts": 0, "error": "", "next_attempt_at": nil})
	if res.Error != nil {
		return false, fmt.Errorf("replaying event %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// FinishEvent records the outcome of processing an event. Failed events are
// finished too (with the error kept) so the relay does not loop on them.
func (db *DB) FinishEvent(ctx context.Context, id int64, status, errText string, at time.Time) error {
	err := db.WithContext(ctx).Model(&Event{}).Where("id = ?", id).Updates(map[string]any{
		"status":       status,
		"error":        errText,
		"processed_at": at.UTC(),
	}).Error
	if err != nil {
		return fmt.Errorf("finishing event %d: %w", id, err)
	}
	return nil
}

// CountEventAttempt bumps the attempt counter before a processing try.
func (db *DB) CountEventAttempt(ctx context.Context, id int64, errText string) error {
	return db.WithContext(ctx).Exec("UPDATE events SET attempts = attempts + 1, error = ? WHERE id = ?", errText, id).Error
}

// IsPermanent reports whether err is the database refusing the data itself
// (PostgreSQL classes 22 "data exception" and 54 "program limit exceeded",
// e.g. a NUL byte in text or too many parameters in one statement): trying
// again cannot help, so the event is dead-lettered at once.
func IsPermanent(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "54")
	}
	return false
}

// ReleaseEvents makes claimed events available to the relay at once again
// (their enqueue failed, e.g. Redis is down).
func (db *DB) ReleaseEvents(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if err := db.WithContext(ctx).Exec("UPDATE events SET next_attempt_at = NULL WHERE id IN ? AND processed_at IS NULL", ids).Error; err != nil {
		return fmt.Errorf("releasing %d events: %w", len(ids), err)
	}
	return nil
}
