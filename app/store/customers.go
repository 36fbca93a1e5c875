package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// profileColumns are the customer fields Shopify owns; stats and redaction are ours.
var profileColumns = []string{"email", "first_name", "last_name", "phone", "tags", "region", "country", "locale", "accepts_marketing", "updated_at"}

// UpsertCustomer creates or updates a customer by (shop, Shopify id) and
// loads the stored row into c. A redacted customer's profile is never refilled.
func (db *DB) UpsertCustomer(ctx context.Context, c *Customer) error {
	now := time.Now().UTC()
	c.UpdatedAt = now
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	err := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "shop_id"}, {Name: "shopify_id"}},
		DoUpdates: clause.AssignmentColumns(profileColumns),
		Where:     clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "customers.redacted_at IS NULL"}}},
	}).Omit("id").Create(c).Error
	if err != nil {
		return fmt.Errorf("upserting customer %d: %w", c.ShopifyID, err)
	}
	return db.WithContext(ctx).Where("shop_id = ? AND shopify_id = ?", c.ShopID, c.ShopifyID).Take(c).Error
}

// Customer loads a customer of a shop.
func (db *DB) Customer(ctx context.Context, shopID, id int64) (*Customer, error) {
	var c Customer
	if err := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("loading customer %d: %w", id, notFound(err))
	}
	return &c, nil
}

// CustomerByShopifyID loads a customer by Shopify id.
func (db *DB) CustomerByShopifyID(ctx context.Context, shopID, shopifyID int64) (*Customer, error) {
	var c Customer
	if err := db.WithContext(ctx).Where("shop_id = ? AND shopify_id = ?", shopID, shopifyID).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("loading customer by Shopify id %d: %w", shopifyID, notFound(err))
	}
	return &c, nil
}

// LiveCustomerID is the id of the shop's customer with this Shopify id,
// unless redacted (ErrNotFound): the one column hot paths need.
func (db *DB) LiveCustomerID(ctx context.Context, shopID, shopifyID int64) (int64, error) {
	var ids []int64
	if err := db.WithContext(ctx).Model(&Customer{}).Where("shop_id = ? AND shopify_id = ? AND redacted_at IS NULL", shopID, shopifyID).
		Limit(1).Pluck("id", &ids).Error; err != nil {
		return 0, fmt.Errorf("looking up customer by Shopify id %d: %w", shopifyID, err)
	}
	if len(ids) == 0 {
		return 0, fmt.Errorf("customer with Shopify id %d: %w", shopifyID, ErrNotFound)
	}
	return ids[0], nil
}

// liveOrder is the SQL rule for an order that counts toward its
// customer's stats and repeat purchases (Order.Void's opposite), on the
// orders table named table.
func liveOrder(table string) string {
	return table + ".cancelled_at IS NULL AND " + table + ".financial_status NOT IN ('refunded','voided')"
}

// RefreshCustomerStats recomputes order count, spend and order dates from
// the orders table, so replays and cancellations can never skew them.
func (db *DB) RefreshCustomerStats(ctx context.Context, customerID int64) error {
	live := "customer_id = ? AND " + liveOrder("orders")
	var n int64
	if err := db.WithContext(ctx).Model(&Order{}).Where(live, customerID).Count(&n).Error; err != nil {
		return fmt.Errorf("counting orders of customer %d: %w", customerID, err)
	}
	// First/last read as rows: SQLite's MIN/MAX of a time column comes back as text.
	var first, last Order
	q := db.WithContext(ctx).Where(live, customerID)
	if err := q.Session(&gorm.Session{}).Order("ordered_at ASC").Limit(1).Find(&first).Error; err != nil {
		return err
	}
	if err := q.Session(&gorm.Session{}).Order("ordered_at DESC").Limit(1).Find(&last).Error; err != nil {
		return err
	}
	upd := map[string]any{"orders_count": n, "total_spent": gorm.Expr("(SELECT COALESCE(SUM(total_price), 0) FROM orders WHERE "+live+")", customerID)}
	if first.ID != 0 {
		upd["first_order_at"], upd["last_order_at"] = first.OrderedAt, last.OrderedAt
	} else {
		upd["first_order_at"], upd["last_order_at"] = nil, nil
	}
	if err := db.WithContext(ctx).Model(&Customer{}).Where("id = ?", customerID).Updates(upd).Error; err != nil {
		return fmt.Errorf("updating stats of customer %d: %w", customerID, err)
	}
	return nil
}

// LiveLink returns the customer's current LINE link, or ErrNotFound.
func (db *DB) LiveLink(ctx context.Context, customerID int64) (*LineLink, error) {
	var l LineLink
	err := db.WithContext(ctx).Where("customer_id = ? AND unlinked_at IS NULL", customerID).Take(&l).Error
	if err != nil {
		return nil, fmt.Errorf("loading LINE link of customer %d: %w", customerID, notFound(err))
	}
	return &l, nil
}

// LastLink returns the customer's most recent link, live or not.
func (db *DB) LastLink(ctx context.Context, customerID int64) (*LineLink, error) {
	var l LineLink
	err := db.WithContext(ctx).Where("customer_id = ?", customerID).Order("linked_at DESC").Take(&l).Error
	if err != nil {
		return nil, fmt.Errorf("loading last LINE link of customer %d: %w", customerID, notFound(err))
	}
	return &l, nil
}

// CreateLinks inserts many links at once (seeding a shop); each with
// ChannelID 0 gets the primary channel, as with CreateLink.
func (db *DB) CreateLinks(ctx context.Context, links []LineLink) error {
	if len(links) == 0 {
		return nil
	}
	now := time.Now().UTC()
	ids := make([]int64, 0, len(links))
	primary := map[int64]int64{} // shop → its primary channel, read once
	for i := range links {
		l := &links[i]
		if l.ChannelID == 0 {
			if _, ok := primary[l.ShopID]; !ok {
				ch, err := db.primaryChannelID(ctx, l.ShopID)
				if err != nil {
					return err
				}
				primary[l.ShopID] = ch
			}
			l.ChannelID = primary[l.ShopID]
		}
		if l.CreatedAt.IsZero() {
			l.CreatedAt, l.UpdatedAt = now, now
		}
		ids = append(ids, l.CustomerID)
	}
	return db.Tx(ctx, func(tx *DB) error {
		if err := tx.WithContext(ctx).Omit("id").CreateInBatches(&links, 500).Error; err != nil {
			return fmt.Errorf("linking %d customers to LINE: %w", len(links), err)
		}
		for len(ids) > 0 {
			n := min(len(ids), 500)
			if err := tx.syncLinkState(ctx, "id IN ?", ids[:n]); err != nil {
				return err
			}
			ids = ids[n:]
		}
		return nil
	})
}

// CreateLink inserts a live link.
func (db *DB) CreateLink(ctx context.Context, l *LineLink) error {
	if l.ChannelID == 0 {
		var err error
		if l.ChannelID, err = db.primaryChannelID(ctx, l.ShopID); err != nil {
			return err
		}
	}
	return db.Tx(ctx, func(tx *DB) error {
		if err := tx.WithContext(ctx).Create(l).Error; err != nil {
			return fmt.Errorf("linking customer %d to LINE: %w", l.CustomerID, err)
		}
		return tx.syncLinkState(ctx, "id = ?", l.CustomerID)
	})
}

// AddActivity records a timeline entry.
func (db *DB) AddActivity(ctx context.Context, a *Activity) error {
	if a.OccurredAt.IsZero() {
		a.OccurredAt = time.Now().UTC()
	}
	if a.Data == "" {
		a.Data = "{}"
	}
	if err := db.WithContext(ctx).Create(a).Error; err != nil {
		return fmt.Errorf("recording %s activity: %w", a.Kind, err)
	}
	return nil
}
