package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/shopify"
)

// The whole install in headless Chromium against the fake Shopify: install
// URL → Shopify's authorize page → Install → callback → the admin page.
func TestInstallFlowInBrowser(t *testing.T) {
	// Not parallel: Chromium is CPU-heavy; beside other tests it can outlast its time budget.
	db := testenv.SQLite(t)
	var handler http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	base := "http://" + srv.Listener.Addr().String()
	a, fake := newInstallApp(t, db, base)
	handler = a.Handler()
	srv.Start()
	t.Cleanup(srv.Close)

	ctx := testenv.Browser(t)
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+"/shopify/install?shop="+testShop))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.URL, fake.URL+"/admin/oauth/authorize?") {
		t.Fatalf("install landed on %s", resp.URL)
	}
	scopes, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("scopes")))
	if err != nil || scopes != strings.Join(DefaultScopes, ",") {
		t.Fatalf("authorize page scopes %q (%v)", scopes, err)
	}
	testenv.Screenshot(t, ctx, "install_1_authorize")

	resp, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("install")))
	if err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(loc); u == nil || u.Path != "/admin" || !strings.HasPrefix(loc, base) {
		t.Fatalf("after install at %s (status %d)", loc, resp.Status)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil || !strings.Contains(title, "Tsunagu") {
		t.Fatalf("title %q (%v)", title, err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("shop")))
	if err != nil || shown != testShop {
		t.Fatalf("admin page shows %q (%v)", shown, err)
	}
	testenv.Screenshot(t, ctx, "install_2_admin")

	shop, err := db.ShopByDomain(context.Background(), testShop)
	if err != nil || !shop.Active() || len(shop.AccessTokenEnc) == 0 {
		t.Fatalf("shop after browser install: %+v %v", shop, err)
	}
	if got := len(fake.Subscriptions()); got != len(shopify.Topics) {
		t.Fatalf("%d subscriptions", got)
	}

	// A forged callback gets a page that says why, in the browser too.
	q := fake.CallbackQuery(testShop, "forged-state")
	q.Set("shop", "other-shop.myshopify.com")
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/shopify/callback?"+q.Encode())); err != nil {
		t.Fatal(err)
	}
	reason, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("reason")))
	if err != nil || !strings.Contains(reason, "not signed by Shopify") {
		t.Fatalf("refusal page says %q (%v)", reason, err)
	}
	testenv.Screenshot(t, ctx, "install_3_refused")
}
