package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/tsunagu/tsunagu/migrations"
	"gorm.io/gorm/clause"
)

// Pixel event names the web pixel sends.
const (
	PixelProductViewed  = "product_viewed"
	PixelCollectionView = "collection_viewed"
	PixelAddedToCart    = "product_added_to_cart"
	PixelCheckout       = "checkout_started"
	PixelSearch         = "search_submitted"
)

// PixelEvent is one storefront event of a known customer.
type PixelEvent struct {
	ID           int64
	ShopID       int64
	CustomerID   int64
	EventID      string
	Name         string
	ProductID    int64
	VariantID    int64
	CollectionID int64
	Title        string
	URL          string
	ImageURL     string
	Price        decimal.Decimal
	Currency     string
	SearchQuery  string
	Quantity     int
	OccurredAt   time.Time
	ReceivedAt   time.Time
}

// ExtensionSeen is when an extension last rendered (or sent) for a shop.
type ExtensionSeen struct {
	ShopID     int64  `gorm:"primaryKey;autoIncrement:false"`
	Extension  string `gorm:"primaryKey"`
	LastSeenAt time.Time
}

// TableName keeps gorm from pluralising.
func (ExtensionSeen) TableName() string { return "extension_seen" }

// pixelInsert is the INSERT of evs into pixel_events that skips an event
// whose (shop, event id) is stored already and returns the stored ids.
func pixelInsert(evs []PixelEvent) (string, []any) {
	var sb strings.Builder
	sb.WriteString(`INSERT INTO pixel_events (shop_id, customer_id, event_id, name, product_id, variant_id, collection_id, title, url,
image_url, price, currency, search_query, quantity, occurred_at, received_at) VALUES `)
	args := make([]any, 0, len(evs)*16)
	for i, e := range evs {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
		args = append(args, e.ShopID, e.CustomerID, e.EventID, e.Name, e.ProductID, e.VariantID, e.CollectionID, e.Title, e.URL,
			e.ImageURL, e.Price, e.Currency, e.SearchQuery, e.Quantity, e.OccurredAt.UTC(), e.ReceivedAt.UTC())
	}
	sb.WriteString(" ON CONFLICT (shop_id, event_id) DO NOTHING RETURNING id, event_id, name")
	return sb.String(), args
}

// storedPixelEvents keeps the events of evs whose id is in ids (id -> row
// id); a batch naming an event id twice stores it once.
func storedPixelEvents(evs []PixelEvent, ids map[string]int64) []PixelEvent {
	out := make([]PixelEvent, 0, len(ids))
	for _, e := range evs {
		if id, ok := ids[e.EventID]; ok {
			e.ID = id
			out = append(out, e)
			delete(ids, e.EventID)
		}
	}
	return out
}

// InsertPixelEvents stores events, skipping those whose (shop, event id) is
// stored already, and returns the ones it stored (with their ids).
func (db *DB) InsertPixelEvents(ctx context.Context, evs []PixelEvent) ([]PixelEvent, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	q, args := pixelInsert(evs)
	rows, err := db.WithContext(ctx).Raw(q, args...).Rows()
	if err != nil {
		return nil, fmt.Errorf("storing pixel events: %w", err)
	}
	defer rows.Close()
	ids := make(map[string]int64, len(evs))
	for rows.Next() {
		var id int64
		var eid, name string
		if err := rows.Scan(&id, &eid, &name); err != nil {
			return nil, fmt.Errorf("reading stored pixel events: %w", err)
		}
		ids[eid] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading stored pixel events: %w", err)
	}
	return storedPixelEvents(evs, ids), nil
}

// StorePixelEvents stores a customer's events and, when one of those newly
// stored is named in wakeOn, the outbox event wake (unless an event with its
// source and external id exists), both or neither. It returns the stored
// events and whether wake was written (wake.ID set). On PostgreSQL it is one
// statement: the ingest path's cost is its round trips.
func (db *DB) StorePixelEvents(ctx context.Context, evs []PixelEvent, wake *Event, wakeOn []string) ([]PixelEvent, bool, error) {
	if len(evs) == 0 {
		return nil, false, nil
	}
	if wake.Status == "" {
		wake.Status = EventReceived
	}
	if db.Dialect != migrations.Postgres {
		var stored []PixelEvent
		woke := false
		err := db.Tx(ctx, func(tx *DB) error {
			var err error
			if stored, err = tx.InsertPixelEvents(ctx, evs); err != nil {
				return err
			}
			if !slices.ContainsFunc(stored, func(e PixelEvent) bool { return slices.Contains(wakeOn, e.Name) }) {
				return nil
			}
			woke, err = tx.InsertEvent(ctx, wake)
			return err
		})
		return stored, woke, err
	}
	ins, args := pixelInsert(evs)
	q := `WITH ins AS (` + ins + `), wake AS (
INSERT INTO events (source, topic, external_id, shop_id, shop_domain, payload, status, received_at)
SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM ins WHERE name IN ?)
ON CONFLICT (source, external_id) DO NOTHING RETURNING id)
SELECT id, event_id, name, false FROM ins UNION ALL SELECT id, '', '', true FROM wake`
	args = append(args, wake.Source, wake.Topic, wake.ExternalID, wake.ShopID, wake.ShopDomain, wake.Payload, wake.Status,
		wake.ReceivedAt.UTC(), wakeOn)
	rows, err := db.WithContext(ctx).Raw(q, args...).Rows()
	if err != nil {
		return nil, false, fmt.Errorf("storing pixel events: %w", err)
	}
	defer rows.Close()
	ids := make(map[string]int64, len(evs))
	woke := false
	for rows.Next() {
		var id int64
		var eid, name string
		var isWake bool
		if err := rows.Scan(&id, &eid, &name, &isWake); err != nil {
			return nil, false, fmt.Errorf("reading stored pixel events: %w", err)
		}
		if isWake {
			wake.ID, woke = id, true
			continue
		}
		ids[eid] = id
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("reading stored pixel events: %w", err)
	}
	return storedPixelEvents(evs, ids), woke, nil
}

// PixelEvent loads one stored pixel event of a shop.
func (db *DB) PixelEvent(ctx context.Context, shopID, id int64) (*PixelEvent, error) {
	var e PixelEvent
	if err := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&e).Error; err != nil {
		return nil, fmt.Errorf("loading pixel event %d: %w", id, notFound(err))
	}
	return &e, nil
}

// LatestPixelEvent is a customer's newest event of one of names since a time.
func (db *DB) LatestPixelEvent(ctx context.Context, customerID int64, names []string, since time.Time) (*PixelEvent, error) {
	var e PixelEvent
	err := db.WithContext(ctx).Where("customer_id = ? AND name IN ? AND occurred_at >= ?", customerID, names, since.UTC()).
		Order("occurred_at DESC, id DESC").Take(&e).Error
	if err != nil {
		return nil, fmt.Errorf("loading the latest storefront event: %w", notFound(err))
	}
	return &e, nil
}

// CountPixelEvents counts a customer's events named name since a time, of
// one product when productID is not 0.
func (db *DB) CountPixelEvents(ctx context.Context, customerID int64, name string, productID int64, since time.Time) (int64, error) {
	q := db.WithContext(ctx).Model(&PixelEvent{}).Where("customer_id = ? AND name = ? AND occurred_at >= ?", customerID, name, since.UTC())
	if productID != 0 {
		q = q.Where("product_id = ?", productID)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("counting storefront events: %w", err)
	}
	return n, nil
}

// BoughtOrCheckedOutSince reports whether a customer started a checkout
// (pixel or checkouts webhook) or placed an order at or after since.
func (db *DB) BoughtOrCheckedOutSince(ctx context.Context, shopID, customerID int64, since time.Time) (bool, error) {
	s := since.UTC()
	var n int64
	err := db.WithContext(ctx).Raw(`SELECT
  (SELECT COUNT(*) FROM (SELECT 1 FROM pixel_events WHERE customer_id = ? AND name = ? AND occurred_at >= ? LIMIT 1) p) +
  (SELECT COUNT(*) FROM (SELECT 1 FROM orders WHERE shop_id = ? AND customer_id = ? AND ordered_at >= ? LIMIT 1) o) +
  (SELECT COUNT(*) FROM (SELECT 1 FROM checkouts WHERE customer_id = ? AND created_at >= ? LIMIT 1) c)`,
		customerID, PixelCheckout, s, shopID, customerID, s, customerID, s).Scan(&n).Error
	if err != nil {
		return false, fmt.Errorf("checking for a checkout or order: %w", err)
	}
	return n > 0, nil
}

// DeleteCustomerPixelEvents erases a customer's storefront activity (customers/redact).
func (db *DB) DeleteCustomerPixelEvents(ctx context.Context, customerID int64) error {
	if err := db.WithContext(ctx).Where("customer_id = ?", customerID).Delete(&PixelEvent{}).Error; err != nil {
		return fmt.Errorf("erasing storefront activity: %w", err)
	}
	return nil
}

// MarkExtensionSeen records that an extension rendered for a shop.
func (db *DB) MarkExtensionSeen(ctx context.Context, shopID int64, extension string, at time.Time) error {
	err := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "shop_id"}, {Name: "extension"}},
		DoUpdates: clause.AssignmentColumns([]string{"last_seen_at"}),
	}).Create(&ExtensionSeen{ShopID: shopID, Extension: extension, LastSeenAt: at.UTC()}).Error
	if err != nil {
		return fmt.Errorf("recording extension %s: %w", extension, err)
	}
	return nil
}

// ExtensionsSeen returns when each extension of a shop was last seen.
func (db *DB) ExtensionsSeen(ctx context.Context, shopID int64) (map[string]time.Time, error) {
	var rows []ExtensionSeen
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("reading extension status: %w", err)
	}
	out := make(map[string]time.Time, len(rows))
	for _, r := range rows {
		out[r.Extension] = r.LastSeenAt
	}
	return out, nil
}

// LastMessageOfKind is a customer's newest message of a kind (any status).
func (db *DB) LastMessageOfKind(ctx context.Context, customerID int64, kind string) (*Message, error) {
	var m Message
	if err := db.WithContext(ctx).Where("customer_id = ? AND kind = ?", customerID, kind).Order("id DESC").Take(&m).Error; err != nil {
		return nil, fmt.Errorf("loading the last %s message: %w", kind, notFound(err))
	}
	return &m, nil
}

// CountMessagesOfKind counts a customer's messages of a kind (any status).
func (db *DB) CountMessagesOfKind(ctx context.Context, customerID int64, kind string) (int64, error) {
	var n int64
	if err := db.WithContext(ctx).Model(&Message{}).Where("customer_id = ? AND kind = ?", customerID, kind).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("counting %s messages: %w", kind, err)
	}
	return n, nil
}
