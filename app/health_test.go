package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// waitAnswer delivers req in the background and fails the test if no
// answer comes within limit (a hung request would otherwise hang the test).
func waitAnswer(t *testing.T, a *App, req *http.Request, limit time.Duration) *httptest.ResponseRecorder {
	t.Helper()
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		done <- rec
	}()
	select {
	case rec := <-done:
		return rec
	case <-time.After(limit):
		t.Fatalf("%s %s: no answer within %v", req.Method, req.URL.Path, limit)
		return nil
	}
}

// A process that serves webhooks stays ready while Redis is down: the
// webhook is stored in the outbox and acknowledged; /readyz says so with
// "degraded" instead of turning the load balancer away. /livez checks
// nothing but the process.
func TestReadyWhileRedisDown(t *testing.T) {
	t.Parallel()
	rs := testenv.StartRedisServer(t)
	a := newTestApp(t, testenv.Postgres(t), asynq.RedisClientOpt{Addr: rs.Addr, DialTimeout: 200 * time.Millisecond}, "http://127.0.0.1:1")
	seedLinkedCustomer(t, a, 1, "")
	rs.Stop()
	for _, path := range []string{"/livez", "/healthz"} {
		if rec := waitAnswer(t, a, httptest.NewRequest(http.MethodGet, path, nil), 10*time.Second); rec.Code != http.StatusOK {
			t.Errorf("%s: %d", path, rec.Code)
		}
	}
	rec := waitAnswer(t, a, httptest.NewRequest(http.MethodGet, "/readyz", nil), 10*time.Second)
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusOK || body["redis"] == "ok" || body["database"] != "ok" || body["degraded"] != true {
		t.Fatalf("readyz with Redis down: %d %s", rec.Code, rec.Body)
	}
	wh := waitAnswer(t, a, webhookRequest("orders/create", "redis-down-1", []byte(`{"id":42,"name":"#1042"}`), testSecret), 10*time.Second)
	if wh.Code != http.StatusOK {
		t.Fatalf("webhook with Redis down: %d %s", wh.Code, wh.Body)
	}
	var n int64
	a.DB.G.Model(&store.Event{}).Where("topic = ?", "orders/create").Count(&n)
	if n != 1 {
		t.Fatalf("%d events stored in the outbox, want 1", n)
	}
}

// A hung database (a lock another connection holds on events) makes a
// webhook give up at its deadline with a 503 and Retry-After, so Shopify
// retries; the retry after the lock is gone stores the event once.
func TestHungDatabaseAnswers503(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), "http://127.0.0.1:1")
	a.requestTimeout = 300 * time.Millisecond
	if RequestDeadline >= 5*time.Second {
		t.Fatalf("RequestDeadline %v is not under Shopify's 5 s", RequestDeadline)
	}
	seedLinkedCustomer(t, a, 1, "")
	ctx := context.Background()
	sqlDB, err := a.DB.G.DB()
	if err != nil {
		t.Fatal(err)
	}
	locker, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := locker.ExecContext(ctx, "LOCK TABLE events IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":43,"name":"#1043"}`)
	rec := waitAnswer(t, a, webhookRequest("orders/create", "hung-1", body, testSecret), 20*time.Second)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("webhook on a hung database: %d (Retry-After %q) %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if err := locker.Rollback(); err != nil {
		t.Fatal(err)
	}
	// Shopify's retry (same webhook id) is stored, once.
	for i := 0; i < 2; i++ {
		if rec := waitAnswer(t, a, webhookRequest("orders/create", "hung-1", body, testSecret), 20*time.Second); rec.Code != http.StatusOK {
			t.Fatalf("retry %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	var n int64
	a.DB.G.Model(&store.Event{}).Where("topic = ?", "orders/create").Count(&n)
	if n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
}
