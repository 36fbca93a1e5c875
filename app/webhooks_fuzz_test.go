package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/shopify"
)

// The webhook doors take anything from the internet. Whatever arrives, the
// signature check and the payload parse must not panic, and the answer is
// one of: 413 (over the size limit), 404 (unknown LINE webhook URL), 401
// (bad or missing signature), 400 (signed but malformed or refused) or 200
// (stored). What is stored is then processed by the worker, which must not
// panic either. Plain `go test` runs the seeds (here and under
// testdata/fuzz/). CI fuzzes the door's database-free part instead
// (app/door, FuzzShopifyDoor and FuzzLineDoor): an instrumented build of
// this package takes about 12 minutes (docs/SECURITY.md).

// fuzzApp is an app whose outbound calls (Shopify, LINE) all go to a
// closed local port, with the test shop and its LINE channel seeded.
func fuzzApp(f *testing.F) *App {
	f.Helper()
	cfg := testConfig("http://127.0.0.1:1")
	cfg.ShopifyAdminBase = "http://127.0.0.1:1"
	cfg.LineDataAPIBase = "http://127.0.0.1:1"
	a, err := Assemble(cfg, quietLogger(), testenv.SQLite(f), testenv.Redis(f))
	if err != nil {
		f.Fatal(err)
	}
	a.Now = func() time.Time { return testNow }
	a.HTTPClient.Timeout = time.Second
	f.Cleanup(a.Close)
	ctx := context.Background()
	now := testNow
	shop := &store.Shop{Domain: testShop, Name: "つなぐ商店", InstalledAt: &now}
	if err := a.DB.CreateShop(ctx, shop); err != nil {
		f.Fatal(err)
	}
	ch := &store.LineChannel{ShopID: shop.ID, WebhookKey: "wk-test", MessagingChannelID: "2000000001",
		MessagingSecretEnc: a.Box.Seal("line-channel-secret"), MessagingTokenEnc: a.Box.Seal(testLINEToken)}
	if err := a.DB.SaveLineChannel(ctx, ch); err != nil {
		f.Fatal(err)
	}
	return a
}

// processStored runs the worker over every stored, unprocessed event.
func processStored(t *testing.T, a *App, source string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ids []int64
	if err := a.DB.WithContext(ctx).Model(&store.Event{}).Where("source = ? AND processed_at IS NULL", source).Pluck("id", &ids).Error; err != nil {
		t.Fatal(err)
	}
	w := a.Worker()
	for _, id := range ids {
		_ = w.ProcessEvent(ctx, id) // an error is fine (retried or dead-lettered); a panic is not
		_ = a.DB.FinishEvent(ctx, id, store.EventIgnored, "fuzz", testNow)
	}
}

func fixtureFiles(f *testing.F, dir string) map[string][]byte {
	f.Helper()
	paths, _ := filepath.Glob(filepath.Join(testenv.FixturesDir(f), dir, "*.json"))
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".json")] = b
	}
	return out
}

// Signature modes of a fuzzed delivery.
const (
	sigGood uint8 = iota
	sigNone
	sigOtherBody
	sigModes
)

func FuzzShopifyWebhook(f *testing.F) {
	a := fuzzApp(f)
	for name, body := range fixtureFiles(f, "shopify/webhooks") {
		topic := strings.ReplaceAll(name, "__", "/")
		f.Add(body, topic, testShop, sigGood)
		f.Add(body, topic, testShop, sigOtherBody)
	}
	f.Add([]byte(`{"id":1,"customer":{"id":"x"}}`), "orders/create", testShop, sigGood)
	f.Add([]byte(`not json`), "orders/create", testShop, sigGood)
	f.Add([]byte(`{}`), "", testShop, sigGood)
	f.Add([]byte(`{}`), "orders/create", "evil.example", sigGood)
	f.Add([]byte(`{}`), "orders/create", testShop, sigNone)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, body []byte, topic, shop string, sig uint8) {
		sig %= sigModes
		req := httptest.NewRequest(http.MethodPost, "/webhooks/shopify", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(shopify.HeaderTopic, topic)
		req.Header.Set(shopify.HeaderShopDomain, shop)
		req.Header.Set(shopify.HeaderWebhookID, "fuzz-"+strconv.FormatInt(n.Add(1), 10))
		req.Header.Set(shopify.HeaderTriggeredAt, testNow.Format(time.RFC3339))
		switch sig {
		case sigGood:
			req.Header.Set(shopify.HeaderHmac, base64.StdEncoding.EncodeToString(shopify.SignWebhook(testSecret, body)))
		case sigOtherBody:
			req.Header.Set(shopify.HeaderHmac, base64.StdEncoding.EncodeToString(shopify.SignWebhook(testSecret, append(body, ' '))))
		}
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		want := map[int]bool{}
		switch {
		case len(body) > MaxWebhookBody:
			want[413] = true
		case sig != sigGood:
			want[401] = true
		case !json.Valid(body) || topic == "" || !shopify.ValidShopDomain(shop):
			want[400] = true
		default:
			want[200], want[400] = true, true // 400: another shop in the payload, or too old
		}
		if !want[rec.Code] {
			t.Fatalf("topic %q shop %q sig %d: %d %s", topic, shop, sig, rec.Code, rec.Body)
		}
		if rec.Code == 200 {
			processStored(t, a, "shopify")
		}
	})
}

func FuzzLineWebhook(f *testing.F) {
	a := fuzzApp(f)
	for _, body := range fixtureFiles(f, "line/webhooks") {
		f.Add(body, "wk-test", sigGood)
		f.Add(body, "wk-test", sigOtherBody)
	}
	f.Add([]byte(`{"destination":"U1","events":[{"type":"message","message":{"type":"text","text":"x"}}]}`), "wk-test", sigGood)
	f.Add([]byte(`{"events":[null]}`), "wk-test", sigGood)
	f.Add([]byte(`{"events":{}}`), "wk-test", sigGood)
	f.Add([]byte(`not json`), "wk-test", sigGood)
	f.Add([]byte(`{"events":[]}`), "unknown", sigGood)
	f.Add([]byte(`{"events":[]}`), "wk-test", sigNone)
	f.Fuzz(func(t *testing.T, body []byte, key string, sig uint8) {
		sig %= sigModes
		if key == "" || strings.ContainsAny(key, "/?#%") {
			key = "wk-test" // the path segment; routing is not under test
		}
		req := httptest.NewRequest(http.MethodPost, "/webhooks/line/wk-test", bytes.NewReader(body))
		req.URL.Path = "/webhooks/line/" + key
		req.Header.Set("Content-Type", "application/json")
		switch sig {
		case sigGood:
			req.Header.Set("X-Line-Signature", lineSign("line-channel-secret", body))
		case sigOtherBody:
			req.Header.Set("X-Line-Signature", lineSign("line-channel-secret", append(body, ' ')))
		}
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		want := 0
		switch {
		case len(body) > MaxWebhookBody:
			want = 413
		case key != "wk-test":
			want = 404
		case sig != sigGood:
			want = 401
		}
		if want != 0 && rec.Code != want || want == 0 && rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("key %q sig %d: %d %s (want %d, or 200/400 when signed)", key, sig, rec.Code, rec.Body, want)
		}
		if rec.Code == 200 {
			processStored(t, a, "line")
		}
	})
}
