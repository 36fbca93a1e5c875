package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/door"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/shopify"
)

// BenchmarkShopifyWebhookIngest measures signed Shopify webhook ingest over
// loopback HTTP on PostgreSQL, 16 concurrent senders, each request
// Shopify's sample orders/create body (15 KB) under a new webhook id: the
// whole app (middleware, the door's size, signature, header, JSON, shop and
// age checks, the events row, the hand-off to the dispatcher, the JSON
// answer). Beside it, in the same run, the floor: a bare net/http handler
// doing only the irreducible work — read the body (bounded), verify the
// HMAC, insert the row into a table like events (same columns and indexes)
// with ON CONFLICT DO NOTHING RETURNING id, hand the id to a dispatcher of
// its own on the same queue, answer 200.
//
//	go test ./app -run '^$' -bench BenchmarkShopifyWebhookIngest -benchtime 20000x -count 2
func BenchmarkShopifyWebhookIngest(b *testing.B) {
	db := testenv.Postgres(b)
	redisOpt := testenv.Redis(b)
	a, err := Assemble(testConfig("http://127.0.0.1:1"), quietLogger(), db, redisOpt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	payload, err := os.ReadFile("../testdata/shopify/webhooks/orders__create.json")
	if err != nil {
		b.Fatal(err)
	}
	secret := a.Config.ShopifyAPISecret
	sig := base64.StdEncoding.EncodeToString(shopify.SignWebhook(secret, payload))
	var seq atomic.Int64
	run := time.Now().UnixNano()
	body := func() []byte { return payload }
	header := func(req *http.Request, _ []byte) {
		req.Header.Set(shopify.HeaderHmac, sig)
		req.Header.Set(shopify.HeaderTopic, "orders/create")
		req.Header.Set(shopify.HeaderShopDomain, testShop)
		req.Header.Set(shopify.HeaderWebhookID, fmt.Sprintf("bench-%d-%d", run, seq.Add(1)))
		req.Header.Set(shopify.HeaderTriggeredAt, time.Now().UTC().Format(time.RFC3339Nano))
	}

	b.Run("tsunagu", func(b *testing.B) {
		srv := httptest.NewServer(a.Handler())
		defer srv.Close()
		postLoad(b, srv.URL+"/webhooks/shopify", "application/json", body, header, nil, 1)
	})

	sqlDB, err := db.G.DB()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := sqlDB.ExecContext(ctx, `CREATE TABLE events_floor (LIKE events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	disp := jobs.NewDispatcher(a.Queue, quietLogger(), 4, 10000)
	defer disp.Close()
	b.Run("floor", func(b *testing.B) {
		floor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, err := io.ReadAll(io.LimitReader(r.Body, door.MaxBody+1))
			if err != nil || len(raw) > door.MaxBody {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
			if !shopify.VerifyWebhook(secret, raw, r.Header.Get(shopify.HeaderHmac)) {
				http.Error(w, "signature", http.StatusUnauthorized)
				return
			}
			var id int64
			err = sqlDB.QueryRowContext(r.Context(), `INSERT INTO events_floor (source, topic, external_id, shop_domain, payload, received_at)
VALUES ('shopify', $1, $2, $3, $4, $5) ON CONFLICT (source, external_id) DO NOTHING RETURNING id`,
				r.Header.Get(shopify.HeaderTopic), testShop+"|"+r.Header.Get(shopify.HeaderWebhookID), r.Header.Get(shopify.HeaderShopDomain), raw, time.Now().UTC()).Scan(&id)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			disp.Dispatch(id)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		})
		srv := httptest.NewServer(floor)
		defer srv.Close()
		postLoad(b, srv.URL, "application/json", body, header, nil, 1)
	})
}
