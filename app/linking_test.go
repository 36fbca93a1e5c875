package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

// The whole link: link URL → LINE Login → callback links the customer, the
// page shows the coupon; the job creates it in Shopify (this customer only,
// one use), pushes it as a Flex message and tags the customer.
func TestLinkHappyPath(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e := newLinkEnv(t, db, testenv.Redis(t), "")
		ctx := context.Background()
		la := e.authorize(t, e.start(t, e.cust))

		q := la.authURL.Query()
		for k, want := range map[string]string{"response_type": "code", "client_id": testLoginChannel, "scope": "openid profile",
			"code_challenge_method": "S256", "bot_prompt": "aggressive", "redirect_uri": e.a.Config.BaseURL + linkCallbackPath} {
			if q.Get(k) != want {
				t.Errorf("authorize %s = %q, want %q", k, q.Get(k), want)
			}
		}
		if q.Get("nonce") == "" || q.Get("state") == "" || len(q.Get("code_challenge")) != 43 {
			t.Errorf("authorize URL lacks nonce/state/PKCE: %s", la.authURL)
		}

		rec := e.callback(la, la.callback, "ja,en;q=0.8")
		if rec.Code != http.StatusOK {
			t.Fatalf("callback: %d %s", rec.Code, rec.Body)
		}
		body := rec.Body.String()
		coupon, err := db.CustomerCoupon(ctx, e.s.ID, e.cust.ID, store.CampaignLineLink)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"LINE連携が完了しました", coupon.Code, `action="/link/unlink"`} {
			if !strings.Contains(body, want) {
				t.Errorf("result page lacks %q:\n%s", want, body)
			}
		}
		link, err := db.LiveLink(ctx, e.cust.ID)
		if err != nil || link.LineUserID != testLineUser || !link.Friend || link.DisplayName != "Taro Line" {
			t.Fatalf("link = %+v, %v", link, err)
		}

		e.processPending(t)
		e.sendQueued(t)

		ds := e.shop.Discounts()
		if len(ds) != 1 {
			t.Fatalf("%d discounts, want 1", len(ds))
		}
		d := ds[0]
		if d.Code != coupon.Code || d.UsageLimit == nil || *d.UsageLimit != 1 || d.AllCustomers ||
			len(d.CustomerGIDs) != 1 || d.CustomerGIDs[0] != shopify.CustomerGID(e.cust.ShopifyID) ||
			d.Percentage == nil || *d.Percentage != 0.1 || d.EndsAt == nil || !d.EndsAt.Equal(testNow.AddDate(0, 0, 30)) {
			t.Errorf("discount = %+v", d)
		}
		if tags := e.shop.Tags(e.cust.ShopifyID); len(tags) != 1 || tags[0] != jobs.TagLinked {
			t.Errorf("tags = %v", tags)
		}
		m, err := db.MessageByKey(ctx, jobs.LinkCouponKey(e.s.ID, e.cust.ID))
		if err != nil || m.Status != store.MsgSent || m.Kind != jobs.KindLinkCoupon {
			t.Fatalf("coupon message = %+v, %v", m, err)
		}
		pushes := e.line.Pushes()
		if len(pushes) != 1 || pushes[0].To != testLineUser {
			t.Fatalf("pushes = %d; rejected %v", len(pushes), e.line.Rejected())
		}
		var sent strings.Builder
		for _, m := range pushes[0].Messages {
			sent.Write(m)
		}
		if !strings.Contains(sent.String(), coupon.Code) || !strings.Contains(sent.String(), `"type":"flex"`) {
			t.Fatalf("coupon push = %s", sent.String())
		}
		if c, _ := db.Coupon(ctx, coupon.ID); c.Status != store.CouponIssued || c.ShopifyDiscountID != d.ID {
			t.Errorf("coupon = %+v", c)
		}

		// The browser's back button: the same callback again is refused and changes nothing.
		if rec := e.callback(la, la.callback, ""); rec.Code != http.StatusBadRequest {
			t.Errorf("replayed callback: %d", rec.Code)
		}
		// Running the jobs again does nothing more.
		if err := e.a.Worker().ProcessEvent(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, db, &store.LineLink{}, ""); n != 1 {
			t.Errorf("%d links", n)
		}
		if len(e.shop.Discounts()) != 1 || len(e.line.Pushes()) != 1 {
			t.Errorf("replay made more discounts or pushes")
		}

		// Unlink from the page: stops messages and is recorded; relinking
		// later gives no second coupon.
		tok := between(body, `name="t" value="`, `"`)
		form := url.Values{"t": {tok}}
		req := httptest.NewRequest(http.MethodPost, "/link/unlink", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", "en-US,en")
		if rec := e.serve(req); rec.Code != 200 || !strings.Contains(rec.Body.String(), "LINE is unlinked") {
			t.Fatalf("unlink: %d %s", rec.Code, rec.Body)
		}
		if _, err := db.LiveLink(ctx, e.cust.ID); err == nil {
			t.Fatal("still linked after unlink")
		}
		if n := countRows(t, db, &store.Activity{}, "kind = ? AND customer_id = ?", store.ActUnlinked, e.cust.ID); n != 1 {
			t.Errorf("%d unlink activities", n)
		}
		e.processPending(t)
		if tags := e.shop.Tags(e.cust.ShopifyID); len(tags) != 0 {
			t.Errorf("tags after unlink = %v", tags)
		}
		la2 := e.authorize(t, e.start(t, e.cust))
		if rec := e.callback(la2, la2.callback, ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), coupon.Code) {
			t.Fatalf("relink: %d", rec.Code)
		}
		e.processPending(t)
		e.sendQueued(t)
		if n := countRows(t, db, &store.Coupon{}, ""); n != 1 || len(e.shop.Discounts()) != 1 || len(e.line.Pushes()) != 1 {
			t.Errorf("relink: %d coupons, %d discounts, %d pushes; want 1 each", n, len(e.shop.Discounts()), len(e.line.Pushes()))
		}
	})
}

func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, to)
	return v
}

// Every way a callback can be wrong is refused and stores nothing.
func TestLinkCallbackRefused(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e := newLinkEnv(t, db, testenv.Redis(t), "")
	idToken := func(mut func(jwt.MapClaims), secret string) func(nonce string) string {
		return func(nonce string) string {
			c := jwt.MapClaims{"iss": "https://access.line.me", "sub": testLineUser, "aud": testLoginChannel,
				"exp": testNow.Add(time.Hour).Unix(), "iat": testNow.Unix(), "nonce": nonce, "name": "Mallory"}
			mut(c)
			s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	none := func(jwt.MapClaims) {}
	cases := []struct {
		name string
		// tamper changes the attempt before the callback; forge replaces the ID token.
		tamper func(la *loginAttempt) url.Values
		forge  func(nonce string) string
		status int
	}{
		{"no state", func(la *loginAttempt) url.Values { q := clone(la.callback); q.Del("state"); return q }, nil, 400},
		{"wrong state", func(la *loginAttempt) url.Values { q := clone(la.callback); q.Set("state", "forged"); return q }, nil, 400},
		{"no browser cookie", func(la *loginAttempt) url.Values { la.cookie = nil; return la.callback }, nil, 400},
		{"bad code", func(la *loginAttempt) url.Values { q := clone(la.callback); q.Set("code", "nope"); return q }, nil, 400},
		{"wrong audience", nil, idToken(func(c jwt.MapClaims) { c["aud"] = "1650009999" }, testLoginSecret), 400},
		{"wrong nonce", nil, idToken(func(c jwt.MapClaims) { c["nonce"] = "other" }, testLoginSecret), 400},
		{"expired", nil, idToken(func(c jwt.MapClaims) {
			c["exp"], c["iat"] = testNow.Add(-time.Hour).Unix(), testNow.Add(-2*time.Hour).Unix()
		}, testLoginSecret), 400},
		{"bad signature", nil, idToken(none, "not-the-channel-secret"), 400},
		{"wrong issuer", nil, idToken(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }, testLoginSecret), 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			la := e.authorize(t, e.start(t, e.cust))
			q := la.callback
			if tc.tamper != nil {
				q = tc.tamper(la)
			}
			if tc.forge != nil {
				orig := e.a.LineLogin
				e.a.LineLogin = lineLoginForging(t, e, tc.forge(la.authURL.Query().Get("nonce")))
				defer func() { e.a.LineLogin = orig }()
			}
			rec := e.callback(la, q, "")
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), "<h1") {
				t.Errorf("no page: %s", rec.Body)
			}
			for _, m := range []any{&store.LineLink{}, &store.Coupon{}, &store.Event{}} {
				if n := countRows(t, db, m, ""); n != 0 {
					t.Errorf("%T: %d rows stored", m, n)
				}
			}
		})
	}
	// The replayed code: a fresh state with an already used code.
	la := e.authorize(t, e.start(t, e.cust))
	first := e.callback(la, la.callback, "")
	if first.Code != 200 {
		t.Fatalf("first callback: %d", first.Code)
	}
	la2 := e.start(t, e.cust)
	q := clone(la.callback)
	q.Set("state", la2.authURL.Query().Get("state"))
	db.G.Exec("DELETE FROM line_links")
	if rec := e.callback(la2, q, ""); rec.Code != 400 {
		t.Fatalf("replayed code: %d", rec.Code)
	}
	if n := countRows(t, db, &store.LineLink{}, ""); n != 0 {
		t.Errorf("replayed code linked")
	}
}

func clone(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// lineLoginForging returns a LINE Login client whose token endpoint answers
// with idToken instead of what LINE issued (as an attacker in the middle
// or a confused LINE would).
func lineLoginForging(t *testing.T, e *linkEnv, idToken string) *lineLoginT {
	t.Helper()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, _ := http.NewRequest(r.Method, e.line.URL+r.URL.RequestURI(), r.Body)
		out.Header = r.Header.Clone()
		res, err := http.DefaultClient.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		if r.URL.Path == "/oauth2/v2.1/token" && res.StatusCode == 200 {
			m["id_token"] = idToken
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(res.StatusCode)
		json.NewEncoder(w).Encode(m)
	}))
	t.Cleanup(proxy.Close)
	e.a.Config.LineAPIBase = proxy.URL
	t.Cleanup(func() { e.a.Config.LineAPIBase = e.line.URL })
	return newLineLogin()
}

// Two callbacks for the same customer at once (two tabs, a double tap) make
// one link and one coupon, on PostgreSQL where they truly run in parallel.
func TestLinkConcurrentCallbacks(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	e := newLinkEnv(t, db, testenv.Redis(t), "")
	const n = 4
	attempts := make([]*loginAttempt, n)
	for i := range attempts {
		attempts[i] = e.authorize(t, e.start(t, e.cust))
	}
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i, la := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = e.callback(la, la.callback, "").Code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("callback %d: %d", i, c)
		}
	}
	e.processPending(t)
	e.sendQueued(t)
	if l, c := countRows(t, db, &store.LineLink{}, ""), countRows(t, db, &store.Coupon{}, ""); l != 1 || c != 1 {
		t.Fatalf("%d links, %d coupons; want 1 and 1", l, c)
	}
	if len(e.shop.Discounts()) != 1 || len(e.line.Pushes()) != 1 {
		t.Fatalf("%d discounts, %d pushes; want 1 and 1", len(e.shop.Discounts()), len(e.line.Pushes()))
	}
}

// One LINE user ↔ one customer per shop: relinking elsewhere is refused
// with a clear page until the old link is removed.
func TestLinkRelinkRefused(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e := newLinkEnv(t, db, testenv.Redis(t), "")
	la := e.authorize(t, e.start(t, e.cust))
	if rec := e.callback(la, la.callback, ""); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	other := addCustomer(t, db, e.s.ID, 7002)
	la2 := e.authorize(t, e.start(t, other))
	rec := e.callback(la2, la2.callback, "en")
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "already linked to another customer") {
		t.Fatalf("relink to another customer: %d %s", rec.Code, rec.Body)
	}
	// The same customer from another LINE account.
	e.line.SetLoginUser("Uffffffffffffffffffffffffffffffff", "Jiro", true)
	la3 := e.authorize(t, e.start(t, e.cust))
	rec = e.callback(la3, la3.callback, "ja")
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "別のLINEアカウントと連携済み") {
		t.Fatalf("customer with another LINE user: %d %s", rec.Code, rec.Body)
	}
	if n := countRows(t, db, &store.LineLink{}, ""); n != 1 {
		t.Errorf("%d links", n)
	}
	if n := countRows(t, db, &store.Coupon{}, ""); n != 1 {
		t.Errorf("%d coupons", n)
	}
}

func TestLinkStartRefused(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e := newLinkEnv(t, db, testenv.Redis(t), "")
	good, _ := e.a.LinkURL(e.s.ID, e.cust.ID)
	expired := "/link/start?t=" + url.QueryEscape(e.a.Signer.Sign(linkPurpose, []byte(fmt.Sprintf("%d:%d", e.s.ID, e.cust.ID)), testNow.Add(-time.Second)))
	wrongPurpose := "/link/start?t=" + url.QueryEscape(e.a.Signer.Sign(unlinkPurpose, []byte(fmt.Sprintf("%d:%d", e.s.ID, e.cust.ID)), testNow.Add(time.Hour)))
	for _, tc := range []struct {
		name, url string
		status    int
	}{
		{"no token", "/link/start", 400},
		{"tampered", strings.Replace(good, "t=", "t=x", 1), 400},
		{"expired", expired, 400},
		{"other purpose", wrongPurpose, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rec := e.serve(httptest.NewRequest(http.MethodGet, tc.url, nil)); rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
		})
	}
	if n := countRows(t, db, &store.LinkLogin{}, ""); n != 0 {
		t.Errorf("%d login attempts stored", n)
	}
}

func TestLinkCouponIssuance(t *testing.T) {
	t.Parallel()
	fixed := store.Incentive{Enabled: true, Kind: "fixed", Value: 500, MinimumSubtotal: 3000, ValidDays: 14, Title: "500円OFF"}
	for _, tc := range []struct {
		name          string
		incentive     store.Incentive
		shopCurrency  string
		failFirst     bool
		wantStatus    string
		wantDiscounts int
		wantPushes    int
	}{
		{"fixed amount in the shop's currency", fixed, "JPY", false, store.CouponIssued, 1, 1},
		{"currency mismatch refused", fixed, "USD", false, "failed", 0, 0},
		{"Shopify down once, retried", fixed, "JPY", true, store.CouponIssued, 1, 1},
		{"incentive off", store.Incentive{}, "JPY", false, "", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := testenv.SQLite(t)
			e := newLinkEnv(t, db, testenv.Redis(t), "")
			ctx := context.Background()
			st := e.s.Settings
			st.Incentive = tc.incentive
			if err := db.SaveShopSettings(ctx, e.s.ID, st); err != nil {
				t.Fatal(err)
			}
			e.shop.SetShopInfo(testShop, shopifytest.ShopInfo{Name: "つなぐ商店", Currency: tc.shopCurrency})
			la := e.authorize(t, e.start(t, e.cust))
			if rec := e.callback(la, la.callback, ""); rec.Code != 200 {
				t.Fatal(rec.Code)
			}
			if tc.failFirst {
				// Three answers: every try of the Admin client's transport.
				e.shop.FailNext(3, http.StatusTooManyRequests, "0")
				ids, _ := db.PendingEventIDs(ctx, testNow.Add(time.Hour), 10)
				if err := e.a.Worker().ProcessEvent(ctx, ids[0]); err == nil {
					t.Fatal("no error while Shopify is down")
				}
			}
			e.processPending(t)
			e.sendQueued(t)
			c, err := db.CustomerCoupon(ctx, e.s.ID, e.cust.ID, store.CampaignLineLink)
			switch {
			case tc.wantStatus == "" && err == nil:
				t.Fatalf("coupon %+v with the incentive off", c)
			case tc.wantStatus != "" && (err != nil || c.Status != tc.wantStatus):
				t.Fatalf("coupon %+v %v, want status %s", c, err, tc.wantStatus)
			}
			if n := len(e.shop.Discounts()); n != tc.wantDiscounts {
				t.Fatalf("%d discounts", n)
			}
			if tc.wantDiscounts == 1 {
				d := e.shop.Discounts()[0]
				if d.Amount != "500" || d.MinimumSubtotal != "3000" || d.Percentage != nil || d.Title != "500円OFF" {
					t.Errorf("discount %+v", d)
				}
			}
			if n := len(e.line.Pushes()); n != tc.wantPushes {
				t.Fatalf("%d pushes", n)
			}
			if tags := e.shop.Tags(e.cust.ShopifyID); len(tags) != 1 {
				t.Errorf("tags %v: linking tags the customer whatever the coupon", tags)
			}
		})
	}
}

// The storefront entry through Shopify's app proxy.
func TestLinkAppProxy(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e := newLinkEnv(t, db, testenv.Redis(t), "")
	signed := func(customer string, ts time.Time) string {
		q := url.Values{"shop": {testShop}, "path_prefix": {"/apps/tsunagu"}, "timestamp": {fmt.Sprint(ts.Unix())}, "logged_in_customer_id": {customer}}
		q.Set("signature", shopify.ProxySignature(e.a.Config.ShopifyAPISecret, q))
		return "/proxy/link?" + q.Encode()
	}
	get := func(u string) *httptest.ResponseRecorder { return e.serve(httptest.NewRequest(http.MethodGet, u, nil)) }

	rec := get(signed("98765", testNow))
	if rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), e.a.Config.BaseURL+"/link/start?t=") {
		t.Fatalf("signed proxy request: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	cust, err := db.CustomerByShopifyID(context.Background(), e.s.ID, 98765)
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	p, err := e.a.Signer.Verify(linkPurpose, loc.Query().Get("t"), testNow)
	if err != nil || string(p) != fmt.Sprintf("%d:%d", e.s.ID, cust.ID) {
		t.Fatalf("token %q %v", p, err)
	}
	if rec := get(signed("", testNow)); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/account/login?return_url=%2Fapps%2Ftsunagu%2Flink" {
		t.Fatalf("not logged in: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	tampered := strings.Replace(signed("98765", testNow), "98765", "11111", 1)
	for name, u := range map[string]string{"tampered": tampered, "stale": signed("98765", testNow.Add(-time.Hour)), "unsigned": "/proxy/link?shop=" + testShop + "&logged_in_customer_id=1"} {
		if rec := get(u); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: %d", name, rec.Code)
		}
	}
}
