package shopify_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

const (
	testShop     = "tsunagu-test.myshopify.com"
	testRedirect = "https://app.example.com/shopify/callback"
)

func newApp(t *testing.T, fake *shopifytest.Server) *shopify.App {
	t.Helper()
	app, err := shopify.NewApp(fake.App(testRedirect, "read_orders", "write_discounts", "write_customers"))
	if err != nil {
		t.Fatal(err)
	}
	shopify.SetRetryBackoff(app, time.Millisecond)
	return app
}

func TestNewAppRequiresCredentials(t *testing.T) {
	t.Parallel()
	if _, err := shopify.NewApp(shopify.AppConfig{APIKey: "k"}); err == nil {
		t.Fatal("want error without secret")
	}
	app, err := shopify.NewApp(shopify.AppConfig{APIKey: "k", APISecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if app.APIVersion() != "2026-10" {
		t.Errorf("default version = %q", app.APIVersion())
	}
	u, err := app.AuthorizeURL(testShop, "st")
	if err != nil || !strings.HasPrefix(u, "https://"+testShop+"/admin/oauth/authorize?") {
		t.Errorf("default AuthorizeURL = %q, %v", u, err)
	}
}

// The whole install against the fake: authorize URL, the fake's redirect
// back, callback verification, code exchange, then the code is spent.
func TestInstallFlow(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t, shopifytest.WithAutoRedirect())
	app := newApp(t, fake)
	state := shopify.NewState()

	authURL, err := app.AuthorizeURL(testShop, state)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	if !strings.HasPrefix(authURL, fake.URL+"/admin/oauth/authorize?") || q.Get("client_id") != fake.APIKey ||
		q.Get("scope") != "read_orders,write_discounts,write_customers" || q.Get("redirect_uri") != testRedirect || q.Get("state") != state {
		t.Fatalf("authorize url = %s", authURL)
	}

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize status = %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if !strings.HasPrefix(loc.String(), testRedirect+"?") {
		t.Fatalf("redirected to %s", loc)
	}
	cb := loc.Query()
	if cb.Get("state") != state || cb.Get("host") == "" {
		t.Fatalf("callback query = %v", cb)
	}

	shop, err := app.VerifyCallback(cb, time.Now())
	if err != nil || shop != testShop {
		t.Fatalf("VerifyCallback = %q, %v", shop, err)
	}
	tok, err := app.ExchangeToken(context.Background(), shop, cb.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	token := tok.AccessToken
	if !strings.HasPrefix(token, "shpat_") || tok.Scope != "read_orders,write_discounts,write_customers" {
		t.Fatalf("token = %q scope = %q", token, tok.Scope)
	}
	// An expiring pair: one hour for the access token, 90 days for the refresh token.
	if !tok.Expiring() || time.Until(tok.ExpiresAt) > time.Hour || time.Until(tok.ExpiresAt) < 59*time.Minute ||
		time.Until(tok.RefreshExpiresAt) < 89*24*time.Hour {
		t.Fatalf("token pair %+v is not an expiring one", tok)
	}
	// A code is good once.
	if _, err := app.ExchangeToken(context.Background(), shop, cb.Get("code")); err == nil {
		t.Fatal("second exchange of the same code succeeded")
	}
	// The token works on the Admin API.
	if _, err := app.Admin(shop, token).ShopInfo(context.Background()); err != nil {
		t.Fatalf("admin call with exchanged token: %v", err)
	}
	// What the fake saw: the token request carried the credentials and asked for an expiring token.
	var sawExchange bool
	for _, r := range fake.Requests() {
		if r.Operation == shopifytest.OpAccessToken && r.Status == 200 {
			form, _ := url.ParseQuery(string(r.Body))
			sawExchange = form.Get("client_secret") == fake.APISecret && form.Get("expiring") == "1" && r.Shop == testShop
		}
	}
	if !sawExchange {
		t.Error("fake did not record a successful access_token request for the shop")
	}
}

func TestInstallPageMode(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	app := newApp(t, fake)
	authURL, _ := app.AuthorizeURL(testShop, "s1")
	resp, err := http.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	if resp.StatusCode != 200 || !strings.Contains(page, `id="install"`) || !strings.Contains(page, testShop) {
		t.Fatalf("install page (%d): %s", resp.StatusCode, page)
	}
}

func TestAuthorizeURLRejectsBadInput(t *testing.T) {
	t.Parallel()
	app := newApp(t, shopifytest.NewServer(t))
	if _, err := app.AuthorizeURL("evil.com", "s"); !errors.Is(err, shopify.ErrBadShop) {
		t.Errorf("evil.com: %v", err)
	}
	if _, err := app.AuthorizeURL(testShop, ""); err == nil {
		t.Error("empty state accepted")
	}
}

func TestVerifyCallback(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	app := newApp(t, fake)
	now := time.Unix(1_800_000_000, 0)
	base := func() url.Values {
		return url.Values{
			"code": {"abc"}, "shop": {testShop}, "state": {"xyz"},
			"timestamp": {"1800000000"}, "host": {"YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvdGVzdA=="},
		}
	}
	with := func(k, v string) url.Values { q := base(); q.Set(k, v); return q }
	tests := []struct {
		name string
		q    url.Values
		want error
	}{
		{"valid", fake.SignQuery(base()), nil},
		{"valid with signature param ignored", func() url.Values { q := fake.SignQuery(base()); q.Set("signature", "x"); return q }(), nil},
		{"tampered code", func() url.Values { q := fake.SignQuery(base()); q.Set("code", "evil"); return q }(), shopify.ErrBadHMAC},
		{"extra param after signing", func() url.Values { q := fake.SignQuery(base()); q.Set("admin", "1"); return q }(), shopify.ErrBadHMAC},
		{"no hmac", base(), shopify.ErrBadHMAC},
		{"hmac not hex", func() url.Values { q := base(); q.Set("hmac", "zz"); return q }(), shopify.ErrBadHMAC},
		{"wrong secret", func() url.Values { q := base(); q.Set("hmac", shopify.SignQuery("other", q)); return q }(), shopify.ErrBadHMAC},
		{"foreign shop", fake.SignQuery(with("shop", "evil.com")), shopify.ErrBadShop},
		{"suffix trick", fake.SignQuery(with("shop", "x.myshopify.com.evil.com")), shopify.ErrBadShop},
		{"stale by 6 minutes", fake.SignQuery(with("timestamp", "1799999640")), shopify.ErrStaleTimestamp},
		{"4 minutes old ok", fake.SignQuery(with("timestamp", "1799999760")), nil},
		{"2 minutes in the future", fake.SignQuery(with("timestamp", "1800000120")), shopify.ErrStaleTimestamp},
		{"30s in the future ok", fake.SignQuery(with("timestamp", "1800000030")), nil},
		{"no timestamp", func() url.Values { q := base(); q.Del("timestamp"); return fake.SignQuery(q) }(), shopify.ErrStaleTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shop, err := app.VerifyCallback(tt.q, now)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && shop != testShop {
				t.Fatalf("shop = %q", shop)
			}
		})
	}
}

// Shopify's example from its OAuth docs, and the percent-encoded variant
// Shopify's JS library signs when a value holds reserved characters.
func TestVerifyCallbackKnownVectors(t *testing.T) {
	t.Parallel()
	app, _ := shopify.NewApp(shopify.AppConfig{APIKey: "k", APISecret: "hush"})
	q := url.Values{"code": {"0907a61c0c8d55e99db179b68161bc00"}, "shop": {"some-shop.myshopify.com"}, "timestamp": {"1337178173"}}
	q.Set("hmac", "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20")
	if _, err := app.VerifyCallback(q, time.Unix(1337178173, 0)); err != nil {
		t.Fatalf("documented example: %v", err)
	}
	if got := shopify.HMACMessage(q); got != "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&timestamp=1337178173" {
		t.Fatalf("message = %q", got)
	}
	r := url.Values{"shop": {"some-shop.myshopify.com"}, "timestamp": {"1337178173"}, "host": {"a+b/c=="}}
	if got := shopify.HMACMessage(r); got != "host=a+b/c==&shop=some-shop.myshopify.com&timestamp=1337178173" {
		t.Fatalf("message = %q", got)
	}
}

func TestExchangeTokenErrors(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	app := newApp(t, fake)
	ctx := context.Background()
	if _, err := app.ExchangeToken(ctx, "evil.com", "c"); !errors.Is(err, shopify.ErrBadShop) {
		t.Errorf("bad shop: %v", err)
	}
	if _, err := app.ExchangeToken(ctx, testShop, "unknown"); err == nil {
		t.Error("unknown code accepted")
	}
	// A code issued for one shop cannot be spent on another.
	code := fake.CallbackQuery("other.myshopify.com", "s").Get("code")
	if _, err := app.ExchangeToken(ctx, testShop, code); err == nil {
		t.Error("code of another shop accepted")
	}
	// Wrong secret.
	bad, _ := shopify.NewApp(shopify.AppConfig{APIKey: fake.APIKey, APISecret: "nope", AdminBase: fake.AdminBase()})
	code = fake.CallbackQuery(testShop, "s").Get("code")
	if _, err := bad.ExchangeToken(ctx, testShop, code); err == nil {
		t.Error("wrong secret accepted")
	}
	if strings.Contains(errString(bad.ExchangeToken(ctx, testShop, code)), "nope") {
		t.Error("error leaks the secret")
	}
}

func errString(_ shopify.Token, err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestExchangeTokenRetries(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	app := newApp(t, fake)
	fake.FailNext(2, http.StatusServiceUnavailable, "")
	code := fake.CallbackQuery(testShop, "s").Get("code")
	tok, err := app.ExchangeToken(context.Background(), testShop, code)
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("exchange after two 503s: %q %v", tok, err)
	}
}

func TestSessionToken(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	app := newApp(t, fake)
	now := time.Now()
	sign := func(claims jwt.MapClaims, method jwt.SigningMethod, key any) string {
		tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": "https://" + testShop + "/admin", "dest": "https://" + testShop,
			"aud": fake.APIKey, "sub": "42", "sid": "sess-1", "jti": "j",
			"exp": now.Add(time.Minute).Unix(), "nbf": now.Add(-time.Second).Unix(), "iat": now.Unix(),
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	secret := []byte(fake.APISecret)
	hs := func(mod func(jwt.MapClaims)) string { return sign(claims(mod), jwt.SigningMethodHS256, secret) }
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", hs(nil), true},
		{"fake's minted token", fake.SessionToken(testShop, "42", time.Minute), true},
		{"expired 5s ago within leeway", hs(func(c jwt.MapClaims) { c["exp"] = now.Add(-5 * time.Second).Unix() }), true},
		{"expired", hs(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }), false},
		{"no exp", hs(func(c jwt.MapClaims) { delete(c, "exp") }), false},
		{"nbf in future", hs(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() }), false},
		{"wrong aud", hs(func(c jwt.MapClaims) { c["aud"] = "other-app" }), false},
		{"wrong key", sign(claims(nil), jwt.SigningMethodHS256, []byte("other-secret")), false},
		{"HS512 refused", sign(claims(nil), jwt.SigningMethodHS512, secret), false},
		{"alg none", sign(claims(nil), jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType), false},
		{"iss/dest mismatch", hs(func(c jwt.MapClaims) { c["iss"] = "https://other.myshopify.com/admin" }), false},
		{"iss without /admin", hs(func(c jwt.MapClaims) { c["iss"] = "https://" + testShop }), false},
		{"foreign dest", hs(func(c jwt.MapClaims) {
			c["dest"], c["iss"] = "https://evil.com", "https://evil.com/admin"
		}), false},
		{"http dest", hs(func(c jwt.MapClaims) {
			c["dest"], c["iss"] = "http://"+testShop, "http://"+testShop+"/admin"
		}), false},
		{"garbage", "not.a.jwt", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := app.VerifySessionToken(tt.token, now)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				if !errors.Is(err, shopify.ErrBadSessionToken) {
					t.Fatalf("err %v is not ErrBadSessionToken", err)
				}
				return
			}
			if c.Shop != testShop || c.UserID != "42" || c.ExpiresAt.IsZero() {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
	c, _ := app.VerifySessionToken(hs(nil), now)
	if c.SessionID != "sess-1" || c.ExpiresAt.Unix() != now.Add(time.Minute).Unix() {
		t.Errorf("claims = %+v", c)
	}
}

func adminFor(t *testing.T, fake *shopifytest.Server) (*shopify.App, *shopify.Admin) {
	t.Helper()
	app := newApp(t, fake)
	return app, app.Admin(testShop, fake.IssueToken(testShop))
}

func TestEnsureWebhooksIdempotent(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	_, admin := adminFor(t, fake)
	ctx := context.Background()
	const cb = "https://app.example.com/webhooks/shopify"
	topics := append(append([]string{}, shopify.Topics...), shopify.ComplianceTopics...)

	created, err := admin.EnsureWebhooks(ctx, cb, topics)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != len(shopify.Topics) {
		t.Fatalf("created %v, want %v", created, shopify.Topics)
	}
	subs := fake.Subscriptions()
	if len(subs) != len(shopify.Topics) {
		t.Fatalf("fake holds %d subscriptions", len(subs))
	}
	want := map[string]bool{"ORDERS_CREATE": true, "APP_UNINSTALLED": true, "FULFILLMENTS_UPDATE": true, "CHECKOUTS_UPDATE": true}
	for _, s := range subs {
		delete(want, s.Topic)
		if s.URI != cb || s.Format != "JSON" || s.Shop != testShop {
			t.Errorf("subscription = %+v", s)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing enums %v", want)
	}

	again, err := admin.EnsureWebhooks(ctx, cb, topics)
	if err != nil || len(again) != 0 || len(fake.Subscriptions()) != len(shopify.Topics) {
		t.Fatalf("second run created %v (err %v), fake holds %d", again, err, len(fake.Subscriptions()))
	}
	// A new URL is a new subscription per topic; the old ones stay.
	moved, err := admin.EnsureWebhooks(ctx, cb+"2", []string{shopify.TopicOrdersCreate})
	if err != nil || len(moved) != 1 {
		t.Fatalf("new url: %v %v", moved, err)
	}
}

func TestEnsureWebhooksPaginates(t *testing.T) {
	t.Parallel()
	// Hundreds of mutations: a bucket that never runs dry (cost is tested apart).
	fake := shopifytest.NewServer(t, shopifytest.WithCostBucket(1e6, 1e6))
	_, admin := adminFor(t, fake)
	ctx := context.Background()
	// 10 x len(Topics) subscriptions over several URLs: more than one page of 100.
	for i := range 10 {
		u := "https://app.example.com/w/" + string(rune('a'+i))
		if _, err := admin.EnsureWebhooks(ctx, u, shopify.Topics); err != nil {
			t.Fatal(err)
		}
	}
	subs, err := admin.WebhookSubscriptions(ctx)
	if err != nil || len(subs) != 10*len(shopify.Topics) {
		t.Fatalf("listed %d, %v", len(subs), err)
	}
	created, err := admin.EnsureWebhooks(ctx, "https://app.example.com/w/j", shopify.Topics)
	if err != nil || len(created) != 0 {
		t.Fatalf("created %v on a page-two url: %v", created, err)
	}
}

func TestEnsureWebhooksUserError(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	_, admin := adminFor(t, fake)
	_, err := admin.EnsureWebhooks(context.Background(), "not a url", []string{shopify.TopicOrdersCreate})
	var ue *shopify.UserErrors
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "Address is invalid") {
		t.Fatalf("err = %v", err)
	}
}

func TestShopInfo(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	_, admin := adminFor(t, fake)
	fake.SetShopInfo(testShop, shopifytest.ShopInfo{Name: "つなぐ商店", Email: "o@example.jp", Currency: "JPY", Timezone: "Asia/Tokyo", Locale: "ja"})
	info, err := admin.ShopInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := shopify.ShopInfo{Name: "つなぐ商店", Email: "o@example.jp", Currency: "JPY", IANATimezone: "Asia/Tokyo", PrimaryLocale: "ja", MyshopifyDomain: testShop}
	if info != want {
		t.Fatalf("info = %+v, want %+v", info, want)
	}
	// The request carried the token header to the versioned endpoint.
	reqs := fake.Requests()
	last := reqs[len(reqs)-1]
	if last.Path != "/admin/api/2026-10/graphql.json" || last.Header.Get("X-Shopify-Access-Token") == "" || last.Operation != "shop,shopLocales" {
		t.Fatalf("request = %s %s op=%s", last.Method, last.Path, last.Operation)
	}
}

func TestAdminRejectsWrongToken(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	app := newApp(t, fake)
	otherToken := fake.IssueToken("other.myshopify.com")
	for name, ad := range map[string]*shopify.Admin{
		"unknown token":       app.Admin(testShop, "shpat_nope"),
		"token of other shop": app.Admin(testShop, otherToken),
		"invalid shop":        app.Admin("evil.com", otherToken),
	} {
		if _, err := ad.ShopInfo(context.Background()); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCreateDiscountCode(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	_, admin := adminFor(t, fake)
	ctx := context.Background()
	ends := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)

	d, err := admin.CreateDiscountCode(ctx, shopify.DiscountInput{
		Title: "LINE friend 10%", Code: "LINE-ABC123", Percentage: 10,
		MinimumSubtotal: decimal.NewFromInt(3000), CustomerGID: shopify.CustomerGID(706405506930370084),
		EndsAt: ends, UsageLimit: 1, AppliesOncePerCustomer: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.ID, "gid://shopify/DiscountCodeNode/") || d.Code != "LINE-ABC123" {
		t.Fatalf("discount = %+v", d)
	}
	got := fake.Discounts()
	if len(got) != 1 {
		t.Fatalf("fake holds %d discounts", len(got))
	}
	g := got[0]
	if g.Percentage == nil || *g.Percentage != 0.1 || g.MinimumSubtotal != "3000" || g.AllCustomers ||
		len(g.CustomerGIDs) != 1 || g.CustomerGIDs[0] != "gid://shopify/Customer/706405506930370084" ||
		g.UsageLimit == nil || *g.UsageLimit != 1 || !g.AppliesOncePerCustomer || g.EndsAt == nil || !g.EndsAt.Equal(ends) || g.Title != "LINE friend 10%" {
		t.Fatalf("stored discount = %+v", g)
	}

	// Fixed amount, any customer.
	if _, err := admin.CreateDiscountCode(ctx, shopify.DiscountInput{Code: "YEN500", FixedAmount: decimal.NewFromInt(500)}); err != nil {
		t.Fatal(err)
	}
	g = fake.Discounts()[1]
	if g.Amount != "500" || g.AppliesOnEachItem || !g.AllCustomers || g.Percentage != nil || g.Title != "YEN500" || g.UsageLimit != nil {
		t.Fatalf("fixed discount = %+v", g)
	}

	// Currency must match the shop's (the fake's default is JPY).
	if _, err := admin.CreateDiscountCode(ctx, shopify.DiscountInput{Code: "USD5", FixedAmount: decimal.NewFromInt(5), Currency: "USD"}); !errors.Is(err, shopify.ErrBadDiscount) {
		t.Fatalf("currency mismatch: %v", err)
	}
	if _, err := admin.CreateDiscountCode(ctx, shopify.DiscountInput{Code: "JPY300", FixedAmount: decimal.NewFromInt(300), Currency: "jpy"}); err != nil {
		t.Fatalf("matching currency: %v", err)
	}

	// Duplicate code: Shopify's userErrors come back as *UserErrors.
	_, err = admin.CreateDiscountCode(ctx, shopify.DiscountInput{Code: "line-abc123", Percentage: 5})
	var ue *shopify.UserErrors
	if !errors.As(err, &ue) || !ue.HasCode("TAKEN") {
		t.Fatalf("duplicate: %v", err)
	}
}

func TestCreateDiscountCodeValidation(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	_, admin := adminFor(t, fake)
	tests := []struct {
		name string
		in   shopify.DiscountInput
	}{
		{"no code", shopify.DiscountInput{Percentage: 10}},
		{"no value", shopify.DiscountInput{Code: "A"}},
		{"both values", shopify.DiscountInput{Code: "A", Percentage: 10, FixedAmount: decimal.NewFromInt(1)}},
		{"percentage over 100", shopify.DiscountInput{Code: "A", Percentage: 150}},
		{"negative amount", shopify.DiscountInput{Code: "A", FixedAmount: decimal.NewFromInt(-1)}},
		{"not a customer gid", shopify.DiscountInput{Code: "A", Percentage: 5, CustomerGID: "gid://shopify/Order/1"}},
		{"ends before start", shopify.DiscountInput{Code: "A", Percentage: 5, StartsAt: time.Now(), EndsAt: time.Now().Add(-time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := admin.CreateDiscountCode(context.Background(), tt.in); !errors.Is(err, shopify.ErrBadDiscount) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d requests reached Shopify for invalid input", n)
	}
}

func TestCustomerTags(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	_, admin := adminFor(t, fake)
	ctx := context.Background()
	const id = 706405506930370084
	if err := admin.AddCustomerTags(ctx, id, "line-linked", "vip"); err != nil {
		t.Fatal(err)
	}
	if err := admin.AddCustomerTags(ctx, id, "LINE-linked"); err != nil { // already there, case-insensitive
		t.Fatal(err)
	}
	if got := fake.Tags(id); strings.Join(got, ",") != "line-linked,vip" {
		t.Fatalf("tags = %v", got)
	}
	if err := admin.RemoveCustomerTags(ctx, id, "vip"); err != nil {
		t.Fatal(err)
	}
	if got := fake.Tags(id); strings.Join(got, ",") != "line-linked" {
		t.Fatalf("tags after remove = %v", got)
	}
	if err := admin.AddCustomerTags(ctx, id, " ", ""); err == nil {
		t.Fatal("blank tags accepted")
	}
	reqs := fake.Requests()
	if v := reqs[0].Variables["id"]; v != "gid://shopify/Customer/706405506930370084" {
		t.Fatalf("id variable = %v", v)
	}
}

func TestAdminRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fail     func(*shopifytest.Server)
		ok       bool
		requests int
	}{
		{"429 then ok", func(f *shopifytest.Server) { f.FailNext(1, 429, "0") }, true, 2},
		{"two 500s then ok", func(f *shopifytest.Server) { f.FailNext(2, 500, "") }, true, 3},
		{"502 three times gives up", func(f *shopifytest.Server) { f.FailNext(3, 502, "") }, false, 3},
		{"graphql throttled then ok", func(f *shopifytest.Server) { f.ThrottleNext(1) }, true, 2},
		{"400 not retried", func(f *shopifytest.Server) { f.FailNext(1, 400, "") }, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := shopifytest.NewServer(t)
			_, admin := adminFor(t, fake)
			tt.fail(fake)
			_, err := admin.ShopInfo(context.Background())
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if n := len(fake.Requests()); n != tt.requests {
				t.Fatalf("requests = %d, want %d", n, tt.requests)
			}
		})
	}
}

func TestAdminHonorsRetryAfter(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	_, admin := adminFor(t, fake)
	fake.FailNext(1, 429, "0.3")
	start := time.Now()
	if _, err := admin.ShopInfo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("retried after %s, Retry-After was 0.3s", d)
	}
	// A cancelled context stops the wait.
	fake.FailNext(1, 429, "10")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := admin.ShopInfo(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestGIDs(t *testing.T) {
	t.Parallel()
	if g := shopify.CustomerGID(820982911946154508); g != "gid://shopify/Customer/820982911946154508" {
		t.Fatal(g)
	}
	typ, id, err := shopify.ParseGID("gid://shopify/Customer/820982911946154508")
	if err != nil || typ != "Customer" || id != 820982911946154508 {
		t.Fatal(typ, id, err)
	}
	for _, bad := range []string{"", "gid://shopify/Customer/", "gid://other/Customer/1", "Customer/1"} {
		if _, _, err := shopify.ParseGID(bad); err == nil {
			t.Errorf("ParseGID(%q) accepted", bad)
		}
	}
	if e := shopify.WebhookTopicEnum("orders/create"); e != "ORDERS_CREATE" {
		t.Fatal(e)
	}
}

// M6: a signed query cannot be re-split into other parameters. A value
// holding "&shop=..." is signed escaped, so the same characters read as a
// separate shop parameter do not verify.
func TestVerifyCallbackNoResplit(t *testing.T) {
	t.Parallel()
	app, _ := shopify.NewApp(shopify.AppConfig{APIKey: "k", APISecret: "hush"})
	signed := url.Values{"host": {"x&shop=victim.myshopify.com"}, "shop": {"attacker.myshopify.com"}, "timestamp": {"1337178173"}}
	mac := shopify.SignQuery("hush", signed)
	signed.Set("hmac", mac)
	if shop, err := app.VerifyCallback(signed, time.Unix(1337178173, 0)); err != nil || shop != "attacker.myshopify.com" {
		t.Fatalf("the signed query itself: %q %v", shop, err)
	}
	if got := shopify.HMACMessage(signed); got != "host=x%26shop=victim.myshopify.com&shop=attacker.myshopify.com&timestamp=1337178173" {
		t.Fatalf("message = %q", got)
	}
	// The same bytes split differently: host "x", shop victim (the attacker's own shop moved into another key).
	resplit := url.Values{"host": {"x"}, "shop": {"victim.myshopify.com&shop=attacker.myshopify.com"}, "timestamp": {"1337178173"}, "hmac": {mac}}
	if _, err := app.VerifyCallback(resplit, time.Unix(1337178173, 0)); err == nil {
		t.Fatal("a re-split query verified")
	}
	twoShops := url.Values{"host": {"x"}, "shop": {"victim.myshopify.com"}, "timestamp": {"1337178173"}}
	twoShops.Set("hmac", shopify.SignQuery("hush", url.Values{"host": {"x&shop=victim.myshopify.com"}, "timestamp": {"1337178173"}}))
	if _, err := app.VerifyCallback(twoShops, time.Unix(1337178173, 0)); err == nil {
		t.Fatal("a value re-read as the shop parameter verified")
	}
}

func TestExtensionToken(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t)
	app := newApp(t, fake)
	now := time.Now()
	secret := []byte(fake.APISecret)
	hs := func(mod func(jwt.MapClaims)) string {
		c := jwt.MapClaims{"dest": testShop, "aud": fake.APIKey, "sub": "gid://shopify/Customer/77",
			"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Second).Unix(), "iat": now.Unix(), "jti": "j"}
		if mod != nil {
			mod(c)
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"dest": testShop, "aud": fake.APIKey,
		"exp": now.Add(time.Minute).Unix()}).SignedString([]byte("not-the-secret"))
	tests := []struct {
		name     string
		token    string
		customer int64
		ok       bool
	}{
		{"signed-in customer", hs(nil), 77, true},
		{"guest has no sub", hs(func(c jwt.MapClaims) { delete(c, "sub") }), 0, true},
		{"fake's guest token", fake.ExtensionToken(testShop, 0), 0, true},
		{"fake's customer token", fake.ExtensionToken(testShop, 5), 5, true},
		{"dest as https URL", hs(func(c jwt.MapClaims) { c["dest"] = "https://" + testShop }), 77, true},
		{"wrong signature", other, 0, false},
		{"expired", hs(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }), 0, false},
		{"no exp", hs(func(c jwt.MapClaims) { delete(c, "exp") }), 0, false},
		{"wrong aud", hs(func(c jwt.MapClaims) { c["aud"] = "another-app" }), 0, false},
		{"dest not a shop", hs(func(c jwt.MapClaims) { c["dest"] = "evil.example.com" }), 0, false},
		{"http dest", hs(func(c jwt.MapClaims) { c["dest"] = "http://" + testShop }), 0, false},
		{"sub not a customer", hs(func(c jwt.MapClaims) { c["sub"] = "gid://shopify/StaffMember/1" }), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := app.VerifyExtensionToken(tt.token, now)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, shopify.ErrBadSessionToken) {
					t.Fatalf("err %v is not ErrBadSessionToken", err)
				}
				return
			}
			if c.Shop != testShop || c.CustomerID != tt.customer {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
}
