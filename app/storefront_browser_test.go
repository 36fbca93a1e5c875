package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

// themeProductPage is a product page with the theme app extension's block as
// extensions/line-link-theme/blocks/line_link.liquid renders it (merchant
// texts left empty: the script's defaults show) and its built script.
const themeProductPage = `<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>湯呑み</title>
<link rel="stylesheet" href="/cdn/line-link.css"></head><body><h1>有田焼 湯呑み</h1>
<div class="tsunagu-line tsunagu-line--block" data-tsunagu-line data-proxy="/apps/tsunagu" data-placement="product"
 data-heading="" data-body="" data-button="" data-show-qr="false" data-lang="ja" hidden></div>
<script src="/cdn/line-link.js" defer></script></body></html>`

// The theme block in a real browser on a storefront whose app proxy signs
// requests as Shopify does: a guest is asked to sign in; once signed in the
// block offers linking, hands the pixel its customer proof, and its button
// goes through the proxy into LINE Login and back to the coupon; a linked
// customer then sees no block.
func TestThemeBlockInBrowser(t *testing.T) {
	// Not parallel: Chromium is CPU-heavy (see TestLinkFlowInBrowser).
	db := testenv.SQLite(t)
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	e := newLinkEnv(t, db, testenv.Redis(t), srv.URL)
	h = e.a.Handler()
	startWorkers(t, e.a)
	asset := func(name, ctype string) shopifytest.Asset {
		b, err := os.ReadFile("../extensions/line-link-theme/assets/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return shopifytest.Asset{ContentType: ctype, Body: b}
	}
	sf := e.shop.NewStorefront(t, testShop, srv.URL+"/proxy", map[string]string{"/products/yunomi": themeProductPage},
		map[string]shopifytest.Asset{"/cdn/line-link.js": asset("line-link.js", "text/javascript"), "/cdn/line-link.css": asset("line-link.css", "text/css")})

	ctx := testenv.Browser(t)
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
		UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1", AcceptLanguage: "ja-JP,ja",
	}); err != nil {
		t.Fatal(err)
	}
	button := chromedp.CSS(".tsunagu-line__button")
	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}

	// A guest: sign in first, then come back into linking.
	if err := chromedp.Do(ctx, chromedp.Navigate(sf.URL+"/products/yunomi"), chromedp.WaitVisible(button)); err != nil {
		t.Fatal(err)
	}
	if got := text(button); got != "ログインしてLINEと連携" {
		t.Fatalf("guest button %q", got)
	}
	testenv.Screenshot(t, ctx, "theme_block_guest_ja")
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(button)); err != nil {
		t.Fatal(err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasPrefix(loc, sf.URL+"/account/login?return_url=%2Fapps%2Ftsunagu%2Flink") {
		t.Fatalf("guest sent to %s", loc)
	}

	// Signed in as customer 7001: the block offers linking.
	if err := chromedp.Do(ctx, chromedp.Navigate(sf.URL+"/account/login?customer=7001&return_url=/products/yunomi"), chromedp.WaitVisible(button)); err != nil {
		t.Fatal(err)
	}
	if got := text(button); got != "LINEで受け取る" {
		t.Fatalf("signed-in button %q", got)
	}
	if body := text(chromedp.CSS(".tsunagu-line__body")); !strings.Contains(body, "10%") {
		t.Errorf("block text %q does not carry the incentive", body)
	}
	testenv.Screenshot(t, ctx, "theme_block_signed_in_ja")
	cookie, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	want := core.PixelCustomerToken(e.a.Config.SecretKey, testShop, 7001, testNow.Add(core.PixelTokenTTL))
	if !strings.Contains(cookie, "_tsunagu_px="+want) {
		t.Errorf("pixel proof cookie missing: %q", cookie)
	}

	// The button: app proxy → LINE Login (fake) → callback → coupon.
	if err := chromedp.Do(ctx, chromedp.Click(button), chromedp.WaitVisible(chromedp.ID("coupon-code"))); err != nil {
		t.Fatal(err)
	}
	if heading := text(chromedp.CSS("#heading")); heading != "LINE連携が完了しました" {
		t.Fatalf("result page %q", heading)
	}
	if _, err := db.LiveLink(context.Background(), e.cust.ID); err != nil {
		t.Fatalf("no link after the theme block flow: %v", err)
	}

	// Linked: the app answers "linked" and the block stays hidden.
	if err := chromedp.Do(ctx, chromedp.Navigate(sf.URL+"/products/yunomi")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('[data-tsunagu-line]').dataset.tsunaguState === 'linked'`)); err != nil {
		t.Fatal(err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.querySelector('[data-tsunagu-line]').hidden || !!document.querySelector('.tsunagu-line__button')`))
	if err != nil || shown {
		t.Fatalf("linked customer still sees the block (%v)", err)
	}
}
