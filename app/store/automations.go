package store

import (
	"context"
	"fmt"
	"time"
)

// ActiveShopIDs lists installed shops (for sweeps).
func (db *DB) ActiveShopIDs(ctx context.Context) ([]int64, error) {
	var ids []int64
	if err := db.WithContext(ctx).Model(&Shop{}).Where("uninstalled_at IS NULL AND redacted_at IS NULL").Order("id").Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("listing active shops: %w", err)
	}
	return ids, nil
}

// linkedCustomers is the scope of automations: customers with a live link
// (blocked ones included, so their skip is recorded with a reason).
const linkedCustomers = "c.redacted_at IS NULL AND EXISTS (SELECT 1 FROM line_links l WHERE l.customer_id = c.id AND l.unlinked_at IS NULL)"

// BirthdayCustomers lists linked customers whose birthday ("YYYY-MM-DD" or
// "--MM-DD") falls on monthDay ("MM-DD").
func (db *DB) BirthdayCustomers(ctx context.Context, shopID int64, monthDay string) ([]Customer, error) {
	var out []Customer
	err := db.WithContext(ctx).Raw("SELECT c.* FROM customers c WHERE c.shop_id = ? AND c.birthday <> '' AND SUBSTR(c.birthday, LENGTH(c.birthday) - 4, 5) = ? AND "+
		linkedCustomers+" ORDER BY c.id", shopID, monthDay).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("listing birthdays: %w", err)
	}
	return out, nil
}

// DormantSince lists linked customers whose last order is in [from, to).
func (db *DB) DormantSince(ctx context.Context, shopID int64, from, to time.Time) ([]Customer, error) {
	var out []Customer
	err := db.WithContext(ctx).Raw("SELECT c.* FROM customers c WHERE c.shop_id = ? AND c.last_order_at >= ? AND c.last_order_at < ? AND "+
		linkedCustomers+" ORDER BY c.id", shopID, from.UTC(), to.UTC()).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("listing dormant customers: %w", err)
	}
	return out, nil
}

// ExpiringCoupons lists issued, unredeemed coupons of customers expiring in (from, to].
func (db *DB) ExpiringCoupons(ctx context.Context, shopID int64, from, to time.Time) ([]Coupon, error) {
	var out []Coupon
	err := db.WithContext(ctx).Where("shop_id = ? AND customer_id IS NOT NULL AND issued_at IS NOT NULL AND redeemed_at IS NULL AND expires_at > ? AND expires_at <= ?",
		shopID, from.UTC(), to.UTC()).Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("listing expiring coupons: %w", err)
	}
	return out, nil
}
