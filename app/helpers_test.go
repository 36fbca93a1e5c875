package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/shopify"
)

const (
	testSecret    = "test-shopify-secret"
	testShop      = "tsunagu-test.myshopify.com"
	testLINEToken = "test-channel-access-token"
)

// noon JST, outside the default quiet hours.
var testNow = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

// testClock is a clock a test moves; the app and the fakes share it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func testConfig(lineURL string) *Config {
	key, _ := secretbox.ParseKey(secretbox.NewKey())
	return &Config{
		Addr: "127.0.0.1:0", BaseURL: "http://127.0.0.1:8080", SecretKey: key,
		ShopifyAPIKey: "test-api-key", ShopifyAPISecret: testSecret, ShopifyAdminBase: "https://{shop}",
		LineAPIBase: lineURL, LineDataAPIBase: lineURL, LineAuthBase: lineURL, TimeScale: 1, Concurrency: 4,
	}
}

func quietLogger() *slog.Logger {
	if os.Getenv("TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTestApp(t *testing.T, db *store.DB, redisOpt asynq.RedisConnOpt, lineURL string) *App {
	t.Helper()
	a, err := Assemble(testConfig(lineURL), quietLogger(), db, redisOpt)
	if err != nil {
		t.Fatal(err)
	}
	a.Now = func() time.Time { return testNow }
	a.requestTimeout = testRequestDeadline
	t.Cleanup(a.Close)
	return a
}

// testRequestDeadline replaces the 4 s request deadline in tests of other
// things: with the suite's tests in parallel on two cores, a queued argon2
// sign-in can take longer. TestHungDatabaseAnswers503 sets its own.
const testRequestDeadline = 30 * time.Second

// seedLinkedCustomer creates the shop, its LINE channel and a customer with
// a live LINE link, as the linking flow would.
func seedLinkedCustomer(t *testing.T, a *App, shopifyCustomerID int64, lineUserID string) (*store.Shop, *store.Customer) {
	t.Helper()
	ctx := context.Background()
	shop, err := a.DB.ShopByDomain(ctx, testShop)
	if err != nil {
		shop = &store.Shop{Domain: testShop, Name: "つなぐ商店"}
		now := testNow
		shop.InstalledAt = &now
		if err := a.DB.CreateShop(ctx, shop); err != nil {
			t.Fatal(err)
		}
		ch := &store.LineChannel{ShopID: shop.ID, WebhookKey: "wk-test", MessagingChannelID: "2000000001",
			MessagingSecretEnc: a.Box.Seal("line-channel-secret"), MessagingTokenEnc: a.Box.Seal(testLINEToken)}
		if err := a.DB.SaveLineChannel(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	c := &store.Customer{ShopID: shop.ID, ShopifyID: shopifyCustomerID, FirstName: "Hanako", LastName: "Yamada"}
	if err := a.DB.UpsertCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	if lineUserID != "" {
		if err := a.DB.CreateLink(ctx, &store.LineLink{ShopID: shop.ID, CustomerID: c.ID, LineUserID: lineUserID, Friend: true, LinkedAt: testNow}); err != nil {
			t.Fatal(err)
		}
	}
	return shop, c
}

// webhookRequest builds a Shopify webhook delivery signed with secret.
func webhookRequest(topic, webhookID string, body []byte, secret string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/shopify", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(shopify.HeaderTopic, topic)
	req.Header.Set(shopify.HeaderShopDomain, testShop)
	req.Header.Set(shopify.HeaderWebhookID, webhookID)
	req.Header.Set(shopify.HeaderAPIVersion, "2026-10")
	req.Header.Set(shopify.HeaderTriggeredAt, testNow.Format(time.RFC3339))
	req.Header.Set(shopify.HeaderEventID, "evt-"+webhookID)
	if secret != "" {
		req.Header.Set(shopify.HeaderHmac, base64.StdEncoding.EncodeToString(shopify.SignWebhook(secret, body)))
	}
	return req
}

func deliver(t *testing.T, a *App, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	return rec
}

// startWorkers runs Asynq workers for a; the returned func stops them
// gracefully (finishing in-flight tasks), like a SIGTERM would.
func startWorkers(t *testing.T, a *App) (stop func()) {
	t.Helper()
	cfg := jobs.ServerConfig(4, a.Log)
	cfg.TaskCheckInterval = 20 * time.Millisecond
	cfg.DelayedTaskCheckInterval = 50 * time.Millisecond
	cfg.ShutdownTimeout = 5 * time.Second
	srv := asynq.NewServer(a.Redis, cfg)
	if err := srv.Start(a.Worker().Mux()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			srv.Shutdown()
		}
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
