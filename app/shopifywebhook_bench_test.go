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

	"github.com/hibiken/asynq"

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
// The two run in two rounds, tsunagu then floor, then floor ("floor#01")
// then tsunagu ("tsunagu#01"), so that neither always meets the cold
// connections and pages, nor always the other's garbage and drift; before
// each the queue is let catch up with the ids handed on, so that no side's
// enqueueing is counted in the other's CPU. The last line logs each round's
// ratios and both together (its own line, after the four results).
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

	// Every request stores a new event and hands its id on; wait for the
	// queue to hold them all (or to stop growing: a full dispatcher drops
	// ids, which the relay would pick up) before the next side starts.
	insp := asynq.NewInspector(redisOpt)
	defer insp.Close()
	var handed int
	settle := func(b *testing.B) {
		last, still := -1, 0
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if handed == 0 {
				return
			}
			n := 0
			q, err := insp.GetQueueInfo(jobs.QueueEvents) // an error: not there yet
			if err == nil {
				n = q.Size
			}
			if n >= handed {
				return
			}
			if still++; n != last {
				last, still = n, 0
			}
			if still >= 25 {
				b.Logf("queue stopped at %d of %d ids handed on (%v)", n, handed, err)
				return
			}
		}
	}
	side := func(h http.Handler, path string, got *loadStats) func(*testing.B) {
		return func(b *testing.B) {
			settle(b)
			srv := httptest.NewServer(h)
			defer srv.Close()
			*got = postLoadStats(b, srv.URL+path, "application/json", body, header, nil, 1)
			handed += b.N
		}
	}
	var rounds [2]struct{ tsunagu, floor loadStats }
	b.Run("tsunagu", side(a.Handler(), "/webhooks/shopify", &rounds[0].tsunagu))
	b.Run("floor", side(floor, "", &rounds[0].floor))
	b.Run("floor", side(floor, "", &rounds[1].floor))
	b.Run("tsunagu", side(a.Handler(), "/webhooks/shopify", &rounds[1].tsunagu))
	settle(b)
	var sum struct{ tsunagu, floor loadStats }
	msg := ""
	for i, r := range rounds {
		msg += fmt.Sprintf("round %d (%s first): %s; ", i+1, [2]string{"tsunagu", "floor"}[i], ingestRatio(r.tsunagu, r.floor))
		for _, p := range []struct{ sum, add *loadStats }{{&sum.tsunagu, &r.tsunagu}, {&sum.floor, &r.floor}} {
			p.sum.requests += p.add.requests
			p.sum.elapsed += p.add.elapsed
			p.sum.cpu += p.add.cpu
		}
	}
	// Printed, not logged: a benchmark's log shows only with -test.v.
	fmt.Printf("ShopifyWebhookIngest %sboth: %s\n", msg, ingestRatio(sum.tsunagu, sum.floor))
}

// ingestRatio says how tsunagu compares with its floor: events/s and CPU
// per request, as ratios and the CPU difference.
func ingestRatio(t, f loadStats) string {
	if t.requests == 0 || f.requests == 0 {
		return "no requests"
	}
	rate := func(s loadStats) float64 { return float64(s.requests) / s.elapsed.Seconds() }
	cpu := func(s loadStats) float64 { return float64(s.cpu.Microseconds()) / float64(s.requests) }
	return fmt.Sprintf("events/s %.0f / %.0f = %.3f, cpu-us/req %.1f / %.1f = %.3f (%+.1f)",
		rate(t), rate(f), rate(t)/rate(f), cpu(t), cpu(f), cpu(t)/cpu(f), cpu(t)-cpu(f))
}
