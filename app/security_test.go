package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// H2: webhook metric labels come only from known values. Unsigned posts
// with made-up or huge topics, and signed ones with unknown topics, add no
// series and no bytes of the attacker's choosing to /metrics.
func TestWebhookMetricLabelsBounded(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	body, _ := orderFixture(t)
	huge := strings.Repeat("t", 64<<10)
	for i := range 200 {
		deliver(t, a, webhookRequest(fmt.Sprintf("attack/%d", i), fmt.Sprintf("u%d", i), body, ""))
		deliver(t, a, webhookRequest(fmt.Sprintf("signed/%d", i), fmt.Sprintf("s%d", i), []byte(`{}`), testSecret))
	}
	deliver(t, a, webhookRequest(huge, "h1", body, ""))
	out := adminDo(t, a, "", "GET", "/metrics", nil).Body.String()
	series := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "tsunagu_webhooks_received_total{") {
			series++
		}
	}
	if series > 4 {
		t.Errorf("%d webhook series after 401 posts with distinct topics, want a handful", series)
	}
	if strings.Contains(out, "attack/") || strings.Contains(out, "signed/") || strings.Contains(out, huge[:100]) {
		t.Error("/metrics carries a topic a sender made up")
	}
	if !strings.Contains(out, `tsunagu_webhooks_received_total{source="shopify",status="401",topic="unsigned"} 201`) {
		t.Errorf("unsigned posts not counted as such:\n%s", grepLines(out, "tsunagu_webhooks_received_total"))
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// M3: the server has read, write and idle timeouts.
func TestServerTimeouts(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	srv := a.httpServer()
	if srv.ReadTimeout <= 0 || srv.ReadHeaderTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Fatalf("timeouts read=%s header=%s write=%s idle=%s: all must be set", srv.ReadTimeout, srv.ReadHeaderTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
}

// M3: a body limit on every route, and no multipart parsing on sign-in.
func TestBodyLimits(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	seedAdmin(t, a)
	big := `{"name":"x","definition":"` + strings.Repeat("a", 3<<20) + `"}`
	if rec := adminDo(t, a, testShop, "POST", "/api/segments", json.RawMessage(big)); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("3 MiB JSON to an API: %d, want 413", rec.Code)
	}
	// A 10 MB multipart sign-in is refused before any parsing.
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	fw, _ := w.CreateFormFile("file", "big.bin")
	fw.Write(bytes.Repeat([]byte("z"), 10<<20))
	w.WriteField("shop", testShop)
	w.Close()
	req := httptest.NewRequest(http.MethodPost, "/admin/login", &mp)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if rec := deliver(t, a, req); rec.Code != http.StatusRequestEntityTooLarge && rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("10 MB multipart sign-in: %d, want 413 or 415", rec.Code)
	}
	// Without a Content-Length (chunked), the limit still holds.
	req = httptest.NewRequest(http.MethodPost, "/api/segments", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(testShop+"|staff-1"), testNow.Add(time.Hour))})
	if rec := deliver(t, a, req); rec.Code != http.StatusRequestEntityTooLarge && rec.Code != http.StatusBadRequest {
		t.Errorf("chunked 3 MiB JSON: %d, want 413 (or 400)", rec.Code)
	}
}

// M4: cookie-borne writes from another site, a sandboxed frame (Origin:
// null) or as a form/text body without Origin are refused; JSON APIs take
// only application/json.
func TestCSRF(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	seedAdmin(t, a)
	body := `{"name":"csrf","definition":{"field":"linked","op":"=","value":true}}`
	cases := []struct {
		name    string
		headers map[string]string
		refused bool
	}{
		{"Origin null", map[string]string{"Origin": "null", "Content-Type": "application/json"}, true},
		{"text/plain, no Origin", map[string]string{"Content-Type": "text/plain"}, true},
		{"text/plain, same origin", map[string]string{"Sec-Fetch-Site": "same-origin", "Content-Type": "text/plain"}, true},
		{"form, no Origin", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, true},
		{"same-site subdomain", map[string]string{"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"}, true},
		{"cross-site JSON", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, true},
		{"JSON, no Origin (non-browser client)", map[string]string{"Content-Type": "application/json"}, false},
		{"same origin JSON", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com", "Content-Type": "application/json; charset=utf-8"}, false},
	}
	ck := &http.Cookie{Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(testShop+"|staff-1"), testNow.Add(time.Hour))}
	for _, tc := range cases {
		req := httptest.NewRequest(http.MethodPost, "/api/segments", strings.NewReader(body))
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		req.AddCookie(ck)
		rec := deliver(t, a, req)
		refused := rec.Code == http.StatusForbidden || rec.Code == http.StatusUnsupportedMediaType
		if refused != tc.refused {
			t.Errorf("%s: %d %s, refused=%v want %v", tc.name, rec.Code, rec.Body, refused, tc.refused)
		}
	}
}

// Security headers: frame-ancestors on every answer, HSTS on https.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	db, rdb := testenv.SQLite(t), testenv.Redis(t)
	cfg := testConfig("http://127.0.0.1:1")
	cfg.BaseURL = "https://tsunagu.example"
	a, err := Assemble(cfg, quietLogger(), db, rdb)
	mustDo(t, err)
	t.Cleanup(a.Close)
	for _, p := range []string{"/healthz", "/admin/login", "/nope", "/c/garbage"} {
		rec := deliver(t, a, httptest.NewRequest(http.MethodGet, p, nil))
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors") {
			t.Errorf("%s: Content-Security-Policy %q lacks frame-ancestors", p, csp)
		}
		if hsts := rec.Header().Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
			t.Errorf("%s: no HSTS on an https deployment", p)
		}
	}
	plain := newTestApp(t, db, rdb, "http://127.0.0.1:1")
	if rec := deliver(t, plain, httptest.NewRequest(http.MethodGet, "/healthz", nil)); rec.Header().Get("Strict-Transport-Security") != "" {
		t.Error("HSTS on plain http (it would lock developers out of localhost)")
	}
}

// L1: the shop named in a signed payload must be the header's shop, and a
// delivery triggered long ago (a replayed body) is not processed.
func TestWebhookShopAndReplay(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	redact := []byte(`{"shop_id":954889,"shop_domain":"victim-shop.myshopify.com"}`)
	rec := deliver(t, a, webhookRequest("shop/redact", "r1", redact, testSecret))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("redact naming another shop than the header: %d %s, want 400", rec.Code, rec.Body)
	}
	body, _ := orderFixture(t)
	old := webhookRequest("orders/create", "old-1", body, testSecret)
	old.Header.Set("X-Shopify-Triggered-At", testNow.Add(-72*time.Hour).Format(time.RFC3339))
	if rec := deliver(t, a, old); rec.Code != http.StatusBadRequest {
		t.Errorf("delivery triggered 72 h ago: %d, want 400", rec.Code)
	}
	late := webhookRequest("orders/create", "late-1", body, testSecret)
	late.Header.Set("X-Shopify-Triggered-At", testNow.Add(-20*time.Hour).Format(time.RFC3339))
	if rec := deliver(t, a, late); rec.Code != http.StatusOK {
		t.Errorf("delivery 20 h late (Shopify says up to a day can happen): %d, want 200", rec.Code)
	}
	var events []store.Event
	a.DB.G.Order("id").Find(&events)
	for _, e := range events {
		wantInvalid := !strings.HasSuffix(e.ExternalID, "late-1")
		if (e.Status == store.EventInvalid) != wantInvalid {
			t.Errorf("event %s: status %s (%s)", e.ExternalID, e.Status, e.Error)
		}
	}
}

// L6: event dedupe is per shop: another shop's delivery with the same id is
// not mistaken for a duplicate.
func TestEventDedupePerShop(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	for i, shop := range []string{testShop, "another-shop.myshopify.com", testShop} {
		req := webhookRequest("orders/create", "same-id", []byte(`{"id":1}`), testSecret)
		req.Header.Set("X-Shopify-Shop-Domain", shop)
		rec := deliver(t, a, req)
		var res struct{ Duplicate bool }
		json.Unmarshal(rec.Body.Bytes(), &res)
		wantDup := i == 2
		if rec.Code != 200 || res.Duplicate != wantDup {
			t.Errorf("%s: %d %s (duplicate=%v, want %v)", shop, rec.Code, rec.Body, res.Duplicate, wantDup)
		}
	}
	if n := countEvents(t, a); n != 2 {
		t.Errorf("%d events stored, want one per shop", n)
	}
}

func countEvents(t *testing.T, a *App) int64 {
	var n int64
	mustDo(t, a.DB.G.Model(&store.Event{}).Count(&n).Error)
	return n
}

// L5: report CSV cells are neutralised against spreadsheet formulas.
func TestReportCSVNeutralised(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	s := seedAdmin(t, a)
	camp := &store.Campaign{ShopID: s.shopA.ID, Name: `=HYPERLINK("https://evil.example","Click")`, Status: store.CampaignDraft,
		Variants: []store.CampaignVariant{{Name: "@A", Weight: 1, Messages: []json.RawMessage{json.RawMessage(`{"type":"text","text":"hi"}`)}}}}
	mustDo(t, a.DB.CreateCampaign(context.Background(), camp))
	rec := adminDo(t, a, testShop, "GET", fmt.Sprintf("/api/campaigns/%d/report.csv", camp.ID), nil)
	if rec.Code != 200 {
		t.Fatalf("report.csv: %d %s", rec.Code, rec.Body)
	}
	out := rec.Body.String()
	if strings.Contains(out, `,"=HYPERLINK`) || strings.Contains(out, ",=HYPERLINK") || strings.Contains(out, ",@A,") {
		t.Fatalf("formula cells left as they are:\n%s", out)
	}
	if !strings.Contains(out, `'=HYPERLINK`) || !strings.Contains(out, "'@A") {
		t.Fatalf("neutralised cells missing:\n%s", out)
	}
}

// Wiring: LINE API metrics see the Messenger's own calls (push here).
func TestLINEMetricsSeeMessengerCalls(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	fake.AddToken("tok")
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), fake.URL)
	msgs := []line.Message{line.Message(`{"type":"text","text":"hi"}`)}
	if _, err := a.Messenger.Push(context.Background(), "tok", "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", msgs, line.RetryKey("metrics-1")); err != nil {
		t.Fatal(err)
	}
	out := adminDo(t, a, "", "GET", "/metrics", nil).Body.String()
	if !strings.Contains(out, `tsunagu_line_api_requests_total{endpoint="/v2/bot/message/push"} 1`) {
		t.Errorf("push not counted:\n%s", grepLines(out, "tsunagu_line_api"))
	}
}
