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
// orders, 300,000 LINE links), over loopback HTTP with a real session.
//
// The segment builder, per condition: the quick "about N" it shows first
// (POST /api/segments/preview with "estimate": its first call per edit), the
// exact count with the 20-customer sample (the same call without it: the
// second), and the reachability funnel (POST /api/segments/funnel: the
// third). Beside them, in the same run, the floor: the bare SQL count of the
// same set, hand-written on the same indexes, which must give the same number.
//
// The campaign page (GET /admin/campaigns/:id) of a sent 100,000-recipient
// campaign, beside GET /livez through the same server and the bare SQL of
// the recipient counts the page shows, and the conversion query as it was
// before issue 14 (every order of every recipient).
//
// It reports p50/p95 and the ratio to the floor's p95.
//
//	TSUNAGU_BENCH_DB='postgres://postgres@127.0.0.1:5432/tsunagu_bench7?sslmode=disable' \
//	  go test ./app -run '^$' -bench BenchmarkMerchantUI -benchtime 1x -timeout 60m -v
//
// TSUNAGU_BENCH_SEGMENTS=bought runs only the conditions whose name
// contains "bought"; TSUNAGU_BENCH_SKIP_SEGMENTS, TSUNAGU_BENCH_SKIP_BEFORE
// and TSUNAGU_BENCH_SKIP_PAGE leave parts out.
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
	// A sent campaign to 100,000 of the linked customers, three days ago.
	var camp int64
	db.G.Raw(`SELECT id FROM campaigns WHERE shop_id = ? AND name = 'bench100k'`, shop.ID).Scan(&camp)
	if camp == 0 {
		for _, q := range []string{
			`INSERT INTO campaigns (shop_id, name, definition, variants, status, started_at, finished_at, created_at, updated_at)
VALUES (` + fmt.Sprint(shop.ID) + `, 'bench100k', '{"field":"linked","value":true}', '[{"name":"A","messages":[{"type":"text","text":"セール"}]}]', 'done',
  now() - interval '3 days', now() - interval '3 days', now() - interval '3 days', now())`,
			`INSERT INTO campaign_recipients (campaign_id, shop_id, customer_id, variant, batch, status, line_user_id, sent_at, updated_at)
SELECT c.id, l.shop_id, l.customer_id, 'A', row_number() OVER (ORDER BY l.customer_id) / 500, 'sent', l.line_user_id,
  now() - interval '3 days' + (l.customer_id % 600) * interval '1 second', now()
FROM (SELECT * FROM line_links ORDER BY customer_id LIMIT 100000) l, campaigns c WHERE c.name = 'bench100k' AND l.shop_id = c.shop_id`,
			`UPDATE campaigns SET batches = 200, batches_done = 200 WHERE name = 'bench100k'`,
			`ANALYZE campaign_recipients`,
		} {
			if err := db.G.Exec(q).Error; err != nil {
				b.Fatal(err)
			}
		}
		db.G.Raw(`SELECT id FROM campaigns WHERE shop_id = ? AND name = 'bench100k'`, shop.ID).Scan(&camp)
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
			b.Fatalf("%s %s %s: %d %s", method, path, body, res.StatusCode, out)
		}
		return d, out
	}
	runs := 20
	if n, _ := strconv.Atoi(os.Getenv("TSUNAGU_BENCH_RUNS")); n > 0 {
		runs = n
	}
	// measure runs each f runs times, interleaved so they share the load, and
	// returns each one's p50 and p95.
	measure := func(fs ...func() time.Duration) (p50, p95 []time.Duration) {
		ds := make([][]time.Duration, len(fs))
		for _, f := range fs {
			f() // warm
		}
		for range runs {
			for i, f := range fs {
				ds[i] = append(ds[i], f())
			}
		}
		for _, d := range ds {
			slices.Sort(d)
			p50, p95 = append(p50, d[runs/2]), append(p95, d[(runs*95+99)/100-1])
		}
		return p50, p95
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d.Microseconds())/1000) }
	sqlDB, err := db.G.DB()
	if err != nil {
		b.Fatal(err)
	}
	bare := func(q string, args ...any) func() time.Duration {
		return func() time.Duration {
			start := time.Now()
			rows, err := sqlDB.QueryContext(ctx, q, args...)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
			}
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
			rows.Close()
			return time.Since(start)
		}
	}
	if os.Getenv("TSUNAGU_BENCH_SKIP_SEGMENTS") == "" {
		b.Log("| condition | matches | about N (error) | floor p50 / p95 | estimate p50 / p95 | exact count p50 / p95 | funnel p50 / p95 | estimate p95 / floor p95 | exact p95 / floor p95 |")
		// The floors on last_order_at say redacted_at IS NULL, as every
		// segment does: the index on it is partial on that (migration 0055).
		for _, c := range []struct{ name, def, floor string }{
			{"purchases >= 5", `{"field":"orders_count","op":">=","value":5}`,
				`SELECT count(*) FROM customers WHERE shop_id = $1 AND orders_count >= 5`},
			{"spent >= 50,000", `{"field":"total_spent","op":">=","value":50000}`,
				`SELECT count(*) FROM customers WHERE shop_id = $1 AND total_spent >= 50000`},
			{"days since last order <= 60", `{"field":"days_since_last_order","op":"<=","value":60}`,
				`SELECT count(*) FROM customers WHERE shop_id = $1 AND redacted_at IS NULL AND last_order_at >= now() - interval '60 days'`},
			{"region Tokyo", `{"field":"region","value":"Tokyo"}`,
				`SELECT count(*) FROM customers WHERE shop_id = $1 AND lower(region) = 'tokyo'`},
			{"birthday this month", `{"field":"birthday_month","value":"current"}`,
				`SELECT count(*) FROM customers WHERE shop_id = $1 AND birthday <> '' AND substr(birthday, length(birthday) - 4, 2) = to_char(now(), 'MM')`},
			{"tag vip", `{"field":"tag","value":"vip"}`,
				`SELECT count(*) FROM customers WHERE shop_id = $1 AND (',' || tags || ',') LIKE '%,vip,%'`},
			{"linked", `{"field":"linked","value":true}`,
				`SELECT count(*) FROM line_links WHERE shop_id = $1 AND unlinked_at IS NULL`},
			{"friend (not blocked)", `{"field":"friend","value":true}`,
				`SELECT count(*) FROM line_links WHERE shop_id = $1 AND unlinked_at IS NULL AND friend AND NOT blocked`},
			{"blocked", `{"field":"blocked","value":true}`,
				`SELECT count(*) FROM line_links WHERE shop_id = $1 AND unlinked_at IS NULL AND blocked`},
			// order_items.customer_id is the order's customer while the order
			// counts (migration 0050): the floor reads the index alone.
			{"bought product 1042", `{"field":"product_id","op":"in","value":[1042]}`,
				`SELECT count(*) FROM customers c WHERE c.shop_id = $1 AND c.id IN (SELECT customer_id FROM order_items WHERE product_id = 1042 AND customer_id IS NOT NULL)`},
			{"bought vendor 'Vendor 9'", `{"field":"vendor","value":"Vendor 9"}`,
				`SELECT count(*) FROM customers c WHERE c.shop_id = $1 AND c.id IN (SELECT customer_id FROM order_items WHERE vendor = 'Vendor 9' AND customer_id IS NOT NULL)`},
			{"not bought vendor 'Vendor 9'", `{"field":"vendor","op":"!=","value":"Vendor 9"}`,
				`SELECT (SELECT count(*) FROM customers WHERE shop_id = $1) - (SELECT count(*) FROM customers c WHERE c.shop_id = $1 AND c.id IN (SELECT customer_id FROM order_items WHERE vendor = 'Vendor 9' AND customer_id IS NOT NULL))`},
			{"built-in VIP", `{"builtin":"vip"}`,
				`SELECT count(*) FROM customers WHERE shop_id = $1 AND redacted_at IS NULL AND (orders_count >= 5 OR total_spent >= 50000) AND last_order_at >= now() - interval '180 days'`},
			{"tag vip AND region Tokyo", `{"and":[{"field":"tag","value":"vip"},{"field":"region","value":"Tokyo"}]}`,
				`SELECT count(*) FROM customers WHERE shop_id = $1 AND region = 'Tokyo' AND (',' || tags || ',') LIKE '%,vip,%'`},
			{"last order <= 60 days AND friend, not blocked", `{"and":[{"field":"days_since_last_order","op":"<=","value":60},{"field":"friend","value":true},{"not":{"field":"blocked","value":true}}]}`,
				`SELECT count(*) FROM customers c JOIN line_links l ON l.customer_id = c.id AND l.unlinked_at IS NULL WHERE c.shop_id = $1 AND c.last_order_at >= now() - interval '60 days' AND l.friend AND NOT l.blocked`},
			{"bought vendor 'Vendor 9' AND linked", `{"and":[{"field":"vendor","value":"Vendor 9"},{"field":"linked","value":true}]}`,
				`SELECT count(*) FROM line_links l WHERE l.shop_id = $1 AND l.unlinked_at IS NULL AND l.customer_id IN (SELECT customer_id FROM order_items WHERE vendor = 'Vendor 9' AND customer_id IS NOT NULL)`},
		} {
			if only := os.Getenv("TSUNAGU_BENCH_SEGMENTS"); only != "" && !strings.Contains(c.name, only) {
				continue
			}
			var want int64
			if err := sqlDB.QueryRowContext(ctx, c.floor, shop.ID).Scan(&want); err != nil {
				b.Fatal(err)
			}
			var est, exact struct {
				Count     int64 `json:"count"`
				Estimated bool  `json:"estimated"`
				Under     int64 `json:"under"`
			}
			p50, p95 := measure(
				bare(c.floor, shop.ID),
				func() time.Duration {
					d, res := call("POST", "/api/segments/preview", `{"estimate":true,"definition":`+c.def+`}`)
					if err := json.Unmarshal(res, &est); err != nil {
						b.Fatal(err)
					}
					return d
				},
				func() time.Duration {
					d, res := call("POST", "/api/segments/preview", `{"definition":`+c.def+`}`)
					if err := json.Unmarshal(res, &exact); err != nil {
						b.Fatal(err)
					}
					return d
				},
				func() time.Duration {
					d, _ := call("POST", "/api/segments/funnel", `{"definition":`+c.def+`}`)
					return d
				},
			)
			if exact.Count != want {
				b.Fatalf("%s: the API counts %d, the floor %d", c.name, exact.Count, want)
			}
			about := fmt.Sprintf("%d (%+.1f %%)", est.Count, 100*float64(est.Count-want)/float64(max(want, 1)))
			if est.Under > 0 {
				about = fmt.Sprintf("under %d", est.Under)
			}
			if !est.Estimated {
				about = "exact"
			}
			b.Logf("| %s | %d | %s | %s / %s | %s / %s | %s / %s | %s / %s | %.2f | %.1f |", c.name, want, about,
				ms(p50[0]), ms(p95[0]), ms(p50[1]), ms(p95[1]), ms(p50[2]), ms(p95[2]), ms(p50[3]), ms(p95[3]),
				float64(p95[1])/float64(p95[0]), float64(p95[2])/float64(p95[0]))
		}
	}
	if os.Getenv("TSUNAGU_BENCH_SKIP_PAGE") != "" {
		return
	}
	// The campaign page: the page, /livez, the bare SQL of the recipient
	// counts (what the page must read), and the conversion query before issue 14.
	before := `SELECT r.variant AS variant, COUNT(DISTINCT o.id) AS n, COALESCE(SUM(o.total_price), 0) AS revenue
FROM campaign_recipients r JOIN orders o ON o.customer_id = r.customer_id
WHERE r.campaign_id = $1 AND r.status = 'sent' AND o.cancelled_at IS NULL AND o.ordered_at >= r.sent_at AND o.ordered_at < (r.sent_at + INTERVAL '7 days')
GROUP BY r.variant`
	// What the page cannot do without: the recipient counts and the
	// conversions since the first send (the bound passed as a value).
	var firstSend time.Time
	if err := sqlDB.QueryRowContext(ctx, `SELECT min(sent_at) FROM campaign_recipients WHERE campaign_id = $1 AND status = 'sent'`, camp).Scan(&firstSend); err != nil {
		b.Fatal(err)
	}
	counts := bare(`SELECT variant, status, reason, COUNT(*) FROM campaign_recipients WHERE campaign_id = $1 GROUP BY variant, status, reason`, camp)
	conversions := bare(`SELECT r.variant, COUNT(DISTINCT o.id), COALESCE(SUM(o.total_price), 0)
FROM orders o JOIN campaign_recipients r ON r.customer_id = o.customer_id
WHERE o.shop_id = $1 AND o.ordered_at >= $2 AND r.campaign_id = $3 AND r.status = 'sent' AND o.cancelled_at IS NULL
  AND o.ordered_at >= r.sent_at AND o.ordered_at < (r.sent_at + INTERVAL '7 days') GROUP BY r.variant`, shop.ID, firstSend, camp)
	page := fmt.Sprintf("/admin/campaigns/%d?lang=ja", camp)
	fs := []func() time.Duration{
		func() time.Duration { d, _ := call("GET", page, ""); return d },
		func() time.Duration { d, _ := call("GET", "/livez", ""); return d },
		func() time.Duration { return counts() + conversions() },
	}
	names := []string{"GET /admin/campaigns/:id (100,000 sent)", "floor: GET /livez", "floor: bare SQL recipient counts + conversions since the first send"}
	if os.Getenv("TSUNAGU_BENCH_SKIP_BEFORE") == "" {
		fs = append(fs, bare(before, camp))
		names = append(names, "the conversion query before issue 14 (bare SQL)")
	}
	p50, p95 := measure(fs...)
	b.Log("| measured | p50 ms | p95 ms | page p95 / this p95 |")
	for i, n := range names {
		b.Logf("| %s | %s | %s | %.2f |", n, ms(p50[i]), ms(p95[i]), float64(p95[0])/float64(p95[i]))
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
