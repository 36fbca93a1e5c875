package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

func TestAdminPagesRender(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
	s := seedAdmin(t, a)
	han := "/admin/customers/" + itoa(s.hanako.ID)
	cases := []struct {
		path      string
		status    int
		want      []string
		forbidden []string
	}{
		{"/admin", 200, []string{"はじめの設定", "LINE チャネルを接続する", "配信の成果", "サンクスメッセージ", "LINE 未連携",
			// The checklist leads straight into Shopify's editors, in the top frame.
			`href="https://tsunagu-test.myshopify.com/admin/settings/checkout/editor?page=thank-you&amp;context=apps" target="_top"`,
			`href="https://tsunagu-test.myshopify.com/admin/themes/current/editor?context=apps&amp;activateAppId=`}, nil},
		{"/admin?lang=en", 200, []string{"Set up Tsunagu", "Thank-you message"}, nil},
		{"/admin/customers?q=yamada", 200, []string{"Yamada Hanako", "はなちゃん🌸"}, []string{"山田 太郎"}},
		{"/admin/customers?q=zzz", 200, []string{"見つかりませんでした"}, nil},
		{han, 200, []string{"タイムライン", "サンクスメッセージ", "#1001", "LINE 未連携", "ありがとうございます", "届きました？",
			"https://admin.shopify.com/store/tsunagu-test/orders/900001", "https://admin.shopify.com/store/tsunagu-test/customers/7001"}, []string{"secret of shop B"}},
		{han + "?kind=messages", 200, []string{"フォロー（3日後）"}, []string{"届きました？"}},
		{han + "?kind=bogus", 400, nil, nil},
		{"/admin/customers/" + itoa(s.intruder.ID), 404, nil, []string{"secret of shop B"}},
		{"/admin/settings", 200, []string{"LINE チャネル", `value="21:00"`, "https://tsunagu-test.myshopify.com/admin/settings/checkout/editor",
			"https://tsunagu-test.myshopify.com/admin/themes/current/editor?context=apps", "activateAppId=", "/line_embed", "サンクスページのブロック", "まだ表示なし"},
			// Shopify switched off Additional scripts: nothing may tell the merchant to paste there.
			[]string{"追加スクリプト」に貼り付け", "{{ checkout.token }}", "Snippet"}},
		{"/admin/templates?kind=shipping&tlang=en", 200, []string{`data-kind="shipping"`, `data-lang="en"`}, nil},
		{"/admin/assets/admin.css", 200, []string{"--accent"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			rec := adminDo(t, a, testShop, http.MethodGet, tc.path, nil)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %.300s", rec.Code, tc.status, rec.Body)
			}
			body := rec.Body.String()
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q: %s", w, body[len(body)-min(len(body), 600):])
				}
			}
			for _, f := range tc.forbidden {
				if strings.Contains(body, f) {
					t.Errorf("page shows %q", f)
				}
			}
		})
	}
}

func TestLinkFromOrderStatusPage(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		s := seedAdmin(t, a)
		mustDo(t, db.WithContext(context.Background()).Model(&store.Order{}).Where("id = ?", s.order1001.ID).Update("checkout_token", "ck-secret-1001").Error)
		cases := []struct {
			name, query string
			status      int
		}{
			{"buyer", "shop=" + testShop + "&order=900001&key=ck-secret-1001", 302},
			{"wrong key", "shop=" + testShop + "&order=900001&key=ck-secret-1002", 404},
			{"no key", "shop=" + testShop + "&order=900001", 404},
			{"other shop's order", "shop=" + otherShop + "&order=900001&key=ck-secret-1001", 404},
			{"unknown shop", "shop=nope.myshopify.com&order=900001&key=ck-secret-1001", 404},
			{"order without checkout token", "shop=" + testShop + "&order=900002&key=", 404},
		}
		qr := deliver(t, a, httptest.NewRequest("GET", "/link/order/qr.png?shop="+testShop+"&order=900001&key=ck-secret-1001", nil))
		if qr.Code != 200 || qr.Header().Get("Content-Type") != "image/png" || !bytes.HasPrefix(qr.Body.Bytes(), []byte("\x89PNG")) {
			t.Errorf("QR: %d %s", qr.Code, qr.Header().Get("Content-Type"))
		}
		if rec := deliver(t, a, httptest.NewRequest("GET", "/link/order/qr.png?shop="+testShop+"&order=900001&key=wrong", nil)); rec.Code != 404 {
			t.Errorf("QR with a wrong key: %d", rec.Code)
		}
		for _, tc := range cases {
			rec := deliver(t, a, httptest.NewRequest("GET", "/link/order?"+tc.query, nil))
			if rec.Code != tc.status {
				t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.status)
			}
			if tc.status == 302 {
				loc := rec.Header().Get("Location")
				tok, _ := strings.CutPrefix(loc, "http://127.0.0.1:8080/link/start?t=")
				tok, _ = url.QueryUnescape(tok)
				p, err := a.Signer.Verify("link", tok, testNow)
				if err != nil || !strings.HasPrefix(string(p), fmt.Sprintf("%d:%d:", s.shopA.ID, s.hanako.ID)) {
					t.Errorf("redirect %q: payload %q, %v", loc, p, err)
				}
			}
		}
	})
}

func TestSearchBadCursor(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	seedAdmin(t, a)
	if rec := adminDo(t, a, testShop, "GET", "/api/customers?cursor=abc", nil); rec.Code != 400 {
		t.Errorf("bad cursor: %d", rec.Code)
	}
}

func TestAdminPageForOtherAreas(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	seedAdmin(t, a)
	a.echo.GET("/admin/segments", func(c echo.Context) error {
		return a.AdminPage(c, "segments", "Segments", template.HTML(`<h1 id="seg">セグメント</h1>`))
	}, a.adminAuth)
	rec := adminDo(t, a, testShop, "GET", "/admin/segments", nil)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `<h1 id="seg">セグメント</h1>`) || !strings.Contains(body, `<a href="/admin/segments" class="active">`) {
		t.Fatalf("%d %s", rec.Code, body)
	}
}

// The home page says when LINE's monthly limit stopped marketing, and how
// much of this month's quota is used.
func TestHomeShowsLineQuota(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
	s := seedAdmin(t, a)
	ctx, now := context.Background(), a.Now()
	body := adminDo(t, a, testShop, "GET", "/admin", nil).Body.String()
	if strings.Contains(body, `id="quota-banner"`) || strings.Contains(body, `id="quota-used"`) {
		t.Fatal("quota shown before any reading")
	}
	// A quota is a LINE channel's (migration 0049): a shop reads one only
	// once it has connected a channel.
	ch := &store.LineChannel{ShopID: s.shopA.ID, WebhookKey: "quota-home"}
	mustDo(t, db.SaveLineChannel(ctx, ch))
	if err := db.SaveChannelQuotaReading(ctx, s.shopA.ID, ch.ID, true, 200, 150, now); err != nil {
		t.Fatal(err)
	}
	body = adminDo(t, a, testShop, "GET", "/admin", nil).Body.String()
	if !strings.Contains(body, "今月の LINE 配信数 150 / 200 (残り 50)") || strings.Contains(body, `id="quota-banner"`) {
		t.Fatalf("quota reading not shown:\n%s", body)
	}
	if _, err := db.MarkChannelMonthlyLimit(ctx, s.shopA.ID, ch.ID, core.QuotaMonth(now, s.shopA.Location()), now); err != nil {
		t.Fatal(err)
	}
	body = adminDo(t, a, testShop, "GET", "/admin", nil).Body.String()
	if !strings.Contains(body, `id="quota-banner"`) || !strings.Contains(body, "上限に達しました") || !strings.Contains(body, "(残り 0)") {
		t.Fatalf("monthly limit not shown:\n%s", body)
	}
}

// The home page forecasts the month's LINE cost: sent so far plus planned
// (queued messages due this month, recipients of running campaigns) at the
// shop's price per message, against the quota left; campaigns still
// scheduled are named apart, their recipients not yet chosen.
func TestHomeForecastsTheMonth(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		s := seedAdmin(t, a)
		ctx, now := context.Background(), a.Now()
		shop := s.shopA
		ch := &store.LineChannel{ShopID: shop.ID, WebhookKey: "quota-forecast"}
		mustDo(t, db.SaveLineChannel(ctx, ch))
		if err := db.SaveChannelQuotaReading(ctx, shop.ID, ch.ID, true, 200, 150, now); err != nil {
			t.Fatal(err)
		}
		var custs []*store.Customer
		for i := range 3 {
			c := &store.Customer{ShopID: shop.ID, ShopifyID: int64(4100 + i), FirstName: "F"}
			if err := db.UpsertCustomer(ctx, c); err != nil {
				t.Fatal(err)
			}
			custs = append(custs, c)
		}
		lastMonth, nextMonth := now.AddDate(0, -1, 0), now.AddDate(0, 1, 0)
		for i, m := range []struct {
			status   string
			at, sent time.Time
		}{
			{store.MsgSent, now, now}, {store.MsgSent, now, now.Add(-time.Hour)}, {store.MsgSent, lastMonth, lastMonth},
			{store.MsgQueued, now.Add(time.Hour), time.Time{}}, {store.MsgQueued, now.Add(24 * time.Hour), time.Time{}},
			{store.MsgQueued, nextMonth, time.Time{}}, {store.MsgSkipped, now, time.Time{}},
		} {
			msg := &store.Message{ShopID: shop.ID, CustomerID: &custs[0].ID, Kind: "follow_up_3", DedupeKey: fmt.Sprintf("fc/%d", i),
				ScheduledFor: m.at, Status: m.status}
			if !m.sent.IsZero() {
				msg.SentAt = &m.sent
			}
			if _, err := db.PlanMessage(ctx, msg); err != nil {
				t.Fatal(err)
			}
		}
		started := now.Add(-time.Hour)
		running := &store.Campaign{ShopID: shop.ID, Name: "running", Status: store.CampaignSending, StartedAt: &started}
		scheduled := &store.Campaign{ShopID: shop.ID, Name: "later", Status: store.CampaignScheduled, ScheduledAt: &nextMonth}
		soon := now.Add(48 * time.Hour)
		scheduledSoon := &store.Campaign{ShopID: shop.ID, Name: "soon", Status: store.CampaignScheduled, ScheduledAt: &soon}
		for _, c := range []*store.Campaign{running, scheduled, scheduledSoon} {
			c.Definition, c.Variants = json.RawMessage(`{"and":[]}`), []store.CampaignVariant{}
			if err := db.G.Omit("id").Create(c).Error; err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range custs {
			r := store.CampaignRecipient{CampaignID: running.ID, ShopID: shop.ID, CustomerID: c.ID, Variant: "A", Status: store.MsgQueued,
				LineUserID: fmt.Sprintf("U%032d", i), UpdatedAt: now}
			switch i {
			case 1:
				r.Status, r.SentAt = store.MsgSent, &now
			case 2:
				r.LineUserID = "" // never linked: the gate will skip it
			}
			if err := db.G.Omit("id").Create(&r).Error; err != nil {
				t.Fatal(err)
			}
		}
		body := adminDo(t, a, testShop, "GET", "/admin", nil).Body.String()
		// Sent: 2 messages + 1 campaign message this month. Planned: 2
		// queued messages due this month + 1 queued recipient. ¥3 each.
		for _, want := range []string{`id="fc-sent">3<`, `id="fc-planned">3<`, `id="fc-total">¥18<`, `id="fc-quota-left">50<`, `id="fc-scheduled"`} {
			if !strings.Contains(body, want) {
				t.Errorf("home page lacks %s", want)
			}
		}
		if strings.Contains(body, `id="fc-over-quota"`) {
			t.Error("3 planned messages reported over a quota of 50 left")
		}
		if !strings.Contains(body, "予約中のキャンペーン（開始時に配信先が決まるため見込みに含まれません） 1") {
			t.Errorf("scheduled campaigns of this month not counted as 1:\n%s", body)
		}
	})
}
