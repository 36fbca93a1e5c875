package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

var orderColumns = []string{"customer_id", "name", "email", "currency", "total_price", "subtotal_price", "financial_status",
	"fulfillment_status", "checkout_token", "cart_token", "order_status_url", "discount_codes", "locale", "ordered_at", "updated_at", "shopify_updated_at"}

// notOlder keeps a stored order when the delivery is older than it: Shopify
// delivers webhooks out of order, and a late orders/create must not undo a
// refund or a cancellation that an orders/updated already brought.
var notOlder = clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: notOlderSQL}}}

// notOlderSQL is notOlder's condition (also the history import's).
const notOlderSQL = "(orders.shopify_updated_at IS NULL OR excluded.shopify_updated_at IS NULL OR excluded.shopify_updated_at >= orders.shopify_updated_at)"

// itemChunk bounds the rows of one multi-row INSERT (PostgreSQL takes at
// most 65,535 parameters in a statement; an item row has 11).
const itemChunk = 1000

// A cancellation sticks: Shopify cannot un-cancel an order, so a late
// orders/create delivered after orders/cancelled must not revive it.
var stickyCancel = clause.Assignment{Column: clause.Column{Name: "cancelled_at"}, Value: gorm.Expr("COALESCE(excluded.cancelled_at, orders.cancelled_at)")}

// UpsertOrder creates or updates an order by (shop, Shopify id), replacing
// its items, and loads the stored row into o. Run it inside Tx.
func (db *DB) UpsertOrder(ctx context.Context, o *Order) error {
	_, err := db.UpsertOrderIfNewer(ctx, o)
	return err
}

// UpsertOrderIfNewer is UpsertOrder that tells when the delivery was older
// than the stored version (by Shopify's updated_at): then it changed
// nothing, o holds the stored, newer version and stale is true.
func (db *DB) UpsertOrderIfNewer(ctx context.Context, o *Order) (stale bool, err error) {
	items := o.Items
	o.Items = nil
	now := time.Now().UTC()
	o.UpdatedAt = now
	if o.CreatedAt.IsZero() {
		o.CreatedAt = now
	}
	if o.ShopifyUpdatedAt != nil {
		t := o.ShopifyUpdatedAt.UTC()
		o.ShopifyUpdatedAt = &t
	}
	res := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "shop_id"}, {Name: "shopify_id"}},
		DoUpdates: append(clause.AssignmentColumns(orderColumns), stickyCancel),
		Where:     notOlder,
	}).Omit("id", "Items").Create(o)
	if res.Error != nil {
		return false, fmt.Errorf("upserting order %d: %w", o.ShopifyID, res.Error)
	}
	if err := db.WithContext(ctx).Where("shop_id = ? AND shopify_id = ?", o.ShopID, o.ShopifyID).Take(o).Error; err != nil {
		return false, fmt.Errorf("reloading order %d: %w", o.ShopifyID, err)
	}
	if res.RowsAffected == 0 {
		// Older than what is stored: keep the stored version and its items.
		return true, db.WithContext(ctx).Where("order_id = ?", o.ID).Order("id").Find(&o.Items).Error
	}
	buyer := o.itemCustomer()
	if items == nil {
		// The stored items stay; the order's customer or cancellation may
		// have changed, and their customer_id follows it.
		if err := db.WithContext(ctx).Model(&OrderItem{}).Where("order_id = ?", o.ID).
			Update("customer_id", buyer).Error; err != nil {
			return false, fmt.Errorf("updating items of order %d: %w", o.ShopifyID, err)
		}
		return false, nil
	}
	if err := db.WithContext(ctx).Where("order_id = ?", o.ID).Delete(&OrderItem{}).Error; err != nil {
		return false, fmt.Errorf("replacing items of order %d: %w", o.ShopifyID, err)
	}
	for i := range items {
		items[i].ID = 0
		items[i].OrderID = o.ID
		items[i].CustomerID = buyer
	}
	if len(items) > 0 {
		if err := db.WithContext(ctx).CreateInBatches(&items, itemChunk).Error; err != nil {
			return false, fmt.Errorf("storing items of order %d: %w", o.ShopifyID, err)
		}
	}
	o.Items = items
	return false, nil
}

// itemCustomer is order_items.customer_id for the stored order o: its
// customer while it counts as a purchase (not cancelled), else nil.
func (o *Order) itemCustomer() *int64 {
	if o.CancelledAt != nil || o.CustomerID == nil {
		return nil
	}
	id := *o.CustomerID
	return &id
}

// Order loads an order of a shop with its items.
func (db *DB) Order(ctx context.Context, shopID, id int64) (*Order, error) {
	var o Order
	if err := db.WithContext(ctx).Preload("Items").Where("shop_id = ? AND id = ?", shopID, id).Take(&o).Error; err != nil {
		return nil, fmt.Errorf("loading order %d: %w", id, notFound(err))
	}
	return &o, nil
}

// OrderByShopifyID loads an order by Shopify id.
func (db *DB) OrderByShopifyID(ctx context.Context, shopID, shopifyID int64) (*Order, error) {
	var o Order
	if err := db.WithContext(ctx).Preload("Items").Where("shop_id = ? AND shopify_id = ?", shopID, shopifyID).Take(&o).Error; err != nil {
		return nil, fmt.Errorf("loading order by Shopify id %d: %w", shopifyID, notFound(err))
	}
	return &o, nil
}
