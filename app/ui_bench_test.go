package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
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
	url := os.Getenv("TSUNAGU_BENCH_DB")
	if url == "" {
		b.Skip("TSUNAGU_BENCH_DB is not set (a database seeded by cmd/bench7/seed.sql)")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, nil); err != nil {
		b.Fatal(err)
	}
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
	call := func(method, path, body string) time.Duration {
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
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		d := time.Since(start)
		if res.StatusCode != http.StatusOK {
			b.Fatalf("%s %s: %d", method, path, res.StatusCode)
		}
		return d
	}
	const runs = 40
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
	_, floorCount := measure(func() time.Duration {
		start := time.Now()
		var n int64
		if err := sqlDB.QueryRowContext(ctx, `SELECT count(*) FROM customers WHERE shop_id = $1`, shop.ID).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	})
	b.Logf("floor: SELECT count(*) of the shop's 1M customers: p95 %s", ms(floorCount))
	for _, c := range []struct{ name, def string }{
		{"purchases >= 5", `{"field":"orders_count","op":">=","value":5}`},
		{"built-in VIP", `{"builtin":"vip"}`},
		{"tag vip AND region Tokyo", `{"and":[{"field":"tag","value":"vip"},{"field":"region","value":"Tokyo"}]}`},
		{"days since last order <= 60 AND linked friend, not blocked", `{"and":[{"field":"days_since_last_order","op":"<=","value":60},{"field":"friend","value":true},{"not":{"field":"blocked","value":true}}]}`},
		{"bought vendor 'Vendor 9' AND linked", `{"and":[{"field":"vendor","value":"Vendor 9"},{"field":"linked","value":true}]}`},
	} {
		p50, p95 := measure(func() time.Duration { return call("POST", "/api/segments/preview", `{"definition":`+c.def+`}`) })
		b.Logf("live count | %s | p50 %s | p95 %s | %.1f× floor", c.name, ms(p50), ms(p95), float64(p95)/float64(floorCount))
	}
	_, floorPage := measure(func() time.Duration { return call("GET", "/livez", "") })
	b.Logf("floor: GET /livez: p95 %s", ms(floorPage))
	for _, p := range []string{"/admin/campaigns", "/admin/campaigns/new", fmt.Sprintf("/admin/campaigns/%d", camp)} {
		p50, p95 := measure(func() time.Duration { return call("GET", p+"?lang=ja", "") })
		b.Logf("page | GET %s | p50 %s | p95 %s | %.1f× floor", p, ms(p50), ms(p95), float64(p95)/float64(floorPage))
	}
}
