package core_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

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

// historyFile streams the bulk JSONL of n orders in HistoryOrdersQuery's
// shape (2 line items each, 5 orders per customer) through a pipe: the
// file is never in memory.
func historyFile(n int) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
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
		_ = w.Flush()
		_ = pw.Close()
	}()
	return pr
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

// BenchmarkHistoryFloor: the bare work on the same file, read line by line
// and each line decoded once into a map, nothing joined, nothing stored.
func BenchmarkHistoryFloor(b *testing.B) {
	n := benchHistoryOrders()
	for b.Loop() {
		r := historyFile(n)
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
	for b.Loop() {
		r := historyFile(n)
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
// PostgreSQL: orders, items, bare customers and their stats, batch by
// batch with the cursor, into an empty shop.
func BenchmarkHistoryImport(b *testing.B) {
	n := benchHistoryOrders()
	db := testenv.Postgres(b)
	ctx := context.Background()
	h := &core.History{DB: db}
	if v, err := strconv.Atoi(os.Getenv("TSUNAGU_BENCH_HISTORY_BATCH")); err == nil {
		h.Batch = v
	}
	shops := 0
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
		r := historyFile(n)
		b.StartTimer()
		if err := h.Import(ctx, shop.ID, &imp, r); err != nil {
			b.Fatal(err)
		}
		r.Close()
		if imp.RowsDone != int64(n) || imp.RowsWritten != int64(n) {
			b.Fatalf("imported %d (%d written)", imp.RowsDone, imp.RowsWritten)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
	peakRSS(b)
}
