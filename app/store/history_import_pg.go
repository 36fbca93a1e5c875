package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// historyWriters is how many connections write one history batch at once
// on PostgreSQL: one backend's CPU per order bounds a single writer, and a
// batch split by customer keeps both cores busy.
const historyWriters = 2

// importOrderBatchPG is ImportOrderBatch on PostgreSQL. The batch is split
// into parts that share no customer and no order (orderParts), each
// written in its own transaction on a connection of its own
// (importOrderPartPG), all at once; the cursor then moves in a
// transaction of its own once every part has committed. Parts never wait
// on each other's rows, and no transaction waits for another while it
// holds locks. A crash (or a failed part) before the cursor moves leaves
// it at the batch's start: the batch is read again, and the parts that
// did commit are found stored, identical, and not written twice.
func (db *DB) importOrderBatchPG(ctx context.Context, importID, from int64, batch []ImportedOrder, now time.Time) (int, error) {
	if _, inTx := db.G.Statement.ConnPool.(*sql.Tx); inTx {
		return 0, errors.New("a history batch is its own transaction: not inside another")
	}
	writers := db.HistoryWriters
	if writers <= 0 {
		writers = historyWriters
	}
	parts := orderParts(uniqueOrders(batch), writers)
	written := make([]int, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, part := range parts {
		if len(part) == 0 && i > 0 {
			continue // part 0 always runs: it checks the cursor for an empty batch too
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			written[i], errs[i] = db.importOrderPartPG(ctx, importID, from, part, now)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	// Its own statement, committed as the parts are (no WAL flush wait).
	res := db.WithContext(ctx).Exec("UPDATE history_imports SET rows_done = ?, updated_at = ?"+db.asyncCommitFrom()+" WHERE id = ? AND rows_done = ? AND status = ?",
		from+int64(len(batch)), now, importID, from, HistoryImporting)
	if res.Error != nil {
		return 0, fmt.Errorf("advancing history import %d: %w", importID, res.Error)
	}
	if res.RowsAffected != 1 {
		return 0, ErrHistoryCursor
	}
	total := 0
	for _, n := range written {
		total += n
	}
	return total, nil
}

// orderParts splits a batch's orders (once each) into n parts, by
// customer: all of a customer's orders in one part, so that parts written
// at once never create or lock the same customer, and each part's
// per-customer stats are the batch's. Orders without a customer go by
// their own id. Ids are mixed first, so that ids sharing a stride still
// spread evenly.
func orderParts(rows []*ImportedOrder, n int) [][]*ImportedOrder {
	parts := make([][]*ImportedOrder, n)
	for _, r := range rows {
		key := r.CustomerShopifyID
		if key <= 0 {
			key = r.Order.ShopifyID
		}
		k := int((uint64(key) * 0x9E3779B97F4A7C15 >> 32) % uint64(n))
		parts[k] = append(parts[k], r)
	}
	return parts
}

// importOrderPartPG writes one part of a batch (importOrderBatchPG) in one
// transaction on a connection of its own (pgx, for COPY), the cursor
// checked but not moved: the part's customers (customersForOrdersPG);
// then the orders not stored yet COPYed into orders with ids drawn from
// its sequence, and their items COPYed into order_items, as a bulk load
// would (no staging, no conflict check per row); and the orders stored
// before through importOrdersPGStmt (newer updated_at wins, a
// cancellation sticks, an identical copy is not rewritten). An order
// stored by someone else between the check and the COPY (a webhook) fails
// the COPY on the unique key: the part is then rolled back and written
// again with every order through importOrdersPGStmt; so is a part that
// lost a deadlock.
func (db *DB) importOrderPartPG(ctx context.Context, importID, from int64, rows []*ImportedOrder, now time.Time) (int, error) {
	var written int
	err := db.withPGX(ctx, func(c *pgx.Conn) error {
		run := func(copyNew bool) error {
			return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
				var err error
				written, err = importOrderTxPG(ctx, tx, importID, from, rows, now, copyNew)
				return err
			})
		}
		err := run(true)
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) &&
			(pgErr.Code == "23505" /* unique_violation */ || pgErr.Code == "40P01" /* deadlock_detected */) {
			err = run(false)
		}
		return err
	})
	return written, err
}

// importOrderTxPG writes a part in tx after checking that the cursor is
// still at the batch's start; copyNew COPYs the orders not stored yet,
// else every order goes through importOrdersPGStmt.
func importOrderTxPG(ctx context.Context, tx pgx.Tx, importID, from int64, rows []*ImportedOrder, now time.Time, copyNew bool) (int, error) {
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit TO OFF"); err != nil {
		return 0, err
	}
	var at int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM history_imports WHERE id = $1 AND rows_done = $2 AND status = $3",
		importID, from, HistoryImporting).Scan(&at); err != nil {
		return 0, fmt.Errorf("reading history import %d: %w", importID, err)
	}
	if at != 1 {
		return 0, ErrHistoryCursor
	}
	if len(rows) == 0 {
		return 0, nil
	}
	shopID := rows[0].Order.ShopID
	custIDs, rows, err := customersForOrdersPG(ctx, tx, shopID, rows, now)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	written := 0
	if copyNew {
		var fresh []*ImportedOrder
		if fresh, rows, err = splitStoredOrdersPG(ctx, tx, shopID, rows); err != nil {
			return 0, err
		}
		if err := copyOrdersPG(ctx, tx, fresh, custIDs, now); err != nil {
			return 0, err
		}
		written = len(fresh)
	}
	if len(rows) > 0 {
		var n int
		if err := tx.QueryRow(ctx, importOrdersPGStmt, importOrdersPGArgs(shopID, rows, custIDs, now)...).Scan(&n); err != nil {
			return 0, fmt.Errorf("upserting orders: %w", err)
		}
		written += n
	}
	if written > 0 {
		// Last, so that the row lock the parts share is held only to the commit.
		if _, err := tx.Exec(ctx, "UPDATE history_imports SET rows_written = rows_written + $1 WHERE id = $2", written, importID); err != nil {
			return 0, fmt.Errorf("counting history import %d: %w", importID, err)
		}
	}
	return written, nil
}

// customersForOrdersPG creates the batch's customers that are new (with
// the batch's stats) and returns every customer's id by Shopify id, and
// the rows without those of redacted customers.
func customersForOrdersPG(ctx context.Context, tx pgx.Tx, shopID int64, rows []*ImportedOrder, now time.Time) (map[int64]int64, []*ImportedOrder, error) {
	custIDs := map[int64]int64{}
	sids := customerSIDs(rows)
	if len(sids) == 0 {
		return custIDs, rows, nil
	}
	redacted := map[int64]bool{}
	stats := batchCustomerStats(rows)
	for try, want := 0, sids; len(want) > 0; try++ {
		if try == 2 {
			return nil, nil, fmt.Errorf("creating customers: %d of %d not found", len(want), len(sids))
		}
		n, spent, first, last := make([]int32, len(want)), make([]string, len(want)), make([]*time.Time, len(want)), make([]*time.Time, len(want))
		for i, sid := range want {
			if st, ok := stats[sid]; ok {
				n[i], spent[i], first[i], last[i] = st.n, st.spent.String(), &st.first, &st.last
			} else {
				spent[i] = "0"
			}
		}
		res, err := tx.Query(ctx, importCustomersForOrdersPG, shopID, now, want, n, spent, first, last)
		if err != nil {
			return nil, nil, fmt.Errorf("creating customers: %w", err)
		}
		var id, sid int64
		var gone bool
		_, err = pgx.ForEachRow(res, []any{&id, &sid, &gone}, func() error {
			if gone {
				redacted[sid] = true
			} else {
				custIDs[sid] = id
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("creating customers: %w", err)
		}
		// Left: customers another transaction created after this
		// statement's snapshot (skipped by the insert, unseen by the
		// lookup); the next statement's snapshot has them.
		want = slices.DeleteFunc(slices.Clone(want), func(id int64) bool { _, ok := custIDs[id]; return ok || redacted[id] })
	}
	if len(redacted) > 0 {
		rows = slices.DeleteFunc(slices.Clone(rows), func(o *ImportedOrder) bool { return redacted[o.CustomerShopifyID] })
	}
	return custIDs, rows, nil
}

// storedOrdersPG lists which of the Shopify ids ($2) the shop has stored,
// one probe of the (shop_id, shopify_id) index each (see
// importCustomersForOrdersPG).
const storedOrdersPG = `SELECT s.sid FROM unnest($2::bigint[]) s(sid)
  CROSS JOIN LATERAL (SELECT 1 FROM orders WHERE shop_id = $1 AND shopify_id = s.sid LIMIT 1) o`

// splitStoredOrdersPG splits the rows into those not stored yet and those
// stored, each in batch order.
func splitStoredOrdersPG(ctx context.Context, tx pgx.Tx, shopID int64, rows []*ImportedOrder) (fresh, stored []*ImportedOrder, err error) {
	sids := make([]int64, len(rows))
	for i, r := range rows {
		sids[i] = r.Order.ShopifyID
	}
	res, err := tx.Query(ctx, storedOrdersPG, shopID, sids)
	if err != nil {
		return nil, nil, fmt.Errorf("finding stored orders: %w", err)
	}
	have := map[int64]bool{}
	var sid int64
	if _, err := pgx.ForEachRow(res, []any{&sid}, func() error { have[sid] = true; return nil }); err != nil {
		return nil, nil, fmt.Errorf("finding stored orders: %w", err)
	}
	if len(have) == 0 {
		return rows, nil, nil
	}
	for _, r := range rows {
		if have[r.Order.ShopifyID] {
			stored = append(stored, r)
		} else {
			fresh = append(fresh, r)
		}
	}
	return fresh, stored, nil
}

// copyOrdersPG COPYs orders not stored yet, with ids drawn from the
// orders' sequence, then their items in batch order. An item carries its
// order's customer unless the order is cancelled (importOrdersPGSQL's buyer).
func copyOrdersPG(ctx context.Context, tx pgx.Tx, fresh []*ImportedOrder, custIDs map[int64]int64, now time.Time) error {
	if len(fresh) == 0 {
		return nil
	}
	res, err := tx.Query(ctx, "SELECT nextval(q.s) FROM (SELECT pg_get_serial_sequence('orders', 'id')::regclass AS s) q, generate_series(1, $1::int)", len(fresh))
	if err != nil {
		return fmt.Errorf("drawing order ids: %w", err)
	}
	ids, err := pgx.CollectRows(res, pgx.RowTo[int64])
	if err != nil || len(ids) != len(fresh) {
		return fmt.Errorf("drawing order ids: %d of %d: %w", len(ids), len(fresh), err)
	}
	orders := newPGCopy(len(fresh) * 320)
	items := newPGCopy(len(fresh) * 2 * 120)
	for k, r := range fresh {
		o := &r.Order
		cust, hasCust := custIDs[r.CustomerShopifyID]
		orders.row(19)
		orders.int8(ids[k])
		orders.int8(o.ShopID)
		orders.int8(o.ShopifyID)
		orders.int8OrNull(cust, hasCust)
		orders.text(o.Name)
		orders.text(o.Email)
		orders.text(o.Currency)
		orders.numeric(o.TotalPrice)
		orders.numeric(o.SubtotalPrice)
		orders.text(o.FinancialStatus)
		orders.text(o.FulfillmentStatus)
		orders.text(o.OrderStatusURL)
		orders.text(o.DiscountCodes)
		orders.text(o.Locale)
		orders.timestamptzOrNull(o.CancelledAt)
		orders.timestamptz(o.OrderedAt)
		orders.timestamptzOrNull(o.ShopifyUpdatedAt)
		orders.timestamptz(now)
		orders.timestamptz(now)
		buyer := hasCust && o.CancelledAt == nil
		for i := range o.Items {
			it := &o.Items[i]
			items.row(10)
			items.int8(ids[k])
			items.int8(it.ShopifyID)
			items.int8(it.ProductID)
			items.int8(it.VariantID)
			items.text(it.Title)
			items.text(it.Vendor)
			items.text(it.SKU)
			items.int4(int32(it.Quantity))
			items.numeric(it.Price)
			items.int8OrNull(cust, buyer)
		}
	}
	pg := tx.Conn().PgConn()
	if _, err := pg.CopyFrom(ctx, bytes.NewReader(orders.bytes()), `COPY orders (id, shop_id, shopify_id, customer_id, name, email, currency,
  total_price, subtotal_price, financial_status, fulfillment_status, order_status_url, discount_codes, locale, cancelled_at, ordered_at,
  shopify_updated_at, created_at, updated_at) FROM STDIN (FORMAT binary)`); err != nil {
		return fmt.Errorf("copying orders: %w", err)
	}
	if _, err := pg.CopyFrom(ctx, bytes.NewReader(items.bytes()), `COPY order_items (order_id, shopify_id, product_id, variant_id, title, vendor,
  sku, quantity, price, customer_id) FROM STDIN (FORMAT binary)`); err != nil {
		return fmt.Errorf("copying order items: %w", err)
	}
	return nil
}
