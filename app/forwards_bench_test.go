package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
)

// BenchmarkLineWebhookForwarding measures LINE webhook ingest over loopback
// HTTP on PostgreSQL, 16 concurrent senders, one text message event per
// request (verify X-Line-Signature, parse, store the event, 200): without
// forwarding, with forwarding to 2 destinations (the acknowledgement rate,
// and the rate at which both destinations got every request through Asynq
// workers on the forwards queue), and the floor: a bare net/http handler
// that reads the body, checks the HMAC and inserts one row into a table
// unique on the event id.
//
//	go test ./app -run '^$' -bench BenchmarkLineWebhookForwarding -benchtime 5000x
func BenchmarkLineWebhookForwarding(b *testing.B) {
	db := testenv.Postgres(b)
	e := newLinkEnv(b, db, testenv.Redis(b), "")
	var seq atomic.Int64
	tmpl := `{"destination":"U0","events":[{"type":"message","mode":"active","timestamp":1462629479859,` +
		`"source":{"type":"user","userId":"U%032x"},"webhookEventId":"bench-fwd-%d","deliveryContext":{"isRedelivery":false},` +
		`"replyToken":"r","message":{"id":"%d","type":"text","text":"こんにちは"}}]}`
	body := func() []byte {
		n := seq.Add(1)
		return []byte(fmt.Sprintf(tmpl, n%1000, n, n))
	}
	ingest := func(b *testing.B) time.Duration {
		srv := httptest.NewServer(e.a.Handler())
		defer srv.Close()
		return runLineBench(b, srv.URL+"/webhooks/line/"+testWebhookKey, body)
	}
	b.Run("no_forwarding", func(b *testing.B) { ingest(b) })

	b.Run("forward_2", func(b *testing.B) {
		var got atomic.Int64
		var done time.Time
		var mu sync.Mutex
		sink := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if got.Add(1) == int64(2*b.N) {
				mu.Lock()
				done = time.Now()
				mu.Unlock()
			}
		})
		ctx := context.Background()
		for range 2 {
			s := httptest.NewServer(sink)
			defer s.Close()
			if _, err := e.a.Forwards().Add(ctx, e.s.ID, s.URL+"/hook"); err != nil {
				b.Fatal(err)
			}
		}
		defer func() {
			fw, _ := db.WebhookForwards(ctx, e.s.ID)
			for _, f := range fw {
				_, _ = db.DeleteWebhookForward(ctx, e.s.ID, f.ID)
			}
		}()
		// Each process reuses a shop's destination list for 10 s.
		time.Sleep(11 * time.Second)
		cfg := jobs.ServerConfig(8, quietLogger())
		cfg.Queues = map[string]int{jobs.QueueForwards: 1}
		cfg.TaskCheckInterval = 10 * time.Millisecond
		srv := asynq.NewServer(e.a.Redis, cfg)
		if err := srv.Start(e.a.Worker().Mux()); err != nil {
			b.Fatal(err)
		}
		defer srv.Shutdown()
		start := time.Now()
		ingest(b)
		deadline := time.Now().Add(5 * time.Minute)
		for got.Load() < int64(2*b.N) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		end := done
		mu.Unlock()
		if end.IsZero() {
			b.Fatalf("destinations got %d of %d requests", got.Load(), 2*b.N)
		}
		b.ReportMetric(float64(b.N)/end.Sub(start).Seconds(), "forwarded-events/s")
	})

	sqlDB, err := db.G.DB()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sqlDB.Exec(`CREATE TABLE line_floor (id BIGSERIAL PRIMARY KEY, external_id TEXT NOT NULL UNIQUE, payload TEXT NOT NULL, received_at TIMESTAMPTZ NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	b.Run("floor", func(b *testing.B) {
		floor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, _ := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody))
			m := hmac.New(sha256.New, []byte(testMsgSecret))
			m.Write(raw)
			sig, _ := base64.StdEncoding.DecodeString(r.Header.Get("X-Line-Signature"))
			if !hmac.Equal(sig, m.Sum(nil)) {
				http.Error(w, "signature", http.StatusUnauthorized)
				return
			}
			id := fmt.Sprintf("%x", sha256.Sum256(raw))
			if _, err := sqlDB.ExecContext(r.Context(), `INSERT INTO line_floor (external_id, payload, received_at) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`,
				id, string(raw), time.Now()); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			_, _ = w.Write([]byte(`{"ok":true}`))
		})
		srv := httptest.NewServer(floor)
		defer srv.Close()
		runLineBench(b, srv.URL, body)
	})
}

// runLineBench posts b.N signed LINE webhook requests (see postLoad).
func runLineBench(b *testing.B, url string, body func() []byte) time.Duration {
	return postLoad(b, url, "application/json", body, func(req *http.Request, body []byte) {
		req.Header.Set("X-Line-Signature", lineSign(testMsgSecret, body))
	}, nil, 1)
}
