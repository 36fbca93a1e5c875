package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// The link flow in a real browser: the link URL, LINE Login (the fake's
// consent redirect), the callback and the Japanese result page with the
// coupon code; then the unlink button.
func TestLinkFlowInBrowser(t *testing.T) {
	// Not parallel: Chromium is CPU-heavy; beside other tests it can outlast its time budget.
	db := testenv.SQLite(t)
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	e := newLinkEnv(t, db, testenv.Redis(t), srv.URL)
	h = e.a.Handler()
	startWorkers(t, e.a)
	linkURL, err := e.a.LinkURL(e.s.ID, e.cust.ID)
	if err != nil {
		t.Fatal(err)
	}

	ctx := testenv.Browser(t)
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
		UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Line/14.0.0", AcceptLanguage: "ja-JP,ja",
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(linkURL), chromedp.WaitVisible(chromedp.ID("coupon-code"))); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, srv.URL+linkCallbackPath+"?") {
		t.Errorf("ended at %s", loc)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("heading")))
	if err != nil {
		t.Fatal(err)
	}
	code, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("coupon-code")))
	if err != nil {
		t.Fatal(err)
	}
	coupon, err := db.CustomerCoupon(context.Background(), e.s.ID, e.cust.ID, store.CampaignLineLink)
	if err != nil {
		t.Fatal(err)
	}
	if heading != "LINE連携が完了しました" || code != coupon.Code {
		t.Fatalf("page shows %q / %q, want the link heading and %q", heading, code, coupon.Code)
	}
	testenv.Screenshot(t, ctx, "link_result_ja")
	if _, err := db.LiveLink(context.Background(), e.cust.ID); err != nil {
		t.Fatalf("no link after the browser flow: %v", err)
	}
	// The workers create the discount and push the same code on LINE.
	eventually(t, "the coupon pushed on LINE", func() bool { return len(e.line.Pushes()) == 1 })
	if p := e.line.Pushes()[0]; p.To != testLineUser || !strings.Contains(string(p.Messages[0]), coupon.Code) {
		t.Fatalf("push %+v", p)
	}
	if d := e.shop.Discounts(); len(d) != 1 || d[0].Code != coupon.Code {
		t.Fatalf("discounts %+v", d)
	}

	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("unlink"))); err != nil {
		t.Fatal(err)
	}
	heading, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("heading")))
	if err != nil {
		t.Fatal(err)
	}
	if heading != "LINE連携を解除しました" {
		t.Fatalf("after unlink: %q", heading)
	}
	testenv.Screenshot(t, ctx, "link_unlinked_ja")
	if _, err := db.LiveLink(context.Background(), e.cust.ID); err == nil {
		t.Fatal("still linked after the unlink button")
	}
}
