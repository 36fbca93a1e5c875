package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// BenchmarkMerchantUI measures what a merchant waits for on the seeded
// 1M-customer shop of cmd/bench7 (seed.sql: 1,000,000 customers, 5,000,000
// orders, 300,000 LINE links), over loopback HTTP with a real session:
// the segment builder's live count (POST /api/segments/preview: count and
// a 20-customer sample, what the builder calls on every edit) and the
// campaign pages. Beside each, in the same run, a floor: for the count,
// PostgreSQL's cheapest count of the shop's customers (one index-only
// scan, no condition); for the pages, GET /livez through the same server.
// It reports p50/p95 and the ratio to the floor's p95.
//
//	TSUNAGU_BENCH_DB='postgres://postgres@127.0.0.1:5432/tsunagu_bench7?sslmode=disable' \
//	  go test ./app -run '^$' -bench BenchmarkMerchantUI -benchtime 1x -timeout 30m
func BenchmarkMerchantUI(b *testing.B) {
	ctx := context.Background()
	db := openBenchDB(b, "cmd/bench7/seed.sql")
	a, err := Assemble(testConfig(""), quietLogger(), db, testenv.Redis(b))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	a.requestTimeout = time.Minute
	shop, err := db.ShopByDomain(ctx, "bench.myshopify.com")
	if err != nil {
		b.Fatal(err)
	}
	// One campaign to the linked customers, with its 300,000 recipients half sent.
	var camp int64
	db.G.Raw(`SELECT id FROM campaigns WHERE shop_id = ? AND name = 'bench'`, shop.ID).Scan(&camp)
	if camp == 0 {
		for _, q := range []string{
			`INSERT INTO campaigns (shop_id, name, definition, variants, status, started_at, created_at, updated_at)
VALUES (` + fmt.Sprint(shop.ID) + `, 'bench', '{"field":"linked","value":true}', '[{"name":"A","messages":[{"type":"text","text":"セール"}]}]', 'sending', now(), now(), now())`,
			`INSERT INTO campaign_recipients (campaign_id, shop_id, customer_id, variant, batch, status, line_user_id, sent_at, updated_at)
SELECT c.id, l.shop_id, l.customer_id, 'A', l.customer_id % 600, CASE WHEN l.customer_id % 2 = 0 THEN 'sent' ELSE 'queued' END, l.line_user_id,
  CASE WHEN l.customer_id % 2 = 0 THEN now() END, now() FROM line_links l, campaigns c WHERE c.name = 'bench' AND l.shop_id = c.shop_id`,
			`ANALYZE campaign_recipients`,
		} {
			if err := db.G.Exec(q).Error; err != nil {
				b.Fatal(err)
			}
		}
		db.G.Raw(`SELECT id FROM campaigns WHERE shop_id = ? AND name = 'bench'`, shop.ID).Scan(&camp)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	cookie := &http.Cookie{Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(shop.Domain+"|staff-1"), time.Now().Add(time.Hour))}
	call := func(method, path, body string) (time.Duration, []byte) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.AddCookie(cookie)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(res.Body)
		res.Body.Close()
		d := time.Since(start)
		if res.StatusCode != http.StatusOK {
			b.Errorf("%s %s %s: %d %s", method, path, body, res.StatusCode, out)
		}
		return d, out
	}
	runs := 20
	if n, _ := strconv.Atoi(os.Getenv("TSUNAGU_BENCH_RUNS")); n > 0 {
		runs = n
	}
	measure := func(f func() time.Duration) (p50, p95 time.Duration) {
		f() // warm
		ds := make([]time.Duration, runs)
		for i := range ds {
			ds[i] = f()
		}
		slices.Sort(ds)
		return ds[runs/2], ds[runs*95/100]
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
	sqlDB, err := db.G.DB()
	if err != nil {
		b.Fatal(err)
	}
	// Each case beside its floor: the bare SQL count of the same set
	// (hand-written, on the same indexes), which must give the same number.
	for _, c := range []struct{ name, def, floor string }{
		{"purchases >= 5", `{"field":"orders_count","op":">=","value":5}`,
			`SELECT count(*) FROM customers WHERE shop_id = $1 AND orders_count >= 5`},
		{"built-in VIP", `{"builtin":"vip"}`,
			`SELECT count(*) FROM customers WHERE shop_id = $1 AND (orders_count >= 5 OR total_spent >= 50000) AND last_order_at >= now() - interval '180 days'`},
		{"tag vip AND region Tokyo", `{"and":[{"field":"tag","value":"vip"},{"field":"region","value":"Tokyo"}]}`,
			`SELECT count(*) FROM customers WHERE shop_id = $1 AND region = 'Tokyo' AND (',' || tags || ',') LIKE '%,vip,%'`},
		{"days since last order <= 60 AND linked friend, not blocked", `{"and":[{"field":"days_since_last_order","op":"<=","value":60},{"field":"friend","value":true},{"not":{"field":"blocked","value":true}}]}`,
			`SELECT count(*) FROM customers c JOIN line_links l ON l.customer_id = c.id AND l.unlinked_at IS NULL WHERE c.shop_id = $1 AND c.last_order_at >= now() - interval '60 days' AND l.friend AND NOT l.blocked`},
		{"bought vendor 'Vendor 9' AND linked", `{"and":[{"field":"vendor","value":"Vendor 9"},{"field":"linked","value":true}]}`,
			`SELECT count(DISTINCT o.customer_id) FROM order_items oi JOIN orders o ON o.id = oi.order_id JOIN line_links l ON l.customer_id = o.customer_id AND l.unlinked_at IS NULL WHERE l.shop_id = $1 AND oi.vendor = 'Vendor 9' AND o.cancelled_at IS NULL`},
	} {
		var want int64
		floor50, floor95 := measure(func() time.Duration {
			start := time.Now()
			if err := sqlDB.QueryRowContext(ctx, c.floor, shop.ID).Scan(&want); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		})
		body := `{"definition":` + c.def + `}`
		var got struct {
			Count int64 `json:"count"`
		}
		p50, p95 := measure(func() time.Duration {
			d, res := call("POST", "/api/segments/preview", body)
			if err := json.Unmarshal(res, &got); err != nil {
				b.Fatal(err)
			}
			return d
		})
		if got.Count != want {
			b.Fatalf("%s: the API counts %d, the floor %d", c.name, got.Count, want)
		}
		// What the builder waits for on an edit: one call for the count, the sample and the funnel.
		w50, w95 := measure(func() time.Duration {
			d, _ := call("POST", "/api/segments/preview", `{"funnel":true,"definition":`+c.def+`}`)
			return d
		})
		b.Logf("live count | %s | %d | floor p50 %s p95 %s | preview p50 %s p95 %s (%.1f× floor) | builder (with funnel) p50 %s p95 %s (%.1f× floor)",
			c.name, want, ms(floor50), ms(floor95), ms(p50), ms(p95), float64(p95)/float64(floor95), ms(w50), ms(w95), float64(w95)/float64(floor95))
	}
	_, floorPage := measure(func() time.Duration { d, _ := call("GET", "/livez", ""); return d })
	b.Logf("floor: GET /livez: p95 %s", ms(floorPage))
	for _, p := range []string{"/admin/campaigns", "/admin/campaigns/new", fmt.Sprintf("/admin/campaigns/%d", camp)} {
		p50, p95 := measure(func() time.Duration { d, _ := call("GET", p+"?lang=ja", ""); return d })
		b.Logf("page | GET %s | p50 %s | p95 %s | %.1f× floor", p, ms(p50), ms(p95), float64(p95)/float64(floorPage))
	}
}

// openBenchDB opens and migrates the seeded database named by TSUNAGU_BENCH_DB,
// or skips the benchmark when none is set.
func openBenchDB(b *testing.B, seededBy string) *store.DB {
	b.Helper()
	url := os.Getenv("TSUNAGU_BENCH_DB")
	if url == "" {
		b.Skipf("TSUNAGU_BENCH_DB is not set (a database seeded by %s)", seededBy)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, nil); err != nil {
		b.Fatal(err)
	}
	return db
}
