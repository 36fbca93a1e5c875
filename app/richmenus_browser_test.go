package app

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/tsunagu/tsunagu/app/testenv"
)

// A merchant makes a rich menu in the browser: a refused image, then a
// good one, a layout, one more area drawn with the mouse, actions, "all
// linked friends"; the page shows it live once the fake LINE has the menu,
// its image, and the linked customer's link.
func TestRichMenuBrowser(t *testing.T) {
	a, fake, tok := realTimeApp(t)
	_, _ = seedLinkedCustomer(t, a, 5, uid("rm-friend"))
	startWorkers(t, a)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	dir := t.TempDir()
	small, good := filepath.Join(dir, "small.png"), filepath.Join(dir, "menu.png")
	mustDo(t, os.WriteFile(small, testPNG(t, 700, 300), 0o600))
	mustDo(t, os.WriteFile(good, testPNG(t, 2500, 843), 0o600))
	ctx := testenv.Browser(t)

	mustDo(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/admin/richmenus?lang=ja&id_token="+tok)))
	waitJS(t, ctx, `document.querySelector("#rm-list .empty") !== null`)
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("rm-new"))))
	// LINE's rules, checked before anything is sent.
	mustDo(t, chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`#rm-image`), []string{small})))
	waitJS(t, ctx, `document.getElementById("rm-image-err").textContent.includes("700×300")`)
	mustDo(t, chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`#rm-image`), []string{good})))
	waitJS(t, ctx, `document.getElementById("rm-image-help").textContent.includes("2500×843") && document.querySelector("#rm-canvas .rm-stage img") !== null`)
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-layout="2x1"]`))))
	waitJS(t, ctx, `document.querySelectorAll("#rm-areas fieldset").length === 2`)
	// Narrow the two halves to the top half, then draw a third area across
	// the bottom with the mouse.
	setValue(t, ctx, `#rm-areas fieldset[data-i="0"] [data-k="h"]`, "421")
	setValue(t, ctx, `#rm-areas fieldset[data-i="1"] [data-k="h"]`, "421")
	box := evalJS[[]float64](t, ctx, `(() => { const s = document.querySelector("#rm-canvas .rm-stage"); s.scrollIntoView({block: "center"}); const r = s.getBoundingClientRect(); return [r.left, r.top, r.width, r.height] })()`)
	x0, y0 := box[0]+box[2]*0.05, box[1]+box[3]*0.6
	x1, y1 := box[0]+box[2]*0.95, box[1]+box[3]*0.95
	mustDo(t, chromedp.Do(ctx,
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x0, y0, chromedp.ButtonLeft, chromedp.ClickCount(1)),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, (x0+x1)/2, (y0+y1)/2, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x1, y1, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x1, y1, chromedp.ButtonLeft, chromedp.ClickCount(1))))
	waitJS(t, ctx, `document.querySelectorAll("#rm-areas fieldset").length === 3`)
	setValue(t, ctx, `#rm-areas fieldset[data-i="0"] [data-k="value"]`, "https://shop.example/sale")
	setValue(t, ctx, `#rm-areas fieldset[data-i="1"] select`, "message")
	setValue(t, ctx, `#rm-areas fieldset[data-i="1"] [data-k="value"]`, "クーポンを見せて")
	setValue(t, ctx, `#rm-areas fieldset[data-i="2"] select`, "postback")
	// Saving without the third area's data is refused next to it.
	setValue(t, ctx, `#rm-name`, "会員メニュー")
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`input[name="rm-aud"][value="linked"]`))))
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("rm-save"))))
	waitJS(t, ctx, `document.getElementById("rm-area-2-err").textContent !== ""`)
	setValue(t, ctx, `#rm-areas fieldset[data-i="2"] [data-k="value"]`, "action=points")
	// The preview tells what a tap does.
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#rm-preview-menu .rm-area[data-i="1"]`))))
	waitJS(t, ctx, `document.getElementById("rm-preview-tap").textContent.includes("クーポンを見せて")`)
	keepScreenshot(t, ctx, "richmenu-editor")
	mustDo(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("rm-save"))))

	// The list polls the sync: live, with the linked friend on it.
	eventually(t, "the menu synced", func() bool {
		ms, _ := a.DB.RichMenus(context.Background(), 1)
		if len(ms) == 1 && ms[0].SyncState == "linked" {
			return true
		}
		if len(ms) == 1 {
			t.Logf("state %q error %q", ms[0].SyncState, ms[0].LastError)
		} else {
			t.Logf("%d menus; page says %q", len(ms), evalJS[string](t, ctx, `document.getElementById("rm-save-err").textContent + "|" + location.search`))
		}
		return false
	})
	waitJS(t, ctx, `(document.querySelector("#rm-list td[data-state]")?.dataset.state || "") === "linked" && document.querySelector("#rm-list td[data-users]").textContent === "1"`)
	ms, err := a.DB.RichMenus(context.Background(), 1)
	mustDo(t, err)
	if len(ms) != 1 {
		t.Fatalf("%d menus", len(ms))
	}
	m := ms[0]
	def, uploaded := fake.RichMenuDefinition(m.LineRichMenuID)
	if !uploaded || fake.RichMenuOf(uid("rm-friend")) != m.LineRichMenuID {
		t.Fatalf("LINE: image uploaded %v, friend's menu %q, want %q", uploaded, fake.RichMenuOf(uid("rm-friend")), m.LineRichMenuID)
	}
	for _, want := range []string{`"uri":"https://shop.example/sale"`, `"text":"クーポンを見せて"`, `"data":"action=points"`, `"chatBarText":"メニュー"`, `"width":2500,"height":843`} {
		if !strings.Contains(string(def), want) {
			t.Errorf("LINE got %s, lacking %s", def, want)
		}
	}
	if rej := fake.Rejected(); len(rej) != 0 {
		t.Errorf("the fake LINE rejected %v", rej)
	}
	keepScreenshot(t, ctx, "richmenus")
}
