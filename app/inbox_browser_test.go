package app

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// Staff open the inbox, see the unread conversation of a friend who is not
// linked, answer it (reply token, free), then answer again with a canned
// reply after the token's minute (push).
func TestInboxBrowser(t *testing.T) {
	db := testenv.Postgres(t)
	e, clk := newInboxEnv(t, db)
	ctx := context.Background()
	const canned = "お問い合わせありがとうございます。担当者よりご連絡します。"
	if _, err := e.a.Friends().NewCannedReply(ctx, e.s.ID, "受付", canned); err != nil {
		t.Fatal(err)
	}
	e.line.SetProfile(linetest.Profile{UserID: friendUser, DisplayName: "さくら", Language: "ja"})
	e.line.IssueReplyToken("rt-browser-01")
	e.deliverLINE(t, lineEvent(t, "message_text_user.json", friendUser, "01HZZBRW000000000000000001", "rt-browser-01", clk.Now(), "青いマグの在庫はありますか？"))

	srv := httptest.NewServer(e.a.Handler())
	defer srv.Close()
	bctx := testenv.Browser(t)
	signIn, err := AdminURL(e.a.Config, testShop, clk.Now(), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+strings.TrimPrefix(signIn, e.a.Config.BaseURL))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/admin/inbox?lang=ja")); err != nil {
		t.Fatal(err)
	}
	unread, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("count-unread")))
	if err != nil || strings.TrimSpace(unread) != "1" {
		t.Fatalf("unread badge %q (%v)", unread, err)
	}
	rows, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#conversations tbody")))
	if !strings.Contains(rows, "さくら") || !strings.Contains(rows, "青いマグ") {
		t.Fatalf("inbox rows %q", rows)
	}
	if _, err := chromedp.RunResponse(bctx, chromedp.Click(chromedp.CSS("#conversations tbody tr a"))); err != nil {
		t.Fatal(err)
	}

	// A typed reply, within the reply token's minute.
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.ID("reply-text"), "はい、在庫がございます。")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.RunResponse(bctx, chromedp.Click(chromedp.ID("reply-send"))); err != nil {
		t.Fatal(err)
	}
	res, _ := chromedp.Run(bctx, chromedp.Text(chromedp.ID("reply-result")))
	if !strings.Contains(res, "送信しました") {
		t.Fatalf("after reply: %q", res)
	}
	if r := e.line.Replies(); len(r) != 1 || !strings.Contains(string(r[0].Messages[0]), "在庫がございます") {
		t.Fatalf("replies %+v; rejected %v", r, e.line.Rejected())
	}

	// A canned reply two minutes later: the token has expired, so a push.
	clk.Add(2 * time.Minute)
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](
		`(() => { const s = document.getElementById("canned"); s.selectedIndex = 1; s.dispatchEvent(new Event("change")); })()`)); err != nil {
		t.Fatal(err)
	}
	filled, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("reply-text").value`))
	if err != nil || filled != canned {
		t.Fatalf("canned reply filled %q (%v)", filled, err)
	}
	if _, err := chromedp.RunResponse(bctx, chromedp.Click(chromedp.ID("reply-send"))); err != nil {
		t.Fatal(err)
	}
	if p := e.line.Pushes(); len(p) != 1 || p[0].To != friendUser || !strings.Contains(string(p[0].Messages[0]), "担当者より") {
		t.Fatalf("pushes %+v; rejected %v", p, e.line.Rejected())
	}
	thread, _ := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#thread [data-delivery]")].map(b => b.dataset.delivery)`))
	if strings.Join(thread, ",") != store.DeliveryReply+","+store.DeliveryPush {
		t.Fatalf("deliveries shown %v", thread)
	}
	keepScreenshot(t, bctx, "inbox")
}
