package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

// newInstallApp is an app wired to a fake Shopify that shares its clock.
func newInstallApp(t *testing.T, db *store.DB, baseURL string) (*App, *shopifytest.Server) {
	t.Helper()
	fake := shopifytest.NewServer(t, shopifytest.WithCredentials("test-api-key", testSecret),
		shopifytest.WithClock(func() time.Time { return testNow }))
	cfg := testConfig("http://127.0.0.1:1")
	cfg.ShopifyAdminBase = fake.AdminBase()
	cfg.ShopifyScopes = DefaultScopes
	if baseURL != "" {
		cfg.BaseURL = baseURL
	}
	a, err := Assemble(cfg, quietLogger(), db, testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	a.Now = func() time.Time { return testNow }
	a.requestTimeout = testRequestDeadline
	t.Cleanup(a.Close)
	return a, fake
}

func get(t *testing.T, a *App, target string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(c)
		}
	}
	return deliver(t, a, req)
}

func cookieNamed(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name && c.MaxAge >= 0 && c.Value != "" {
			return c
		}
	}
	return nil
}

// beginInstall runs /shopify/install and returns the state cookie and the
// state sent to Shopify.
func beginInstall(t *testing.T, a *App, fake *shopifytest.Server, shop string) (*http.Cookie, string) {
	t.Helper()
	rec := get(t, a, "/shopify/install?shop="+url.QueryEscape(shop))
	if rec.Code != http.StatusFound {
		t.Fatalf("install: %d %s", rec.Code, rec.Body)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), fake.URL+"/admin/oauth/authorize?") {
		t.Fatalf("install redirected to %q", rec.Header().Get("Location"))
	}
	q := loc.Query()
	if q.Get("client_id") != "test-api-key" || q.Get("redirect_uri") != a.Config.BaseURL+"/shopify/callback" ||
		q.Get("scope") != strings.Join(DefaultScopes, ",") || len(q.Get("state")) < 32 {
		t.Fatalf("authorize query %v", q)
	}
	ck := cookieNamed(rec, oauthCookie)
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Fatalf("state cookie %+v", ck)
	}
	return ck, q.Get("state")
}

func countShops(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var n int64
	if err := db.WithContext(context.Background()).Model(&store.Shop{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInstallHappyAndReinstall(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a, fake := newInstallApp(t, db, "")
		ctx := context.Background()
		install := func() *httptest.ResponseRecorder {
			ck, state := beginInstall(t, a, fake, testShop)
			rec := get(t, a, "/shopify/callback?"+fake.CallbackQuery(testShop, state).Encode(), ck)
			if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/admin?shop="+testShop {
				t.Fatalf("callback: %d %q %s", rec.Code, rec.Header().Get("Location"), rec.Body)
			}
			return rec
		}
		rec := install()
		shop, err := db.ShopByDomain(ctx, testShop)
		if err != nil {
			t.Fatal(err)
		}
		if shop.InstalledAt == nil || shop.UninstalledAt != nil || !shop.Active() {
			t.Fatalf("shop not active: %+v", shop)
		}
		token, err := a.Box.Open(shop.AccessTokenEnc)
		if err != nil || !strings.HasPrefix(token, "shpat_") || strings.Contains(string(shop.AccessTokenEnc), token) {
			t.Fatalf("token stored badly: %v", err)
		}
		// The stored token is the one Shopify issued: the fake accepts it.
		if _, err := a.Shopify.Admin(testShop, token).ShopInfo(ctx); err != nil {
			t.Fatalf("stored token refused by Shopify: %v", err)
		}
		if shop.Name != "tsunagu-test" || shop.Timezone != "Asia/Tokyo" || shop.Currency != "JPY" {
			t.Fatalf("shop info not stored: %+v", shop)
		}
		subs := fake.Subscriptions()
		if len(subs) != len(shopify.Topics) {
			t.Fatalf("%d subscriptions, want %d", len(subs), len(shopify.Topics))
		}
		for _, s := range subs {
			if s.URI != a.Config.BaseURL+"/webhooks/shopify" || s.Format != "JSON" {
				t.Fatalf("subscription %+v", s)
			}
			if s.Topic == "CUSTOMERS_UPDATE" && !slices.Contains(s.MetafieldNamespaces, "facts") {
				t.Fatalf("customers/update without metafield namespaces: %+v", s)
			}
		}
		// The web pixel is on, pointing at this app with the shop's key.
		px, ok := fake.WebPixel(testShop)
		if !ok || px["endpoint"] != a.Config.BaseURL+"/pixel/events" || px["key"] != core.PixelKey(a.Config.SecretKey, testShop) {
			t.Fatalf("web pixel after install = %v %v", px, ok)
		}
		// The session cookie opens the admin page on this shop.
		page := get(t, a, "/admin?shop="+testShop, cookieNamed(rec, adminCookie))
		if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "Tsunagu</title>") || !strings.Contains(page.Body.String(), testShop) {
			t.Fatalf("admin page: %d %s", page.Code, page.Body)
		}

		// Uninstall, then reinstall: no duplicate subscriptions, uninstalled_at cleared.
		if err := db.MarkShopUninstalled(ctx, shop.ID, testNow); err != nil {
			t.Fatal(err)
		}
		install()
		if got := len(fake.Subscriptions()); got != len(shopify.Topics) {
			t.Fatalf("reinstall: %d subscriptions, want %d", got, len(shopify.Topics))
		}
		if px2, ok := fake.WebPixel(testShop); !ok || !maps.Equal(px, px2) {
			t.Fatalf("reinstall: web pixel = %v %v", px2, ok)
		}
		again, err := db.ShopByDomain(ctx, testShop)
		if err != nil || again.ID != shop.ID || again.UninstalledAt != nil || len(again.AccessTokenEnc) == 0 {
			t.Fatalf("reinstall: %+v %v", again, err)
		}
		if n := countShops(t, db); n != 1 {
			t.Fatalf("%d shops", n)
		}
	})
}

// shopify.app.toml (what `shopify app deploy` declares) asks for the same
// scopes as the install flow.
func TestAppTomlScopes(t *testing.T) {
	t.Parallel()
	var conf struct {
		AccessScopes struct{ Scopes string } `toml:"access_scopes"`
	}
	if _, err := toml.DecodeFile("../shopify.app.toml", &conf); err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(conf.AccessScopes.Scopes, ","); !slices.Equal(got, DefaultScopes) {
		t.Errorf("shopify.app.toml scopes %q, DefaultScopes %q", got, DefaultScopes)
	}
}

func TestInstallRefusals(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	a, fake := newInstallApp(t, db, "")
	signed := func(shop, state string, ts time.Time, code string) url.Values {
		return fake.SignQuery(url.Values{"shop": {shop}, "state": {state}, "code": {code},
			"timestamp": {fmt.Sprint(ts.Unix())}})
	}
	cases := []struct {
		name   string
		query  func(state string) url.Values
		cookie bool
		status int
		reason string
	}{
		{"tampered hmac", func(state string) url.Values {
			q := fake.CallbackQuery(testShop, state)
			q.Set("code", "0123456789abcdef")
			return q
		}, true, 401, "not signed by Shopify"},
		{"no hmac", func(state string) url.Values {
			q := fake.CallbackQuery(testShop, state)
			q.Del("hmac")
			return q
		}, true, 401, "not signed by Shopify"},
		{"wrong state", func(string) url.Values { return fake.CallbackQuery(testShop, shopify.NewState()) }, true, 403, "state does not match"},
		{"no state cookie", func(state string) url.Values { return fake.CallbackQuery(testShop, state) }, false, 403, "did not start this install"},
		{"other shop than started", func(state string) url.Values {
			return fake.CallbackQuery("other-shop.myshopify.com", state)
		}, true, 403, "state does not match"},
		{"evil.com", func(state string) url.Values { return signed("evil.com", state, testNow, "c1") }, true, 400, "not a Shopify store domain"},
		{"suffix trick", func(state string) url.Values {
			return signed("shop.myshopify.com.evil.com", state, testNow, "c2")
		}, true, 400, "not a Shopify store domain"},
		{"stale timestamp", func(state string) url.Values {
			return signed(testShop, state, testNow.Add(-10*time.Minute), "c3")
		}, true, 400, "expired"},
		{"future timestamp", func(state string) url.Values {
			return signed(testShop, state, testNow.Add(10*time.Minute), "c4")
		}, true, 400, "expired"},
		{"cancelled", func(state string) url.Values {
			return url.Values{"error": {"access_denied"}, "state": {state}}
		}, true, 400, "cancelled"},
		{"unknown code", func(state string) url.Values { return signed(testShop, state, testNow, "never-issued") }, true, 502, "did not accept the authorization code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ck, state := beginInstall(t, a, fake, testShop)
			if !tc.cookie {
				ck = nil
			}
			rec := get(t, a, "/shopify/callback?"+tc.query(state).Encode(), ck)
			body := rec.Body.String()
			if rec.Code != tc.status || !strings.Contains(body, "Tsunagu could not be installed") || !strings.Contains(body, tc.reason) {
				t.Fatalf("got %d, want %d with %q: %s", rec.Code, tc.status, tc.reason, body)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("content type %q", rec.Header().Get("Content-Type"))
			}
			if n := countShops(t, db); n != 0 {
				t.Fatalf("%d shops stored after a refusal", n)
			}
			if n := len(fake.Subscriptions()); n != 0 {
				t.Fatalf("%d subscriptions after a refusal", n)
			}
		})
	}
	// A refused callback spent no code: only "unknown code" reached the token endpoint.
	for _, r := range fake.Requests() {
		if r.Operation == "access_token" && r.Status == http.StatusOK {
			t.Fatalf("a token was issued during refusals")
		}
	}
}

func TestInstallRejectsBadShopParam(t *testing.T) {
	t.Parallel()
	a, _ := newInstallApp(t, testenv.SQLite(t), "")
	for _, shop := range []string{"", "evil.com", "shop.myshopify.com.evil.com", "https://evil.com/x.myshopify.com", "a.myshopify.com:443"} {
		rec := get(t, a, "/shopify/install?shop="+url.QueryEscape(shop))
		if rec.Code != http.StatusBadRequest || cookieNamed(rec, oauthCookie) != nil || rec.Header().Get("Location") != "" {
			t.Fatalf("shop %q: %d %v", shop, rec.Code, rec.Header())
		}
	}
	// A bare store name is completed to its myshopify.com domain.
	rec := get(t, a, "/shopify/install?shop=My-Store")
	if rec.Code != http.StatusFound || !strings.Contains(rec.Header().Get("Location"), "/admin/oauth/authorize?") {
		t.Fatalf("bare name: %d %v", rec.Code, rec.Header())
	}
}

func TestInstallWebhookFailureStoresNothing(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	a, fake := newInstallApp(t, db, "")
	ck, state := beginInstall(t, a, fake, testShop)
	// Shopify refuses the subscription address (userErrors) after a good token exchange.
	a.Config.BaseURL = "ftp://tsunagu.invalid"
	rec := get(t, a, "/shopify/callback?"+fake.CallbackQuery(testShop, state).Encode(), ck)
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "webhook subscriptions") {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	if n := countShops(t, db); n != 0 {
		t.Fatalf("%d shops stored", n)
	}
}

func TestAdminURL(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	a, _ := newInstallApp(t, db, "")
	u, err := AdminURL(a.Config, "tsunagu-test", testNow, time.Minute)
	if err != nil || !strings.HasPrefix(u, a.Config.BaseURL+"/admin/session?token=") {
		t.Fatalf("%q %v", u, err)
	}
	path := strings.TrimPrefix(u, a.Config.BaseURL)
	// Not installed yet: refused.
	if rec := get(t, a, path); rec.Code != http.StatusNotFound {
		t.Fatalf("uninstalled shop: %d", rec.Code)
	}
	seedLinkedCustomer(t, a, 1, "")
	rec := get(t, a, path)
	ck := cookieNamed(rec, adminCookie)
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/admin?shop="+testShop || ck == nil {
		t.Fatalf("admin url: %d %v", rec.Code, rec.Header())
	}
	if page := get(t, a, "/admin", ck); page.Code != 200 || !strings.Contains(page.Body.String(), testShop) {
		t.Fatalf("admin page: %d %s", page.Code, page.Body)
	}
	// Expired, forged or other-purpose tokens are refused.
	old, _ := AdminURL(a.Config, testShop, testNow.Add(-time.Hour), time.Minute)
	for _, bad := range []string{
		strings.TrimPrefix(old, a.Config.BaseURL),
		path + "x",
		"/admin/session?token=" + url.QueryEscape(a.Signer.Sign(adminPurpose, []byte(testShop), testNow.Add(time.Hour))),
	} {
		if rec := get(t, a, bad); rec.Code != http.StatusUnauthorized || cookieNamed(rec, adminCookie) != nil {
			t.Fatalf("%s: %d", bad, rec.Code)
		}
	}
	if rec := get(t, a, "/admin"); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "admin-url") {
		t.Fatalf("no session: %d %s", rec.Code, rec.Body)
	}
}

func TestAdminLaunchFromShopify(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	a, fake := newInstallApp(t, db, "")
	launch := func(extra url.Values) string {
		q := url.Values{"shop": {testShop}, "timestamp": {fmt.Sprint(testNow.Unix())}, "host": {"YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvdHN1bmFndS10ZXN0"}}
		for k, v := range extra {
			q[k] = v
		}
		return "/admin?" + fake.SignQuery(q).Encode()
	}
	// Not installed: off to the install (out of the iframe when embedded).
	if rec := get(t, a, launch(nil)); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/shopify/install?shop="+testShop {
		t.Fatalf("launch before install: %d %v", rec.Code, rec.Header())
	}
	if rec := get(t, a, launch(url.Values{"embedded": {"1"}})); rec.Code != 200 || !strings.Contains(rec.Body.String(), `target="_top"`) {
		t.Fatalf("embedded launch before install: %d %s", rec.Code, rec.Body)
	}
	seedLinkedCustomer(t, a, 1, "")
	shop, _ := db.ShopByDomain(context.Background(), testShop)
	if err := db.InstallShop(context.Background(), &store.Shop{Domain: testShop, AccessTokenEnc: a.Box.Seal("shpat_x")}, testNow); err != nil || shop == nil {
		t.Fatal(err)
	}
	rec := get(t, a, launch(nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), testShop) || cookieNamed(rec, adminCookie) == nil {
		t.Fatalf("launch after install: %d %s", rec.Code, rec.Body)
	}
	// A forged launch does not open a session.
	q, _ := url.ParseQuery(strings.TrimPrefix(launch(nil), "/admin?"))
	q.Set("shop", "other.myshopify.com")
	if rec := get(t, a, "/admin?"+q.Encode()); rec.Code != http.StatusUnauthorized || cookieNamed(rec, adminCookie) != nil {
		t.Fatalf("forged launch: %d", rec.Code)
	}
}

func TestAfterInstallURL(t *testing.T) {
	t.Parallel()
	a, _ := newInstallApp(t, testenv.SQLite(t), "")
	a.Config.ShopifyAdminBase = shopify.DefaultAdminBase
	host := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := map[string]string{
		host("admin.shopify.com/store/tsunagu-test"): "https://admin.shopify.com/store/tsunagu-test/apps/test-api-key",
		host(testShop + "/admin"):                    "https://" + testShop + "/admin/apps/test-api-key",
		host("evil.com/store/tsunagu-test"):          "/admin?shop=" + testShop,
		host("admin.shopify.com/store/other"):        "/admin?shop=" + testShop,
		"":                                           "/admin?shop=" + testShop,
		"!!":                                         "/admin?shop=" + testShop,
	}
	for h, want := range cases {
		if got := a.afterInstallURL(testShop, h); got != want {
			t.Errorf("host %q: got %q, want %q", h, got, want)
		}
	}
}

// Inside the Shopify admin every request carries an App Bridge session
// token; it scopes the request to the token's shop.
func TestEmbeddedAdminSessionToken(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	a, fake := newInstallApp(t, db, "")
	seedLinkedCustomer(t, a, 1, "")
	other := shopifytest.NewServer(t, shopifytest.WithCredentials("other-key", testSecret), shopifytest.WithClock(func() time.Time { return testNow }))
	otherSecret := shopifytest.NewServer(t, shopifytest.WithCredentials("test-api-key", "other-secret"), shopifytest.WithClock(func() time.Time { return testNow }))
	expired := shopifytest.NewServer(t, shopifytest.WithCredentials("test-api-key", testSecret),
		shopifytest.WithClock(func() time.Time { return testNow.Add(-time.Hour) }))
	cases := []struct {
		name   string
		token  string
		status int
	}{
		{"valid", fake.SessionToken(testShop, "42", time.Minute), 200},
		{"other app (aud)", other.SessionToken(testShop, "42", time.Minute), 401},
		{"wrong secret", otherSecret.SessionToken(testShop, "42", time.Minute), 401},
		{"expired", expired.SessionToken(testShop, "42", time.Minute), 401},
		{"garbage", "abc.def.ghi", 401},
	}
	for _, tc := range cases {
		for _, via := range []string{"header", "id_token"} {
			req := httptest.NewRequest(http.MethodGet, "/admin", nil)
			if via == "header" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			} else {
				req = httptest.NewRequest(http.MethodGet, "/admin?embedded=1&id_token="+url.QueryEscape(tc.token), nil)
			}
			rec := deliver(t, a, req)
			if rec.Code != tc.status {
				t.Fatalf("%s via %s: %d, want %d", tc.name, via, rec.Code, tc.status)
			}
			if tc.status == 200 && !strings.Contains(rec.Body.String(), `id="shop">`+testShop) {
				t.Fatalf("%s: page does not show the shop: %s", tc.name, rec.Body)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); tc.status == 200 && csp != "frame-ancestors https://"+testShop+" https://admin.shopify.com;" {
				t.Fatalf("%s: CSP %q", tc.name, csp)
			}
			// The first embedded page load starts a cookie session for plain links.
			if got := cookieNamed(rec, adminCookie) != nil; got != (tc.status == 200 && via == "id_token") {
				t.Fatalf("%s via %s: session cookie %v", tc.name, via, got)
			}
		}
	}
	// After an uninstall the token no longer opens the admin.
	shop, _ := db.ShopByDomain(context.Background(), testShop)
	if err := db.MarkShopUninstalled(context.Background(), shop.ID, testNow); err != nil {
		t.Fatal(err)
	}
	fake.Uninstall(testShop)
	req := httptest.NewRequest(http.MethodGet, "/admin", nil)
	req.Header.Set("Authorization", "Bearer "+fake.SessionToken(testShop, "42", time.Minute))
	if rec := deliver(t, a, req); rec.Code != 401 {
		t.Fatalf("uninstalled shop: %d", rec.Code)
	}
	// A shop Tsunagu has never seen, opened from its admin: Shopify installed
	// the app (managed installation), so the session token is exchanged for
	// an expiring offline token and the shop is stored with its webhooks.
	stranger := "stranger.myshopify.com"
	rec := deliver(t, a, httptest.NewRequest(http.MethodGet, "/admin?embedded=1&id_token="+url.QueryEscape(fake.SessionToken(stranger, "42", time.Minute)), nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `id="shop">`+stranger) {
		t.Fatalf("managed install: %d", rec.Code)
	}
	s, err := db.ShopByDomain(context.Background(), stranger)
	if err != nil || s.AccessTokenExpiresAt == nil || len(s.RefreshTokenEnc) == 0 || s.InstalledAt == nil {
		t.Fatalf("managed install stored %+v %v", s, err)
	}
	var exchanged bool
	for _, r := range fake.Requests() {
		if r.Operation == shopifytest.OpTokenExchange && r.Shop == stranger && r.Status == http.StatusOK {
			f, _ := url.ParseQuery(string(r.Body))
			exchanged = f.Get("expiring") == "1"
		}
	}
	if !exchanged {
		t.Fatal("no expiring token exchange recorded")
	}
}
