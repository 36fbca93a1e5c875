package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/line/linetest"
)

func TestSegmentAPI(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	au := seedAudience(t, a, 30)

	// Unauthenticated: 401.
	rec := deliver(t, a, httptestRequest(http.MethodGet, "/api/segments", ""))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("no session: %d", rec.Code)
	}
	cases := []struct {
		name string
		body any
		code int
		n    int64
	}{
		{"linked", map[string]any{"definition": map[string]any{"field": "linked", "value": true}}, 200, 33},
		{"friend", map[string]any{"definition": map[string]any{"field": "friend", "value": true}}, 200, 32},
		{"builtin", map[string]any{"builtin": "linked_never_ordered"}, 200, 33},
		{"unknown field", map[string]any{"definition": map[string]any{"field": "x", "value": 1}}, 400, 0},
		{"no segment", map[string]any{}, 400, 0},
		// A small shop: the builder's quick first call answers exactly, with the sample.
		{"estimate, small shop", map[string]any{"estimate": true, "definition": map[string]any{"field": "linked", "value": true}}, 200, 33},
	}
	for _, tc := range cases {
		rec := adminCall(t, a, http.MethodPost, "/api/segments/preview", tc.body)
		if rec.Code != tc.code {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
			continue
		}
		if tc.code == 200 {
			out := decode[struct {
				Count     int64                 `json:"count"`
				Sample    []store.SegmentMember `json:"sample"`
				Estimated bool                  `json:"estimated"`
			}](t, rec)
			if out.Count != tc.n || len(out.Sample) != min(int(tc.n), 20) || out.Estimated {
				t.Errorf("%s: count %d sample %d estimated %v, want %d exact", tc.name, out.Count, len(out.Sample), out.Estimated, tc.n)
			}
		}
	}
	// Malformed JSON is a 400.
	r := httptestRequest(http.MethodPost, "/api/segments/preview", "{nope")
	r.AddCookie(&http.Cookie{Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(testShop+"|s"), a.Now().Add(time.Hour))})
	if rec := deliver(t, a, r); rec.Code != http.StatusBadRequest {
		t.Errorf("malformed: %d", rec.Code)
	}
	// CRUD.
	rec = adminCall(t, a, http.MethodPost, "/api/segments", map[string]any{"name": "Friends", "definition": map[string]any{"field": "friend", "value": true}})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	seg := decode[store.Segment](t, rec)
	if rec := adminCall(t, a, http.MethodPost, "/api/segments", map[string]any{"name": "Friends", "definition": map[string]any{"and": []any{}}}); rec.Code != http.StatusConflict {
		t.Errorf("duplicate name: %d", rec.Code)
	}
	path := fmt.Sprintf("/api/segments/%d", seg.ID)
	if rec := adminCall(t, a, http.MethodPut, path, map[string]any{"name": "Blocked", "definition": map[string]any{"field": "blocked", "value": true}}); rec.Code != http.StatusOK {
		t.Fatalf("update: %d %s", rec.Code, rec.Body)
	}
	out := decode[struct {
		Count int64 `json:"count"`
	}](t, adminCall(t, a, http.MethodPost, "/api/segments/preview", map[string]any{"segment_id": seg.ID}))
	if out.Count != 1 {
		t.Errorf("saved segment count %d, want 1", out.Count)
	}
	list := decode[struct {
		Segments []store.Segment `json:"segments"`
	}](t, adminCall(t, a, http.MethodGet, "/api/segments", nil))
	if len(list.Segments) != 1 || list.Segments[0].Name != "Blocked" {
		t.Errorf("list %+v", list)
	}
	if rec := adminCall(t, a, http.MethodDelete, path, nil); rec.Code != http.StatusNoContent {
		t.Errorf("delete: %d", rec.Code)
	}
	if rec := adminCall(t, a, http.MethodGet, path, nil); rec.Code != http.StatusNotFound {
		t.Errorf("get deleted: %d", rec.Code)
	}
	// The page sits in the admin layout, Japanese first, with the built-ins to preview.
	rec = adminCall(t, a, http.MethodGet, "/admin/campaigns", nil)
	body := rec.Body.String()
	for _, want := range []string{"キャンペーン · Tsunagu", `<a href="/admin/campaigns" class="active">`, "キャンペーンはまだありません。"} {
		if rec.Code != 200 || !strings.Contains(body, want) {
			t.Errorf("campaigns page %d lacks %q", rec.Code, want)
		}
	}
	// Segments and campaigns are separate pages: the builder offers the built-ins.
	rec = adminCall(t, a, http.MethodGet, "/admin/segments", nil)
	body = rec.Body.String()
	for _, want := range []string{"セグメント · Tsunagu", `<a href="/admin/segments" class="active">`, `data-builtin="vip">VIP（RFM 上位）</button>`,
		"friend_not_linked", "friend_days"} { // the builder's fields come from store's table
		if rec.Code != 200 || !strings.Contains(body, want) {
			t.Errorf("segments page %d lacks %q", rec.Code, want)
		}
	}
	if strings.Contains(body, "seg-unlinked-friends") {
		t.Error("the segments page counts unlinked friends in a shop that has none")
	}
	// A LINE friend who never linked has no customer row: the page says so.
	for i, f := range []store.LineFriend{{LineUserID: "Unl1", IsFriend: true}, {LineUserID: "Unl2", IsFriend: true, Blocked: true}} {
		f.ShopID = au.shop.ID
		if _, err := a.DB.EnsureFriend(context.Background(), &f); err != nil {
			t.Fatal(i, err)
		}
	}
	body = adminCall(t, a, http.MethodGet, "/admin/segments", nil).Body.String()
	if !strings.Contains(body, "LINE 連携をしていない友だち 1 人は") || !strings.Contains(body, `href="/admin/inbox?filter=unlinked"`) {
		t.Error("the segments page does not say that 1 unlinked friend is outside every segment")
	}
}

func TestRichMenuPerSegmentRelinks(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	au := seedAudience(t, a, 3)
	ctx := context.Background()
	// VIP-ish segment by tag; customer 1000 starts in it.
	vip, _ := a.DB.CustomerByShopifyID(ctx, au.shop.ID, 1000)
	a.DB.WithContext(ctx).Model(vip).Update("tags", "vip")
	rec := adminCall(t, a, http.MethodPost, "/api/segments", map[string]any{"name": "VIP", "definition": map[string]any{"field": "tag", "value": "vip"}})
	seg := decode[store.Segment](t, rec)
	menuJSON := json.RawMessage(`{"size":{"width":2500,"height":843},"selected":false,"name":"vip","chatBarText":"VIP","areas":[{"bounds":{"x":0,"y":0,"width":2500,"height":843},"action":{"type":"uri","uri":"https://example.com/vip"}}]}`)
	rec = adminCall(t, a, http.MethodPost, "/api/richmenus", map[string]any{
		"segment_id": seg.ID, "priority": 10, "menu": menuJSON, "image": base64.StdEncoding.EncodeToString(testPNG(t, 2500, 843)),
	})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create menu: %d %s", rec.Code, rec.Body)
	}
	menu := decode[store.RichMenu](t, rec)
	if menu.SyncState != store.RichMenuPending || menu.Audience != store.AudienceSegment {
		t.Errorf("new menu: state %q audience %q", menu.SyncState, menu.Audience)
	}
	if rec := adminCall(t, a, http.MethodPost, "/api/richmenus", map[string]any{"name": "bad", "menu": menuJSON, "image": "", "image_type": "image/png"}); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("no image: %d", rec.Code)
	}
	w := a.Worker()
	n, err := w.SyncRichMenus(ctx, au.shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := a.DB.RichMenu(ctx, au.shop.ID, menu.ID); err != nil || m.SyncState != store.RichMenuLinked || m.LineRichMenuID == "" || m.LastError != "" {
		t.Fatalf("after sync: %+v %v (rejected %v)", m, err, fake.Rejected())
	} else {
		menu = *m
	}
	if n != 1 || fake.RichMenuOf(uid("0")) != menu.LineRichMenuID || fake.RichMenuOf(uid("1")) != "" {
		t.Fatalf("first sync: %d relinked, vip menu %q, other %q", n, fake.RichMenuOf(uid("0")), fake.RichMenuOf(uid("1")))
	}
	// Nothing changed: no LINE calls.
	if n, _ := w.SyncRichMenus(ctx, au.shop.ID); n != 0 {
		t.Errorf("idle sync relinked %d", n)
	}
	// The segment changes membership: 1000 leaves, 1001 joins.
	a.DB.WithContext(ctx).Model(vip).Update("tags", "")
	other, _ := a.DB.CustomerByShopifyID(ctx, au.shop.ID, 1001)
	a.DB.WithContext(ctx).Model(other).Update("tags", "VIP, gold")
	if n, err := w.SyncRichMenus(ctx, au.shop.ID); err != nil || n != 2 {
		t.Fatalf("resync: %d %v", n, err)
	}
	if fake.RichMenuOf(uid("0")) != "" || fake.RichMenuOf(uid("1")) != menu.LineRichMenuID {
		t.Errorf("after change: 0→%q 1→%q", fake.RichMenuOf(uid("0")), fake.RichMenuOf(uid("1")))
	}
}

func TestAutomationsPlanOnce(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	au := seedAudience(t, a, 3)
	ctx := context.Background()
	db := a.DB
	// testNow is 2026-11-25 12:00 JST.
	c0, _ := db.CustomerByShopifyID(ctx, au.shop.ID, 1000)
	c1, _ := db.CustomerByShopifyID(ctx, au.shop.ID, 1001)
	c2, _ := db.CustomerByShopifyID(ctx, au.shop.ID, 1002)
	blocked, _ := db.CustomerByShopifyID(ctx, au.shop.ID, 2)
	db.WithContext(ctx).Model(c0).Update("birthday", "1990-11-25")
	db.WithContext(ctx).Model(c1).Update("birthday", "--11-26") // tomorrow: not yet
	db.WithContext(ctx).Model(blocked).Update("birthday", "1980-11-25")
	dormant := testNow.AddDate(0, 0, -90)
	db.WithContext(ctx).Model(c1).Update("last_order_at", dormant)
	exp := testNow.AddDate(0, 0, 2)
	issued := testNow.AddDate(0, 0, -20)
	for i, cid := range []int64{c2.ID, c0.ID} {
		cp := &store.Coupon{ShopID: au.shop.ID, CustomerID: &cid, Campaign: fmt.Sprint("c", i), Code: fmt.Sprint("CODE", i), Status: "issued",
			IssuedAt: &issued, ExpiresAt: &exp, CreatedAt: testNow, UpdatedAt: testNow}
		if i == 1 {
			cp.RedeemedAt = &issued // used: no reminder
		}
		db.WithContext(ctx).Omit("id").Create(cp)
	}
	shop, _ := db.Shop(ctx, au.shop.ID)
	w := a.Worker()
	version := decode[automationSettings](t, adminCall(t, a, http.MethodGet, "/api/automations", nil)).Version
	if rec := adminCall(t, a, http.MethodPut, "/api/automations", map[string]any{"automations": map[string]any{"win_back_days": -1}, "version": version}); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("bad automations: %d", rec.Code)
	}
	if n, _ := w.PlanAutomations(ctx, shop, testNow); n != 0 {
		t.Fatalf("automations are off by default, planned %d", n)
	}
	rec := adminCall(t, a, http.MethodPut, "/api/automations", map[string]any{
		"automations": map[string]any{"birthday": true, "win_back": true, "coupon_expiry": true}, "yen_per_message": 2.5, "version": version})
	if rec.Code != http.StatusOK {
		t.Fatalf("put automations: %d %s", rec.Code, rec.Body)
	}
	shop, _ = db.Shop(ctx, au.shop.ID)
	if !shop.Settings.Automations.Birthday || shop.Settings.ReportOptions().YenPerMessage != 2.5 || shop.Settings.ReportOptions().AttributionDays != 7 {
		t.Fatalf("settings not saved: %+v", shop.Settings)
	}
	n, err := w.PlanAutomations(ctx, shop, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("planned %d, want 3 (birthday, win-back, coupon expiry)", n)
	}
	want := map[string]string{
		fmt.Sprintf("birthday:%d:%d:2026", shop.ID, c0.ID):                           store.MsgQueued,
		fmt.Sprintf("birthday:%d:%d:2026", shop.ID, blocked.ID):                      store.MsgSkipped,
		fmt.Sprintf("win_back:%d:%d:%s", shop.ID, c1.ID, dormant.Format("20060102")): store.MsgQueued,
	}
	for key, status := range want {
		m, err := db.MessageByKey(ctx, key)
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if m.Status != status {
			t.Errorf("%s: %s (%s), want %s", key, m.Status, m.Reason, status)
		}
	}
	var expiry int64
	db.WithContext(ctx).Model(&store.Message{}).Where("kind = ? AND customer_id = ?", jobs.KindCouponExpiry, c2.ID).Count(&expiry)
	if expiry != 1 {
		t.Errorf("%d coupon expiry reminders for the unused coupon, want 1", expiry)
	}
	// A second sweep (same day, or a retry) plans nothing new.
	if n, _ := w.PlanAutomations(ctx, shop, testNow.Add(time.Hour)); n != 0 {
		t.Errorf("second sweep planned %d", n)
	}

	// They go out with their default templates, accepted by LINE's schema.
	var queued []store.Message
	db.WithContext(ctx).Where("shop_id = ? AND status = ? AND kind IN ?", shop.ID, store.MsgQueued,
		[]string{jobs.KindBirthday, jobs.KindWinBack, jobs.KindCouponExpiry}).Find(&queued)
	if len(queued) != 3 {
		t.Fatalf("%d queued automation messages, want 3", len(queued))
	}
	for _, m := range queued {
		if err := w.SendMessage(ctx, m.ID); err != nil {
			t.Fatalf("sending %s: %v", m.Kind, err)
		}
		if got, _ := db.Message(ctx, m.ID); got.Status != store.MsgSent {
			t.Errorf("%s: %s (%s), want sent", m.Kind, got.Status, got.Reason)
		}
	}
	var sent strings.Builder
	for _, p := range fake.Pushes() {
		for _, m := range p.Messages {
			sent.Write(m)
		}
	}
	for _, want := range []string{"お誕生日おめでとうございます", "お久しぶりです", "CODE0"} {
		if !strings.Contains(sent.String(), want) {
			t.Errorf("pushes lack %q; rejected %v", want, fake.Rejected())
		}
	}
}

func httptestRequest(method, path, body string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}
