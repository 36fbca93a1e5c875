//go:build !prod

package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tsunagu/tsunagu/app/sandbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// A newcomer's demo, in a real browser: `tsunagu demo` seeds the shop,
// `TSUNAGU_SANDBOX=on tsunagu serve` serves it with the sandbox; the link
// URL of the shopper who has not linked goes through the sandbox's LINE
// Login consent (a demo LINE user, "add as friend"), the app's callback
// verifies the sandbox's ID token like LINE's and shows the coupon; the
// workers create the discount in the Shopify sandbox and push the coupon,
// which the sandbox phone shows for that LINE user.
func TestDemoLinkThroughSandboxInBrowser(t *testing.T) {
	// Not parallel: Chromium is CPU-heavy (see TestLinkFlowInBrowser).
	db := testenv.SQLite(t)
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cfg := testConfig("")
	cfg.BaseURL, cfg.Sandbox = srv.URL, true
	a, err := Assemble(cfg, quietLogger(), db, testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	h = a.Handler()
	startWorkers(t, a)

	ctx := context.Background()
	shop, err := SeedDemo(ctx, db, cfg.SecretKey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cust, err := db.CustomerByShopifyID(ctx, shop.ID, DemoUnlinkedCustomer)
	if err != nil {
		t.Fatal(err)
	}
	linkURL, err := a.LinkURL(shop.ID, cust.ID)
	if err != nil {
		t.Fatal(err)
	}

	bc := testenv.Browser(t)
	if err := chromedp.Do(bc, chromedp.Navigate(linkURL), chromedp.WaitVisible(chromedp.ID("allow"))); err != nil {
		t.Fatal(err)
	}
	if loc, err := chromedp.Run(bc, chromedp.Location()); err != nil || !strings.HasPrefix(loc, srv.URL+"/sandbox/line/oauth2/v2.1/authorize?") {
		t.Fatalf("link URL led to %s (%v), want the sandbox's consent page", loc, err)
	}
	testenv.Screenshot(t, bc, "sandbox_consent")
	// Another demo LINE user than the preselected one, by name.
	if err := chromedp.Do(bc, chromedp.Click(chromedp.ID("user-other")), chromedp.SendKeys(chromedp.ID("other-name"), "Newcomer"),
		chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("coupon-code"))); err != nil {
		t.Fatal(err)
	}
	code, err := chromedp.Run(bc, chromedp.Text(chromedp.ID("coupon-code")))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Screenshot(t, bc, "sandbox_linked")
	user := sandbox.UserNamed("Newcomer")
	link, err := db.LiveLink(ctx, cust.ID)
	if err != nil || link.LineUserID != user.ID || !link.Friend {
		t.Fatalf("link after the sandbox flow: %+v %v, want %s as a friend", link, err, user.ID)
	}
	coupon, err := db.CustomerCoupon(ctx, shop.ID, cust.ID, store.CampaignLineLink)
	if err != nil || coupon.Code != code {
		t.Fatalf("the page shows %q, the coupon is %+v (%v)", code, coupon, err)
	}

	// The phone page shows the pushed coupon for that user (reloaded until
	// the workers have sent it).
	phone := srv.URL + "/sandbox/line/phone?user=" + user.ID
	eventually(t, "the coupon on the sandbox phone", func() bool {
		if err := chromedp.Do(bc, chromedp.Navigate(phone)); err != nil {
			return false
		}
		text, err := chromedp.Run(bc, chromedp.Text(chromedp.CSS("section.user")))
		return err == nil && strings.Contains(text, code)
	})
	testenv.Screenshot(t, bc, "sandbox_phone")
	if c, err := db.CustomerCoupon(ctx, shop.ID, cust.ID, store.CampaignLineLink); err != nil || c.Status != store.CouponIssued || c.ShopifyDiscountID == "" {
		t.Fatalf("the coupon was not issued through the Shopify sandbox: %+v %v", c, err)
	}
}
