package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// inboxFriendsSeed adds the LINE friends of the bench shop (cmd/seedbench:
// 1M customers, 5M timeline events, 333k LINE links): one friend per link
// plus 200,000 friends who never linked. A third wrote (last_inbound_at in
// the last 180 days: ~178k conversations), a thirtieth has unread messages
// (~18k), a fifteenth is unanswered (~36k), a seventh is assigned to one of
// five staff members.
const inboxFriendsSeed = `
INSERT INTO line_friends (shop_id, line_user_id, customer_id, display_name, follow_source, friend_since, is_friend,
  first_seen_at, last_inbound_at, last_text, unread, unanswered, assigned_staff, created_at, updated_at)
SELECT shop_id, line_user_id, customer_id, name, 'follow', at, true, at,
  CASE WHEN n % 3 = 0 THEN now() - (n % 15552000) * interval '1 second' END,
  CASE WHEN n % 3 = 0 THEN '在庫はありますか？ #' || n ELSE '' END,
  CASE WHEN n % 30 = 0 THEN 1 + n % 4 ELSE 0 END, n % 15 = 0,
  CASE WHEN n % 7 = 0 THEN 'staff-' || (n % 5) ELSE '' END, at, at
FROM (
  SELECT l.shop_id, l.line_user_id, l.customer_id, l.display_name AS name, l.id AS n, now() - (l.id % 700) * interval '1 day' AS at
  FROM line_links l
  UNION ALL
  SELECT 1, 'U' || md5('friend' || g), NULL, 'フレンド' || g, 400000 + g, now() - (g % 700) * interval '1 day'
  FROM generate_series(1, 200000) g
) s
ON CONFLICT DO NOTHING`

// BenchmarkInbox measures what support staff wait for on the 1M-customer,
// 5M-event shop of cmd/seedbench with its friends (inboxFriendsSeed): the
// inbox list with its unread and unanswered counts over loopback HTTP
// (GET /api/inbox, a page of 50 and both counts, as the inbox page loads
// them), the same at the store layer (DB.Inbox + DB.CountInbox), and the
// counts alone. Beside each, interleaved in the same run, a floor: the bare
// SQL doing only the irreducible work (the page's 51 (last_inbound_at, id)
// keys from the index, and the two capped counts, through database/sql)
// and, for HTTP, GET /livez through the same server. p50/p95 of 200 runs
// each (TSUNAGU_BENCH_RUNS to change).
//
//	go run ./cmd/seedbench -name h13s_bench -n 5   # seeds once
//	TSUNAGU_BENCH_DB='postgres://postgres@127.0.0.1:5432/h13s_bench?sslmode=disable' \
//	  go test ./app -run '^$' -bench BenchmarkInbox -benchtime 1x -timeout 30m -v
func BenchmarkInbox(b *testing.B) {
	ctx := context.Background()
	db := openBenchDB(b, "cmd/seedbench")
	var friends int64
	db.G.Raw(`SELECT count(*) FROM line_friends`).Scan(&friends)
	if friends == 0 {
		start := time.Now()
		for _, q := range []string{inboxFriendsSeed, `ANALYZE line_friends`} {
			if err := db.G.Exec(q).Error; err != nil {
				b.Fatal(err)
			}
		}
		db.G.Raw(`SELECT count(*) FROM line_friends`).Scan(&friends)
		b.Logf("seeded %d friends in %s", friends, time.Since(start).Round(time.Second))
	}
	var customers, events int64
	db.G.Raw(`SELECT count(*) FROM customers`).Scan(&customers)
	db.G.Raw(`SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM fulfillments) + (SELECT count(*) FROM messages) + (SELECT count(*) FROM activities) + (SELECT count(*) FROM line_links)`).Scan(&events)
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
	var conv, unread, unanswered int64
	db.G.Raw(`SELECT count(*) FILTER (WHERE last_inbound_at IS NOT NULL), count(*) FILTER (WHERE unread > 0), count(*) FILTER (WHERE unanswered AND last_inbound_at IS NOT NULL) FROM line_friends WHERE shop_id = ?`, shop.ID).Row().Scan(&conv, &unread, &unanswered)
	b.Logf("database: %d customers, %d timeline events, %d LINE friends; shop %d: %d conversations, %d unread, %d unanswered", customers, events, friends, shop.ID, conv, unread, unanswered)

	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	cookie := &http.Cookie{Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(shop.Domain+"|staff-1"), time.Now().Add(time.Hour))}
	get := func(path string) time.Duration {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.AddCookie(cookie)
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		d := time.Since(start)
		if res.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d", path, res.StatusCode)
		}
		return d
	}
	sqlDB, err := db.G.DB()
	if err != nil {
		b.Fatal(err)
	}
	timed := func(f func() error) time.Duration {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	// floorPage: the page's keys from the index, nothing else.
	floorPage := func(filter string) time.Duration {
		return timed(func() error {
			rows, err := sqlDB.QueryContext(ctx, `SELECT last_inbound_at, id FROM line_friends WHERE shop_id = $1 AND last_inbound_at IS NOT NULL`+filter+
				` ORDER BY last_inbound_at DESC, id DESC LIMIT 51`, shop.ID)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
			}
			return rows.Err()
		})
	}
	// floorCounts: both badges as bare SQL, capped as DB.CountInbox caps them.
	floorCounts := func() time.Duration {
		return timed(func() error {
			var u, n int64
			if err := sqlDB.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM line_friends WHERE shop_id = $1 AND unread > 0 LIMIT $2) s`, shop.ID, store.InboxCountCap+1).Scan(&u); err != nil {
				return err
			}
			return sqlDB.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM line_friends WHERE shop_id = $1 AND unanswered AND last_inbound_at IS NOT NULL LIMIT $2) s`, shop.ID, store.InboxCountCap+1).Scan(&n)
		})
	}
	// exactCounts: the counts before the cap (every unread and unanswered conversation).
	exactCounts := func() time.Duration {
		return timed(func() error {
			var u, n int64
			if err := sqlDB.QueryRowContext(ctx, `SELECT count(*) FROM line_friends WHERE shop_id = $1 AND unread > 0`, shop.ID).Scan(&u); err != nil {
				return err
			}
			return sqlDB.QueryRowContext(ctx, `SELECT count(*) FROM line_friends WHERE shop_id = $1 AND unanswered AND last_inbound_at IS NOT NULL`, shop.ID).Scan(&n)
		})
	}
	runs := 200
	if v, err := strconv.Atoi(os.Getenv("TSUNAGU_BENCH_RUNS")); err == nil && v >= 20 {
		runs = v
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	// compare runs target and floor alternately, so both see the same load.
	compare := func(name string, target, floor func() time.Duration) {
		target()
		floor() // warm
		ts, fs := make([]time.Duration, runs), make([]time.Duration, runs)
		for i := range runs {
			ts[i], fs[i] = target(), floor()
		}
		slices.Sort(ts)
		slices.Sort(fs)
		p95 := func(d []time.Duration) time.Duration { return d[runs*95/100] }
		b.Logf("| %s | %d | %s | %s | %s | %s | %.1f |", name, runs, ms(ts[runs/2]), ms(p95(ts)), ms(fs[runs/2]), ms(p95(fs)), float64(p95(ts))/float64(p95(fs)))
	}
	b.Logf("| measured | n | p50 ms | p95 ms | floor p50 ms | floor p95 ms | p95 / floor p95 |")
	b.Logf("|---|---|---|---|---|---|---|")
	for _, c := range []struct{ name, query, floor string }{
		{"all", "", ""},
		{"unread", "?filter=unread", " AND unread > 0"},
		{"unanswered", "?filter=unanswered", " AND unanswered"},
		{"unlinked", "?filter=unlinked", " AND customer_id IS NULL"},
		{"assigned to staff-1", "?assigned=staff-1", " AND assigned_staff = 'staff-1'"},
	} {
		compare("HTTP GET /api/inbox"+c.query+" (page + counts) vs bare SQL (page keys + counts)",
			func() time.Duration { return get("/api/inbox" + c.query) },
			func() time.Duration { return floorPage(c.floor) + floorCounts() })
	}
	compare("HTTP GET /api/inbox vs GET /livez", func() time.Duration { return get("/api/inbox") }, func() time.Duration { return get("/livez") })
	compare("store DB.Inbox (page of 50) vs bare SQL (page keys)", func() time.Duration {
		return timed(func() error { _, err := db.Inbox(ctx, shop.ID, store.InboxFilter{}, time.Time{}, 0, 50); return err })
	}, func() time.Duration { return floorPage("") })
	compare("store DB.CountInbox (unread + unanswered, capped) vs bare SQL capped counts", func() time.Duration {
		return timed(func() error { _, err := db.CountInbox(ctx, shop.ID); return err })
	}, floorCounts)
	compare("exact counts (bare SQL, before the cap) vs bare SQL capped counts", exactCounts, floorCounts)
	// A page deep in the list: the cursor of the 2,000th conversation.
	var at time.Time
	var id int64
	db.G.Raw(`SELECT last_inbound_at, id FROM line_friends WHERE shop_id = ? AND last_inbound_at IS NOT NULL ORDER BY last_inbound_at DESC, id DESC OFFSET 2000 LIMIT 1`, shop.ID).Row().Scan(&at, &id)
	cursor := fmt.Sprintf("?cursor=%d_%d", at.UnixMicro(), id)
	compare("HTTP GET /api/inbox"+"?cursor=(2,000th) vs bare SQL (page keys + counts)", func() time.Duration { return get("/api/inbox" + cursor) },
		func() time.Duration { return floorPage("") + floorCounts() })
}
