package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// Schedule is one piece of periodic work. The row, not a task in Redis, is
// the truth: a run is due while NextAt has passed, and only the run's
// handler moves NextAt on, so a run Redis lost is re-enqueued.
type Schedule struct {
	Name         string `gorm:"primaryKey"`
	NextAt       time.Time
	EverySeconds int
	LastRunAt    *time.Time
}

// EnsureSchedule creates the schedule name (first run at first) unless it
// exists; an existing one keeps its next run but takes the new interval.
func (db *DB) EnsureSchedule(ctx context.Context, name string, every time.Duration, first time.Time) error {
	s := Schedule{Name: name, NextAt: first.UTC(), EverySeconds: int(every / time.Second)}
	err := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"every_seconds"}),
	}).Create(&s).Error
	if err != nil {
		return fmt.Errorf("ensuring schedule %s: %w", name, err)
	}
	return nil
}

// RequestScheduleRun makes a run of schedule name due at at the latest
// (creating the schedule, every interval, if it does not exist): an
// earlier due run stays, a later one moves up. It returns the run's due
// time, the key of its task.
func (db *DB) RequestScheduleRun(ctx context.Context, name string, every time.Duration, at time.Time) (time.Time, error) {
	// Whole seconds: a run's task carries its time in Unix seconds, and
	// ScheduleDue matches it exactly (a run requested at a clock time with
	// nanoseconds was never due, so on-demand rich-menu syncs never ran).
	at = at.UTC().Truncate(time.Second)
	var next time.Time
	err := db.Tx(ctx, func(tx *DB) error {
		s := Schedule{Name: name, NextAt: at, EverySeconds: int(every / time.Second)}
		if err := tx.G.Clauses(clause.OnConflict{DoNothing: true}).Create(&s).Error; err != nil {
			return err
		}
		if err := tx.G.Model(&Schedule{}).Where("name = ? AND next_at > ?", name, at).Update("next_at", at).Error; err != nil {
			return err
		}
		var cur Schedule
		if err := tx.G.Where("name = ?", name).Take(&cur).Error; err != nil {
			return err
		}
		next = cur.NextAt.UTC()
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("requesting a run of %s: %w", name, err)
	}
	return next, nil
}

// Schedules lists every schedule, by name.
func (db *DB) Schedules(ctx context.Context) ([]Schedule, error) {
	var ss []Schedule
	if err := db.WithContext(ctx).Order("name").Find(&ss).Error; err != nil {
		return nil, fmt.Errorf("listing schedules: %w", err)
	}
	return ss, nil
}

// DueSchedules lists schedules whose next run is at or before now.
func (db *DB) DueSchedules(ctx context.Context, now time.Time) ([]Schedule, error) {
	var ss []Schedule
	if err := db.WithContext(ctx).Where("next_at <= ?", now.UTC()).Order("name").Find(&ss).Error; err != nil {
		return nil, fmt.Errorf("listing due schedules: %w", err)
	}
	return ss, nil
}

// FinishScheduledRun records that the run of name due at was done at now
// and moves the next run to the first interval boundary after now. It
// reports false when that run was already finished (a duplicate task).
func (db *DB) FinishScheduledRun(ctx context.Context, name string, at, now time.Time) (bool, error) {
	var s Schedule
	if err := db.WithContext(ctx).Where("name = ?", name).Take(&s).Error; err != nil {
		return false, fmt.Errorf("loading schedule %s: %w", name, notFound(err))
	}
	every := time.Duration(s.EverySeconds) * time.Second
	if every <= 0 {
		every = time.Hour
	}
	next := s.NextAt
	for !next.After(now) {
		next = next.Add(every)
	}
	res := db.WithContext(ctx).Model(&Schedule{}).Where("name = ? AND next_at = ?", name, at.UTC()).
		Updates(map[string]any{"next_at": next.UTC(), "last_run_at": now.UTC()})
	if res.Error != nil {
		return false, fmt.Errorf("finishing run of %s: %w", name, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ScheduleDue reports whether the run of name due at is still to be done.
func (db *DB) ScheduleDue(ctx context.Context, name string, at time.Time) (bool, error) {
	var n int64
	if err := db.WithContext(ctx).Model(&Schedule{}).Where("name = ? AND next_at = ?", name, at.UTC()).Count(&n).Error; err != nil {
		return false, fmt.Errorf("checking schedule %s: %w", name, err)
	}
	return n == 1, nil
}

// CampaignStart is a campaign that should be running, with the time its
// start task is keyed on.
type CampaignStart struct {
	ID          int64
	ScheduledAt *time.Time
	CreatedAt   time.Time
}

// CampaignStarts lists campaigns that should be running by now (scheduled
// ones past their time, and ones still sending) for the reconciler.
func (db *DB) CampaignStarts(ctx context.Context, now time.Time) ([]CampaignStart, error) {
	var cs []CampaignStart
	err := db.WithContext(ctx).Model(&Campaign{}).Select("id", "scheduled_at", "created_at").
		Where("(status = ? AND scheduled_at <= ?) OR status = ?", CampaignScheduled, now.UTC(), CampaignSending).
		Order("id").Find(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("listing campaigns to start: %w", err)
	}
	return cs, nil
}
