package store

import (
	"context"
	"fmt"
	"time"
)

// Scenario is a step scenario: messages a set number of days after a
// friend-add, a link or a first order, each step stopping the scenario
// when its condition holds.
type Scenario struct {
	ID        int64          `json:"id"`
	ShopID    int64          `json:"-"`
	Name      string         `json:"name"`
	TriggerOn string         `json:"trigger"`
	Enabled   bool           `json:"enabled"`
	Steps     []ScenarioStep `json:"steps" gorm:"serializer:json;type:text"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"-"`
}

// ScenarioStep is one message of a scenario.
type ScenarioStep struct {
	// Days after the scenario's start.
	Days   int    `json:"days"`
	TextJA string `json:"text_ja"`
	TextEN string `json:"text_en,omitempty"`
	// Stop is the condition that ends the scenario before this step
	// ("" none, or linked, ordered, clicked, blocked).
	Stop string `json:"stop,omitempty"`
}

// Scenarios lists a shop's scenarios.
func (db *DB) Scenarios(ctx context.Context, shopID int64) ([]Scenario, error) {
	var out []Scenario
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Order("id").Limit(100).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("listing scenarios: %w", err)
	}
	return out, nil
}

// ScenariosOn lists a shop's enabled scenarios started by trigger.
func (db *DB) ScenariosOn(ctx context.Context, shopID int64, trigger string) ([]Scenario, error) {
	var out []Scenario
	if err := db.WithContext(ctx).Where("shop_id = ? AND trigger_on = ? AND enabled", shopID, trigger).Order("id").Limit(100).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("listing %s scenarios: %w", trigger, err)
	}
	return out, nil
}

// Scenario loads one scenario of a shop.
func (db *DB) Scenario(ctx context.Context, shopID, id int64) (*Scenario, error) {
	var s Scenario
	if err := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&s).Error; err != nil {
		return nil, fmt.Errorf("loading scenario %d: %w", id, notFound(err))
	}
	return &s, nil
}

// SaveScenario creates or replaces a scenario.
func (db *DB) SaveScenario(ctx context.Context, s *Scenario) error {
	now := time.Now().UTC()
	if s.ID == 0 {
		s.CreatedAt = now
	}
	s.UpdatedAt = now
	if err := db.WithContext(ctx).Save(s).Error; err != nil {
		return fmt.Errorf("saving scenario: %w", err)
	}
	return nil
}

// DeleteScenario removes a scenario of a shop; false when none. Its steps
// still queued are skipped when due (the scenario is gone).
func (db *DB) DeleteScenario(ctx context.Context, shopID, id int64) (bool, error) {
	res := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Delete(&Scenario{})
	if res.Error != nil {
		return false, fmt.Errorf("deleting scenario %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// CancelQueuedByPrefix cancels the queued messages whose dedupe key starts
// with prefix (the rest of one recipient's scenario), except message except.
func (db *DB) CancelQueuedByPrefix(ctx context.Context, shopID int64, prefix string, except int64, reason string) (int64, error) {
	res := db.WithContext(ctx).Model(&Message{}).
		Where("shop_id = ? AND status = ? AND dedupe_key >= ? AND dedupe_key < ? AND id <> ?", shopID, MsgQueued, prefix, prefix+"\U0010FFFF", except).
		Updates(map[string]any{"status": MsgCancelled, "reason": reason, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return 0, fmt.Errorf("cancelling messages %s*: %w", prefix, res.Error)
	}
	return res.RowsAffected, nil
}

// FirstOrderID is the id of a customer's earliest order (0: none).
func (db *DB) FirstOrderID(ctx context.Context, shopID, customerID int64) (int64, error) {
	var ids []int64
	err := db.WithContext(ctx).Model(&Order{}).Where("shop_id = ? AND customer_id = ?", shopID, customerID).
		Order("ordered_at, id").Limit(1).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	return ids[0], nil
}

// OrderedSince reports whether the customer has an order after since.
func (db *DB) OrderedSince(ctx context.Context, shopID, customerID int64, since time.Time) (bool, error) {
	var n int64
	err := db.WithContext(ctx).Model(&Order{}).Where("shop_id = ? AND customer_id = ? AND ordered_at > ?", shopID, customerID, since.UTC()).
		Limit(1).Count(&n).Error
	return n > 0, err
}

// ClickedSince reports whether the customer or the LINE friend (either may
// be 0) clicked a tracked link at or after since.
func (db *DB) ClickedSince(ctx context.Context, customerID, friendID int64, since time.Time) (bool, error) {
	for _, q := range []struct {
		col string
		id  int64
	}{{"customer_id", customerID}, {"friend_id", friendID}} {
		if q.id == 0 {
			continue
		}
		var n int64
		if err := db.WithContext(ctx).Model(&Activity{}).Where(q.col+" = ? AND kind = ? AND occurred_at >= ?", q.id, ActClick, since.UTC()).
			Limit(1).Count(&n).Error; err != nil {
			return false, fmt.Errorf("looking for clicks: %w", err)
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}
