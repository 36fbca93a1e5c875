package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// seedMerchant makes a shop with 40 customers of 0-5 orders; every other
// one linked, every fifth linked one blocked, and one order with products.
func seedMerchant(t *testing.T, a *App) *store.Shop {
	t.Helper()
	ctx := context.Background()
	shop, _ := seedLinkedCustomer(t, a, 1, uid("owner"))
	for i := 0; i < 40; i++ {
		last := testNow.Add(-time.Duration(i*9) * 24 * time.Hour)
		c := store.Customer{ShopID: shop.ID, ShopifyID: int64(5000 + i), FirstName: fmt.Sprintf("客%d", i), LastName: "佐藤",
			Email: fmt.Sprintf("c%d@example.jp", i), OrdersCount: i % 6, TotalSpent: decimal.NewFromInt(int64(i * 3000)),
			LastOrderAt: &last, CreatedAt: testNow, UpdatedAt: testNow}
		mustDo(t, a.DB.WithContext(ctx).Omit("id").Create(&c).Error)
		if i%2 == 0 {
			l := &store.LineLink{ShopID: shop.ID, CustomerID: c.ID, LineUserID: uid(fmt.Sprint("m", i)), Friend: true, LinkedAt: testNow}
			mustDo(t, a.DB.CreateLink(ctx, l))
			if i%10 == 0 {
				mustDo(t, a.DB.SetLinkReachability(ctx, l.ID, true, true, testNow))
			}
		}
	}
	return shop
}

// waitJS polls a JavaScript condition in the tab.
func waitJS(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		// A page that reloads itself (a campaign polling its progress) ends a poll early; poll again.
		if _, err = chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(time.Until(deadline)))); err == nil {
			return
		}
		if !strings.Contains(err.Error(), "navigated") && !strings.Contains(err.Error(), "context") && !strings.Contains(err.Error(), "Execution context") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		dump, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText.slice(0, 1500) + " | " + (window.__errs || []).join(";")`))
		t.Fatalf("waiting for %s: %v\npage: %s", expr, err, dump)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// apiCount is what the preview API answers for def.
func apiCount(t *testing.T, a *App, def string) int64 {
	t.Helper()
	rec := adminCall(t, a, http.MethodPost, "/api/segments/preview", map[string]any{"definition": json.RawMessage(def)})
	if rec.Code != http.StatusOK {
		t.Fatalf("preview %s: %d %s", def, rec.Code, rec.Body)
	}
	return decode[struct {
		Count int64 `json:"count"`
	}](t, rec).Count
}

func TestSegmentBuilderBrowser(t *testing.T) {
	// Not parallel: Chromium is CPU-heavy; beside other tests it can outlast its time budget.
	db := testenv.Postgres(t)
	a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
	seedMerchant(t, a)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	ctx := testenv.Browser(t)

	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/admin/segments?lang=ja&id_token="+sessionToken(t, testShop))))
	waitJS(t, ctx, `document.getElementById("seg-count").dataset.state === "done"`)
	// No conditions: everyone (41 customers).
	if got := evalJS[string](t, ctx, `document.getElementById("seg-count").dataset.count`); got != "41" {
		t.Fatalf("empty segment counts %s, want 41", got)
	}

	// A group with "number of orders at least 3", typed from the keyboard.
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("seg-add-group"))))
	mustDo(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`.cond input[type=number]`), "3")))
	want := apiCount(t, a, `{"field":"orders_count","op":">=","value":3}`)
	waitJS(t, ctx, `document.getElementById("seg-count").dataset.count === "`+strconv.FormatInt(want, 10)+`" && document.getElementById("seg-count").dataset.state === "done"`)

	// Add "linked to LINE = yes" to the same group.
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.add-cond`))))
	evalJS[bool](t, ctx, `(() => { const s = document.querySelectorAll(".cond-field")[1]; s.value = "linked"; s.dispatchEvent(new Event("change")); return true })()`)
	def := `{"and":[{"field":"orders_count","op":">=","value":3},{"field":"linked","op":"=","value":true}]}`
	want = apiCount(t, a, def)
	if want == 0 {
		t.Fatal("seed has no linked customer with 3+ orders")
	}
	waitJS(t, ctx, `document.getElementById("seg-count").dataset.count === "`+strconv.FormatInt(want, 10)+`" && document.getElementById("seg-count").dataset.state === "done"`)

	// The funnel on the page is the API's (asked for after the count).
	waitJS(t, ctx, `document.getElementById("seg-funnel").dataset.state === "done"`)
	rec := adminCall(t, a, http.MethodPost, "/api/segments/funnel", map[string]any{"definition": json.RawMessage(def)})
	var f struct {
		Steps []struct {
			Key   string `json:"key"`
			Count int64  `json:"count"`
		} `json:"steps"`
	}
	mustDo(t, json.Unmarshal(rec.Body.Bytes(), &f))
	shown := evalJS[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll("#seg-funnel li")].map(li => [li.dataset.step, li.dataset.count]))`)
	for _, s := range f.Steps {
		if shown[s.Key] != strconv.FormatInt(s.Count, 10) {
			t.Errorf("funnel step %s shows %q, API says %d", s.Key, shown[s.Key], s.Count)
		}
	}
	if shown["not_blocked"] == shown["linked"] {
		t.Errorf("blocked customers not taken out of the funnel: %v", shown)
	}

	// Saving without a name puts the error next to the name field.
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("seg-save"))))
	if msg := evalJS[string](t, ctx, `document.getElementById("seg-name-err").textContent`); msg == "" {
		t.Error("no error next to the empty name")
	}
	mustDo(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("seg-name"), "リピーター（LINE）")))
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("seg-save"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `location.search.startsWith("?id=") && document.getElementById("seg-count").dataset.state === "done"`)
	ss, err := a.DB.Segments(context.Background(), currentShopID(t, a))
	if err != nil || len(ss) != 1 || ss[0].Name != "リピーター（LINE）" {
		t.Fatalf("saved segments: %+v %v", ss, err)
	}
	rec = adminCall(t, a, http.MethodPost, "/api/segments/preview", map[string]any{"segment_id": ss[0].ID})
	saved := decode[struct {
		Count int64 `json:"count"`
	}](t, rec).Count
	if saved != want {
		t.Errorf("saved segment counts %d, built %d", saved, want)
	}
	// Reloaded into the builder: two conditions, same count.
	if n := evalJS[int](t, ctx, `document.querySelectorAll(".cond").length`); n != 2 {
		t.Errorf("reloaded segment shows %d conditions", n)
	}
	waitJS(t, ctx, `document.getElementById("seg-count").dataset.count === "`+strconv.FormatInt(want, 10)+`" && document.getElementById("seg-funnel").dataset.state === "done"`)
	keepScreenshot(t, ctx, "segments")

	// Duplicate, then delete the copy.
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("seg-dup"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.querySelectorAll("#seg-saved li").length === 2`)
	mustDo(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`)))
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("seg-delete"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `location.search === "" && document.querySelectorAll("#seg-saved li").length === 1`)
}

func currentShopID(t *testing.T, a *App) int64 {
	t.Helper()
	s, err := a.DB.ShopByDomain(context.Background(), testShop)
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

func TestAutomationsBrowser(t *testing.T) {
	// On the real clock: the page counts messages by when they were written.
	a, fake, tok := realTimeApp(t)
	ctx0 := context.Background()
	shop, cust := seedLinkedCustomer(t, a, 77, uid("birthday-girl"))
	noQuietHours(t, a, shop)
	today := time.Now().In(shop.Location()).Format("01-02")
	mustDo(t, a.DB.WithContext(ctx0).Model(cust).Update("birthday", "1990-"+today).Error)
	startWorkers(t, a)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	ctx := testenv.Browser(t)

	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/admin/automations?lang=ja&id_token="+tok)))
	if on := evalJS[bool](t, ctx, `document.querySelector('tr[data-kind="birthday"] [name="on"]').checked`); on {
		t.Fatal("birthday is on before the merchant turned it on")
	}
	// Switch birthday on from the keyboard; follow-up 3 becomes 5 days 6 hours.
	mustDo(t, chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`tr[data-kind="birthday"] [name="on"]`)), chromedp.KeyEvent(" ")))
	mustDo(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`tr[data-kind="birthday"] [name="birthday_coupon"]`), "BDAY10")))
	setValue(t, ctx, `tr[data-kind="follow_up_3"] [name="days"]`, "5")
	setValue(t, ctx, `tr[data-kind="follow_up_3"] [name="hours"]`, "6")
	// A bad number is refused next to its field.
	setValue(t, ctx, `tr[data-kind="win_back"] [name="win_back_days"]`, "0")
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("auto-save"))))
	waitJS(t, ctx, `document.getElementById("err-win_back").textContent !== ""`)
	setValue(t, ctx, `tr[data-kind="win_back"] [name="win_back_days"]`, "120")
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("auto-run"))))
	// Running reloads the page with the result: mid-navigation the element may not exist yet.
	waitJS(t, ctx, `(document.getElementById("auto-result")?.textContent || "").includes("1 件")`)

	s, err := a.DB.Shop(ctx0, shop.ID)
	mustDo(t, err)
	au := s.Settings.Automations
	if !au.Birthday || au.BirthdayCoupon != "BDAY10" || au.WinBackDays != 120 || s.Settings.JourneyDelayMinutes("follow_up_3") != 5*24*60+6*60 {
		t.Errorf("saved settings: %+v, follow-up 3 delay %d", au, s.Settings.JourneyDelayMinutes("follow_up_3"))
	}
	eventually(t, "the birthday push", func() bool { return len(fake.Pushes()) == 1 })
	if p := fake.Pushes()[0]; p.To != uid("birthday-girl") {
		t.Errorf("birthday pushed to %s", p.To)
	}
	// Running again plans nothing new: once per customer per year.
	waitJS(t, ctx, `document.readyState === "complete" && document.querySelector('tr[data-kind="birthday"] td[data-sent]') !== null`)
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("auto-run"))))
	waitJS(t, ctx, `(document.getElementById("auto-result")?.textContent || "").includes("0 件")`)
	waitJS(t, ctx, `document.readyState === "complete" && document.querySelector('tr[data-kind="birthday"] td[data-sent]')?.textContent === "1"`)
	keepScreenshot(t, ctx, "automations")

	// Another staff member saves while this page is open: its save is
	// refused with a reload link, and theirs stands.
	evalJS[bool](t, ctx, `MUI.api("GET", "/api/automations").then(function (d) {
		d.automations.win_back_days = 200;
		return MUI.api("PUT", "/api/automations", d);
	}).then(function () { window.otherSaved = true; }), true`)
	waitJS(t, ctx, `window.otherSaved === true`)
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("auto-save"))))
	waitJS(t, ctx, `document.getElementById("auto-reload") !== null && document.getElementById("auto-result").textContent.includes("他のスタッフ")`)
	s, err = a.DB.Shop(ctx0, shop.ID)
	mustDo(t, err)
	if s.Settings.Automations.WinBackDays != 200 {
		t.Errorf("the stale page overwrote the other save: win-back %d", s.Settings.Automations.WinBackDays)
	}
}
