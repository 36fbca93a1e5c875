package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
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
// from+1..from+len(batch) of the import's file, and moves the cursor past
// them (SQLite: in one transaction; PostgreSQL: see below). Orders follow UpsertOrderIfNewer's rules (an order stored
// from a newer webhook is kept, a cancellation sticks); a copy identical
// to the stored row is not rewritten, so a rerun writes nothing. A
// written order's items are replaced. Customers are created when new with
// no profile (that comes from the customers import) and the stats of the
// batch's orders; their order stats are made exact once the whole file is
// in (RefreshShopCustomerStats). Nothing
// is planned: history sends nothing. An order of a redacted customer is
// skipped. written counts the orders written (new or changed).
//
// On PostgreSQL (importOrderBatchPG) the batch is written in parts split
// by customer, on two connections at once, and the cursor moves after all
// of them have committed; new orders and their items are COPYed straight
// into their tables, and commits do not wait for the WAL flush: a crash
// can only lose whole parts or the cursor's move, and the import then
// reads the batch again (parts already in are found identical).
func (db *DB) ImportOrderBatch(ctx context.Context, importID, from int64, batch []ImportedOrder, now time.Time) (written int, err error) {
	now = now.UTC()
	if db.Dialect == migrations.Postgres {
		written, err = db.importOrderBatchPG(ctx, importID, from, batch, now)
	} else {
		err = db.Tx(ctx, func(tx *DB) error {
			written = 0
			if err := tx.advanceHistory(ctx, importID, from, len(batch), now); err != nil {
				return err
			}
			if len(batch) == 0 {
				return nil
			}
			var err error
			if written, err = tx.importOrdersSQLite(ctx, batch[0].Order.ShopID, uniqueOrders(batch), now); err != nil || written == 0 {
				return err
			}
			return tx.WithContext(ctx).Model(&HistoryImport{}).Where("id = ?", importID).
				Update("rows_written", gorm.Expr("rows_written + ?", written)).Error
		})
	}
	if err != nil {
		return 0, fmt.Errorf("importing %d orders: %w", len(batch), err)
	}
	return written, nil
}

// uniqueOrders lists the batch's orders once each (a later duplicate
// wins, in the first one's place): ON CONFLICT cannot touch a row twice
// in one statement.
func uniqueOrders(batch []ImportedOrder) []*ImportedOrder {
	pos := make(map[int64]int, len(batch))
	rows := make([]*ImportedOrder, 0, len(batch))
	for i := range batch {
		o := &batch[i]
		if j, ok := pos[o.Order.ShopifyID]; ok {
			rows[j] = o
			continue
		}
		pos[o.Order.ShopifyID] = len(rows)
		rows = append(rows, o)
	}
	return rows
}

// importOrdersSQLite is the batch on SQLite: multi-row statements.
func (tx *DB) importOrdersSQLite(ctx context.Context, shopID int64, rows []*ImportedOrder, now time.Time) (int, error) {
	custIDs, redacted, err := tx.ensureCustomers(ctx, shopID, rows, now)
	if err != nil {
		return 0, err
	}
	kept := rows[:0:0]
	for _, o := range rows {
		if o.CustomerShopifyID == 0 || !redacted[o.CustomerShopifyID] {
			kept = append(kept, o)
		}
	}
	ids, err := tx.upsertOrderRows(ctx, kept, custIDs, now)
	if err != nil {
		return 0, err
	}
	return len(ids), tx.replaceItems(ctx, kept, ids)
}

// customerSIDs lists the batch's customers' Shopify ids once each, sorted.
func customerSIDs(rows []*ImportedOrder) []int64 {
	seen := make(map[int64]bool, len(rows))
	var sids []int64
	for _, o := range rows {
		if id := o.CustomerShopifyID; id > 0 && !seen[id] {
			seen[id] = true
			sids = append(sids, id)
		}
	}
	slices.Sort(sids)
	return sids
}

// ensureCustomers creates the batch's customers that are new (bare) and
// maps Shopify ids to ours; redacted ones are reported.
func (tx *DB) ensureCustomers(ctx context.Context, shopID int64, rows []*ImportedOrder, now time.Time) (map[int64]int64, map[int64]bool, error) {
	sids := customerSIDs(rows)
	ids, redacted := map[int64]int64{}, map[int64]bool{}
	if len(sids) == 0 {
		return ids, redacted, nil
	}
	// New customers get the batch's stats, as importCustomersForOrdersPG's.
	stats := batchCustomerStats(rows)
	var sb strings.Builder
	args := make([]any, 0, 8*len(sids))
	sb.WriteString("INSERT INTO customers (shop_id, shopify_id, orders_count, total_spent, first_order_at, last_order_at, created_at, updated_at) VALUES ")
	for i, id := range sids {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?,?)")
		if st, ok := stats[id]; ok {
			args = append(args, shopID, id, st.n, st.spent, st.first, st.last, now, now)
		} else {
			args = append(args, shopID, id, 0, decimal.Zero, nil, nil, now, now)
		}
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

// upsertOrderRows writes the orders in one statement (SQLite) and returns
// the ids of those written (new, or not older than the stored version and
// different from it), by Shopify id. The conflict rule is UpsertOrderIfNewer's.
func (tx *DB) upsertOrderRows(ctx context.Context, rows []*ImportedOrder, custIDs map[int64]int64, now time.Time) (map[int64]int64, error) {
	if len(rows) == 0 {
		return map[int64]int64{}, nil
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
	sb.WriteString(importOrderConflictSQL + " RETURNING id, shopify_id")
	res, err := tx.WithContext(ctx).Raw(sb.String(), args...).Rows()
	if err != nil {
		return nil, fmt.Errorf("upserting orders: %w", err)
	}
	return scanWrittenOrders(res, len(rows))
}

// importOrderSet are the columns a history copy overwrites: the order's
// checkout and cart tokens are not in a bulk result, so those a webhook
// stored stay.
var importOrderSet = []string{"customer_id", "name", "email", "currency", "total_price", "subtotal_price", "financial_status",
	"fulfillment_status", "order_status_url", "discount_codes", "locale", "ordered_at", "shopify_updated_at"}

// importOrderConflictSQL is the conflict clause of the history's order
// upsert: UpsertOrderIfNewer's rule (an older copy changes nothing, a
// cancellation sticks), and a copy equal to the stored row is not
// rewritten (a rerun writes nothing).
var importOrderConflictSQL = func() string {
	var set, diff strings.Builder
	for i, c := range importOrderSet {
		if i > 0 {
			set.WriteByte(',')
			diff.WriteString(" OR ")
		}
		set.WriteString(c + " = excluded." + c)
		diff.WriteString("orders." + c + " IS DISTINCT FROM excluded." + c)
	}
	const sticky = "COALESCE(excluded.cancelled_at, orders.cancelled_at)"
	return " ON CONFLICT (shop_id, shopify_id) DO UPDATE SET " + set.String() + ", updated_at = excluded.updated_at, cancelled_at = " + sticky +
		" WHERE " + notOlderSQL + " AND (" + diff.String() + " OR orders.cancelled_at IS DISTINCT FROM " + sticky + ")"
}()

// importCustomersForOrdersPG creates the batch's customers that are new
// (bare) and returns the id of each ($3, Shopify ids) and whether it is
// redacted. The statement's parts share one snapshot, so the stored
// customers (second part) and those created (first) never overlap. The
// lookup is one probe of the (shop_id, shopify_id) index per id (LATERAL,
// kept a nested loop by its LIMIT), whatever the shop's size and the
// planner's statistics: while a shop's history goes in, its statistics
// say it has few customers, and a join or IN was planned as a scan of all
// of them, per batch.
//
// A customer created here gets the order stats of the batch's orders
// ($4..$7, by $3), which are all its orders if the batch's orders are
// stored as given and the customer has none in other batches: the stats
// refresh after the import then finds it right and does not write it
// again (a customer row written once, not twice). When the guess is wrong
// (its orders spread over batches, or an order kept from a newer webhook
// copy), the refresh corrects it, as before.
const importCustomersForOrdersPG = `WITH ins AS (
  INSERT INTO customers (shop_id, shopify_id, orders_count, total_spent, first_order_at, last_order_at, created_at, updated_at)
  SELECT $1, s, n, spent, first_at, last_at, $2, $2
  FROM unnest($3::bigint[], $4::int[], $5::numeric[], $6::timestamptz[], $7::timestamptz[]) AS u(s, n, spent, first_at, last_at)
  ON CONFLICT (shop_id, shopify_id) DO NOTHING RETURNING id, shopify_id
)
SELECT id, shopify_id, FALSE FROM ins
UNION ALL
SELECT c.id, c.shopify_id, c.redacted_at IS NOT NULL FROM unnest($3::bigint[]) s(sid)
  CROSS JOIN LATERAL (SELECT id, shopify_id, redacted_at FROM customers WHERE shop_id = $1 AND shopify_id = s.sid LIMIT 1) c`

// importOrdersPGSQL writes a batch of orders on PostgreSQL in one
// statement over arrays ($3..$17 the orders with their customer's id,
// 0 for none; $18..$26 their items, with the order's Shopify id first):
// orders are upserted by the history's rule, and the items of the orders
// written are replaced, in file order. Only orders stored before
// (xmax <> 0 on an upserted row: ON CONFLICT locked the old version) can
// have items to delete, and those are looked up by order id; an order
// created here has none. It returns how many orders were written.
const importOrdersPGSQL = `WITH src AS (
  SELECT * FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::numeric[], $9::numeric[], $10::text[],
    $11::text[], $12::text[], $13::text[], $14::text[], $15::timestamptz[], $16::timestamptz[], $17::timestamptz[])
    AS s(shopify_id, customer_id, name, email, currency, total_price, subtotal_price, financial_status, fulfillment_status,
      order_status_url, discount_codes, locale, cancelled_at, ordered_at, shopify_updated_at)
), up AS (
  INSERT INTO orders (shop_id, shopify_id, customer_id, name, email, currency, total_price, subtotal_price, financial_status,
    fulfillment_status, order_status_url, discount_codes, locale, cancelled_at, ordered_at, shopify_updated_at, created_at, updated_at)
  SELECT $1, s.shopify_id, NULLIF(s.customer_id, 0), s.name, s.email, s.currency, s.total_price, s.subtotal_price, s.financial_status,
    s.fulfillment_status, s.order_status_url, s.discount_codes, s.locale, s.cancelled_at, s.ordered_at, s.shopify_updated_at, $2, $2
  FROM src s` + "\n" + `%s RETURNING id, shopify_id, xmax <> 0 AS stored, CASE WHEN cancelled_at IS NULL THEN customer_id END AS buyer
), gone AS (
  DELETE FROM order_items WHERE order_id = ANY (ARRAY(SELECT id FROM up WHERE stored))
), items AS (
  INSERT INTO order_items (order_id, shopify_id, product_id, variant_id, title, vendor, sku, quantity, price, customer_id)
  SELECT up.id, i.sid, i.pid, i.vid, i.title, i.vendor, i.sku, i.qty, i.price, up.buyer
  FROM unnest($18::bigint[], $19::bigint[], $20::bigint[], $21::bigint[], $22::text[], $23::text[], $24::text[], $25::int[], $26::numeric[])
    WITH ORDINALITY AS i(order_sid, sid, pid, vid, title, vendor, sku, qty, price, n)
  JOIN up ON up.shopify_id = i.order_sid
  ORDER BY i.n
)
SELECT count(*) FROM up`

var importOrdersPGStmt = fmt.Sprintf(importOrdersPGSQL, importOrderConflictSQL)

// customerStats are a customer's order stats as RefreshCustomerStats
// computes them: orders that stand (not Void), their total, first and last.
type customerStats struct {
	n           int32
	spent       decimal.Decimal
	first, last time.Time
}

// batchCustomerStats are the stats of the batch's orders per customer
// (Shopify id): a new customer's stats if these are all its orders.
func batchCustomerStats(rows []*ImportedOrder) map[int64]*customerStats {
	out := make(map[int64]*customerStats, len(rows))
	for _, r := range rows {
		if r.CustomerShopifyID <= 0 || r.Order.Void() {
			continue
		}
		at := r.Order.OrderedAt.UTC()
		st, ok := out[r.CustomerShopifyID]
		if !ok {
			out[r.CustomerShopifyID] = &customerStats{n: 1, spent: r.Order.TotalPrice, first: at, last: at}
			continue
		}
		st.n++
		st.spent = st.spent.Add(r.Order.TotalPrice)
		if at.Before(st.first) {
			st.first = at
		}
		if at.After(st.last) {
			st.last = at
		}
	}
	return out
}

// importOrdersPGArgs are importOrdersPGStmt's arguments for the batch.
func importOrdersPGArgs(shopID int64, rows []*ImportedOrder, custIDs map[int64]int64, now time.Time) []any {
	n := len(rows)
	var (
		ids, cust                                 = make([]int64, n), make([]int64, n)
		names, emails, currencies, fin, ful, urls = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		codes, locales, totals, subtotals         = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		cancelled, ordered, updated               = make([]*time.Time, n), make([]time.Time, n), make([]*time.Time, n)
		iOrder, iID, iProduct, iVariant           []int64
		iTitle, iVendor, iSKU, iPrice             []string
		iQty                                      []int32
	)
	for i, r := range rows {
		o := &r.Order
		ids[i], cust[i] = o.ShopifyID, custIDs[r.CustomerShopifyID]
		names[i], emails[i], currencies[i], fin[i], ful[i] = o.Name, o.Email, o.Currency, o.FinancialStatus, o.FulfillmentStatus
		urls[i], codes[i], locales[i] = o.OrderStatusURL, o.DiscountCodes, o.Locale
		totals[i], subtotals[i] = o.TotalPrice.String(), o.SubtotalPrice.String()
		if o.CancelledAt != nil {
			t := o.CancelledAt.UTC()
			cancelled[i] = &t
		}
		if o.ShopifyUpdatedAt != nil {
			t := o.ShopifyUpdatedAt.UTC()
			updated[i] = &t
		}
		ordered[i] = o.OrderedAt.UTC()
		for _, it := range o.Items {
			iOrder, iID, iProduct, iVariant = append(iOrder, o.ShopifyID), append(iID, it.ShopifyID), append(iProduct, it.ProductID), append(iVariant, it.VariantID)
			iTitle, iVendor, iSKU = append(iTitle, it.Title), append(iVendor, it.Vendor), append(iSKU, it.SKU)
			iQty, iPrice = append(iQty, int32(it.Quantity)), append(iPrice, it.Price.String())
		}
	}
	return []any{shopID, now, ids, cust, names, emails, currencies, totals, subtotals, fin, ful,
		urls, codes, locales, cancelled, ordered, updated, iOrder, iID, iProduct, iVariant, iTitle, iVendor, iSKU, iQty, iPrice}
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

// replaceItems replaces the items of the written orders (SQLite).
func (tx *DB) replaceItems(ctx context.Context, rows []*ImportedOrder, ids map[int64]int64) error {
	if len(ids) == 0 {
		return nil
	}
	orderIDs := make([]int64, 0, len(ids))
	for _, id := range ids {
		orderIDs = append(orderIDs, id)
	}
	slices.Sort(orderIDs)
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
	if err := flush(); err != nil {
		return err
	}
	// The items' customer_id from the orders as stored (the upsert keeps
	// a cancellation), as importOrdersPGSQL's up.buyer.
	if err := tx.WithContext(ctx).Exec(`UPDATE order_items SET customer_id = (SELECT CASE WHEN o.cancelled_at IS NULL THEN o.customer_id END
FROM orders o WHERE o.id = order_items.order_id) WHERE order_id IN ?`, orderIDs).Error; err != nil {
		return fmt.Errorf("setting the customer of order items: %w", err)
	}
	return nil
}

// statsChunk is how many customers one transaction of
// RefreshShopCustomerStats locks and updates.
const statsChunk = 5000

// liveOrderSQL is liveOrder on orders aliased o.
var liveOrderSQL = liveOrder("o")

// staleStatsSQL lists the shop's customers whose stored order stats differ
// from their orders', by id: one pass over the shop's orders (grouped by
// customer) and customers, whatever the shop's size, reading and locking
// nothing else.
var staleStatsSQL = `SELECT c.id FROM customers c LEFT JOIN (
  SELECT o.customer_id, COUNT(*) AS n, SUM(o.total_price) AS spent, MIN(o.ordered_at) AS first_at, MAX(o.ordered_at) AS last_at
  FROM orders o WHERE o.shop_id = ? AND o.customer_id IS NOT NULL AND ` + liveOrderSQL + ` GROUP BY o.customer_id
) s ON s.customer_id = c.id
WHERE c.shop_id = ? AND (c.orders_count IS DISTINCT FROM COALESCE(s.n, 0) OR c.total_spent IS DISTINCT FROM COALESCE(s.spent, 0)
  OR c.first_order_at IS DISTINCT FROM s.first_at OR c.last_order_at IS DISTINCT FROM s.last_at)
ORDER BY c.id`

// RefreshShopCustomerStats recomputes the order stats (count, total spent,
// first and last order) of every customer of the shop from its orders, as
// RefreshCustomerStats does for one, and writes those that differ: the
// history import runs it once its orders are in, rather than per batch
// (a customer's orders are spread over the file). One read finds the
// customers whose stats differ; those go in chunks, each its own
// transaction that locks its rows, then recomputes and writes them, so an
// order a webhook commits meanwhile is counted. A customer found right
// needs nothing: whoever changes its orders later (a webhook) refreshes
// it. It returns how many customers changed.
func (db *DB) RefreshShopCustomerStats(ctx context.Context, shopID int64) (int64, error) {
	var stale []int64
	if err := db.WithContext(ctx).Raw(staleStatsSQL, shopID, shopID).Scan(&stale).Error; err != nil {
		return 0, fmt.Errorf("finding shop %d's customers with stale order stats: %w", shopID, err)
	}
	var changed int64
	for len(stale) > 0 {
		ids := stale[:min(statsChunk, len(stale))]
		stale = stale[len(ids):]
		err := db.Tx(ctx, func(tx *DB) error {
			if tx.Dialect == migrations.Postgres {
				var locked []int64
				if err := tx.WithContext(ctx).Model(&Customer{}).Where("id IN ?", ids).Order("id").
					Clauses(clause.Locking{Strength: "UPDATE"}).Pluck("id", &locked).Error; err != nil {
					return err
				}
			}
			res := tx.WithContext(ctx).Exec(`UPDATE customers SET orders_count = s.n, total_spent = s.spent, first_order_at = s.first_at, last_order_at = s.last_at
FROM (SELECT c.id AS cid, COUNT(o.id) AS n, COALESCE(SUM(o.total_price), 0) AS spent, MIN(o.ordered_at) AS first_at, MAX(o.ordered_at) AS last_at
  FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND `+liveOrderSQL+`
  WHERE c.shop_id = ? AND c.id IN ? GROUP BY c.id) s
WHERE customers.id = s.cid AND (customers.orders_count IS DISTINCT FROM s.n OR customers.total_spent IS DISTINCT FROM s.spent
  OR customers.first_order_at IS DISTINCT FROM s.first_at OR customers.last_order_at IS DISTINCT FROM s.last_at)`, shopID, ids)
			changed += res.RowsAffected
			return res.Error
		})
		if err != nil {
			return changed, fmt.Errorf("updating order stats of shop %d's customers from %d: %w", shopID, ids[0], err)
		}
	}
	return changed, nil
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
// fields only fill empty ones (UpsertCustomerProfile FillOnly); unless a
// customers/* webhook newer than this copy was applied, tags are the whole
// list as of the customer's updatedAt (SetCustomerTags: a tag changed
// later by customer.tags_* keeps its state), consent keeps a newer stored
// one (SetMarketingConsent), and birthday follows. A redacted customer is
// skipped. written counts the customers created or changed, so a rerun
// writes nothing. PostgreSQL takes the batch in five statements over
// arrays whatever its size; SQLite goes customer by customer.
func (db *DB) ImportCustomerBatch(ctx context.Context, shopID, importID, from int64, batch []ImportedCustomer, now time.Time) (written int, err error) {
	now = now.UTC()
	err = db.Tx(ctx, func(tx *DB) error {
		written = 0
		if tx.Dialect == migrations.Postgres {
			if err := tx.WithContext(ctx).Exec("SET LOCAL synchronous_commit TO OFF").Error; err != nil {
				return err
			}
		}
		if err := tx.advanceHistory(ctx, importID, from, len(batch), now); err != nil {
			return err
		}
		// One entry per customer (a later duplicate wins), normalised as
		// the one-customer calls would.
		pos := make(map[int64]int, len(batch))
		rows := make([]importedCustomer, 0, len(batch))
		for _, ic := range batch {
			if ic.ShopifyID <= 0 {
				continue
			}
			r := normalizeImported(ic)
			if j, ok := pos[ic.ShopifyID]; ok {
				rows[j] = r
				continue
			}
			pos[ic.ShopifyID] = len(rows)
			rows = append(rows, r)
		}
		if len(rows) == 0 {
			return nil
		}
		var err error
		if tx.Dialect == migrations.Postgres {
			written, err = tx.importCustomersPG(ctx, shopID, rows, now)
		} else {
			written, err = tx.importCustomersSQLite(ctx, shopID, rows)
		}
		if err != nil || written == 0 {
			return err
		}
		return tx.WithContext(ctx).Model(&HistoryImport{}).Where("id = ?", importID).
			Update("rows_written", gorm.Expr("rows_written + ?", written)).Error
	})
	if err != nil {
		return 0, fmt.Errorf("importing %d customers: %w", len(batch), err)
	}
	return written, nil
}

// importedCustomer is an ImportedCustomer normalised: fields trimmed (""
// is absent), tags once per TagKey (the first label) in key order, consent
// states lower-cased with their time (the customer's updatedAt when
// Shopify gave none; nil when there is no state).
type importedCustomer struct {
	ImportedCustomer
	tagKeys, tagLabels []string
	emailAt, smsAt     *time.Time
}

func normalizeImported(ic ImportedCustomer) importedCustomer {
	r := importedCustomer{ImportedCustomer: ic}
	for _, f := range []*string{&r.Email, &r.FirstName, &r.LastName, &r.Phone, &r.Locale, &r.Region, &r.Country, &r.Birthday} {
		*f = strings.TrimSpace(*f)
	}
	r.UpdatedAt = ic.UpdatedAt.UTC().Truncate(time.Microsecond)
	labels := map[string]string{}
	for _, t := range ic.Tags {
		label := strings.TrimSpace(t)
		key := TagKey(label)
		if _, dup := labels[key]; key == "" || dup {
			continue
		}
		labels[key] = label
		r.tagKeys = append(r.tagKeys, key)
	}
	slices.Sort(r.tagKeys)
	for _, k := range r.tagKeys {
		r.tagLabels = append(r.tagLabels, labels[k])
	}
	consent := func(state *string, at *time.Time) *time.Time {
		*state = strings.ToLower(strings.TrimSpace(*state))
		if *state == "" {
			return nil
		}
		t := r.UpdatedAt
		if at != nil {
			t = at.UTC().Truncate(time.Microsecond)
		}
		return &t
	}
	r.emailAt, r.smsAt = consent(&r.EmailConsent, ic.EmailConsentAt), consent(&r.SMSConsent, ic.SMSConsentAt)
	return r
}

// importCustomersSQLite is the batch on SQLite, one customer at a time
// through the calls the webhooks use; a customer counts as written when
// it is new or its stored row changed.
func (tx *DB) importCustomersSQLite(ctx context.Context, shopID int64, rows []importedCustomer) (int, error) {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	written := 0
	for _, ic := range rows {
		var before Customer
		found := true
		if err := tx.WithContext(ctx).Where("shop_id = ? AND shopify_id = ?", shopID, ic.ShopifyID).Take(&before).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			found = false
		} else if err != nil {
			return 0, fmt.Errorf("loading customer %d: %w", ic.ShopifyID, err)
		}
		c, err := tx.UpsertCustomerProfile(ctx, CustomerProfile{ShopID: shopID, ShopifyID: ic.ShopifyID, FillOnly: true,
			Email: opt(ic.Email), FirstName: opt(ic.FirstName), LastName: opt(ic.LastName), Phone: opt(ic.Phone),
			Locale: opt(ic.Locale), Region: opt(ic.Region), Country: opt(ic.Country)})
		if err != nil {
			return 0, err
		}
		if c.RedactedAt != nil {
			continue
		}
		if c.ShopifyUpdatedAt == nil || !ic.UpdatedAt.Before(*c.ShopifyUpdatedAt) {
			// Else a customers/* webhook newer than this copy was applied:
			// only the empty fields above were filled.
			if err := tx.applyImportedCustomer(ctx, c.ID, ic); err != nil {
				return 0, err
			}
		}
		var after Customer
		if err := tx.WithContext(ctx).Where("id = ?", c.ID).Take(&after).Error; err != nil {
			return 0, fmt.Errorf("reloading customer %d: %w", ic.ShopifyID, err)
		}
		if !found || importedState(&before) != importedState(&after) {
			written++
		}
	}
	return written, nil
}

// applyImportedCustomer applies a history copy's tags, consent and birthday.
func (tx *DB) applyImportedCustomer(ctx context.Context, id int64, ic importedCustomer) error {
	if err := tx.SetCustomerTags(ctx, id, ic.tagLabels, ic.UpdatedAt); err != nil {
		return err
	}
	for _, cs := range []struct {
		channel, state string
		at             *time.Time
	}{{ConsentEmail, ic.EmailConsent, ic.emailAt}, {ConsentSMS, ic.SMSConsent, ic.smsAt}} {
		if cs.at == nil {
			continue
		}
		if err := tx.SetMarketingConsent(ctx, id, cs.channel, cs.state, *cs.at); err != nil && !errors.Is(err, ErrStaleConsent) {
			return err
		}
	}
	upd := map[string]any{"shopify_updated_at": ic.UpdatedAt}
	if ic.Birthday != "" {
		upd["birthday"] = ic.Birthday
	}
	if err := tx.WithContext(ctx).Model(&Customer{}).Where("id = ? AND redacted_at IS NULL", id).Updates(upd).Error; err != nil {
		return fmt.Errorf("updating customer %d from history: %w", ic.ShopifyID, err)
	}
	return nil
}

// importedState is what the history import may change on a customer.
func importedState(c *Customer) string {
	at := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return strings.Join([]string{c.Email, c.FirstName, c.LastName, c.Phone, c.Locale, c.Region, c.Country, c.Tags, c.Birthday,
		fmt.Sprint(c.AcceptsMarketing), c.EmailConsentState, at(c.EmailConsentAt), fmt.Sprint(c.SMSMarketing), c.SMSConsentState,
		at(c.SMSConsentAt), at(c.ShopifyUpdatedAt)}, "\x00")
}

// importNewCustomersPG creates the batch's customers that are new, whole
// (profile, tags, consent, birthday: nothing stored to weigh them
// against), with their tag rows, and returns their ids by Shopify id.
const importNewCustomersPG = `WITH s AS (
  SELECT * FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
    $12::text[], $13::timestamptz[], $14::text[], $15::timestamptz[], $16::text[], $17::timestamptz[])
    AS s(sid, email, first_name, last_name, phone, locale, region, country, tags, es, es_at, ss, ss_at, birthday, upd)
), ins AS (
  INSERT INTO customers (shop_id, shopify_id, email, first_name, last_name, phone, locale, region, country, tags,
    accepts_marketing, email_consent_state, email_consent_at, sms_marketing, sms_consent_state, sms_consent_at,
    birthday, shopify_updated_at, created_at, updated_at)
  SELECT $1, sid, email, first_name, last_name, phone, locale, region, country, tags,
    es = 'subscribed', es, es_at, ss = 'subscribed', ss, ss_at, birthday, upd, $2, $2 FROM s
  ON CONFLICT (shop_id, shopify_id) DO NOTHING
  RETURNING id, shopify_id
), tg AS (
  INSERT INTO customer_tags (customer_id, tag, label, present, changed_at)
  SELECT ins.id, t.tag, t.label, TRUE, t.at
  FROM unnest($18::bigint[], $19::text[], $20::text[], $21::timestamptz[]) AS t(sid, tag, label, at) JOIN ins ON ins.shopify_id = t.sid
)
SELECT id, shopify_id FROM ins`

// importTagsPG records the tags of customers already stored as their
// whole list as of each copy's time (SetCustomerTags): listed tags are
// added and the others removed, each unless changed later.
const importTagsAddPG = `INSERT INTO customer_tags (customer_id, tag, label, present, changed_at)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bool[], $5::timestamptz[])
ON CONFLICT (customer_id, tag) DO UPDATE SET label = excluded.label, present = excluded.present, changed_at = excluded.changed_at
WHERE customer_tags.changed_at < excluded.changed_at`

const importTagsRemovePG = `UPDATE customer_tags t SET present = FALSE, changed_at = s.at
FROM unnest($1::bigint[], $2::timestamptz[]) AS s(cid, at)
WHERE t.customer_id = s.cid AND t.present AND t.changed_at < s.at
  AND NOT EXISTS (SELECT 1 FROM unnest($3::bigint[], $4::text[]) AS w(cid, tag) WHERE w.cid = t.customer_id AND w.tag = t.tag)`

// importCustomersUpdatePG applies the copies to customers already stored,
// not redacted: empty profile fields filled; for a fresh copy (fresh: not
// older than the last customers/* webhook applied) the tags rebuilt from
// the tag rows, consent unless stored with a later time, birthday and the
// copy's time. Only rows that change are written.
const importCustomersUpdatePG = `WITH s AS (
  SELECT * FROM unnest($2::bigint[], $3::bool[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
    $11::text[], $12::timestamptz[], $13::text[], $14::timestamptz[], $15::text[], $16::timestamptz[])
    AS s(id, fresh, email, first_name, last_name, phone, locale, region, country, es, es_at, ss, ss_at, birthday, upd)
), t AS (
  SELECT customer_id, string_agg(label, ', ' ORDER BY tag COLLATE "C") AS tags FROM customer_tags
  WHERE present AND customer_id IN (SELECT id FROM s WHERE fresh) GROUP BY customer_id
), n AS (
  SELECT c.id,
    CASE WHEN c.email = '' THEN s.email ELSE c.email END AS email,
    CASE WHEN c.first_name = '' THEN s.first_name ELSE c.first_name END AS first_name,
    CASE WHEN c.last_name = '' THEN s.last_name ELSE c.last_name END AS last_name,
    CASE WHEN c.phone = '' THEN s.phone ELSE c.phone END AS phone,
    CASE WHEN c.locale = '' THEN s.locale ELSE c.locale END AS locale,
    CASE WHEN c.region = '' THEN s.region ELSE c.region END AS region,
    CASE WHEN c.country = '' THEN s.country ELSE c.country END AS country,
    CASE WHEN s.fresh THEN COALESCE(t.tags, '') ELSE c.tags END AS tags,
    s.fresh AND s.es_at IS NOT NULL AND (c.email_consent_at IS NULL OR c.email_consent_at <= s.es_at) AS email_ok,
    s.fresh AND s.ss_at IS NOT NULL AND (c.sms_consent_at IS NULL OR c.sms_consent_at <= s.ss_at) AS sms_ok,
    CASE WHEN s.fresh AND s.birthday <> '' THEN s.birthday ELSE c.birthday END AS birthday,
    CASE WHEN s.fresh THEN s.upd ELSE c.shopify_updated_at END AS shopify_updated_at,
    s.es, s.es_at, s.ss, s.ss_at
  FROM s JOIN customers c ON c.id = s.id LEFT JOIN t ON t.customer_id = s.id
  WHERE c.redacted_at IS NULL
), v AS (
  SELECT n.*,
    CASE WHEN email_ok THEN es = 'subscribed' ELSE c.accepts_marketing END AS accepts_marketing,
    CASE WHEN email_ok THEN es ELSE c.email_consent_state END AS email_consent_state,
    CASE WHEN email_ok THEN es_at ELSE c.email_consent_at END AS email_consent_at,
    CASE WHEN sms_ok THEN ss = 'subscribed' ELSE c.sms_marketing END AS sms_marketing,
    CASE WHEN sms_ok THEN ss ELSE c.sms_consent_state END AS sms_consent_state,
    CASE WHEN sms_ok THEN ss_at ELSE c.sms_consent_at END AS sms_consent_at
  FROM n JOIN customers c ON c.id = n.id
)
UPDATE customers c SET email = v.email, first_name = v.first_name, last_name = v.last_name, phone = v.phone, locale = v.locale,
  region = v.region, country = v.country, tags = v.tags, accepts_marketing = v.accepts_marketing,
  email_consent_state = v.email_consent_state, email_consent_at = v.email_consent_at, sms_marketing = v.sms_marketing,
  sms_consent_state = v.sms_consent_state, sms_consent_at = v.sms_consent_at, birthday = v.birthday,
  shopify_updated_at = v.shopify_updated_at, updated_at = $1
FROM v WHERE c.id = v.id AND (c.email, c.first_name, c.last_name, c.phone, c.locale, c.region, c.country, c.tags, c.accepts_marketing,
  c.email_consent_state, c.email_consent_at, c.sms_marketing, c.sms_consent_state, c.sms_consent_at, c.birthday, c.shopify_updated_at)
  IS DISTINCT FROM (v.email, v.first_name, v.last_name, v.phone, v.locale, v.region, v.country, v.tags, v.accepts_marketing,
  v.email_consent_state, v.email_consent_at, v.sms_marketing, v.sms_consent_state, v.sms_consent_at, v.birthday, v.shopify_updated_at)`

// storedCustomersPG loads the stored customers among Shopify ids ($2),
// one index probe each (see importCustomersForOrdersPG).
const storedCustomersPG = `SELECT c.id, c.shopify_id, c.redacted_at, c.shopify_updated_at FROM unnest($2::bigint[]) s(sid)
  CROSS JOIN LATERAL (SELECT id, shopify_id, redacted_at, shopify_updated_at FROM customers WHERE shop_id = $1 AND shopify_id = s.sid LIMIT 1) c`

// importCustomersPG is the batch on PostgreSQL: new customers whole, then
// for those already stored the tag rows and one update.
func (tx *DB) importCustomersPG(ctx context.Context, shopID int64, rows []importedCustomer, now time.Time) (int, error) {
	pool := tx.G.Statement.ConnPool
	n := len(rows)
	var (
		sids                                            = make([]int64, n)
		emails, firsts, lasts, phones, locales, regions = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		countries, tags, es, ss, birthdays              = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		esAt, ssAt                                      = make([]*time.Time, n), make([]*time.Time, n)
		upd                                             = make([]time.Time, n)
		tSID                                            []int64
		tKey, tLabel                                    []string
		tAt                                             []time.Time
	)
	for i, r := range rows {
		sids[i], emails[i], firsts[i], lasts[i], phones[i] = r.ShopifyID, r.Email, r.FirstName, r.LastName, r.Phone
		locales[i], regions[i], countries[i], tags[i] = r.Locale, r.Region, r.Country, strings.Join(r.tagLabels, ", ")
		es[i], esAt[i], ss[i], ssAt[i], birthdays[i], upd[i] = r.EmailConsent, r.emailAt, r.SMSConsent, r.smsAt, r.Birthday, r.UpdatedAt
		for k, key := range r.tagKeys {
			tSID, tKey, tLabel, tAt = append(tSID, r.ShopifyID), append(tKey, key), append(tLabel, r.tagLabels[k]), append(tAt, r.UpdatedAt)
		}
	}
	res, err := pool.QueryContext(ctx, importNewCustomersPG, shopID, now, sids, emails, firsts, lasts, phones, locales, regions, countries,
		tags, es, esAt, ss, ssAt, birthdays, upd, tSID, tKey, tLabel, tAt)
	if err != nil {
		return 0, fmt.Errorf("creating customers: %w", err)
	}
	created, err := scanWrittenOrders(res, n)
	if err != nil {
		return 0, fmt.Errorf("creating customers: %w", err)
	}
	if len(created) == n {
		return n, nil
	}
	// The others are stored: which are redacted, and which copies are
	// older than the last customers/* webhook applied.
	var stored []struct {
		ID, ShopifyID    int64
		RedactedAt       *time.Time
		ShopifyUpdatedAt *time.Time
	}
	found, err := pool.QueryContext(ctx, storedCustomersPG, shopID, sids)
	if err != nil {
		return 0, fmt.Errorf("loading customers: %w", err)
	}
	for found.Next() {
		var c struct {
			ID, ShopifyID    int64
			RedactedAt       *time.Time
			ShopifyUpdatedAt *time.Time
		}
		if err := found.Scan(&c.ID, &c.ShopifyID, &c.RedactedAt, &c.ShopifyUpdatedAt); err != nil {
			found.Close()
			return 0, fmt.Errorf("loading customers: %w", err)
		}
		stored = append(stored, c)
	}
	found.Close()
	if err := found.Err(); err != nil {
		return 0, fmt.Errorf("loading customers: %w", err)
	}
	byID := make(map[int64]int, n)
	for i, r := range rows {
		byID[r.ShopifyID] = i
	}
	var (
		uID                                             []int64
		uFresh                                          []bool
		uEmail, uFirst, uLast, uPhone, uLocale, uRegion []string
		uCountry, uES, uSS, uBirthday                   []string
		uESAt, uSSAt                                    []*time.Time
		uUpd                                            []time.Time
		addCID                                          []int64
		addKey, addLabel                                []string
		addPresent                                      []bool
		addAt                                           []time.Time
		remCID, wantCID                                 []int64
		remAt                                           []time.Time
		wantKey                                         []string
	)
	for _, c := range stored {
		if _, isNew := created[c.ShopifyID]; isNew || c.RedactedAt != nil {
			continue
		}
		r := rows[byID[c.ShopifyID]]
		fresh := c.ShopifyUpdatedAt == nil || !r.UpdatedAt.Before(*c.ShopifyUpdatedAt)
		uID, uFresh = append(uID, c.ID), append(uFresh, fresh)
		uEmail, uFirst, uLast, uPhone = append(uEmail, r.Email), append(uFirst, r.FirstName), append(uLast, r.LastName), append(uPhone, r.Phone)
		uLocale, uRegion, uCountry = append(uLocale, r.Locale), append(uRegion, r.Region), append(uCountry, r.Country)
		uES, uESAt, uSS, uSSAt = append(uES, r.EmailConsent), append(uESAt, r.emailAt), append(uSS, r.SMSConsent), append(uSSAt, r.smsAt)
		uBirthday, uUpd = append(uBirthday, r.Birthday), append(uUpd, r.UpdatedAt)
		if !fresh {
			continue
		}
		remCID, remAt = append(remCID, c.ID), append(remAt, r.UpdatedAt)
		for k, key := range r.tagKeys {
			addCID, addKey, addLabel, addPresent, addAt = append(addCID, c.ID), append(addKey, key), append(addLabel, r.tagLabels[k]), append(addPresent, true), append(addAt, r.UpdatedAt)
			wantCID, wantKey = append(wantCID, c.ID), append(wantKey, key)
		}
	}
	if len(uID) == 0 {
		return len(created), nil
	}
	if len(addCID) > 0 {
		if _, err := pool.ExecContext(ctx, importTagsAddPG, addCID, addKey, addLabel, addPresent, addAt); err != nil {
			return 0, fmt.Errorf("recording tags: %w", err)
		}
	}
	if len(remCID) > 0 {
		if _, err := pool.ExecContext(ctx, importTagsRemovePG, remCID, remAt, wantCID, wantKey); err != nil {
			return 0, fmt.Errorf("removing tags: %w", err)
		}
	}
	out, err := pool.ExecContext(ctx, importCustomersUpdatePG, now, uID, uFresh, uEmail, uFirst, uLast, uPhone, uLocale, uRegion, uCountry,
		uES, uESAt, uSS, uSSAt, uBirthday, uUpd)
	if err != nil {
		return 0, fmt.Errorf("updating customers: %w", err)
	}
	changed, err := out.RowsAffected()
	if err != nil {
		return 0, err
	}
	return len(created) + int(changed), nil
}
