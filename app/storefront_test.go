package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

func addOrder(t testing.TB, db *store.DB, shopID, shopifyID int64, cust *store.Customer, checkoutToken string) *store.Order {
	t.Helper()
	o := &store.Order{ShopID: shopID, ShopifyID: shopifyID, Name: fmt.Sprintf("#%d", shopifyID), CheckoutToken: checkoutToken,
		Currency: "JPY", OrderedAt: testNow.Add(-time.Minute)}
	if cust != nil {
		o.CustomerID = &cust.ID
	}
	if err := db.UpsertOrder(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return o
}

func readJSON(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
}

func TestExtensionLinkBlock(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		env := newLinkEnv(t, db, testenv.Redis(t), "")
		a, ctx := env.a, context.Background()
		other := addCustomer(t, db, env.s.ID, 7002)
		linked := addCustomer(t, db, env.s.ID, 7003)
		if err := db.CreateLink(ctx, &store.LineLink{ShopID: env.s.ID, CustomerID: linked.ID, LineUserID: "U0000000000000000000000000000aaaa", Friend: true, LinkedAt: testNow}); err != nil {
			t.Fatal(err)
		}
		addOrder(t, db, env.s.ID, 900001, env.cust, "ck-900001")
		addOrder(t, db, env.s.ID, 900002, linked, "ck-900002")
		addOrder(t, db, env.s.ID, 900003, nil, "ck-900003")
		guest := env.shop.ExtensionToken(testShop, 0)
		tests := []struct {
			name, auth, query string
			status            int
			state             string
		}{
			{"no token", "", "target=thank_you&order_id=gid://shopify/Order/900001&checkout_token=ck-900001", 401, ""},
			{"forged token", "Bearer " + strings.Replace(guest, ".", ".x", 1), "target=thank_you&order_id=gid://shopify/Order/900001", 401, ""},
			{"guest with the checkout token", "Bearer " + guest, "target=thank_you&order_id=gid://shopify/Order/900001&checkout_token=ck-900001&lang=ja", 200, core.BlockLink},
			{"guest with another order's token", "Bearer " + guest, "target=thank_you&order_id=gid://shopify/Order/900001&checkout_token=ck-900002", 404, ""},
			{"guest without checkout token", "Bearer " + guest, "target=thank_you&order_id=gid://shopify/Order/900001", 404, ""},
			{"signed-in owner on order status", "Bearer " + env.shop.ExtensionToken(testShop, 7001), "target=order_status&order_id=gid://shopify/Order/900001", 200, core.BlockLink},
			{"signed-in stranger", "Bearer " + env.shop.ExtensionToken(testShop, other.ShopifyID), "target=order_status&order_id=gid://shopify/Order/900001", 404, ""},
			{"order status needs a customer", "Bearer " + guest, "target=order_status&order_id=gid://shopify/Order/900001", 401, ""},
			{"already linked shows nothing", "Bearer " + env.shop.ExtensionToken(testShop, 7003), "target=thank_you&order_id=gid://shopify/Order/900002", 200, core.BlockLinked},
			{"order not arrived yet", "Bearer " + guest, "target=thank_you&order_id=gid://shopify/Order/999999&checkout_token=x", 200, core.BlockPending},
			{"order without customer", "Bearer " + guest, "target=thank_you&order_id=gid://shopify/Order/900003&checkout_token=ck-900003", 200, core.BlockNone},
			{"not an order gid", "Bearer " + guest, "target=thank_you&order_id=gid://shopify/Customer/1", 422, ""},
			{"unknown target", "Bearer " + guest, "target=cart&order_id=gid://shopify/Order/900001", 422, ""},
			{"token of another shop", "Bearer " + env.shop.ExtensionToken("other-shop.myshopify.com", 0), "target=thank_you&order_id=gid://shopify/Order/900001&checkout_token=ck-900001", 404, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req := httptest.NewRequest(http.MethodGet, "/ext/link-block?"+tt.query, nil)
				req.Header.Set("Origin", "https://extensions.shopifycdn.com")
				if tt.auth != "" {
					req.Header.Set("Authorization", tt.auth)
				}
				rec := deliver(t, a, req)
				if rec.Code != tt.status {
					t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
				}
				if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
					t.Errorf("no CORS header for the extension worker")
				}
				if tt.state == "" {
					return
				}
				var ans core.BlockAnswer
				readJSON(t, rec, &ans)
				if ans.State != tt.state {
					t.Fatalf("state %q, want %q", ans.State, tt.state)
				}
				if ans.State == core.BlockLink {
					if !strings.HasPrefix(ans.URL, a.Config.BaseURL+"/link/start?t=") || !strings.Contains(ans.Incentive, "10%") {
						t.Errorf("answer %+v", ans)
					}
				} else if ans.URL != "" {
					t.Errorf("%s answer carries a link: %+v", ans.State, ans)
				}
			})
		}
		// The link given to the buyer is for the order's customer.
		req := httptest.NewRequest(http.MethodGet, "/ext/link-block?target=thank_you&order_id=gid://shopify/Order/900001&checkout_token=ck-900001", nil)
		req.Header.Set("Authorization", "Bearer "+guest)
		var ans core.BlockAnswer
		readJSON(t, deliver(t, a, req), &ans)
		tok := strings.TrimPrefix(ans.URL, a.Config.BaseURL+"/link/start?t=")
		p, err := a.Signer.Verify(linkPurpose, mustUnescape(t, tok), testNow)
		if err != nil || !strings.HasPrefix(string(p), fmt.Sprintf("%d:%d:", env.s.ID, env.cust.ID)) {
			t.Fatalf("link token names %q (%v), want the order's customer", p, err)
		}
		seen, err := db.ExtensionsSeen(ctx, env.s.ID)
		if err != nil || seen[core.ExtThankYou].IsZero() || seen[core.ExtOrderStatus].IsZero() {
			t.Errorf("extensions seen = %v %v", seen, err)
		}
		// Preflight from the extension worker.
		pre := httptest.NewRequest(http.MethodOptions, "/ext/link-block", nil)
		pre.Header.Set("Origin", "https://extensions.shopifycdn.com")
		pre.Header.Set("Access-Control-Request-Method", "GET")
		pre.Header.Set("Access-Control-Request-Headers", "authorization")
		rec := deliver(t, a, pre)
		if rec.Code != http.StatusNoContent || !strings.Contains(strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers")), "authorization") {
			t.Errorf("preflight: %d %v", rec.Code, rec.Header())
		}
	})
}

func mustUnescape(t *testing.T, s string) string {
	t.Helper()
	u, err := urlUnescape(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestProxyBlock(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	env := newLinkEnv(t, db, testenv.Redis(t), "")
	a, ctx := env.a, context.Background()
	linked := addCustomer(t, db, env.s.ID, 7003)
	if err := db.CreateLink(ctx, &store.LineLink{ShopID: env.s.ID, CustomerID: linked.ID, LineUserID: "U0000000000000000000000000000aaaa", Friend: true, LinkedAt: testNow}); err != nil {
		t.Fatal(err)
	}
	get := func(q string) *httptest.ResponseRecorder {
		return deliver(t, a, httptest.NewRequest(http.MethodGet, "/proxy/block?"+q, nil))
	}
	signed := func(cust int64, extra string) string {
		v, _ := urlParseQuery(extra)
		return env.shop.ProxyQuery(testShop, cust, v).Encode()
	}
	tests := []struct {
		name, query string
		status      int
		check       func(t *testing.T, p proxyAnswer)
	}{
		{"unsigned", "shop=" + testShop + "&logged_in_customer_id=7001", 401, nil},
		{"tampered customer", strings.Replace(signed(7001, "placement=product"), "logged_in_customer_id=7001", "logged_in_customer_id=7003", 1), 401, nil},
		{"guest is asked to sign in, back into linking", signed(0, "placement=product&lang=en"), 200, func(t *testing.T, p proxyAnswer) {
			if p.State != core.BlockSignIn || p.LoginURL != "/account/login?return_url=%2Fapps%2Ftsunagu%2Flink" || p.LinkURL != "" || p.QR != "" || p.PixelToken != "" {
				t.Errorf("%+v", p)
			}
		}},
		{"signed-in customer gets the proxy link and a QR", signed(7001, "placement=cart&qr=1"), 200, func(t *testing.T, p proxyAnswer) {
			if p.State != core.BlockLink || p.LinkURL != "/apps/tsunagu/link" || !strings.HasPrefix(p.QR, "data:image/png;base64,") || p.Incentive == "" {
				t.Errorf("%+v", p)
			}
		}},
		{"linked customer sees nothing, but their browser gets the pixel proof", signed(7003, "placement=product"), 200, func(t *testing.T, p proxyAnswer) {
			want := core.PixelCustomerToken(a.Config.SecretKey, testShop, 7003, testNow.Add(core.PixelTokenTTL))
			if p.State != core.BlockLinked || p.LinkURL != "" || p.PixelToken != want {
				t.Errorf("%+v, want pixel token %s", p, want)
			}
		}},
		{"unknown signed-in customer may still link", signed(8888, "placement=embed"), 200, func(t *testing.T, p proxyAnswer) {
			if p.State != core.BlockLink || p.QR != "" {
				t.Errorf("%+v", p)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(tt.query)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.check != nil {
				var p proxyAnswer
				readJSON(t, rec, &p)
				tt.check(t, p)
				if rec.Header().Get("Cache-Control") != "no-store, private" {
					t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
				}
			}
		})
	}
	seen, _ := db.ExtensionsSeen(ctx, env.s.ID)
	if seen[core.ExtThemeBlock].IsZero() || seen[core.ExtThemeEmbed].IsZero() {
		t.Errorf("theme block/embed not recorded: %v", seen)
	}
}

// pixelEnv is a shop with a known customer (Shopify id 7001) ready for pixel events.
type pixelEnv struct {
	*linkEnv
	key string
}

func newPixelEnv(t *testing.T, db *store.DB) *pixelEnv {
	env := newLinkEnv(t, db, testenv.Redis(t), "")
	return &pixelEnv{linkEnv: env, key: core.PixelKey(env.a.Config.SecretKey, testShop)}
}

// batch is a pixel request; a numeric customer comes with the app's proof,
// as the theme script hands it to a signed-in shopper.
func (p *pixelEnv) batch(client, customer string, consent bool, events ...map[string]any) []byte {
	tok := ""
	if id, err := strconv.ParseInt(customer, 10, 64); err == nil {
		tok = core.PixelCustomerToken(p.a.Config.SecretKey, testShop, id, testNow.Add(core.PixelTokenTTL))
	}
	return p.batchWithToken(client, customer, tok, consent, events...)
}

func (p *pixelEnv) batchWithToken(client, customer, token string, consent bool, events ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"shop": testShop, "key": p.key, "client_id": client, "customer_id": customer,
		"customer_token": token, "consent": map[string]bool{"analytics": consent, "marketing": consent}, "events": events})
	return b
}

func viewed(id string, product int, at time.Time) map[string]any {
	return map[string]any{"id": id, "name": "product_viewed", "ts": at.Format(time.RFC3339Nano), "product_id": fmt.Sprint(product),
		"title": "有田焼 湯呑み", "url": "/products/yunomi", "image": "https://cdn.shopify.com/s/files/yunomi.jpg", "price": 3300, "currency": "JPY"}
}

func postPixel(t *testing.T, a *App, body []byte, origin string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/pixel/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/plain")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return deliver(t, a, req)
}

func TestPixelIngestValidation(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	p := newPixelEnv(t, db)
	a := p.a
	ok := viewed("e-1", 111, testNow)
	bad := func(mod func(m map[string]any)) []byte {
		m := viewed("e-x", 111, testNow)
		mod(m)
		return p.batch("c1", "7001", true, m)
	}
	wrongKey, _ := json.Marshal(map[string]any{"shop": testShop, "key": "0123456789abcdef0123456789abcdef", "client_id": "c1",
		"consent": map[string]bool{"analytics": true, "marketing": true}, "events": []any{ok}})
	unknownShop, _ := json.Marshal(map[string]any{"shop": "nobody.myshopify.com", "key": core.PixelKey(a.Config.SecretKey, "nobody.myshopify.com"),
		"client_id": "c1", "consent": map[string]bool{"analytics": true, "marketing": true}, "events": []any{ok}})
	many := make([]map[string]any, core.PixelMaxEvents+1)
	for i := range many {
		many[i] = viewed(fmt.Sprint("m", i), 1, testNow)
	}
	tests := []struct {
		name   string
		body   []byte
		status int
		want   string
	}{
		{"valid", p.batch("c1", "7001", true, ok), 200, ""},
		{"malformed JSON", []byte(`{"shop":`), 400, "not JSON"},
		{"valid batch, then a stray byte", append(p.batch("c1", "7001", true, ok), '}'), 400, "not JSON"},
		{"bad escape in a string", bytes.Replace(p.batch("c1", "7001", true, ok), []byte(`"c1"`), []byte(`"c\x1"`), 1), 400, "not JSON"},
		{"control byte in a string", bytes.Replace(p.batch("c1", "7001", true, ok), []byte(`"c1"`), []byte("\"c\t1\""), 1), 400, "not JSON"},
		{"oversize", append([]byte(`{"pad":"`), append(bytes.Repeat([]byte("a"), core.PixelMaxBody), []byte(`"}`)...)...), 413, ""},
		{"not a shop", bytes.Replace(p.batch("c1", "7001", true, ok), []byte(testShop), []byte("evil.example.com"), 1), 422, "shop"},
		{"no client id", p.batch("", "7001", true, ok), 422, "client_id"},
		{"no events", p.batch("c1", "7001", true), 422, "events"},
		{"too many events", p.batch("c1", "7001", true, many...), 422, "events"},
		{"unknown event", bad(func(m map[string]any) { m["name"] = "page_viewed" }), 422, "unknown event"},
		{"view without product", bad(func(m map[string]any) { delete(m, "product_id") }), 422, "product_id"},
		{"non-numeric product", bad(func(m map[string]any) { m["product_id"] = "gid://x" }), 422, "product_id"},
		{"bad time", bad(func(m map[string]any) { m["ts"] = "yesterday" }), 422, "ts"},
		{"too old", bad(func(m map[string]any) { m["ts"] = testNow.Add(-8 * 24 * time.Hour).Format(time.RFC3339) }), 422, "too old"},
		{"title too long", bad(func(m map[string]any) { m["title"] = strings.Repeat("あ", 256) }), 422, "title"},
		{"customer id not numeric", p.batch("c1", "gid://shopify/Customer/1", true, ok), 422, "customer_id"},
		{"wrong shop key", wrongKey, 401, "key"},
		{"shop not installed", unknownShop, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := postPixel(t, a, tt.body, "")
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) {
				t.Fatalf("status %d %s, want %d containing %q", rec.Code, rec.Body, tt.status, tt.want)
			}
		})
	}
}

func TestPixelIngestStoresKnownCustomersOnce(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		p := newPixelEnv(t, db)
		a, ctx := p.a, context.Background()
		var res core.IngestResult
		body := p.batch("c1", "7001", true, viewed("e-1", 111, testNow), viewed("e-2", 111, testNow.Add(time.Second)),
			map[string]any{"id": "e-3", "name": "search_submitted", "ts": testNow.Format(time.RFC3339), "query": "湯呑み"})
		rec := postPixel(t, a, body, "https://"+testShop)
		if rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		readJSON(t, rec, &res)
		if res.Stored != 3 || res.Duplicates != 0 {
			t.Fatalf("first delivery: %+v", res)
		}
		// Redelivered, with one new event: only the new one is stored.
		rec = postPixel(t, a, p.batch("c1", "7001", true, viewed("e-2", 111, testNow.Add(time.Second)), viewed("e-4", 222, testNow)), "")
		readJSON(t, rec, &res)
		if res.Stored != 1 || res.Duplicates != 1 {
			t.Fatalf("redelivery: %+v", res)
		}
		n, err := db.CountPixelEvents(ctx, p.cust.ID, store.PixelProductViewed, 111, testNow.Add(-time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("views of product 111 = %d %v, want 2", n, err)
		}
		// One outbox event per customer and minute wakes the journey.
		var trig int64
		db.WithContext(ctx).Model(&store.Event{}).Where("source = ? AND topic = ?", core.SourcePixel, core.TopicBrowse).Count(&trig)
		if trig != 1 {
			t.Errorf("browse triggers = %d, want 1", trig)
		}
		// Without consent, or for visitors the shop does not know, nothing is kept.
		for _, tc := range []struct {
			name, customer string
			consent        bool
			dropped        string
		}{
			{"no consent", "7001", false, core.PixelNoConsent},
			{"anonymous visitor", "", true, core.PixelUnknownCustomer},
			{"customer the shop does not know", "999999", true, core.PixelUnknownCustomer},
		} {
			rec := postPixel(t, a, p.batch("c2", tc.customer, tc.consent, viewed("n-"+tc.name, 333, testNow)), "")
			readJSON(t, rec, &res)
			if rec.Code != 200 || res.Stored != 0 || res.Dropped != tc.dropped {
				t.Errorf("%s: %d %+v", tc.name, rec.Code, res)
			}
		}
		// The customer id comes from the browser: without the app's proof
		// for this very customer and shop, it names nobody.
		secret := a.Config.SecretKey
		for _, tc := range []struct{ name, token string }{
			{"no proof", ""},
			{"proof of another customer", core.PixelCustomerToken(secret, testShop, 7002, testNow.Add(time.Hour))},
			{"proof for another shop", core.PixelCustomerToken(secret, "other.myshopify.com", 7001, testNow.Add(time.Hour))},
			{"expired proof", core.PixelCustomerToken(secret, testShop, 7001, testNow.Add(-time.Second))},
			{"forged proof", "7001.9999999999.AAAAAAAAAAAAAAAAAAAAAAAA"},
		} {
			rec := postPixel(t, a, p.batchWithToken("c3", "7001", tc.token, true, viewed("u-"+tc.name, 444, testNow)), "")
			readJSON(t, rec, &res)
			if rec.Code != 200 || res.Stored != 0 || res.Dropped != core.PixelUnverified {
				t.Errorf("%s: %d %+v", tc.name, rec.Code, res)
			}
		}
		var all int64
		db.WithContext(ctx).Model(&store.PixelEvent{}).Count(&all)
		if all != 4 {
			t.Errorf("stored events = %d, want 4", all)
		}
		seen, _ := db.ExtensionsSeen(ctx, p.s.ID)
		if seen[core.ExtWebPixel].IsZero() {
			t.Error("pixel not recorded as seen")
		}
	})
}

func TestPixelIngestCORS(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	p := newPixelEnv(t, db)
	tests := []struct {
		origin string
		ok     bool
	}{
		{"https://" + testShop, true},
		{"https://extensions.shopifycdn.com", true},
		{"https://checkout.shopify.com", true},
		{"https://evil.example", false},
		{"http://" + testShop, false},
		{"https://myshopify.com.evil.example", false},
		{"null", false},
	}
	for i, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			pre := httptest.NewRequest(http.MethodOptions, "/pixel/events", nil)
			pre.Header.Set("Origin", tt.origin)
			pre.Header.Set("Access-Control-Request-Method", "POST")
			rec := deliver(t, p.a, pre)
			allowed := rec.Header().Get("Access-Control-Allow-Origin") == tt.origin
			if allowed != tt.ok {
				t.Errorf("preflight allow-origin %q for %q, want allowed=%v", rec.Header().Get("Access-Control-Allow-Origin"), tt.origin, tt.ok)
			}
			rec = postPixel(t, p.a, p.batch(fmt.Sprint("cors", i), "7001", true, viewed(fmt.Sprint("cors-", i), 1, testNow)), tt.origin)
			if tt.ok && (rec.Code != 200 || rec.Header().Get("Access-Control-Allow-Origin") != tt.origin) {
				t.Errorf("POST from %s: %d %v", tt.origin, rec.Code, rec.Header())
			}
			if !tt.ok && rec.Code != http.StatusForbidden {
				t.Errorf("POST from %s: %d, want 403", tt.origin, rec.Code)
			}
		})
	}
}

func TestPixelIngestRateLimit(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	p := newPixelEnv(t, db)
	a := p.a
	a.pixelLimits = newPixelLimiter(10, 8, 1, 3) // shop: burst 8; client: burst 3
	send := func(client string, i int) int {
		return postPixel(t, a, p.batch(client, "7001", true, viewed(fmt.Sprintf("%s-%d", client, i), 1, testNow)), "").Code
	}
	var codes []int
	for i := range 5 {
		codes = append(codes, send("busy", i))
	}
	if fmt.Sprint(codes) != "[200 200 200 429 429]" {
		t.Fatalf("one client: %v, want three then 429", codes)
	}
	// Another browser of the same shop is not held back by the first...
	if c := send("calm", 0); c != 200 {
		t.Fatalf("second client: %d", c)
	}
	// ...until the shop's own bucket (8) is empty.
	codes = codes[:0]
	for i := range 6 {
		codes = append(codes, send(fmt.Sprint("c", i), 0))
	}
	if fmt.Sprint(codes) != "[200 200 200 200 429 429]" {
		t.Fatalf("shop limit: %v", codes)
	}
	// Tokens come back with time.
	a.Now = func() time.Time { return testNow.Add(2 * time.Second) }
	if c := send("busy", 9); c != 200 {
		t.Fatalf("after two seconds: %d", c)
	}
}

func urlUnescape(s string) (string, error) { return url.QueryUnescape(s) }

func urlParseQuery(s string) (url.Values, error) { return url.ParseQuery(s) }

// Settings turns the web pixel on (or re-points it) for a shop whose grant
// carries the pixel scopes.
func TestEnablePixelFromSettings(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	env := newLinkEnv(t, db, testenv.Redis(t), "")
	for i := range 2 { // the second call updates the pixel Shopify already has
		rec := adminDo(t, env.a, testShop, http.MethodPost, "/api/settings/pixel", map[string]any{})
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"ok":true`) {
			t.Fatalf("call %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	px, ok := env.shop.WebPixel(testShop)
	if !ok || px["endpoint"] != env.a.Config.BaseURL+"/pixel/events" || px["key"] != core.PixelKey(env.a.Config.SecretKey, testShop) {
		t.Fatalf("pixel on Shopify = %v %v", px, ok)
	}
	// A grant from before the app asked for the pixel scopes: the merchant
	// is told what to approve, and nothing changes on Shopify.
	old := env.shop.IssueTokenWithScopes(testShop, "read_orders,read_customers,write_customers,read_fulfillments,write_discounts")
	if err := db.WithContext(context.Background()).Model(&store.Shop{}).Where("id = ?", env.s.ID).
		Update("access_token_enc", env.a.Box.Seal(old)).Error; err != nil {
		t.Fatal(err)
	}
	rec := adminDo(t, env.a, testShop, http.MethodPost, "/api/settings/pixel", map[string]any{})
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "write_pixels") {
		t.Fatalf("without the scopes: %d %s", rec.Code, rec.Body)
	}
}
