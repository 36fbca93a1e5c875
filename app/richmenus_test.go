package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// testPNG is a w×h PNG in one colour (a few kB).
func testPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{6, 199, 85, 255}), image.Point{}, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func menuBody(t testing.TB, name, audience string, priority int) map[string]any {
	def := json.RawMessage(`{"size":{"width":2500,"height":843},"selected":true,"name":"` + name + `","chatBarText":"メニュー",
		"areas":[{"bounds":{"x":0,"y":0,"width":1250,"height":843},"action":{"type":"uri","label":"Shop","uri":"https://shop.example/"}},
		         {"bounds":{"x":1250,"y":0,"width":1250,"height":843},"action":{"type":"postback","data":"action=coupon"}}]}`)
	return map[string]any{"menu": def, "image": "data:image/png;base64," + base64.StdEncoding.EncodeToString(testPNG(t, 2500, 843)),
		"audience": audience, "priority": priority}
}

// The rich-menu sync publishes what the admin saved and reports each
// step: a default menu (what unlinked friends see), a menu for every
// linked friend above it, a deletion. (Two menus: LINE allows 100 creations
// an hour, and the limiter's burst is 2.)
func TestRichMenuSyncStates(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	au := seedAudience(t, a, 3)
	ctx := context.Background()
	w := a.Worker()
	load := func(id int64) store.RichMenu {
		t.Helper()
		m, err := a.DB.RichMenu(ctx, au.shop.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		return *m
	}

	rec := adminCall(t, a, http.MethodPost, "/api/richmenus", menuBody(t, "everyone", "default", 0))
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	def := decode[store.RichMenu](t, rec)
	if _, err := w.SyncRichMenus(ctx, au.shop.ID); err != nil {
		t.Fatal(err)
	}
	m := load(def.ID)
	if m.SyncState != store.RichMenuLinked || m.LastError != "" || !m.ImageUploaded || !m.LineDefault || m.SyncedAt == nil {
		t.Fatalf("after resync: state %q, error %q, uploaded %v, default %v", m.SyncState, m.LastError, m.ImageUploaded, m.LineDefault)
	}
	if fake.DefaultRichMenu() != m.LineRichMenuID {
		t.Fatalf("LINE's default is %q, want %q", fake.DefaultRichMenu(), m.LineRichMenuID)
	}
	sent, uploaded := fake.RichMenuDefinition(m.LineRichMenuID)
	if !uploaded || !strings.Contains(string(sent), `"chatBarText":"メニュー"`) || !strings.Contains(string(sent), `"data":"action=coupon"`) {
		t.Errorf("LINE got %s (image uploaded %v)", sent, uploaded)
	}

	// A menu for every linked friend, above the default.
	rec = adminCall(t, a, http.MethodPost, "/api/richmenus", menuBody(t, "members", "linked", 5))
	members := decode[store.RichMenu](t, rec)
	n, err := w.SyncRichMenus(ctx, au.shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	mm := load(members.ID)
	if n < len(au.linked) || mm.SyncState != store.RichMenuLinked {
		t.Fatalf("relinked %d (%d linked); members menu state %q, error %q", n, len(au.linked), mm.SyncState, mm.LastError)
	}
	for _, u := range au.linked {
		if fake.RichMenuOf(u) != mm.LineRichMenuID {
			t.Errorf("%s shows %q", u, fake.RichMenuOf(u))
		}
	}
	list := decode[struct {
		RichMenus []richMenuJSON `json:"rich_menus"`
	}](t, adminCall(t, a, http.MethodGet, "/api/richmenus", nil))
	if len(list.RichMenus) != 2 || list.RichMenus[0].ID != members.ID || list.RichMenus[0].Users < int64(len(au.linked)) {
		t.Errorf("list: %+v", list.RichMenus)
	}
	if rec := adminCall(t, a, http.MethodGet, "/api/richmenus/"+itoa(members.ID)+"/image", nil); rec.Code != 200 || rec.Header().Get("Content-Type") != "image/png" {
		t.Errorf("image: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}

	// Deleting it moves everyone back to the default and deletes it at LINE.
	if rec := adminCall(t, a, http.MethodDelete, "/api/richmenus/"+itoa(members.ID), nil); rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d", rec.Code)
	}
	if _, err := w.SyncRichMenus(ctx, au.shop.ID); err != nil {
		t.Fatal(err)
	}
	for _, u := range au.linked {
		if fake.RichMenuOf(u) != "" {
			t.Errorf("%s still shows %q", u, fake.RichMenuOf(u))
		}
	}
	if d, _ := fake.RichMenuDefinition(mm.LineRichMenuID); d != nil {
		t.Error("the deleted menu is still at LINE")
	}
	if left, _ := a.DB.DeletedRichMenus(ctx, au.shop.ID); len(left) != 0 {
		t.Errorf("%d deleted menus not purged", len(left))
	}
	// Deleting the default clears LINE's default.
	adminCall(t, a, http.MethodDelete, "/api/richmenus/"+itoa(def.ID), nil)
	if _, err := w.SyncRichMenus(ctx, au.shop.ID); err != nil {
		t.Fatal(err)
	}
	if fake.DefaultRichMenu() != "" {
		t.Errorf("LINE's default is still %q", fake.DefaultRichMenu())
	}
	if rejected := fake.Rejected(); len(rejected) != 0 {
		t.Errorf("the fake LINE rejected %v", rejected)
	}
}

// Bad menus are refused at save with the field named, before LINE hears of them.
func TestRichMenuRefusals(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	seedLinkedCustomer(t, a, 1, uid("a"))
	small := base64.StdEncoding.EncodeToString(testPNG(t, 700, 300))
	tests := []struct {
		name string
		edit func(b map[string]any)
		code int
		want string
	}{
		{"image too narrow", func(b map[string]any) { b["image"] = small }, 422, "image:"},
		{"not base64", func(b map[string]any) { b["image"] = "%%%" }, 400, "image:"},
		{"area outside", func(b map[string]any) {
			b["menu"] = json.RawMessage(strings.Replace(string(b["menu"].(json.RawMessage)), `"x":1250,`, `"x":1300,`, 1))
		}, 422, "areas[1].bounds"},
		{"segment audience without segment", func(b map[string]any) { b["audience"] = "segment" }, 422, "segment_id:"},
		{"unknown audience", func(b map[string]any) { b["audience"] = "everyone" }, 422, "audience:"},
		{"replaces an unknown menu", func(b map[string]any) { b["replaces"] = 999999 }, 404, "not found"},
	}
	for _, tt := range tests {
		b := menuBody(t, "x", "default", 0)
		tt.edit(b)
		rec := adminCall(t, a, http.MethodPost, "/api/richmenus", b)
		if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("%s: %d %s, want %d %q", tt.name, rec.Code, rec.Body, tt.code, tt.want)
		}
	}
	if fake.Requests() != 0 {
		t.Errorf("LINE got %d requests for refused menus", fake.Requests())
	}
}

// A LINE error is recorded on the menu, and the next sync (the resync
// button, or the hourly one) resumes where it stopped.
func TestRichMenuSyncErrorAndResync(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t, linetest.WithTokens("some-other-channel"))
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	au := seedAudience(t, a, 1)
	ctx := context.Background()
	w := a.Worker()
	rec := adminCall(t, a, http.MethodPost, "/api/richmenus", menuBody(t, "everyone", "default", 0))
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	def := decode[store.RichMenu](t, rec)
	// LINE refuses the channel's token: the menu says so and waits.
	if _, err := w.SyncRichMenus(ctx, au.shop.ID); err != nil {
		t.Fatal(err)
	}
	if m, _ := a.DB.RichMenu(ctx, au.shop.ID, def.ID); m.SyncState != store.RichMenuPending || m.LastError == "" || m.LineRichMenuID != "" {
		t.Fatalf("after a refused create: state %q, error %q", m.SyncState, m.LastError)
	}
	// Fixed at LINE's end; the resync publishes it and makes it the default.
	fake.AddToken(testLINEToken)
	if rec := adminCall(t, a, http.MethodPost, "/api/richmenus/sync", nil); rec.Code != http.StatusAccepted {
		t.Fatalf("resync: %d", rec.Code)
	}
	if _, err := w.SyncRichMenus(ctx, au.shop.ID); err != nil {
		t.Fatal(err)
	}
	m, err := a.DB.RichMenu(ctx, au.shop.ID, def.ID)
	if err != nil || m.SyncState != store.RichMenuLinked || m.LastError != "" || fake.DefaultRichMenu() != m.LineRichMenuID {
		t.Fatalf("after resync: %v state %q error %q, LINE default %q", err, m.SyncState, m.LastError, fake.DefaultRichMenu())
	}
}
