package store

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// CheckoutItem is one line of a checkout, kept for the cart reminder.
type CheckoutItem struct {
	Title    string          `json:"title"`
	Quantity int             `json:"quantity"`
	Price    decimal.Decimal `json:"price"`
	ImageURL string          `json:"image_url,omitempty"`
}

var checkoutColumns = []string{"cart_token", "customer_id", "email", "currency", "total_price", "abandoned_url", "items", "locale", "updated_at"}

// UpsertCheckout creates or updates a checkout by (shop, token) and loads
// the stored row into c. Completion, once recorded, is never undone.
func (db *DB) UpsertCheckout(ctx context.Context, c *Checkout) error {
	now := time.Now().UTC()
	c.UpdatedAt = now
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	completed := c.CompletedAt
	err := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "shop_id"}, {Name: "token"}},
		DoUpdates: clause.AssignmentColumns(checkoutColumns),
	}).Omit("id").Create(c).Error
	if err != nil {
		return fmt.Errorf("upserting checkout: %w", err)
	}
	if completed != nil {
		if err := db.WithContext(ctx).Model(&Checkout{}).Where("shop_id = ? AND token = ? AND completed_at IS NULL", c.ShopID, c.Token).
			Update("completed_at", completed.UTC()).Error; err != nil {
			return fmt.Errorf("completing checkout: %w", err)
		}
	}
	if err := db.WithContext(ctx).Where("shop_id = ? AND token = ?", c.ShopID, c.Token).Take(c).Error; err != nil {
		return fmt.Errorf("reloading checkout: %w", err)
	}
	return nil
}

// Checkout loads a checkout of a shop.
func (db *DB) Checkout(ctx context.Context, shopID, id int64) (*Checkout, error) {
	var c Checkout
	if err := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("loading checkout %d: %w", id, notFound(err))
	}
	return &c, nil
}

// OrderForCheckout finds an order placed from a checkout token or cart
// token (either may be empty), or ErrNotFound.
func (db *DB) OrderForCheckout(ctx context.Context, shopID int64, token, cartToken string) (*Order, error) {
	if token == "" && cartToken == "" {
		return nil, fmt.Errorf("finding order for checkout: %w", ErrNotFound)
	}
	var o Order
	err := db.WithContext(ctx).Where("shop_id = ? AND ((checkout_token = ? AND checkout_token <> '') OR (cart_token = ? AND cart_token <> ''))", shopID, token, cartToken).
		Order("id").Take(&o).Error
	if err != nil {
		return nil, fmt.Errorf("finding order for checkout: %w", notFound(err))
	}
	return &o, nil
}

// CompleteCheckouts marks the checkouts an order came from (by checkout or
// cart token) as completed by it and returns their ids.
func (db *DB) CompleteCheckouts(ctx context.Context, shopID int64, token, cartToken string, orderID int64, at time.Time) ([]int64, error) {
	if token == "" && cartToken == "" {
		return nil, nil
	}
	var ids []int64
	q := db.WithContext(ctx).Model(&Checkout{}).Where("shop_id = ? AND ((token = ? AND token <> '') OR (cart_token = ? AND cart_token <> ''))", shopID, token, cartToken)
	if err := q.Session(&gorm.Session{}).Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("finding checkouts of order %d: %w", orderID, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	err := db.WithContext(ctx).Model(&Checkout{}).Where("id IN ?", ids).Updates(map[string]any{
		"order_id":     orderID,
		"completed_at": gorm.Expr("COALESCE(completed_at, ?)", at.UTC()),
		"updated_at":   time.Now().UTC(),
	}).Error
	if err != nil {
		return nil, fmt.Errorf("completing checkouts of order %d: %w", orderID, err)
	}
	return ids, nil
}

var fulfillmentColumns = []string{"order_id", "shopify_order_id", "status", "shipment_status", "tracking_company", "tracking_number", "tracking_url", "updated_at"}

// UpsertFulfillment creates or updates a fulfillment by (shop, Shopify id)
// and loads the stored row into f.
func (db *DB) UpsertFulfillment(ctx context.Context, f *Fulfillment) error {
	now := time.Now().UTC()
	f.UpdatedAt = now
	if f.CreatedAt.IsZero() {
		f.CreatedAt = now
	}
	err := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "shop_id"}, {Name: "shopify_id"}},
		DoUpdates: clause.AssignmentColumns(fulfillmentColumns),
	}).Omit("id").Create(f).Error
	if err != nil {
		return fmt.Errorf("upserting fulfillment %d: %w", f.ShopifyID, err)
	}
	if err := db.WithContext(ctx).Where("shop_id = ? AND shopify_id = ?", f.ShopID, f.ShopifyID).Take(f).Error; err != nil {
		return fmt.Errorf("reloading fulfillment %d: %w", f.ShopifyID, err)
	}
	return nil
}

// Fulfillment loads a fulfillment of a shop.
func (db *DB) Fulfillment(ctx context.Context, shopID, id int64) (*Fulfillment, error) {
	var f Fulfillment
	if err := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&f).Error; err != nil {
		return nil, fmt.Errorf("loading fulfillment %d: %w", id, notFound(err))
	}
	return &f, nil
}

// ActiveCoupon returns the customer's most recent issued coupon that is
// neither redeemed nor expired at now, or ErrNotFound.
func (db *DB) ActiveCoupon(ctx context.Context, customerID int64, now time.Time) (*Coupon, error) {
	var c Coupon
	err := db.WithContext(ctx).Where("customer_id = ? AND issued_at IS NOT NULL AND redeemed_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", customerID, now.UTC()).
		Order("issued_at DESC").Take(&c).Error
	if err != nil {
		return nil, fmt.Errorf("loading active coupon of customer %d: %w", customerID, notFound(err))
	}
	return &c, nil
}

// NewerOrderExists reports whether the customer placed a live (not
// cancelled, not refunded) order after o.
func (db *DB) NewerOrderExists(ctx context.Context, o *Order) (bool, error) {
	if o.CustomerID == nil {
		return false, nil
	}
	var n int64
	err := db.WithContext(ctx).Model(&Order{}).
		Where("customer_id = ? AND id <> ? AND "+liveOrder("orders"), *o.CustomerID, o.ID).
		Where("ordered_at > ? OR (ordered_at = ? AND id > ?)", o.OrderedAt.UTC(), o.OrderedAt.UTC(), o.ID).
		Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("looking for orders newer than %d: %w", o.ID, err)
	}
	return n > 0, nil
}

// CancelOlderOrderMessages cancels the queued messages of the given kinds
// that belong to the customer's orders placed before o (a newer order
// restarts their sequence).
func (db *DB) CancelOlderOrderMessages(ctx context.Context, o *Order, kinds []string, reason string) (int64, error) {
	if o.CustomerID == nil {
		return 0, nil
	}
	older := db.WithContext(ctx).Model(&Order{}).Select("id").
		Where("customer_id = ? AND id <> ?", *o.CustomerID, o.ID).
		Where("ordered_at < ? OR (ordered_at = ? AND id < ?)", o.OrderedAt.UTC(), o.OrderedAt.UTC(), o.ID)
	res := db.WithContext(ctx).Model(&Message{}).
		Where("shop_id = ? AND customer_id = ? AND ref_type = 'order' AND kind IN ? AND status = ? AND ref_id IN (?)", o.ShopID, *o.CustomerID, kinds, MsgQueued, older).
		Updates(map[string]any{"status": MsgCancelled, "reason": reason, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return 0, fmt.Errorf("cancelling messages of orders before %d: %w", o.ID, res.Error)
	}
	return res.RowsAffected, nil
}

// CustomerOrdersSince lists a customer's orders first stored at or after
// since (the store's own clock, like checkouts' created_at), with items.
func (db *DB) CustomerOrdersSince(ctx context.Context, shopID, customerID int64, since time.Time) ([]Order, error) {
	var os []Order
	err := db.WithContext(ctx).Preload("Items").Where("shop_id = ? AND customer_id = ? AND created_at >= ?", shopID, customerID, since.UTC()).
		Order("id DESC").Limit(20).Find(&os).Error
	if err != nil {
		return nil, fmt.Errorf("listing orders of customer %d: %w", customerID, err)
	}
	return os, nil
}

// OpenCheckoutsOfCustomer lists a customer's checkouts not completed, first
// seen at or after since.
func (db *DB) OpenCheckoutsOfCustomer(ctx context.Context, shopID, customerID int64, since time.Time) ([]Checkout, error) {
	var cs []Checkout
	err := db.WithContext(ctx).Where("shop_id = ? AND customer_id = ? AND completed_at IS NULL AND order_id IS NULL AND created_at >= ?", shopID, customerID, since.UTC()).
		Order("id").Limit(50).Find(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("listing open checkouts of customer %d: %w", customerID, err)
	}
	return cs, nil
}

// CompleteCheckout marks one checkout as completed by an order.
func (db *DB) CompleteCheckout(ctx context.Context, id, orderID int64, at time.Time) error {
	err := db.WithContext(ctx).Model(&Checkout{}).Where("id = ?", id).Updates(map[string]any{
		"order_id":     orderID,
		"completed_at": gorm.Expr("COALESCE(completed_at, ?)", at.UTC()),
		"updated_at":   time.Now().UTC(),
	}).Error
	if err != nil {
		return fmt.Errorf("completing checkout %d: %w", id, err)
	}
	return nil
}
