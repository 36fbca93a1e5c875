package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Staff roles: viewers read customers, timelines and the dashboard; admins
// also change settings, templates and staff.
const (
	RoleViewer = "viewer"
	RoleAdmin  = "admin"
)

// StaffAccount is a support-team login for one shop.
type StaffAccount struct {
	ID           int64      `json:"id"`
	ShopID       int64      `json:"-"`
	Email        string     `json:"email"`
	Name         string     `json:"name"`
	Role         string     `json:"role"`
	PasswordHash string     `json:"-"`
	LastLoginAt  *time.Time `json:"last_login_at"`
	DisabledAt   *time.Time `json:"disabled_at"`
	// SessionGen rises when the password changes; sessions signed with an
	// older generation end (migration 0027).
	SessionGen int64     `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"-"`
}

// CreateStaff inserts a staff account; the email is stored lower-cased.
func (db *DB) CreateStaff(ctx context.Context, s *StaffAccount) error {
	s.Email = strings.ToLower(strings.TrimSpace(s.Email))
	if err := db.WithContext(ctx).Create(s).Error; err != nil {
		return fmt.Errorf("creating staff account %s: %w", s.Email, err)
	}
	return nil
}

// StaffByEmail loads a shop's staff account by email.
func (db *DB) StaffByEmail(ctx context.Context, shopID int64, email string) (*StaffAccount, error) {
	var s StaffAccount
	err := db.WithContext(ctx).Where("shop_id = ? AND email = ?", shopID, strings.ToLower(strings.TrimSpace(email))).Take(&s).Error
	if err != nil {
		return nil, fmt.Errorf("loading staff account: %w", notFound(err))
	}
	return &s, nil
}

// Staff loads a shop's staff account by id.
func (db *DB) Staff(ctx context.Context, shopID, id int64) (*StaffAccount, error) {
	var s StaffAccount
	if err := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&s).Error; err != nil {
		return nil, fmt.Errorf("loading staff account %d: %w", id, notFound(err))
	}
	return &s, nil
}

// ListStaff lists a shop's staff accounts.
func (db *DB) ListStaff(ctx context.Context, shopID int64) ([]StaffAccount, error) {
	var out []StaffAccount
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Order("email").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("listing staff: %w", err)
	}
	return out, nil
}

// UpdateStaff changes columns of a shop's staff account.
func (db *DB) UpdateStaff(ctx context.Context, shopID, id int64, cols map[string]any) error {
	cols["updated_at"] = time.Now().UTC()
	res := db.WithContext(ctx).Model(&StaffAccount{}).Where("shop_id = ? AND id = ?", shopID, id).Updates(cols)
	if res.Error != nil {
		return fmt.Errorf("updating staff account %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("updating staff account %d: %w", id, ErrNotFound)
	}
	return nil
}
