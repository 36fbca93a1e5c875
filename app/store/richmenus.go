package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// RichMenu is a merchant's LINE rich menu, shown to the customers of a segment.
type RichMenu struct {
	ID             int64           `json:"id"`
	ShopID         int64           `json:"-"`
	Name           string          `json:"name"`
	LineRichMenuID string          `json:"line_rich_menu_id"`
	Definition     json.RawMessage `json:"definition" gorm:"serializer:json;type:text"`
	SegmentID      *int64          `json:"segment_id"`
	Priority       int             `json:"priority"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
}

// RichMenuAssignment is the menu a customer's LINE user shows now (0: default).
type RichMenuAssignment struct {
	ID         int64
	ShopID     int64
	CustomerID int64
	LineUserID string
	RichMenuID int64
	UpdatedAt  time.Time
}

// CreateRichMenu stores a menu LINE has accepted.
func (db *DB) CreateRichMenu(ctx context.Context, m *RichMenu) error {
	now := time.Now().UTC()
	m.CreatedAt, m.UpdatedAt = now, now
	if err := db.WithContext(ctx).Omit("id").Create(m).Error; err != nil {
		return fmt.Errorf("storing rich menu: %w", err)
	}
	return nil
}

// RichMenus lists a shop's menus, highest priority first.
func (db *DB) RichMenus(ctx context.Context, shopID int64) ([]RichMenu, error) {
	out := []RichMenu{}
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Order("priority DESC, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("listing rich menus: %w", err)
	}
	return out, nil
}

// DeleteRichMenu removes a menu; the next sync moves its users off it.
func (db *DB) DeleteRichMenu(ctx context.Context, shopID, id int64) error {
	res := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Delete(&RichMenu{})
	if res.Error != nil {
		return fmt.Errorf("deleting rich menu %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("deleting rich menu %d: %w", id, ErrNotFound)
	}
	return nil
}

// RichMenuAssignments loads the shop's current assignments by customer.
func (db *DB) RichMenuAssignments(ctx context.Context, shopID int64) (map[int64]RichMenuAssignment, error) {
	var rows []RichMenuAssignment
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("loading rich menu assignments: %w", err)
	}
	out := make(map[int64]RichMenuAssignment, len(rows))
	for _, r := range rows {
		out[r.CustomerID] = r
	}
	return out, nil
}

// SetRichMenuAssignment records what a customer's LINE user now shows.
func (db *DB) SetRichMenuAssignment(ctx context.Context, a *RichMenuAssignment) error {
	a.UpdatedAt = time.Now().UTC()
	err := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "shop_id"}, {Name: "customer_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"line_user_id", "rich_menu_id", "updated_at"}),
	}).Omit("id").Create(a).Error
	if err != nil {
		return fmt.Errorf("recording rich menu of customer %d: %w", a.CustomerID, err)
	}
	return nil
}

// LinkedUsers maps the shop's live, unblocked links: customer id → LINE user id.
func (db *DB) LinkedUsers(ctx context.Context, shopID int64) (map[int64]string, error) {
	var rows []struct {
		CustomerID int64
		LineUserID string
	}
	if err := db.WithContext(ctx).Raw(`SELECT l.customer_id, l.line_user_id FROM line_links l JOIN customers c ON c.id = l.customer_id
WHERE l.shop_id = ? AND l.unlinked_at IS NULL AND l.blocked = ? AND c.redacted_at IS NULL`, shopID, false).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing linked users: %w", err)
	}
	out := make(map[int64]string, len(rows))
	for _, r := range rows {
		out[r.CustomerID] = r.LineUserID
	}
	return out, nil
}
