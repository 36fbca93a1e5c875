package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// InsertEvent stores an inbound delivery unless one with the same source and
// external id exists. It returns the stored event and whether it is new.
func (db *DB) InsertEvent(ctx context.Context, e *Event) (inserted bool, err error) {
	if e.Status == "" {
		e.Status = EventReceived
	}
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = time.Now().UTC()
	}
	res := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "source"}, {Name: "external_id"}},
		DoNothing: true,
	}).Create(e)
	if res.Error != nil {
		return false, fmt.Errorf("inserting %s event %s: %w", e.Source, e.Topic, res.Error)
	}
	if res.RowsAffected == 0 {
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
