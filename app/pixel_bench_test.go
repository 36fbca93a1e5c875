package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// pixelBenchBatch is how many events one pixel request carries in the
// benchmark (the pixel batches a second of browsing).
const pixelBenchBatch = 5

// BenchmarkPixelIngest measures web pixel ingest over loopback HTTP on
// PostgreSQL, 16 concurrent browsers posting batches of 5 product views for
// 1,000 signed-in customers (verified proof, consent, dedupe, customer
// lookup, events and the browse trigger in one transaction). Beside it, in
// the same run, the floor: a bare net/http handler that reads and decodes
// the same body and stores its events with one multi-row INSERT ... ON
// CONFLICT DO NOTHING into a table of the same columns and indexes.
//
//	go test ./app -run '^$' -bench BenchmarkPixelIngest -benchtime 20000x
func BenchmarkPixelIngest(b *testing.B) {
	db := testenv.Postgres(b)
	e := newLinkEnv(b, db, testenv.Redis(b), "")
	// The per-shop limit (500 requests/s) is a policy, not the cost being measured.
	e.a.pixelLimits = newPixelLimiter(1e9, 1e9, 1e9, 1e9)
	const customers = 1000
	for i := range customers {
		addCustomer(b, db, e.s.ID, int64(100000+i))
	}
	key := core.PixelKey(e.a.Config.SecretKey, testShop)
	now := e.a.Now()
	var seq atomic.Int64
	body := func() []byte {
		n := seq.Add(1)
		cust := int64(100000 + n%customers)
		evs := make([]map[string]any, pixelBenchBatch)
		for i := range evs {
			evs[i] = viewed(fmt.Sprintf("bench-%d-%d", n, i), int(n%50+1), now)
		}
		out, _ := json.Marshal(map[string]any{"shop": testShop, "key": key, "client_id": fmt.Sprint("client-", n%customers),
			"customer_id": fmt.Sprint(cust), "customer_token": core.PixelCustomerToken(e.a.Config.SecretKey, testShop, cust, now.Add(time.Hour)),
			"consent": map[string]bool{"analytics": true, "marketing": true}, "events": evs})
		return out
	}

	b.Run("tsunagu", func(b *testing.B) {
		srv := httptest.NewServer(e.a.Handler())
		defer srv.Close()
		runPixelBench(b, srv.URL+"/pixel/events", body, func(res []byte) bool {
			return bytes.Contains(res, []byte(fmt.Sprintf(`"stored":%d`, pixelBenchBatch)))
		})
	})

	sqlDB, err := db.G.DB()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE TABLE pixel_floor (id BIGSERIAL PRIMARY KEY, shop_id BIGINT NOT NULL, customer_id BIGINT NOT NULL, event_id TEXT NOT NULL,
name TEXT NOT NULL, product_id BIGINT NOT NULL DEFAULT 0, variant_id BIGINT NOT NULL DEFAULT 0, collection_id BIGINT NOT NULL DEFAULT 0,
title TEXT NOT NULL DEFAULT '', url TEXT NOT NULL DEFAULT '', image_url TEXT NOT NULL DEFAULT '', price NUMERIC(20,4) NOT NULL DEFAULT 0,
currency TEXT NOT NULL DEFAULT '', search_query TEXT NOT NULL DEFAULT '', quantity INTEGER NOT NULL DEFAULT 0,
occurred_at TIMESTAMPTZ NOT NULL, received_at TIMESTAMPTZ NOT NULL, UNIQUE (shop_id, event_id))`,
		`CREATE INDEX pixel_floor_customer ON pixel_floor (customer_id, occurred_at)`,
		`CREATE INDEX pixel_floor_shop_name ON pixel_floor (shop_id, name, occurred_at)`,
	} {
		if _, err := sqlDB.ExecContext(ctx, stmt); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("floor", func(b *testing.B) {
		floor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, _ := io.ReadAll(io.LimitReader(r.Body, core.PixelMaxBody))
			var in struct {
				CustomerID string `json:"customer_id"`
				Events     []core.PixelEventIn
			}
			if err := json.Unmarshal(raw, &in); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			var sb strings.Builder
			sb.WriteString(`INSERT INTO pixel_floor (shop_id, customer_id, event_id, name, product_id, title, url, image_url, price, currency, occurred_at, received_at) VALUES `)
			args := make([]any, 0, len(in.Events)*12)
			for i, ev := range in.Events {
				if i > 0 {
					sb.WriteString(",")
				}
				k := i * 12
				fmt.Fprintf(&sb, "($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)", k+1, k+2, k+3, k+4, k+5, k+6, k+7, k+8, k+9, k+10, k+11, k+12)
				args = append(args, 1, in.CustomerID, ev.ID, ev.Name, ev.ProductID, ev.Title, ev.URL, ev.Image, *ev.Price, ev.Currency, ev.TS, time.Now())
			}
			sb.WriteString(" ON CONFLICT (shop_id, event_id) DO NOTHING")
			res, err := sqlDB.ExecContext(r.Context(), sb.String(), args...)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			n, _ := res.RowsAffected()
			fmt.Fprintf(w, `{"stored":%d}`, n)
		})
		srv := httptest.NewServer(floor)
		defer srv.Close()
		runPixelBench(b, srv.URL, body, func(res []byte) bool {
			return bytes.Equal(res, []byte(fmt.Sprintf(`{"stored":%d}`, pixelBenchBatch)))
		})
	})
}

// runPixelBench posts b.N pixel requests (see postLoad).
func runPixelBench(b *testing.B, url string, body func() []byte, ok func([]byte) bool) {
	postLoad(b, url, "text/plain", body, nil, ok, pixelBenchBatch)
}
