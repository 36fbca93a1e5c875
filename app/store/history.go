package store

import (
	"context"
	"errors"
	"fmt"
)

// RecordPastMessage inserts a message as it happened, keeping its
// CreatedAt (when it was planned) and SentAt: `tsunagu demo` tells a story
// with it. Live sending plans messages with PlanMessage.
func (db *DB) RecordPastMessage(ctx context.Context, m *Message) error {
	if m.CreatedAt.IsZero() {
		return errors.New("recording a past message: CreatedAt is required")
	}
	m.CreatedAt = m.CreatedAt.UTC()
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
		if m.SentAt != nil {
			m.UpdatedAt = m.SentAt.UTC()
		}
	}
	m.ScheduledFor = m.ScheduledFor.UTC()
	if err := db.WithContext(ctx).Omit("id").Create(m).Error; err != nil {
		return fmt.Errorf("recording message %s: %w", m.DedupeKey, err)
	}
	return nil
}
