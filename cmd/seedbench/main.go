// Command seedbench seeds a PostgreSQL database with a large shop (1M
// customers and 5M timeline events by default, with generate_series, so it
// runs inside the database) and measures staff search and the first
// timeline page through the same store queries the API uses.
//
//	go run ./cmd/seedbench -admin postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable -name tsunagu_bench -n 200
//
// The database is created and seeded once; later runs only measure (pass
// -reseed to start over).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
)

func main() {
	admin := flag.String("admin", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL URL of a database to create the bench database from")
	name := flag.String("name", "tsunagu_bench", "bench database name (created)")
	customers := flag.Int("customers", 1_000_000, "customers to seed")
	events := flag.Int("events", 5_000_000, "timeline events to seed (orders, fulfillments, messages, activities, links)")
	n := flag.Int("n", 200, "queries per kind")
	reseed := flag.Bool("reseed", false, "drop and seed again")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx := context.Background()
	if err := run(ctx, log, *admin, *name, *customers, *events, *n, *reseed); err != nil {
		log.Error("seedbench", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, adminURL, name string, customers, events, n int, reseed bool) error {
	adm, err := store.Open(ctx, adminURL)
	if err != nil {
		return err
	}
	defer adm.Close()
	var exists bool
	if err := adm.G.Raw("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ?)", name).Scan(&exists).Error; err != nil {
		return err
	}
	if exists && reseed {
		if err := adm.G.Exec("DROP DATABASE " + name + " WITH (FORCE)").Error; err != nil {
			return err
		}
		exists = false
	}
	if !exists {
		if err := adm.G.Exec("CREATE DATABASE " + name).Error; err != nil {
			return err
		}
	}
	u, _ := url.Parse(adminURL)
	u.Path = "/" + name
	db, err := store.Open(ctx, u.String())
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx, log); err != nil {
		return err
	}
	var have int64
	db.G.Raw("SELECT COUNT(*) FROM customers").Scan(&have)
	if have == 0 {
		start := time.Now()
		if err := seed(ctx, log, db, customers, events); err != nil {
			return err
		}
		log.Info("seeded", "took", time.Since(start).Round(time.Second))
	}
	return measure(ctx, db, n)
}

var lastNames = []string{"Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi", "Kato",
	"Yoshida", "Yamada", "Sasaki", "Yamaguchi", "Matsumoto", "Inoue", "Kimura", "Hayashi", "Shimizu", "Yamazaki",
	"佐藤", "鈴木", "高橋", "田中", "渡辺", "伊藤", "山本", "中村", "小林", "加藤", "吉田", "山田", "佐々木", "山口", "松本", "井上", "木村", "林", "清水", "山崎"}
var firstNames = []string{"Hanako", "Taro", "Yui", "Haruto", "Sakura", "Ren", "Aoi", "Sota", "Hina", "Yuto", "Mei", "Riku",
	"花子", "太郎", "結衣", "陽翔", "さくら", "蓮", "葵", "颯太", "陽菜", "悠人", "芽依", "陸"}

func sqlArray(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = "'" + x + "'"
	}
	return "ARRAY[" + strings.Join(q, ",") + "]"
}

// seed fills one big shop (and a small second one, so scoping is real).
// Event mix of the default 5M: 1.2M orders, 0.3M fulfillments, 0.3M links,
// 2M messages, 1.2M activities; customers 1-200 are "heavy" with ~500
// messages and activities each, the worst case for a timeline page.
func seed(ctx context.Context, log *slog.Logger, db *store.DB, customers, events int) error {
	nOrders, nFul, nLinks := events*24/100, events*6/100, min(events*6/100, customers)
	nMsgs, nActs := events*40/100, events*24/100
	steps := []struct{ what, sql string }{
		{"shops", `INSERT INTO shops (domain, name, created_at, updated_at) VALUES ('bench.myshopify.com', 'Bench', now(), now()), ('other.myshopify.com', 'Other', now(), now())`},
		{"customers", fmt.Sprintf(`INSERT INTO customers (shop_id, shopify_id, email, first_name, last_name, phone, created_at, updated_at)
			SELECT CASE WHEN g %% 100 = 0 THEN 2 ELSE 1 END, 6000000000 + g, 'user' || g || '@example' || (g %% 37) || '.com',
			(%s)[1 + (hashint(g) %% %d)], (%s)[1 + (hashint(g * 7) %% %d)],
			'+8190' || lpad(g::text, 8, '0'), now() - (g %% 1000) * interval '1 hour', now()
			FROM generate_series(1, %d) g`, sqlArray(firstNames), len(firstNames), sqlArray(lastNames), len(lastNames), customers)},
		{"line_links", fmt.Sprintf(`INSERT INTO line_links (shop_id, customer_id, line_user_id, display_name, friend, linked_at, created_at, updated_at)
			SELECT c.shop_id, c.id, 'U' || md5(c.id::text), 'LINE' || c.first_name || c.id, true, now() - (c.id %% 500) * interval '1 hour', now(), now()
			FROM customers c WHERE c.id %% %d = 0 OR c.id <= 200`, max(1, customers/nLinks))},
		// The store keeps customers.link_state with line_links (migration 0056); these links are friends.
		{"link states", `UPDATE customers SET link_state = 2 WHERE id IN (SELECT customer_id FROM line_links WHERE unlinked_at IS NULL)`},
		{"orders", fmt.Sprintf(`INSERT INTO orders (shop_id, shopify_id, customer_id, name, currency, total_price, financial_status, ordered_at, created_at, updated_at)
			SELECT c.shop_id, 5000000000 + g, c.id, '#' || (1000 + g), 'JPY', 1000 + (g %% 50) * 100, 'paid',
			now() - (g %% 5000) * interval '10 minutes', now(), now()
			FROM generate_series(1, %d) g JOIN customers c ON c.id = 1 + (hashint(g) %% %d)`, nOrders, customers)},
		{"fulfillments", fmt.Sprintf(`INSERT INTO fulfillments (shop_id, shopify_id, order_id, shopify_order_id, status, tracking_company, tracking_number, created_at, updated_at)
			SELECT o.shop_id, 4000000000 + o.id, o.id, o.shopify_id, 'success', 'Yamato', 'T' || o.id, o.ordered_at + interval '1 day', now()
			FROM orders o WHERE o.id %% %d = 0`, max(1, nOrders/nFul))},
		{"messages", fmt.Sprintf(`INSERT INTO messages (shop_id, customer_id, kind, dedupe_key, ref_type, ref_id, scheduled_for, status, reason, content, created_at, updated_at)
			SELECT c.shop_id, c.id, (ARRAY['thank_you','shipping','follow_up_3','follow_up_7','follow_up_30','cart_reminder'])[1 + g %% 6],
			'bench:' || g, 'order', 0, now(), (ARRAY['sent','sent','sent','skipped','failed','cancelled'])[1 + (g / 7) %% 6],
			CASE WHEN (g / 7) %% 6 = 3 THEN 'not_linked' ELSE '' END, '[{"type":"text","text":"ご注文ありがとうございます"}]',
			now() - (g %% 20000) * interval '3 minutes', now()
			FROM generate_series(1, %d) g JOIN customers c ON c.id = CASE WHEN g %% 10 = 0 THEN 1 + g %% 200 ELSE 1 + (hashint(g) %% %d) END`, nMsgs, customers)},
		{"activities", fmt.Sprintf(`INSERT INTO activities (shop_id, customer_id, kind, summary, ref_type, ref_id, occurred_at)
			SELECT c.shop_id, c.id, (ARRAY['click','line_message_in','follow','unfollow'])[1 + g %% 4], 'こんにちは', '', 0,
			now() - (g %% 20000) * interval '3 minutes'
			FROM generate_series(1, %d) g JOIN customers c ON c.id = CASE WHEN g %% 10 = 0 THEN 1 + g %% 200 ELSE 1 + (hashint(g * 3) %% %d) END`, nActs, customers)},
	}
	// hashint spreads generate_series values over customers deterministically.
	if err := db.G.Exec(`CREATE OR REPLACE FUNCTION hashint(bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT abs(hashint8($1)) $$`).Error; err != nil {
		return err
	}
	for _, s := range steps {
		start := time.Now()
		if err := db.WithContext(ctx).Exec(s.sql).Error; err != nil {
			return fmt.Errorf("seeding %s: %w", s.what, err)
		}
		log.Info("seeded", "table", s.what, "took", time.Since(start).Round(time.Millisecond))
	}
	return db.G.Exec("ANALYZE").Error
}

func measure(ctx context.Context, db *store.DB, n int) error {
	var maxID int64
	db.G.Raw("SELECT MAX(id) FROM customers").Scan(&maxID)
	var total, events int64
	db.G.Raw("SELECT COUNT(*) FROM customers").Scan(&total)
	db.G.Raw(`SELECT (SELECT COUNT(*) FROM orders) + (SELECT COUNT(*) FROM fulfillments) + (SELECT COUNT(*) FROM messages)
		+ (SELECT COUNT(*) FROM activities) + (SELECT COUNT(*) FROM line_links) + (SELECT COUNT(*) FROM checkouts) + (SELECT COUNT(*) FROM coupons)`).Scan(&events)
	fmt.Printf("database: %d customers, %d timeline events\n\n", total, events)
	rng := rand.New(rand.NewPCG(1, 2))
	cust := func() int64 {
		for {
			id := 1 + rng.Int64N(maxID)
			if id%100 != 0 { // shop 1's customers
				return id
			}
		}
	}
	var lineNames []string
	if err := db.G.Raw("SELECT display_name FROM line_links WHERE shop_id = 1 AND id % 97 = 0 LIMIT 2000").Scan(&lineNames).Error; err != nil || len(lineNames) == 0 {
		return fmt.Errorf("sampling LINE names: %v", err)
	}
	var heavyEvents int64
	db.G.Raw("SELECT (SELECT COUNT(*) FROM messages WHERE customer_id = 1) + (SELECT COUNT(*) FROM activities WHERE customer_id = 1)").Scan(&heavyEvents)
	kinds := []struct {
		name string
		q    func() string
	}{
		{"email (full)", func() string { id := cust(); return fmt.Sprintf("user%d@example%d.com", id, id%37) }},
		{"email (prefix)", func() string { return fmt.Sprintf("user%d", cust()) }},
		{"last name (romaji)", func() string { return lastNames[rng.IntN(20)] }},
		{"full name (kanji, no space)", func() string { return lastNames[20+rng.IntN(20)] + firstNames[12+rng.IntN(12)] }},
		{"full name (two words)", func() string { return firstNames[rng.IntN(12)] + " " + lastNames[rng.IntN(20)] }},
		{"phone (090-…)", func() string { id := cust(); return fmt.Sprintf("090-%04d-%04d", id/10000, id%10000) }},
		{"order name (#…)", func() string { return fmt.Sprintf("#%d", 1001+rng.IntN(1_000_000)) }},
		{"Shopify customer id", func() string { return fmt.Sprintf("%d", 6000000000+cust()) }},
		{"LINE display name", func() string { return lineNames[rng.IntN(len(lineNames))] }},
		{"LINE display name (prefix)", func() string { n := []rune(lineNames[rng.IntN(len(lineNames))]); return string(n[:len(n)-2]) }},
	}
	fmt.Println("| query | n | p50 ms | p95 ms | max ms | avg hits |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, k := range kinds {
		var ds []time.Duration
		hits := 0
		for i := 0; i < n; i++ {
			q := k.q()
			start := time.Now()
			res, _, err := db.SearchCustomers(ctx, 1, q, 0, 25)
			ds = append(ds, time.Since(start))
			if err != nil {
				return fmt.Errorf("search %q: %w", q, err)
			}
			hits += len(res)
		}
		report(k.name, ds, float64(hits)/float64(n))
	}
	timeline := func(name string, pick func() int64) error {
		var ds []time.Duration
		got := 0
		for i := 0; i < n; i++ {
			id := pick()
			start := time.Now()
			es, _, err := db.Timeline(ctx, 1, id, nil, nil, 50)
			ds = append(ds, time.Since(start))
			if err != nil {
				return fmt.Errorf("timeline of %d: %w", id, err)
			}
			got += len(es)
		}
		report(name, ds, float64(got)/float64(n))
		return nil
	}
	if err := timeline("timeline first page (random customer)", cust); err != nil {
		return err
	}
	// Seeding sends a tenth of messages and activities to customers 1, 11, … 191.
	if err := timeline(fmt.Sprintf("timeline first page (heavy customer, %d events)", heavyEvents), func() int64 { return 1 + 10*rng.Int64N(20) }); err != nil {
		return err
	}
	var ds []time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		if _, err := db.DashboardStats(ctx, 1, time.Now().AddDate(0, 0, -30), time.Now(), time.UTC); err != nil {
			return fmt.Errorf("dashboard: %w", err)
		}
		ds = append(ds, time.Since(start))
	}
	report("dashboard, 30 days (not a p95 target)", ds, 0)
	return nil
}

func report(name string, ds []time.Duration, hits float64) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	pct := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
	fmt.Printf("| %s | %d | %.1f | %.1f | %.1f | %.1f |\n", name, len(ds), pct(0.5), pct(0.95), pct(1), hits)
}
