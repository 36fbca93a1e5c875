package app

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// sessionToken mints the App Bridge session token the Shopify admin would
// hand the embedded app on its first load.
func sessionToken(t *testing.T, shop string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "https://" + shop + "/admin", "dest": "https://" + shop, "aud": "test-api-key", "sub": "42",
		"exp": testNow.Add(time.Minute).Unix(), "nbf": testNow.Add(-time.Second).Unix(), "iat": testNow.Unix(), "jti": "j", "sid": "s",
	}).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// keepScreenshot saves a screenshot as a test artifact and, with
// TSUNAGU_UPDATE_SCREENSHOTS=1, as the README's docs/screenshots/<name>.png.
func keepScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	// A full-page shot of a scrolled page draws the sticky top bar mid-page.
	mustDo(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)))
	path := testenv.Screenshot(t, ctx, name)
	if os.Getenv("TSUNAGU_UPDATE_SCREENSHOTS") == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "docs", "screenshots")
	mustDo(t, os.MkdirAll(dir, 0o755))
	mustDo(t, os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644))
}

// seedDashboard adds a month of linking and messages so the dashboard has
// something to show.
func seedDashboard(t *testing.T, a *App, s *adminSeed) {
	ctx := context.Background()
	for i := 0; i < 40; i++ {
		c := &store.Customer{ShopID: s.shopA.ID, ShopifyID: int64(8000 + i), FirstName: fmt.Sprintf("客%d", i), LastName: "鈴木"}
		mustDo(t, a.DB.UpsertCustomer(ctx, c))
		at := testNow.Add(-time.Duration(29-i*29/40) * 24 * time.Hour)
		mustDo(t, a.DB.CreateLink(ctx, &store.LineLink{ShopID: s.shopA.ID, CustomerID: c.ID, LineUserID: fmt.Sprintf("Ud%d", i), Friend: true, LinkedAt: at}))
		for j, kind := range []string{"thank_you", "shipping", "follow_up_3"} {
			status, reason := store.MsgSent, ""
			if (i+j)%7 == 0 {
				status, reason = store.MsgSkipped, "frequency_cap"
			}
			m := &store.Message{ShopID: s.shopA.ID, CustomerID: &c.ID, Kind: kind, DedupeKey: fmt.Sprintf("d:%d:%s", i, kind), ScheduledFor: at, Status: status, Reason: reason}
			_, err := a.DB.PlanMessage(ctx, m)
			mustDo(t, err)
			mustDo(t, a.DB.WithContext(ctx).Model(m).Update("created_at", at).Error)
		}
	}
}

func TestAdminBrowser(t *testing.T) {
	// Not parallel: Chromium is CPU-heavy; beside other tests it can outlast its time budget.
	db := testenv.Postgres(t)
	a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
	s := seedAdmin(t, a)
	seedDashboard(t, a, s)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	ctx := testenv.Browser(t)

	// Opening the app from the Shopify admin: the session token starts a cookie session.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/admin?lang=ja&id_token="+sessionToken(t, testShop))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#dashboard")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "サンクスメッセージ") || !strings.Contains(text, "1日の上限") {
		t.Errorf("dashboard table: %q", text)
	}
	keepScreenshot(t, ctx, "dashboard")

	t.Run("search, customer, timeline", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/admin/customers")); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.RunResponse(ctx, chromedp.SendKeys(chromedp.ID("q"), "#1001\n")); err != nil {
			t.Fatal(err)
		}
		rows, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#results tbody")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(rows, "Yamada Hanako") || strings.Contains(rows, "山田 太郎") {
			t.Fatalf("results for #1001: %q", rows)
		}
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#results tbody tr a"))); err != nil {
			t.Fatal(err)
		}
		tl, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#timeline")))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"サンクスメッセージ #1001", "LINE 未連携", "フォロー（3日後）", "ありがとうございます", "発送", "届きました？", "LINE 連携解除", "LINE-HANA", "GDPR データ開示請求"} {
			if !strings.Contains(tl, want) {
				t.Errorf("timeline lacks %q", want)
			}
		}
		if strings.Contains(tl, "secret of shop B") {
			t.Fatal("shop B's activity on shop A's timeline")
		}
		href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`li[data-kind="order"] .links a`), "href"))
		if err != nil || !strings.HasPrefix(href.Value, "https://admin.shopify.com/store/tsunagu-test/orders/90000") {
			t.Errorf("order links to %q (%v)", href.Value, err)
		}
		keepScreenshot(t, ctx, "timeline")

		// Filter to messages only.
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`#filters a[data-kind="messages"]`))); err != nil {
			t.Fatal(err)
		}
		kinds, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#timeline li")].map(li => li.dataset.kind)`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(kinds, ",") != "follow_up_3,shipping,thank_you" {
			t.Errorf("messages filter shows %v", kinds)
		}
	})

	t.Run("template with live preview", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/admin/templates?kind=thank_you&tlang=ja")); err != nil {
			t.Fatal(err)
		}
		waitAttr := func(expr string) {
			t.Helper()
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
				t.Fatalf("waiting for %s: %v", expr, err)
			}
		}
		waitAttr(`document.getElementById("editor").dataset.previewed === "ok"`)
		// Type a template: the preview renders it with the shop's latest order.
		src := `[{"type":"text","text":{{json (print "ご注文 " .Order.Name " ありがとうございます")}}}]`
		if err := chromedp.Do(ctx,
			testenv.Fill("#source", src),
		); err != nil {
			t.Fatal(err)
		}
		waitAttr(`document.getElementById("preview").textContent.includes("ご注文 #1002 ありがとうございます")`)
		from, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("preview-from")))
		if !strings.Contains(from, "#1002") {
			t.Errorf("preview data from %q", from)
		}
		keepScreenshot(t, ctx, "templates")
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("tpl-save"))); err != nil {
			t.Fatal(err)
		}
		waitAttr(`document.getElementById("tpl-result").classList.contains("ok")`)
		shop, err := a.DB.Shop(context.Background(), s.shopA.ID)
		if err != nil || shop.Settings.Templates["thank_you.ja"] != src {
			t.Fatalf("saved template = %q (%v)", shop.Settings.Templates["thank_you.ja"], err)
		}

		// A broken template shows the error in the preview and is not saved.
		if err := chromedp.Do(ctx,
			testenv.Fill("#source", `[{"type":"text","text":{{json .Nope}}}]`),
		); err != nil {
			t.Fatal(err)
		}
		waitAttr(`document.getElementById("editor").dataset.previewed === "error"`)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("tpl-save"))); err != nil {
			t.Fatal(err)
		}
		waitAttr(`document.getElementById("tpl-result").classList.contains("err")`)
		msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("tpl-result")))
		if !strings.Contains(msg, "Nope") {
			t.Errorf("save error shown: %q", msg)
		}
		shop, _ = a.DB.Shop(context.Background(), s.shopA.ID)
		if shop.Settings.Templates["thank_you.ja"] != src {
			t.Fatal("a broken template replaced the saved one")
		}
	})

	t.Run("template from the form, drawn as LINE draws it", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/admin/templates?kind=thank_you&tlang=ja")); err != nil {
			t.Fatal(err)
		}
		waitAttr := func(expr string) {
			t.Helper()
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
				t.Fatalf("waiting for %s: %v", expr, err)
			}
		}
		// A hand-written template opens in the JSON editor; the form is one click away.
		waitAttr(`document.getElementById("tpl-form").hidden && document.getElementById("editor").dataset.previewed === "ok"`)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("mode-form")),
			testenv.Fill("#f-text", "{名前}様、ご注文ありがとうございます"),
			chromedp.Click(chromedp.ID("f-use-card")),
			testenv.Fill("#f-title", "{ショップ名}より"),
			testenv.Fill("#f-body", "またのご来店をお待ちしています"),
			testenv.Fill("#f-button", "ショップを見る")); err != nil {
			t.Fatal(err)
		}
		// The preview draws a text bubble and a Flex bubble with its button, for a real customer.
		waitAttr(`document.querySelector("#preview .ltext") !== null && document.querySelector("#preview .lbubble .lbtn")?.textContent === "ショップを見る" && document.querySelector("#preview .lbubble").textContent.includes("またのご来店")`)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("tpl-save"))); err != nil {
			t.Fatal(err)
		}
		waitAttr(`document.getElementById("tpl-result").classList.contains("ok")`)
		shop, err := a.DB.Shop(context.Background(), s.shopA.ID)
		if err != nil || !strings.HasPrefix(shop.Settings.Templates["thank_you.ja"], "{{/* form ") {
			t.Fatalf("saved template = %q (%v)", shop.Settings.Templates["thank_you.ja"], err)
		}
		// Reopened, it shows the form as it was.
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/admin/templates?kind=thank_you&tlang=ja")); err != nil {
			t.Fatal(err)
		}
		waitAttr(`!document.getElementById("tpl-form").hidden && document.getElementById("f-button").value === "ショップを見る"`)
	})

	t.Run("settings in English", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/admin/settings?lang=en")); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS(`#journeys-form [name=daily_cap]`), "4"),
			chromedp.Click(chromedp.CSS(`#journeys-form button[type=submit]`)),
		); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#journeys-form .result").textContent === "Saved"`,
			chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatal(err)
		}
		shop, _ := a.DB.Shop(context.Background(), s.shopA.ID)
		if shop.Settings.Cap() != 4 || shop.Settings.Templates["thank_you.ja"] == "" {
			t.Errorf("settings after save: cap %d, templates %v", shop.Settings.Cap(), shop.Settings.Templates)
		}
		keepScreenshot(t, ctx, "settings")
	})
}
