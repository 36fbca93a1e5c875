package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tsunagu/tsunagu/migrations"
)

// History import kinds, one bulk query each.
const (
	HistoryCustomers = "customers"
	HistoryOrders    = "orders"
)

// HistoryKinds are the kinds an import runs, in the order they are shown.
var HistoryKinds = []string{HistoryCustomers, HistoryOrders}

// History import states: pending (no bulk query yet), running (Shopify
// runs the bulk query), importing (streaming its result), done, failed.
const (
	HistoryPending   = "pending"
	HistoryRunning   = "running"
	HistoryImporting = "importing"
	HistoryDone      = "done"
	HistoryFailed    = "failed"
)

// ErrHistoryBusy: an import of the shop is still under way.
var ErrHistoryBusy = errors.New("a history import is already under way")

// ErrHistoryCursor: the import's cursor moved since it was read (another
// worker committed the batch); the batch was not written.
var ErrHistoryCursor = errors.New("history import cursor moved")

// HistoryImport is one kind of a shop's history import.
type HistoryImport struct {
	ID     int64
	ShopID int64
	Kind   string
	Status string
	BulkID string
	// Since bounds the span imported (created_at >= Since); nil is all of it.
	Since *time.Time
	// RowsTotal is Shopify's root object count, known once the query ran.
	RowsTotal int64
	// RowsDone is the resume cursor: root objects of the file committed.
	RowsDone int64
	// RowsWritten counts rows written (not older than what was stored).
	RowsWritten int64
	Error       string
	StartedAt   time.Time
	ImportingAt *time.Time
	FinishedAt  *time.Time
	UpdatedAt   time.Time
}

// Active reports whether the import is still under way.
func (h *HistoryImport) Active() bool {
	return h.Status == HistoryPending || h.Status == HistoryRunning || h.Status == HistoryImporting
}

// StartHistoryImport (re)starts the shop's import of every kind, pending,
// from the beginning; ErrHistoryBusy while one is under way.
func (db *DB) StartHistoryImport(ctx context.Context, shopID int64, since *time.Time, now time.Time) ([]HistoryImport, error) {
	now = now.UTC()
	if since != nil {
		t := since.UTC()
		since = &t
	}
	var out []HistoryImport
	err := db.Tx(ctx, func(tx *DB) error {
		var cur []HistoryImport
		if err := tx.G.Clauses(clause.Locking{Strength: "UPDATE"}).Where("shop_id = ?", shopID).Find(&cur).Error; err != nil {
			return err
		}
		for _, h := range cur {
			if h.Active() {
				return ErrHistoryBusy
			}
		}
		for _, kind := range HistoryKinds {
			h := HistoryImport{ShopID: shopID, Kind: kind, Status: HistoryPending, Since: since, StartedAt: now, UpdatedAt: now}
			err := tx.G.Clauses(clause.OnConflict{
				Columns: []clause.Column{{Name: "shop_id"}, {Name: "kind"}},
				DoUpdates: clause.Assignments(map[string]any{"status": HistoryPending, "bulk_id": "", "since": since, "rows_total": 0,
					"rows_done": 0, "rows_written": 0, "error": "", "started_at": now, "importing_at": nil, "finished_at": nil, "updated_at": now}),
			}).Omit("id").Create(&h).Error
			if err != nil {
				return err
			}
		}
		return tx.G.Where("shop_id = ?", shopID).Order("id").Find(&out).Error
	})
	if err != nil {
		return nil, fmt.Errorf("starting history import of shop %d: %w", shopID, err)
	}
	return out, nil
}

// HistoryImports lists the shop's imports (none before the first).
func (db *DB) HistoryImports(ctx context.Context, shopID int64) ([]HistoryImport, error) {
	var out []HistoryImport
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("listing history imports of shop %d: %w", shopID, err)
	}
	return out, nil
}

// HistoryImportByBulkID finds the import a bulk operation belongs to.
func (db *DB) HistoryImportByBulkID(ctx context.Context, bulkID string) (*HistoryImport, error) {
	var h HistoryImport
	if err := db.WithContext(ctx).Where("bulk_id = ?", bulkID).Take(&h).Error; err != nil {
		return nil, fmt.Errorf("history import of bulk operation %s: %w", bulkID, notFound(err))
	}
	return &h, nil
}

// MoveHistoryImport moves an import from status `from` to the status and
// fields in upd; false when it was no longer in `from` (another worker moved it).
func (db *DB) MoveHistoryImport(ctx context.Context, id int64, from string, upd map[string]any, now time.Time) (bool, error) {
	upd["updated_at"] = now.UTC()
	res := db.WithContext(ctx).Model(&HistoryImport{}).Where("id = ? AND status = ?", id, from).Updates(upd)
	if res.Error != nil {
		return false, fmt.Errorf("moving history import %d from %s: %w", id, from, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// advanceHistory moves the cursor from `from` by n root objects inside the batch's transaction: the row lock orders
// concurrent workers and a moved cursor rolls the batch back.
func (tx *DB) advanceHistory(ctx context.Context, id, from int64, n int, now time.Time) error {
	res := tx.WithContext(ctx).Model(&HistoryImport{}).Where("id = ? AND rows_done = ? AND status = ?", id, from, HistoryImporting).
		Updates(map[string]any{"rows_done": from + int64(n), "updated_at": now.UTC()})
	if res.Error != nil {
		return fmt.Errorf("advancing history import %d: %w", id, res.Error)
	}
	if res.RowsAffected != 1 {
		return ErrHistoryCursor
	}
	return nil
}

// ImportedOrder is one order of the history with its customer's Shopify id
// (0: none) and its items.
type ImportedOrder struct {
	Order             Order
	CustomerShopifyID int64
}

// ImportOrderBatch writes a batch of history orders, root objects
// from+1..from+len(batch) of the import's file, in one transaction with
// the cursor. Orders follow UpsertOrderIfNewer's rules (an order stored
// from a newer webhook is kept, a cancellation sticks) in multi-row
// statements; a written order's items are replaced. Customers are created
// bare when new (their profile comes from the customers import) and their
// order stats recomputed. Nothing is planned: history sends nothing. An
// order of a redacted customer is skipped.
func (db *DB) ImportOrderBatch(ctx context.Context, importID, from int64, batch []ImportedOrder, now time.Time) (written int, err error) {
	now = now.UTC()
	err = db.Tx(ctx, func(tx *DB) error {
		written = 0
		if err := tx.advanceHistory(ctx, importID, from, len(batch), now); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		shopID := batch[0].Order.ShopID
		custIDs, redacted, err := tx.ensureCustomers(ctx, shopID, batch, now)
		if err != nil {
			return err
		}
		// One row per order (a later duplicate wins): ON CONFLICT cannot
		// touch a row twice in one statement.
		pos := make(map[int64]int, len(batch))
		rows := make([]*ImportedOrder, 0, len(batch))
		for i := range batch {
			o := &batch[i]
			if o.CustomerShopifyID != 0 && redacted[o.CustomerShopifyID] {
				continue
			}
			if j, ok := pos[o.Order.ShopifyID]; ok {
				rows[j] = o
				continue
			}
			pos[o.Order.ShopifyID] = len(rows)
			rows = append(rows, o)
		}
		ids, err := tx.upsertOrderRows(ctx, rows, custIDs, now)
		if err != nil {
			return err
		}
		written = len(ids)
		if err := tx.replaceItems(ctx, rows, ids); err != nil {
			return err
		}
		touched := map[int64]bool{}
		for _, o := range rows {
			if _, ok := ids[o.Order.ShopifyID]; ok && o.CustomerShopifyID != 0 {
				touched[custIDs[o.CustomerShopifyID]] = true
			}
		}
		if err := tx.refreshStats(ctx, touched); err != nil {
			return err
		}
		return tx.WithContext(ctx).Model(&HistoryImport{}).Where("id = ?", importID).
			Update("rows_written", gorm.Expr("rows_written + ?", written)).Error
	})
	if err != nil {
		return 0, fmt.Errorf("importing %d orders: %w", len(batch), err)
	}
	return written, nil
}

// ensureCustomers creates the batch's customers that are new (bare) and
// maps Shopify ids to ours; redacted ones are reported.
func (tx *DB) ensureCustomers(ctx context.Context, shopID int64, batch []ImportedOrder, now time.Time) (map[int64]int64, map[int64]bool, error) {
	seen := map[int64]bool{}
	var sids []int64
	for _, o := range batch {
		if id := o.CustomerShopifyID; id > 0 && !seen[id] {
			seen[id] = true
			sids = append(sids, id)
		}
	}
	ids, redacted := map[int64]int64{}, map[int64]bool{}
	if len(sids) == 0 {
		return ids, redacted, nil
	}
	var sb strings.Builder
	args := make([]any, 0, 4*len(sids))
	sb.WriteString("INSERT INTO customers (shop_id, shopify_id, created_at, updated_at) VALUES ")
	for i, id := range sids {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?)")
		args = append(args, shopID, id, now, now)
	}
	sb.WriteString(" ON CONFLICT (shop_id, shopify_id) DO NOTHING")
	if err := tx.WithContext(ctx).Exec(sb.String(), args...).Error; err != nil {
		return nil, nil, fmt.Errorf("creating customers: %w", err)
	}
	var found []struct {
		ID, ShopifyID int64
		RedactedAt    *time.Time
	}
	if err := tx.WithContext(ctx).Model(&Customer{}).Select("id, shopify_id, redacted_at").
		Where("shop_id = ? AND shopify_id IN ?", shopID, sids).Find(&found).Error; err != nil {
		return nil, nil, fmt.Errorf("loading customers: %w", err)
	}
	for _, c := range found {
		ids[c.ShopifyID] = c.ID
		if c.RedactedAt != nil {
			redacted[c.ShopifyID] = true
		}
	}
	return ids, redacted, nil
}

// importOrderCols are the columns a history order writes.
const importOrderCols = "shop_id, shopify_id, customer_id, name, email, currency, total_price, subtotal_price, financial_status, " +
	"fulfillment_status, checkout_token, cart_token, order_status_url, discount_codes, locale, cancelled_at, ordered_at, " +
	"shopify_updated_at, created_at, updated_at"

// upsertOrderRows writes the orders in one statement and returns the ids
// of those written (new, or not older than the stored version), by
// Shopify id. The conflict rule is UpsertOrderIfNewer's.
func (tx *DB) upsertOrderRows(ctx context.Context, rows []*ImportedOrder, custIDs map[int64]int64, now time.Time) (map[int64]int64, error) {
	if len(rows) == 0 {
		return map[int64]int64{}, nil
	}
	if tx.Dialect == migrations.Postgres {
		return tx.upsertOrderRowsPG(ctx, rows, custIDs, now)
	}
	var sb strings.Builder
	sb.Grow(len(rows) * 48)
	args := make([]any, 0, 20*len(rows))
	sb.WriteString("INSERT INTO orders (" + importOrderCols + ") VALUES ")
	for i, r := range rows {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
		o := &r.Order
		var cust any
		if id, ok := custIDs[r.CustomerShopifyID]; ok {
			cust = id
		}
		var cancelled, updated any
		if o.CancelledAt != nil {
			cancelled = o.CancelledAt.UTC()
		}
		if o.ShopifyUpdatedAt != nil {
			updated = o.ShopifyUpdatedAt.UTC()
		}
		args = append(args, o.ShopID, o.ShopifyID, cust, o.Name, o.Email, o.Currency, o.TotalPrice, o.SubtotalPrice, o.FinancialStatus,
			o.FulfillmentStatus, o.CheckoutToken, o.CartToken, o.OrderStatusURL, o.DiscountCodes, o.Locale, cancelled, o.OrderedAt.UTC(),
			updated, now, now)
	}
	sb.WriteString(upsertOrderSetSQL())
	res, err := tx.WithContext(ctx).Raw(sb.String(), args...).Rows()
	if err != nil {
		return nil, fmt.Errorf("upserting orders: %w", err)
	}
	return scanWrittenOrders(res, len(rows))
}

// upsertOrderSetSQL is the conflict clause of the history's order upsert:
// UpsertOrderIfNewer's rule.
func upsertOrderSetSQL() string {
	var sb strings.Builder
	sb.WriteString(" ON CONFLICT (shop_id, shopify_id) DO UPDATE SET ")
	for i, c := range orderColumns {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(c + " = excluded." + c)
	}
	sb.WriteString(", cancelled_at = COALESCE(excluded.cancelled_at, orders.cancelled_at) WHERE " + notOlderSQL + " RETURNING id, shopify_id")
	return sb.String()
}

// upsertOrderRowsPG is upsertOrderRows on PostgreSQL: one array per
// column through unnest, so the statement has 20 parameters whatever the
// batch (a multi-row VALUES has 20 per row, parsed and planned anew).
func (tx *DB) upsertOrderRowsPG(ctx context.Context, rows []*ImportedOrder, custIDs map[int64]int64, now time.Time) (map[int64]int64, error) {
	n := len(rows)
	var (
		shopIDs, ids                                        = make([]int64, n), make([]int64, n)
		cust                                                = make([]*int64, n)
		names, emails, currencies, fin, ful, ck, cart, urls = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		codes, locales, totals, subtotals                   = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		cancelled, updated                                  = make([]*time.Time, n), make([]*time.Time, n)
		ordered, stamps                                     = make([]time.Time, n), make([]time.Time, n)
	)
	for i, r := range rows {
		o := &r.Order
		shopIDs[i], ids[i] = o.ShopID, o.ShopifyID
		if id, ok := custIDs[r.CustomerShopifyID]; ok {
			cust[i] = &id
		}
		names[i], emails[i], currencies[i], fin[i], ful[i] = o.Name, o.Email, o.Currency, o.FinancialStatus, o.FulfillmentStatus
		ck[i], cart[i], urls[i], codes[i], locales[i] = o.CheckoutToken, o.CartToken, o.OrderStatusURL, o.DiscountCodes, o.Locale
		totals[i], subtotals[i] = o.TotalPrice.String(), o.SubtotalPrice.String()
		if o.CancelledAt != nil {
			t := o.CancelledAt.UTC()
			cancelled[i] = &t
		}
		if o.ShopifyUpdatedAt != nil {
			t := o.ShopifyUpdatedAt.UTC()
			updated[i] = &t
		}
		ordered[i], stamps[i] = o.OrderedAt.UTC(), now
	}
	q := "INSERT INTO orders (" + importOrderCols + ") SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], " +
		"$7::numeric[], $8::numeric[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], " +
		"$16::timestamptz[], $17::timestamptz[], $18::timestamptz[], $19::timestamptz[], $20::timestamptz[])" + upsertOrderSetSQL()
	res, err := tx.G.Statement.ConnPool.QueryContext(ctx, q, shopIDs, ids, cust, names, emails, currencies, totals, subtotals, fin, ful, ck, cart, urls,
		codes, locales, cancelled, ordered, updated, stamps, stamps)
	if err != nil {
		return nil, fmt.Errorf("upserting orders: %w", err)
	}
	return scanWrittenOrders(res, n)
}

// scanWrittenOrders reads an order upsert's RETURNING id, shopify_id rows:
// the orders written, by Shopify id.
func scanWrittenOrders(res *sql.Rows, n int) (map[int64]int64, error) {
	defer res.Close()
	written := make(map[int64]int64, n)
	for res.Next() {
		var id, sid int64
		if err := res.Scan(&id, &sid); err != nil {
			return nil, fmt.Errorf("reading upserted orders: %w", err)
		}
		written[sid] = id
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("upserting orders: %w", err)
	}
	return written, nil
}

// replaceItemsPG is replaceItems on PostgreSQL, with arrays (see upsertOrderRowsPG).
func (tx *DB) replaceItemsPG(ctx context.Context, rows []*ImportedOrder, ids map[int64]int64, orderIDs []int64) error {
	pool := tx.G.Statement.ConnPool
	if _, err := pool.ExecContext(ctx, "DELETE FROM order_items WHERE order_id = ANY($1::bigint[])", orderIDs); err != nil {
		return fmt.Errorf("replacing order items: %w", err)
	}
	var (
		oid, sid, pid, vid       []int64
		title, vendor, sku, cost []string
		qty                      []int64
	)
	for _, r := range rows {
		id, ok := ids[r.Order.ShopifyID]
		if !ok {
			continue
		}
		for _, it := range r.Order.Items {
			oid, sid, pid, vid = append(oid, id), append(sid, it.ShopifyID), append(pid, it.ProductID), append(vid, it.VariantID)
			title, vendor, sku = append(title, it.Title), append(vendor, it.Vendor), append(sku, it.SKU)
			qty, cost = append(qty, int64(it.Quantity)), append(cost, it.Price.String())
		}
	}
	if len(oid) == 0 {
		return nil
	}
	_, err := pool.ExecContext(ctx, "INSERT INTO order_items (order_id, shopify_id, product_id, variant_id, title, vendor, sku, quantity, price) "+
		"SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::int[], $9::numeric[])",
		oid, sid, pid, vid, title, vendor, sku, qty, cost)
	if err != nil {
		return fmt.Errorf("storing order items: %w", err)
	}
	return nil
}

// replaceItems replaces the items of the written orders.
func (tx *DB) replaceItems(ctx context.Context, rows []*ImportedOrder, ids map[int64]int64) error {
	if len(ids) == 0 {
		return nil
	}
	orderIDs := make([]int64, 0, len(ids))
	for _, id := range ids {
		orderIDs = append(orderIDs, id)
	}
	slices.Sort(orderIDs)
	if tx.Dialect == migrations.Postgres {
		return tx.replaceItemsPG(ctx, rows, ids, orderIDs)
	}
	if err := tx.WithContext(ctx).Where("order_id IN ?", orderIDs).Delete(&OrderItem{}).Error; err != nil {
		return fmt.Errorf("replacing order items: %w", err)
	}
	const cols = 9
	var sb strings.Builder
	args := make([]any, 0, cols*itemChunk)
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		err := tx.WithContext(ctx).Exec("INSERT INTO order_items (order_id, shopify_id, product_id, variant_id, title, vendor, sku, quantity, price) VALUES "+sb.String(), args...).Error
		sb.Reset()
		args, n = args[:0], 0
		if err != nil {
			return fmt.Errorf("storing order items: %w", err)
		}
		return nil
	}
	for _, r := range rows {
		oid, ok := ids[r.Order.ShopifyID]
		if !ok {
			continue
		}
		for _, it := range r.Order.Items {
			if n > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?,?,?,?,?,?,?,?)")
			args = append(args, oid, it.ShopifyID, it.ProductID, it.VariantID, it.Title, it.Vendor, it.SKU, it.Quantity, it.Price)
			if n++; n == itemChunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// refreshStats is RefreshCustomerStats for many customers in one statement.
func (tx *DB) refreshStats(ctx context.Context, customers map[int64]bool) error {
	if len(customers) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(customers))
	for id := range customers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	err := tx.WithContext(ctx).Exec(`UPDATE customers SET orders_count = s.n, total_spent = s.spent, first_order_at = s.first_at, last_order_at = s.last_at
FROM (SELECT c.id AS cid, COUNT(o.id) AS n, COALESCE(SUM(o.total_price), 0) AS spent, MIN(o.ordered_at) AS first_at, MAX(o.ordered_at) AS last_at
  FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND o.cancelled_at IS NULL AND o.financial_status NOT IN ('refunded','voided')
  WHERE c.id IN ? GROUP BY c.id) s
WHERE customers.id = s.cid`, ids).Error
	if err != nil {
		return fmt.Errorf("updating stats of %d customers: %w", len(ids), err)
	}
	return nil
}

// ImportedCustomer is one customer of the history.
type ImportedCustomer struct {
	ShopifyID                                                  int64
	Email, FirstName, LastName, Phone, Locale, Region, Country string
	Tags                                                       []string
	// Consent states as Shopify spells them (SUBSCRIBED...), "" when absent.
	EmailConsent, SMSConsent     string
	EmailConsentAt, SMSConsentAt *time.Time
	Birthday                     string
	UpdatedAt                    time.Time
}

// ImportCustomerBatch writes a batch of history customers (root objects
// from+1..from+len(batch)) in one transaction with the cursor. Profile
// fields only fill empty ones (UpsertCustomerProfile FillOnly), tags are
// the whole list as of the customer's updatedAt (SetCustomerTags: a tag
// changed later by customer.tags_* keeps its state), consent keeps a newer
// stored one, and birthday follows the customer's updatedAt. A redacted
// customer is skipped.
func (db *DB) ImportCustomerBatch(ctx context.Context, shopID, importID, from int64, batch []ImportedCustomer, now time.Time) (written int, err error) {
	now = now.UTC()
	opt := func(s string) *string {
		if s = strings.TrimSpace(s); s == "" {
			return nil
		}
		return &s
	}
	err = db.Tx(ctx, func(tx *DB) error {
		written = 0
		if err := tx.advanceHistory(ctx, importID, from, len(batch), now); err != nil {
			return err
		}
		for _, ic := range batch {
			c, err := tx.UpsertCustomerProfile(ctx, CustomerProfile{ShopID: shopID, ShopifyID: ic.ShopifyID, FillOnly: true,
				Email: opt(ic.Email), FirstName: opt(ic.FirstName), LastName: opt(ic.LastName), Phone: opt(ic.Phone),
				Locale: opt(ic.Locale), Region: opt(ic.Region), Country: opt(ic.Country)})
			if err != nil {
				return err
			}
			if c.RedactedAt != nil {
				continue
			}
			if c.ShopifyUpdatedAt != nil && ic.UpdatedAt.Before(*c.ShopifyUpdatedAt) {
				// A customers/* webhook newer than this copy was applied:
				// only the empty fields above were filled.
				continue
			}
			if err := tx.SetCustomerTags(ctx, c.ID, ic.Tags, ic.UpdatedAt); err != nil {
				return err
			}
			for _, cs := range []struct {
				channel, state string
				at             *time.Time
			}{{ConsentEmail, ic.EmailConsent, ic.EmailConsentAt}, {ConsentSMS, ic.SMSConsent, ic.SMSConsentAt}} {
				if cs.state == "" {
					continue
				}
				at := ic.UpdatedAt
				if cs.at != nil {
					at = *cs.at
				}
				if err := tx.SetMarketingConsent(ctx, c.ID, cs.channel, cs.state, at); err != nil && !errors.Is(err, ErrStaleConsent) {
					return err
				}
			}
			upd := map[string]any{"shopify_updated_at": ic.UpdatedAt.UTC()}
			if ic.Birthday != "" {
				upd["birthday"] = ic.Birthday
			}
			if err := tx.WithContext(ctx).Model(&Customer{}).Where("id = ? AND redacted_at IS NULL", c.ID).Updates(upd).Error; err != nil {
				return fmt.Errorf("updating customer %d from history: %w", ic.ShopifyID, err)
			}
			written++
		}
		return tx.WithContext(ctx).Model(&HistoryImport{}).Where("id = ?", importID).
			Update("rows_written", gorm.Expr("rows_written + ?", written)).Error
	})
	if err != nil {
		return 0, fmt.Errorf("importing %d customers: %w", len(batch), err)
	}
	return written, nil
}
