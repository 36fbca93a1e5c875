package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// realTimeApp is an app on the real clock (a scheduled campaign waits in
// Asynq by the real clock) with quiet hours off, and a session token for it.
func realTimeApp(t *testing.T) (*App, *linetest.Server, string) {
	t.Helper()
	fake := linetest.NewServer(t)
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	a.Now = func() time.Time { return time.Now().UTC() }
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "https://" + testShop + "/admin", "dest": "https://" + testShop, "aud": "test-api-key", "sub": "42",
		"exp": now.Add(time.Minute).Unix(), "nbf": now.Add(-time.Second).Unix(), "iat": now.Unix(), "jti": "j", "sid": "s",
	}).SignedString([]byte(testSecret))
	mustDo(t, err)
	return a, fake, tok
}

// clockCall is adminCall with a session on the app's clock.
func clockCall(t *testing.T, a *App, method, target string, body any) *httptest.ResponseRecorder {
	t.Helper()
	b, _ := json.Marshal(body)
	req := httptest.NewRequest(method, target, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(testShop+"|staff-1"), a.Now().Add(time.Hour))})
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	return rec
}

func noQuietHours(t *testing.T, a *App, shop *store.Shop) {
	t.Helper()
	st := shop.Settings
	st.QuietStart, st.QuietEnd = "00:00", "00:00"
	mustDo(t, a.DB.SaveShopSettings(context.Background(), shop.ID, st))
}

// staffSendsCode is the staff member sending the code to the official
// account from LINE: a signed LINE webhook with a text message.
func staffSendsCode(t *testing.T, a *App, userID, code string) {
	t.Helper()
	body := lineFixture(t, "message_text_user.json", userID, "01HSTAFF"+strings.ReplaceAll(code, "-", ""))
	var m map[string]any
	mustDo(t, json.Unmarshal(body, &m))
	m["events"].([]any)[0].(map[string]any)["message"].(map[string]any)["text"] = code
	body, _ = json.Marshal(m)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/line/wk-test", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Line-Signature", lineSign("line-channel-secret", body))
	if rec := deliver(t, a, req); rec.Code != http.StatusOK {
		t.Fatalf("LINE webhook: %d %s", rec.Code, rec.Body)
	}
}

func setValue(t *testing.T, ctx context.Context, sel, value string) {
	t.Helper()
	v, _ := json.Marshal(value)
	evalJS[bool](t, ctx, `(() => { const e = document.querySelector(`+fmt.Sprintf("%q", sel)+`); e.value = `+string(v)+`; e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
}

func TestCampaignComposerBrowser(t *testing.T) {
	a, fake, tok := realTimeApp(t)
	shop := seedMerchant(t, a)
	noQuietHours(t, a, shop)
	startWorkers(t, a)
	rec := clockCall(t, a, http.MethodPost, "/api/segments", map[string]any{"name": "LINE 友だち", "definition": json.RawMessage(`{"field":"friend","value":true}`)})
	if rec.Code != http.StatusCreated {
		t.Fatalf("segment: %d %s", rec.Code, rec.Body)
	}
	seg := decode[store.Segment](t, rec)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	ctx := testenv.Browser(t)

	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/admin/campaigns/new?lang=ja&segment=%d&id_token=%s", srv.URL, seg.ID, tok))))
	// The forecast: everyone the funnel reaches, priced per message.
	fc := decode[struct {
		Forecast struct {
			Recipients int64 `json:"recipients"`
		} `json:"forecast"`
	}](t, clockCall(t, a, http.MethodPost, "/api/campaigns/forecast", map[string]any{"segment_id": seg.ID}))
	waitJS(t, ctx, fmt.Sprintf(`document.getElementById("c-recipients") && document.getElementById("c-recipients").dataset.n === "%d"`, fc.Forecast.Recipients))
	if fc.Forecast.Recipients != 17 { // 21 linked, 4 blocked
		t.Errorf("forecast reaches %d", fc.Forecast.Recipients)
	}

	// Review with nothing filled in: the error sits next to the name.
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("c-review"))))
	if msg := evalJS[string](t, ctx, `document.getElementById("c-name-err").textContent`); msg == "" {
		t.Error("no error next to the empty campaign name")
	}
	mustDo(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("c-name"), "冬のセール")))
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("c-review"))))
	if msg := evalJS[string](t, ctx, `document.querySelector('.field-err[data-field="text"]').textContent`); msg == "" {
		t.Error("no error next to the empty message text")
	}
	// A coupon card: the preview draws the Flex bubble.
	setValue(t, ctx, `.v-kind[data-variant="A"]`, "coupon")
	mustDo(t, chromedp.Do(ctx,
		testenv.Fill(`[data-variant="A"][data-field="title"]`, "冬のセール 20%OFF"),
		testenv.Fill(`[data-variant="A"][data-field="body"]`, "12月25日まで。"),
		testenv.Fill(`[data-variant="A"][data-field="code"]`, "WINTER20"),
		testenv.Fill(`[data-variant="A"][data-field="link"]`, "https://tsunagu-test.myshopify.com/collections/sale"),
		testenv.Fill("#c-coupon", "WINTER20"),
	))
	waitJS(t, ctx, `document.querySelector("#c-preview .lbubble") && document.querySelector("#c-preview .lbubble").textContent.includes("WINTER20") && document.querySelector("#c-preview .lbtn").textContent === "ショップを見る"`)

	// Test send: the staff member links their LINE with a code, then gets a push.
	staff := uid("staff-hanako")
	mustDo(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("c-staff-name"), "店長 花子"), chromedp.Click(chromedp.ID("c-staff-code"))))
	waitJS(t, ctx, `document.getElementById("c-code").textContent.startsWith("TSUNAGU-")`)
	code := evalJS[string](t, ctx, `document.getElementById("c-code").textContent`)
	staffSendsCode(t, a, staff, code)
	waitJS(t, ctx, `[...document.querySelectorAll("#c-staff option")].some(o => o.textContent === "店長 花子") && !document.getElementById("c-test-send").disabled`)
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("c-test-send"))))
	waitJS(t, ctx, `document.getElementById("c-test-result").textContent.includes("店長 花子 さんの LINE に送りました")`)
	pushes := fake.Pushes()
	if len(pushes) != 1 || pushes[0].To != staff || !strings.Contains(string(pushes[0].Messages[0]), "WINTER20") ||
		!strings.Contains(string(pushes[0].Messages[0]), "https://tsunagu-test.myshopify.com/collections/sale") {
		t.Fatalf("test send pushes: %+v", pushes)
	}
	keepScreenshot(t, ctx, "campaign-composer")

	// Schedule a few seconds ahead, review, confirm.
	evalJS[bool](t, ctx, `document.querySelector('input[name=when][value=later]').click(), true`)
	evalJS[bool](t, ctx, `(() => { const d = new Date(Date.now() + 6000), p = n => String(n).padStart(2, "0");
		document.getElementById("c-at").value = d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()); return true })()`)
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("c-review"))))
	waitJS(t, ctx, `!document.getElementById("c-confirm").hidden && document.getElementById("c-go").textContent === "予約する"`)
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("c-go"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `location.pathname.startsWith("/admin/campaigns/") && document.getElementById("c-status") !== null`)
	if st := evalJS[string](t, ctx, `document.getElementById("c-status").dataset.status`); st != "scheduled" {
		t.Errorf("campaign page status %q, want scheduled", st)
	}
	if n := len(fake.Multicasts()); n != 0 {
		t.Fatalf("%d multicasts before the scheduled time", n)
	}
	eventually(t, "the scheduled multicast", func() bool {
		n := 0
		for _, m := range fake.Multicasts() {
			n += len(m.To)
		}
		return n == int(fc.Forecast.Recipients)
	})
	for _, m := range fake.Multicasts() {
		for _, to := range m.To {
			if to == staff {
				t.Error("the staff member got the campaign")
			}
		}
		if !strings.Contains(string(m.Messages[0]), "/cc/") {
			t.Errorf("campaign link not tracked: %s", m.Messages[0])
		}
	}
	// The page follows the campaign to done.
	// Null-safe: the page reloads itself while the campaign runs.
	waitJS(t, ctx, `document.getElementById("c-status") && document.getElementById("c-status").dataset.status === "done"`)
	if sent := evalJS[string](t, ctx, `document.querySelector('[data-k="sent"]').textContent`); sent != fmt.Sprint(fc.Forecast.Recipients) {
		t.Errorf("campaign page shows %s sent", sent)
	}
	keepScreenshot(t, ctx, "campaign")
}

func TestCampaignABBrowser(t *testing.T) {
	a, fake, tok := realTimeApp(t)
	shop := seedMerchant(t, a)
	noQuietHours(t, a, shop)
	startWorkers(t, a)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	ctx := testenv.Browser(t)

	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/admin/campaigns/new?lang=ja&id_token="+tok)))
	setValue(t, ctx, "#c-segment", "b:linked_never_ordered")
	mustDo(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("c-name"), "A/B 件名テスト")))
	evalJS[bool](t, ctx, `document.getElementById("c-ab").click(), true`)
	waitJS(t, ctx, `document.querySelectorAll(".variant").length === 2`)
	setValue(t, ctx, "#c-test-pct", "50")
	mustDo(t, chromedp.Do(ctx,
		testenv.Fill(`[data-variant="A"][data-field="text"]`, "A: 新作が入荷しました"),
		testenv.Fill(`[data-variant="B"][data-field="text"]`, "B: あなたへのおすすめ"),
	))
	waitJS(t, ctx, `document.querySelector('#c-preview [data-variant="B"]').textContent.includes("おすすめ")`)
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("c-review"))))
	waitJS(t, ctx, `!document.getElementById("c-confirm").hidden && document.getElementById("c-go").textContent === "送信する"`)
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("c-go"))); err != nil {
		t.Fatal(err)
	}
	// Half the audience is the test; the other half waits for a winner.
	waitJS(t, ctx, `document.getElementById("c-status") && document.getElementById("c-status").dataset.status === "waiting_winner"`)
	texts := map[string]int{}
	for _, m := range fake.Multicasts() {
		var msg struct {
			Text string `json:"text"`
		}
		mustDo(t, json.Unmarshal(m.Messages[0], &msg))
		texts[msg.Text[:1]] += len(m.To)
	}
	if texts["A"] == 0 || texts["B"] == 0 {
		t.Fatalf("test sends by variant: %v", texts)
	}
	// A handful of sends: the page refuses to name a winner.
	verdict := evalJS[string](t, ctx, `document.getElementById("c-verdict-clicks").textContent`)
	if !strings.Contains(verdict, "データが足りません") {
		t.Errorf("A/B verdict on no clicks: %q", verdict)
	}
	waitJS(t, ctx, `document.readyState === "complete" && document.body.scrollWidth > 0`)
	keepScreenshot(t, ctx, "campaign-ab")
	tested := texts["A"] + texts["B"]
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`[data-winner="B"]`))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the rest gets B", func() bool {
		n := 0
		for _, m := range fake.Multicasts() {
			n += len(m.To)
		}
		return n > tested
	})
	c, err := a.DB.Campaigns(context.Background(), shop.ID)
	if err != nil || len(c) != 1 || c[0].Winner != "B" {
		t.Fatalf("campaigns: %+v %v", c, err)
	}
}
