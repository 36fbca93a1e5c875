package store

import (
	"context"
	"fmt"
	"time"
)

// StaffLine is a staff member's own LINE account, for test sends. It is
// pending (LineUserID empty) until the code is sent to the official account.
type StaffLine struct {
	ID            int64      `json:"id"`
	ShopID        int64      `json:"-"`
	Name          string     `json:"name"`
	Code          string     `json:"code,omitempty"`
	CodeExpiresAt time.Time  `json:"code_expires_at"`
	LineUserID    string     `json:"-"`
	DisplayName   string     `json:"display_name"`
	LinkedAt      *time.Time `json:"linked_at"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"-"`
}

// TableName keeps gorm on the migration's table.
func (StaffLine) TableName() string { return "staff_line_links" }

// CreateStaffLine stores a pending staff LINE link with its code.
func (db *DB) CreateStaffLine(ctx context.Context, s *StaffLine) error {
	if err := db.WithContext(ctx).Omit("id").Create(s).Error; err != nil {
		return fmt.Errorf("creating a staff LINE link: %w", err)
	}
	return nil
}

// StaffLines lists a shop's staff LINE links, linked first.
func (db *DB) StaffLines(ctx context.Context, shopID int64) ([]StaffLine, error) {
	out := []StaffLine{}
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Order("linked_at IS NULL, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("listing staff LINE links: %w", err)
	}
	return out, nil
}

// StaffLine loads one of a shop's staff LINE links.
func (db *DB) StaffLine(ctx context.Context, shopID, id int64) (*StaffLine, error) {
	var s StaffLine
	if err := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&s).Error; err != nil {
		return nil, fmt.Errorf("loading staff LINE link %d: %w", id, notFound(err))
	}
	return &s, nil
}

// ClaimStaffLineCode links the pending staff link whose unexpired code is
// code to lineUserID; it reports whether one matched. A code works once.
func (db *DB) ClaimStaffLineCode(ctx context.Context, shopID int64, code, lineUserID, displayName string, now time.Time) (bool, error) {
	res := db.WithContext(ctx).Model(&StaffLine{}).
		Where("shop_id = ? AND code = ? AND line_user_id = '' AND code_expires_at > ?", shopID, code, now.UTC()).
		Updates(map[string]any{"line_user_id": lineUserID, "display_name": displayName, "linked_at": now.UTC(), "updated_at": now.UTC()})
	if res.Error != nil {
		return false, fmt.Errorf("claiming a staff LINE code: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// DeleteStaffLine removes a staff LINE link.
func (db *DB) DeleteStaffLine(ctx context.Context, shopID, id int64) error {
	res := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Delete(&StaffLine{})
	if res.Error != nil {
		return fmt.Errorf("deleting staff LINE link %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("deleting staff LINE link %d: %w", id, ErrNotFound)
	}
	return nil
}
