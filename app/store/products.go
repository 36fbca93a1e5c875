package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/tsunagu/tsunagu/app/store/segment"
)

// ProductHit is a product the shop has sold, for the segment builder's
// product picker.
type ProductHit struct {
	ProductID int64  `json:"id"`
	Title     string `json:"title"`
	Vendor    string `json:"vendor"`
	Orders    int64  `json:"orders"`
}

// SoldProducts lists up to limit products that appear on the shop's orders
// whose title or vendor contains q (any case), most ordered first.
func (db *DB) SoldProducts(ctx context.Context, shopID int64, q string, limit int) ([]ProductHit, error) {
	like := "%" + segment.LikeEscape(strings.ToLower(strings.TrimSpace(q))) + "%"
	out := []ProductHit{}
	err := db.WithContext(ctx).Raw(`SELECT oi.product_id, MAX(oi.title) AS title, MAX(oi.vendor) AS vendor, COUNT(*) AS orders
FROM order_items oi JOIN orders o ON o.id = oi.order_id
WHERE o.shop_id = ? AND oi.product_id <> 0 AND (LOWER(oi.title) LIKE ? ESCAPE '\' OR LOWER(oi.vendor) LIKE ? ESCAPE '\')
GROUP BY oi.product_id ORDER BY COUNT(*) DESC, oi.product_id LIMIT ?`, shopID, like, like, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("listing sold products: %w", err)
	}
	return out, nil
}

// SoldVendors lists the vendors on the shop's orders, most ordered first.
func (db *DB) SoldVendors(ctx context.Context, shopID int64, limit int) ([]string, error) {
	out := []string{}
	err := db.WithContext(ctx).Raw(`SELECT oi.vendor FROM order_items oi JOIN orders o ON o.id = oi.order_id
WHERE o.shop_id = ? AND oi.vendor <> '' GROUP BY oi.vendor ORDER BY COUNT(*) DESC, oi.vendor LIMIT ?`, shopID, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("listing vendors: %w", err)
	}
	return out, nil
}
