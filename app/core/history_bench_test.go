package core_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/shopify"
)

// benchHistoryOrders is the order count of the history benchmarks
// (TSUNAGU_BENCH_HISTORY_ORDERS, default 1,000,000).
func benchHistoryOrders() int {
	if n, err := strconv.Atoi(os.Getenv("TSUNAGU_BENCH_HISTORY_ORDERS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// historyFile writes the bulk JSONL of n orders in HistoryOrdersQuery's
// shape (2 line items each, 5 orders per customer) to a file of the
// benchmark's temporary directory, before any timer starts, and returns
// its path. The import reads it as it would the download, line by line
// (never the whole file in memory), and the generator's CPU is not
// counted as the import's (it once ran beside the import, through a pipe).
func historyFile(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "history.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	base := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		at := base.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		gid := "gid://shopify/Order/" + strconv.Itoa(i)
		fmt.Fprintf(w, `{"id":%q,"name":"#%d","email":"c%d@example.com","createdAt":%q,"updatedAt":%q,"cancelledAt":null,"customerLocale":"ja","statusPageUrl":"https://bench.myshopify.com/status/%d","discountCodes":["LINE10"],"displayFinancialStatus":"PAID","displayFulfillmentStatus":"FULFILLED","currencyCode":"JPY","totalPriceSet":{"shopMoney":{"amount":"3000.0"}},"subtotalPriceSet":{"shopMoney":{"amount":"3000.0"}},"customer":{"id":"gid://shopify/Customer/%d"}}`+"\n",
			gid, 1000+i, i/5, at, at, i, 1+i/5)
		for j := 1; j <= 2; j++ {
			fmt.Fprintf(w, `{"id":"gid://shopify/LineItem/%d","title":"Tea %d","name":"Tea %d","quantity":1,"vendor":"Kyoto Tea","sku":"T%d","product":{"id":"gid://shopify/Product/%d"},"variant":{"id":"gid://shopify/ProductVariant/%d"},"originalUnitPriceSet":{"shopMoney":{"amount":"1500.0"}},"__parentId":%q}`+"\n",
				i*10+j, j, j, j, 700+j, 800+j, gid)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

func openHistory(b *testing.B, path string) io.ReadCloser {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// peakRSS reports the process's peak resident set (VmHWM) in MB.
func peakRSS(b *testing.B) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			b.ReportMetric(kb/1024, "peak-RSS-MB")
		}
	}
}

// cpuMeter adds up CPU time (user + system) of this process and of the
// PostgreSQL backends serving the benchmark's database, read from /proc:
// on a machine shared with other work, CPU per order moves far less than
// wall time does. Backends that exit between reads are not counted (the
// pool keeps its connections open).
type cpuMeter struct {
	db     *store.DB
	tick   float64
	goCPU  time.Duration
	pgCPU  time.Duration
	goFrom time.Duration
	pgFrom map[int]time.Duration
}

func newCPUMeter(db *store.DB) *cpuMeter { return &cpuMeter{db: db, tick: 100} } // USER_HZ

// procCPU is the CPU time of a process (utime + stime), from /proc.
func (m *cpuMeter) procCPU(pid string) time.Duration {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 (state) on
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return time.Duration((u + k) / m.tick * float64(time.Second))
}

func (m *cpuMeter) backends(ctx context.Context) map[int]time.Duration {
	var pids []int
	m.db.G.WithContext(ctx).Raw("SELECT pid FROM pg_stat_activity WHERE datname = current_database()").Scan(&pids)
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		out[pid] = m.procCPU(strconv.Itoa(pid))
	}
	return out
}

func (m *cpuMeter) start(ctx context.Context) {
	m.goFrom, m.pgFrom = m.procCPU("self"), m.backends(ctx)
}

func (m *cpuMeter) stop(ctx context.Context) {
	m.goCPU += m.procCPU("self") - m.goFrom
	for pid, t := range m.backends(ctx) {
		m.pgCPU += t - m.pgFrom[pid]
	}
}

// report adds CPU ms per 1,000 orders, this process's and the database's.
func (m *cpuMeter) report(b *testing.B, orders int) {
	k := float64(orders) * float64(b.N) / 1000
	b.ReportMetric(float64(m.goCPU.Milliseconds())/k, "go-cpu-ms/1k")
	b.ReportMetric(float64(m.pgCPU.Milliseconds())/k, "pg-cpu-ms/1k")
}

// BenchmarkHistoryFloor: the bare work on the same file, read line by line
// and each line decoded once into a map, nothing joined, nothing stored.
func BenchmarkHistoryFloor(b *testing.B) {
	n := benchHistoryOrders()
	path := historyFile(b, n)
	for b.Loop() {
		r := openHistory(b, path)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		lines := 0
		for sc.Scan() {
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				b.Fatal(err)
			}
			lines++
		}
		r.Close()
		if lines != 3*n {
			b.Fatalf("%d lines", lines)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
	peakRSS(b)
}

// BenchmarkHistoryStream: StreamBulk joining items to orders and
// decoding both (DecodeHistoryOrder), nothing stored.
func BenchmarkHistoryStream(b *testing.B) {
	n := benchHistoryOrders()
	path := historyFile(b, n)
	for b.Loop() {
		r := openHistory(b, path)
		orders := 0
		err := shopify.StreamBulk(r, func(o shopify.BulkObject) error {
			_, err := shopify.DecodeHistoryOrder(o)
			orders++
			return err
		})
		r.Close()
		if err != nil || orders != n {
			b.Fatalf("%d orders: %v", orders, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
	peakRSS(b)
}

// BenchmarkHistoryImport: the import as it runs (core.History.Import) on
// PostgreSQL: orders, items and bare customers, batch by batch with the
// cursor, into an empty shop, then the customers' stats (once, as the
// import's last step does).
func BenchmarkHistoryImport(b *testing.B) {
	n := benchHistoryOrders()
	path := historyFile(b, n)
	db := testenv.Postgres(b)
	ctx := context.Background()
	h := &core.History{DB: db}
	if v, err := strconv.Atoi(os.Getenv("TSUNAGU_BENCH_HISTORY_BATCH")); err == nil {
		h.Batch = v
	}
	// One writer against two in the same binary (store.DB.HistoryWriters).
	if v, err := strconv.Atoi(os.Getenv("TSUNAGU_BENCH_HISTORY_WRITERS")); err == nil {
		db.HistoryWriters = v
	}
	shops, stats, cpu, statsCPU := 0, time.Duration(0), newCPUMeter(db), newCPUMeter(db)
	for b.Loop() {
		b.StopTimer()
		shops++
		shop := &store.Shop{Domain: fmt.Sprintf("bench-%d.myshopify.com", shops), Name: "Bench"}
		if err := db.CreateShop(ctx, shop); err != nil {
			b.Fatal(err)
		}
		hs, err := db.StartHistoryImport(ctx, shop.ID, nil, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		imp := hs[1]
		if imp.Kind != store.HistoryOrders {
			imp = hs[0]
		}
		if _, err := db.MoveHistoryImport(ctx, imp.ID, store.HistoryPending, map[string]any{"status": store.HistoryImporting}, time.Now()); err != nil {
			b.Fatal(err)
		}
		imp.Status = store.HistoryImporting
		r := openHistory(b, path)
		cpu.start(ctx)
		b.StartTimer()
		if err := h.Import(ctx, shop.ID, &imp, r); err != nil {
			b.Fatal(err)
		}
		r.Close()
		t0 := time.Now()
		statsCPU.start(ctx)
		if _, err := db.RefreshShopCustomerStats(ctx, shop.ID); err != nil {
			b.Fatal(err)
		}
		statsCPU.stop(ctx)
		stats += time.Since(t0)
		b.StopTimer()
		cpu.stop(ctx)
		b.StartTimer()
		if imp.RowsDone != int64(n) || imp.RowsWritten != int64(n) {
			b.Fatalf("imported %d (%d written)", imp.RowsDone, imp.RowsWritten)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
	b.ReportMetric(stats.Seconds()/float64(b.N), "stats-s/op")
	// The stats refresh's share of the database's CPU (within pg-cpu-ms/1k).
	b.ReportMetric(float64(statsCPU.pgCPU.Milliseconds())/(float64(n)*float64(b.N)/1000), "stats-pg-cpu-ms/1k")
	cpu.report(b, n)
	peakRSS(b)
}

// BenchmarkHistoryPGFloor: what PostgreSQL allows here for the same rows
// (historyFile's orders, their items and bare customers, already decoded):
// each table's rows COPYed into a temporary table and moved in with one
// INSERT … SELECT under the import's conflict rules, then one statement
// recomputing every customer's stats. No JSON, no batches, no cursor.
func BenchmarkHistoryPGFloor(b *testing.B) {
	n := benchHistoryOrders()
	db := testenv.Postgres(b)
	ctx := context.Background()
	sqlDB, err := db.G.DB()
	if err != nil {
		b.Fatal(err)
	}
	shops := 0
	for b.Loop() {
		b.StopTimer()
		shops++
		shop := &store.Shop{Domain: fmt.Sprintf("floor-%d.myshopify.com", shops), Name: "Floor"}
		if err := db.CreateShop(ctx, shop); err != nil {
			b.Fatal(err)
		}
		conn, err := sqlDB.Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		err = conn.Raw(func(dc any) error { return pgFloor(ctx, dc.(*stdlib.Conn).Conn(), shop.ID, n) })
		conn.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
	peakRSS(b)
}

func pgFloor(ctx context.Context, c *pgx.Conn, shopID int64, n int) error {
	base := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	now := time.Now().UTC()
	price := pgtype.Numeric{Int: big.NewInt(3000), Valid: true}
	item := pgtype.Numeric{Int: big.NewInt(1500), Valid: true}
	steps := []struct {
		temp, insert string
		cols         []string
		rows         pgx.CopyFromSource
		args         []any
	}{
		{"CREATE TEMP TABLE fc (shopify_id bigint) ON COMMIT DROP",
			"INSERT INTO customers (shop_id, shopify_id, created_at, updated_at) SELECT $1, shopify_id, $2, $2 FROM fc ON CONFLICT (shop_id, shopify_id) DO NOTHING",
			[]string{"shopify_id"},
			pgx.CopyFromSlice(n/5+1, func(i int) ([]any, error) { return []any{int64(i + 1)}, nil }), []any{shopID, now}},
		{"CREATE TEMP TABLE fo (shopify_id bigint, cust bigint, name text, email text, currency text, total_price numeric, subtotal_price numeric, financial_status text, fulfillment_status text, order_status_url text, discount_codes text, locale text, ordered_at timestamptz, shopify_updated_at timestamptz) ON COMMIT DROP",
			`INSERT INTO orders (shop_id, shopify_id, customer_id, name, email, currency, total_price, subtotal_price, financial_status,
  fulfillment_status, order_status_url, discount_codes, locale, ordered_at, shopify_updated_at, created_at, updated_at)
SELECT $1, s.shopify_id, c.id, s.name, s.email, s.currency, s.total_price, s.subtotal_price, s.financial_status, s.fulfillment_status,
  s.order_status_url, s.discount_codes, s.locale, s.ordered_at, s.shopify_updated_at, $2, $2
FROM fo s LEFT JOIN customers c ON c.shop_id = $1 AND c.shopify_id = s.cust
ON CONFLICT (shop_id, shopify_id) DO UPDATE SET name = excluded.name WHERE orders.shopify_updated_at <= excluded.shopify_updated_at`,
			[]string{"shopify_id", "cust", "name", "email", "currency", "total_price", "subtotal_price", "financial_status", "fulfillment_status", "order_status_url", "discount_codes", "locale", "ordered_at", "shopify_updated_at"},
			pgx.CopyFromSlice(n, func(k int) ([]any, error) {
				i := k + 1
				at := base.Add(time.Duration(i) * time.Minute)
				return []any{int64(i), int64(1 + i/5), "#" + strconv.Itoa(1000+i), "c" + strconv.Itoa(i/5) + "@example.com", "JPY", price, price, "paid", "fulfilled",
					"https://bench.myshopify.com/status/" + strconv.Itoa(i), "LINE10", "ja", at, at}, nil
			}), []any{shopID, now}},
		{"CREATE TEMP TABLE fi (order_sid bigint, shopify_id bigint, product_id bigint, variant_id bigint, title text, vendor text, sku text, quantity int, price numeric) ON COMMIT DROP",
			`INSERT INTO order_items (order_id, shopify_id, product_id, variant_id, title, vendor, sku, quantity, price)
SELECT o.id, i.shopify_id, i.product_id, i.variant_id, i.title, i.vendor, i.sku, i.quantity, i.price FROM fi i JOIN orders o ON o.shop_id = $1 AND o.shopify_id = i.order_sid`,
			[]string{"order_sid", "shopify_id", "product_id", "variant_id", "title", "vendor", "sku", "quantity", "price"},
			pgx.CopyFromSlice(2*n, func(k int) ([]any, error) {
				i, j := k/2+1, k%2+1
				return []any{int64(i), int64(i*10 + j), int64(700 + j), int64(800 + j), "Tea " + strconv.Itoa(j), "Kyoto Tea", "T" + strconv.Itoa(j), int32(1), item}, nil
			}), []any{shopID}},
	}
	for _, s := range steps {
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.temp); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{strings.Fields(s.temp)[3]}, s.cols, s.rows); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.insert, s.args...); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
	}
	_, err := c.Exec(ctx, `UPDATE customers SET orders_count = s.n, total_spent = s.spent, first_order_at = s.first_at, last_order_at = s.last_at
FROM (SELECT customer_id AS cid, COUNT(*) AS n, SUM(total_price) AS spent, MIN(ordered_at) AS first_at, MAX(ordered_at) AS last_at
  FROM orders WHERE shop_id = $1 AND cancelled_at IS NULL AND financial_status NOT IN ('refunded','voided') GROUP BY customer_id) s
WHERE customers.id = s.cid`, shopID)
	return err
}

// BenchmarkHistoryCopyFloor: the irreducible database work of the import,
// the floor its ratio is read against: historyFile's rows, already
// decoded and joined (customers with their order stats, orders with their
// customer's id, items with their order's and customer's ids), COPYed straight into the
// final tables of a fresh database, with all their indexes and foreign
// keys, one COPY per table. No JSON, no conflict handling, no batches, no
// cursor.
func BenchmarkHistoryCopyFloor(b *testing.B) {
	n := benchHistoryOrders()
	db := testenv.Postgres(b)
	ctx := context.Background()
	sqlDB, err := db.G.DB()
	if err != nil {
		b.Fatal(err)
	}
	shops, cpu := 0, newCPUMeter(db)
	for b.Loop() {
		b.StopTimer()
		shops++
		shop := &store.Shop{Domain: fmt.Sprintf("copy-%d.myshopify.com", shops), Name: "Copy floor"}
		if err := db.CreateShop(ctx, shop); err != nil {
			b.Fatal(err)
		}
		conn, err := sqlDB.Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		cpu.start(ctx)
		b.StartTimer()
		err = conn.Raw(func(dc any) error { return copyFloor(ctx, dc.(*stdlib.Conn).Conn(), shop.ID, n) })
		b.StopTimer()
		cpu.stop(ctx)
		conn.Close()
		b.StartTimer()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
	cpu.report(b, n)
	peakRSS(b)
}

// copyFloor COPYs n orders of historyFile's shape (customer 1+i/5, two
// items each) with their customers into the shop. Ids come from the
// tables' sequences, contiguous within one COPY on a database nobody else
// writes (checked), so each child row knows its parent's id beforehand.
func copyFloor(ctx context.Context, c *pgx.Conn, shopID int64, n int) error {
	f := newFloorRows(shopID, n)
	// copyInto COPYs rows into table and returns the first id given.
	copyInto := func(table string, cols []string, rows int, row func(k int) []any) (int64, error) {
		tx, err := c.Begin(ctx)
		if err != nil {
			return 0, err
		}
		defer tx.Rollback(ctx)
		copied, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(rows, func(k int) ([]any, error) { return row(k), nil }))
		if err != nil {
			return 0, fmt.Errorf("copying %s: %w", table, err)
		}
		var first, last int64
		if err := tx.QueryRow(ctx, "SELECT min(id), max(id) FROM "+table+" WHERE id >= currval(pg_get_serial_sequence($1, 'id')) - $2 + 1", table, copied).Scan(&first, &last); err != nil {
			return 0, err
		}
		if last-first+1 != copied {
			return 0, fmt.Errorf("%s: ids %d..%d for %d rows", table, first, last, copied)
		}
		return first, tx.Commit(ctx)
	}
	firstCust, err := copyInto("customers", floorCustomerCols, f.customers(), func(k int) []any {
		return f.customer(make([]any, 0, len(floorCustomerCols)), k+1)
	})
	if err != nil {
		return err
	}
	firstOrder, err := copyInto("orders", floorOrderCols, n, func(k int) []any {
		return f.order(make([]any, 0, len(floorOrderCols)), k+1, firstCust)
	})
	if err != nil {
		return err
	}
	_, err = copyInto("order_items", floorItemCols, 2*n, func(k int) []any { return f.item(k/2+1, k%2+1, firstOrder, firstCust) })
	return err
}

// floorRows builds the COPY floors' rows: n orders of historyFile's shape
// (order i of customer 1+i/5, two items each) and their customers, with
// the stats the import computes.
type floorRows struct {
	shopID           int64
	n                int
	base, now        time.Time
	price, itemPrice pgtype.Numeric
}

func newFloorRows(shopID int64, n int) floorRows {
	return floorRows{shopID: shopID, n: n, base: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), now: time.Now().UTC(),
		price: pgtype.Numeric{Int: big.NewInt(3000), Valid: true}, itemPrice: pgtype.Numeric{Int: big.NewInt(1500), Valid: true}}
}

// The columns floorRows' rows fill, in order (a writer that gives ids
// puts "id" first).
var (
	floorCustomerCols = []string{"shop_id", "shopify_id", "orders_count", "total_spent", "first_order_at", "last_order_at", "created_at", "updated_at"}
	floorOrderCols    = []string{"shop_id", "shopify_id", "customer_id", "name", "email", "currency", "total_price", "subtotal_price",
		"financial_status", "fulfillment_status", "order_status_url", "discount_codes", "locale", "ordered_at", "shopify_updated_at", "created_at", "updated_at"}
	// Each item carries its order's customer (order_items.customer_id, which
	// the segment indexes on order_items are partial on), as the import's do.
	floorItemCols = []string{"order_id", "shopify_id", "product_id", "variant_id", "title", "vendor", "sku", "quantity", "price", "customer_id"}
)

func (f floorRows) customers() int { return f.n/5 + 1 }

// orderRange is customer c's orders (1..customers()): i with 1+i/5 == c,
// [5c-5, 5c-1] ∩ [1, n]; empty when lo > hi.
func (f floorRows) orderRange(c int) (lo, hi int) { return max(5*c-5, 1), min(5*c-1, f.n) }

func (f floorRows) orderedAt(i int) time.Time { return f.base.Add(time.Duration(i) * time.Minute) }

// customer appends customer c's floorCustomerCols to row.
func (f floorRows) customer(row []any, c int) []any {
	lo, hi := f.orderRange(c)
	if lo > hi {
		return append(row, f.shopID, int64(c), int32(0), pgtype.Numeric{Int: big.NewInt(0), Valid: true}, nil, nil, f.now, f.now)
	}
	return append(row, f.shopID, int64(c), int32(hi-lo+1), pgtype.Numeric{Int: big.NewInt(int64(3000 * (hi - lo + 1))), Valid: true},
		f.orderedAt(lo), f.orderedAt(hi), f.now, f.now)
}

// order appends order i's floorOrderCols to row, its customer's id drawn
// from firstCust.
func (f floorRows) order(row []any, i int, firstCust int64) []any {
	at := f.orderedAt(i)
	return append(row, f.shopID, int64(i), firstCust+int64(i/5), "#"+strconv.Itoa(1000+i), "c"+strconv.Itoa(i/5)+"@example.com", "JPY", f.price, f.price,
		"paid", "fulfilled", "https://bench.myshopify.com/status/"+strconv.Itoa(i), "LINE10", "ja", at, at, f.now, f.now)
}

// item is item j (1, 2) of order i: floorItemCols.
func (f floorRows) item(i, j int, firstOrder, firstCust int64) []any {
	return []any{firstOrder + int64(i-1), int64(i*10 + j), int64(700 + j), int64(800 + j), "Tea " + strconv.Itoa(j), "Kyoto Tea", "T" + strconv.Itoa(j), int32(1), f.itemPrice,
		firstCust + int64(i/5)}
}

// BenchmarkHistoryCopyFloor2: BenchmarkHistoryCopyFloor's rows written
// the way the import now writes, by two connections at once, split by
// customer (each writer COPYs its customers, then their orders, then
// their items, in one transaction). Ids are reserved from the sequences
// first and given explicitly, so no id is drawn per row. The one-writer
// floor stays: the ratio to each is reported.
func BenchmarkHistoryCopyFloor2(b *testing.B) {
	n := benchHistoryOrders()
	db := testenv.Postgres(b)
	ctx := context.Background()
	sqlDB, err := db.G.DB()
	if err != nil {
		b.Fatal(err)
	}
	shops, cpu := 0, newCPUMeter(db)
	for b.Loop() {
		b.StopTimer()
		shops++
		shop := &store.Shop{Domain: fmt.Sprintf("copy2-%d.myshopify.com", shops), Name: "Copy floor"}
		if err := db.CreateShop(ctx, shop); err != nil {
			b.Fatal(err)
		}
		conns := make([]*sql.Conn, 2)
		for i := range conns {
			if conns[i], err = sqlDB.Conn(ctx); err != nil {
				b.Fatal(err)
			}
		}
		cpu.start(ctx)
		b.StartTimer()
		err := copyFloor2(ctx, conns, shop.ID, n)
		b.StopTimer()
		cpu.stop(ctx)
		for _, c := range conns {
			c.Close()
		}
		if err != nil {
			b.Fatal(err)
		}
		var orders, items, custs int64
		db.G.Raw("SELECT (SELECT count(*) FROM orders WHERE shop_id = ?), (SELECT count(*) FROM order_items i JOIN orders o ON o.id = i.order_id AND o.shop_id = ? AND i.customer_id = o.customer_id), (SELECT count(*) FROM customers WHERE shop_id = ? AND orders_count > 0)",
			shop.ID, shop.ID, shop.ID).Row().Scan(&orders, &items, &custs)
		if orders != int64(n) || items != 2*int64(n) || custs != int64(n/5+1) {
			b.Fatalf("%d orders, %d items, %d customers with orders", orders, items, custs)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
	cpu.report(b, n)
	peakRSS(b)
}

// copyFloor2 is copyFloor's rows on len(conns) connections at once, each
// taking the customers c with c % len(conns) == its index and their
// orders and items.
func copyFloor2(ctx context.Context, conns []*sql.Conn, shopID int64, n int) error {
	f := newFloorRows(shopID, n)
	custs := f.customers()
	// reserve draws count ids of table's sequence at once (nobody else
	// writes this database) and returns the first.
	reserve := func(c *pgx.Conn, table string, count int) (int64, error) {
		var first int64
		err := c.QueryRow(ctx, "SELECT setval(pg_get_serial_sequence($1, 'id'), nextval(pg_get_serial_sequence($1, 'id')) + $2 - 1) - $2 + 1", table, count).Scan(&first)
		return first, err
	}
	var firstCust, firstOrder int64
	err := conns[0].Raw(func(dc any) error {
		c := dc.(*stdlib.Conn).Conn()
		var err error
		if firstCust, err = reserve(c, "customers", custs); err != nil {
			return err
		}
		firstOrder, err = reserve(c, "orders", n)
		return err
	})
	if err != nil {
		return fmt.Errorf("reserving ids: %w", err)
	}
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = conns[w].Raw(func(dc any) error {
				c := dc.(*stdlib.Conn).Conn()
				tx, err := c.Begin(ctx)
				if err != nil {
					return err
				}
				defer tx.Rollback(ctx)
				var mine []int // this writer's customers
				for cu := 1 + w; cu <= custs; cu += len(conns) {
					mine = append(mine, cu)
				}
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{"customers"}, append([]string{"id"}, floorCustomerCols...),
					pgx.CopyFromSlice(len(mine), func(k int) ([]any, error) {
						cu := mine[k]
						return f.customer(append(make([]any, 0, 1+len(floorCustomerCols)), firstCust+int64(cu-1)), cu), nil
					})); err != nil {
					return fmt.Errorf("copying customers: %w", err)
				}
				var orders []int // this writer's orders
				for _, cu := range mine {
					lo, hi := f.orderRange(cu)
					for i := lo; i <= hi; i++ {
						orders = append(orders, i)
					}
				}
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{"orders"}, append([]string{"id"}, floorOrderCols...),
					pgx.CopyFromSlice(len(orders), func(k int) ([]any, error) {
						i := orders[k]
						return f.order(append(make([]any, 0, 1+len(floorOrderCols)), firstOrder+int64(i-1)), i, firstCust), nil
					})); err != nil {
					return fmt.Errorf("copying orders: %w", err)
				}
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{"order_items"}, floorItemCols,
					pgx.CopyFromSlice(2*len(orders), func(k int) ([]any, error) {
						return f.item(orders[k/2], k%2+1, firstOrder, firstCust), nil
					})); err != nil {
					return fmt.Errorf("copying order items: %w", err)
				}
				return tx.Commit(ctx)
			})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
