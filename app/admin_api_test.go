package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

const otherShop = "other-shop.myshopify.com"

// adminSeed is two shops with look-alike customers, so every query can be
// checked for leaking across shops.
type adminSeed struct {
	shopA, shopB   *store.Shop
	hanako, taro   *store.Customer // shop A
	satos          []*store.Customer
	intruder       *store.Customer // shop B, matches the same queries as hanako
	order1001      *store.Order
	msgThankYou    *store.Message
	totalTimelineA int
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func seedAdmin(t *testing.T, a *App) *adminSeed {
	t.Helper()
	ctx := context.Background()
	db := a.DB
	s := &adminSeed{}
	mk := func(domain string) *store.Shop {
		now := testNow
		sh := &store.Shop{Domain: domain, Name: domain, InstalledAt: &now}
		mustDo(t, db.CreateShop(ctx, sh))
		return sh
	}
	s.shopA, s.shopB = mk(testShop), mk(otherShop)
	cust := func(shop *store.Shop, sid int64, first, last, email, phone string) *store.Customer {
		c := &store.Customer{ShopID: shop.ID, ShopifyID: sid, FirstName: first, LastName: last, Email: email, Phone: phone}
		mustDo(t, db.UpsertCustomer(ctx, c))
		return c
	}
	s.hanako = cust(s.shopA, 7001, "Hanako", "Yamada", "Hanako.Yamada@Example.com", "+819012345678")
	s.taro = cust(s.shopA, 7002, "太郎", "山田", "taro@example.jp", "")
	for i, f := range []string{"Ichiro", "Jiro", "Saburo"} {
		s.satos = append(s.satos, cust(s.shopA, int64(7100+i), f, "Sato", strings.ToLower(f)+"@sato.example", ""))
	}
	s.intruder = cust(s.shopB, 7001, "Hanako", "Yamada", "hanako.yamada@example.com", "+819012345678")

	at := func(h int) time.Time { return testNow.Add(time.Duration(h) * time.Hour) }
	order := func(shop *store.Shop, c *store.Customer, sid int64, name string, when time.Time, total int64, codes string) *store.Order {
		o := &store.Order{ShopID: shop.ID, ShopifyID: sid, CustomerID: &c.ID, Name: name, Currency: "JPY", TotalPrice: decimal.NewFromInt(total),
			FinancialStatus: "paid", OrderedAt: when, DiscountCodes: codes,
			Items: []store.OrderItem{{Title: "緑茶", Quantity: 1, Price: decimal.NewFromInt(total)}}}
		mustDo(t, db.UpsertOrder(ctx, o))
		return o
	}
	s.order1001 = order(s.shopA, s.hanako, 900001, "#1001", at(-48), 3000, "")
	order(s.shopA, s.hanako, 900002, "#1002", at(-2), 5000, "")
	order(s.shopA, s.taro, 900003, "#1003", at(-30), 1000, "LINE-ABC")
	order(s.shopB, s.intruder, 900001, "#1001", at(-48), 9999, "")
	for _, c := range []*store.Customer{s.hanako, s.taro} {
		mustDo(t, db.RefreshCustomerStats(ctx, c.ID))
		*c = *must(db.Customer(ctx, c.ShopID, c.ID))
	}

	mustDo(t, db.WithContext(ctx).Create(&store.Fulfillment{ShopID: s.shopA.ID, ShopifyID: 5001, OrderID: &s.order1001.ID,
		ShopifyOrderID: 900001, Status: "success", TrackingCompany: "ヤマト運輸", TrackingNumber: "1234", TrackingURL: "https://track.example/1234",
		CreatedAt: at(-40), UpdatedAt: at(-40)}).Error)
	mustDo(t, db.WithContext(ctx).Create(&store.Checkout{ShopID: s.shopA.ID, Token: "ck1", CustomerID: &s.hanako.ID, Currency: "JPY",
		TotalPrice: decimal.NewFromInt(4000), AbandonedURL: "https://shop.example/recover", CreatedAt: at(-72), UpdatedAt: at(-72)}).Error)
	unl := at(-20)
	mustDo(t, db.CreateLink(ctx, &store.LineLink{ShopID: s.shopA.ID, CustomerID: s.hanako.ID, LineUserID: "Uold", DisplayName: "はなこ", LinkedAt: at(-100), UnlinkedAt: &unl, UnlinkReason: "user"}))
	mustDo(t, db.CreateLink(ctx, &store.LineLink{ShopID: s.shopA.ID, CustomerID: s.hanako.ID, LineUserID: "Uhanako", DisplayName: "はなちゃん🌸", Friend: true, LinkedAt: at(-10)}))
	mustDo(t, db.CreateLink(ctx, &store.LineLink{ShopID: s.shopB.ID, CustomerID: s.intruder.ID, LineUserID: "Uintruder", DisplayName: "はなちゃん🌸", LinkedAt: at(-10)}))
	issued := at(-9)
	mustDo(t, db.WithContext(ctx).Create(&store.Coupon{ShopID: s.shopA.ID, CustomerID: &s.hanako.ID, Campaign: "link", Code: "LINE-HANA",
		Status: "issued", IssuedAt: &issued, CreatedAt: issued, UpdatedAt: issued}).Error)
	mustDo(t, db.WithContext(ctx).Create(&store.Coupon{ShopID: s.shopA.ID, CustomerID: &s.taro.ID, Campaign: "link", Code: "LINE-ABC",
		Status: "issued", IssuedAt: &issued, CreatedAt: issued, UpdatedAt: issued}).Error)

	msg := func(c *store.Customer, kind, key, status, reason string, created time.Time, refID int64) *store.Message {
		m := &store.Message{ShopID: c.ShopID, CustomerID: &c.ID, Kind: kind, DedupeKey: key, RefType: "order", RefID: refID,
			ScheduledFor: created, Status: status, Reason: reason, Content: `[{"type":"text","text":"ありがとうございます"}]`}
		_, err := db.PlanMessage(ctx, m)
		mustDo(t, err)
		// PlanMessage stamps now; the timeline needs history.
		mustDo(t, db.WithContext(ctx).Model(m).Update("created_at", created).Error)
		m.CreatedAt = created
		return m
	}
	s.msgThankYou = msg(s.hanako, "thank_you", "ty:1001", store.MsgSkipped, "not_linked", at(-48), s.order1001.ID)
	sent := msg(s.hanako, "follow_up_3", "f3:1002", store.MsgSent, "", at(-1), 0)
	msg(s.hanako, "shipping", "sh:1001", store.MsgFailed, "LINE 400: invalid", at(-39), s.order1001.ID)
	msg(s.intruder, "thank_you", "B-ty", store.MsgSent, "", at(-48), 0)
	act := func(c *store.Customer, kind, summary string, when time.Time, refType string, refID int64) {
		mustDo(t, db.AddActivity(ctx, &store.Activity{ShopID: c.ShopID, CustomerID: &c.ID, Kind: kind, Summary: summary, OccurredAt: when, RefType: refType, RefID: refID}))
	}
	act(s.hanako, store.ActFollow, "", at(-10), "", 0)
	act(s.hanako, store.ActLineMessageIn, "届きました？", at(-5), "", 0)
	act(s.hanako, store.ActClick, "", at(-3), "message", sent.ID) // 1 h before #1002
	act(s.hanako, store.ActGDPRDataRequest, "", at(-4), "", 0)
	act(s.intruder, store.ActLineMessageIn, "secret of shop B", at(-5), "", 0)
	// orders 2, fulfillment 1, checkout 1, links 2 linked + 1 unlinked, coupon 1, messages 3, activities 4
	s.totalTimelineA = 2 + 1 + 1 + 3 + 1 + 3 + 4
	return s
}

// adminGet performs an authenticated admin request for shop.
func adminDo(t *testing.T, a *App, shop, method, target string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if shop != "" {
		req.AddCookie(&http.Cookie{Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(shop+"|staff-1"), testNow.Add(time.Hour))})
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decoding %s: %v", rec.Body.String(), err)
	}
	return v
}

type searchRes struct {
	Customers []struct {
		ID              int64  `json:"id"`
		Name            string `json:"name"`
		LineDisplayName string `json:"line_display_name"`
		AdminURL        string `json:"admin_url"`
	} `json:"customers"`
	Next string `json:"next_cursor"`
}

func TestAdminCustomerSearch(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		s := seedAdmin(t, a)
		han, taro := s.hanako.ID, s.taro.ID
		sato := []int64{s.satos[2].ID, s.satos[1].ID, s.satos[0].ID}
		cases := []struct {
			q    string
			want []int64
		}{
			{"hanako.yamada@example.com", []int64{han}},
			{"HANAKO.Y", []int64{han}},
			{"taro@", []int64{taro}},
			{"yamada", []int64{han}},
			{"Hanako", []int64{han}},
			{"Yamada Hanako", []int64{han}},
			{"hanako yamada", []int64{han}},
			{"山田", []int64{taro}},
			{"山田太郎", []int64{taro}},
			{"山田 太", []int64{taro}},
			{"090-1234-5678", []int64{han}},
			{"+81 90 1234 5678", []int64{han}},
			{"#1001", []int64{han}},
			{"1003", []int64{taro}},
			{"7002", []int64{taro}},
			{"はなちゃん", []int64{han}},
			{"はなこ", []int64{han}}, // a past link's name: staff look up who used to be linked
			{"sato", sato},
			{"nobody", nil},
			{"%", nil},
			{"_", nil},
		}
		for _, tc := range cases {
			t.Run(tc.q, func(t *testing.T) {
				rec := adminDo(t, a, testShop, http.MethodGet, "/api/customers?q="+url.QueryEscape(tc.q), nil)
				if rec.Code != http.StatusOK {
					t.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				res := decode[searchRes](t, rec)
				var got []int64
				for _, c := range res.Customers {
					if c.ID == s.intruder.ID {
						t.Fatal("shop B's customer leaked into shop A's search")
					}
					got = append(got, c.ID)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("search %q = %v, want %v", tc.q, got, tc.want)
				}
			})
		}

		t.Run("keyset pages", func(t *testing.T) {
			var got []int64
			cursor := ""
			for page := 0; page < 5; page++ {
				rec := adminDo(t, a, testShop, http.MethodGet, "/api/customers?limit=2&q=sato&cursor="+cursor, nil)
				res := decode[searchRes](t, rec)
				for _, c := range res.Customers {
					got = append(got, c.ID)
				}
				if res.Next == "" {
					break
				}
				cursor = res.Next
			}
			if !slices.Equal(got, sato) {
				t.Errorf("pages = %v, want %v", got, sato)
			}
		})
		t.Run("empty query lists newest", func(t *testing.T) {
			res := decode[searchRes](t, adminDo(t, a, testShop, http.MethodGet, "/api/customers", nil))
			if len(res.Customers) != 5 || res.Customers[0].ID != s.satos[2].ID {
				t.Errorf("got %d customers, first %v", len(res.Customers), res.Customers)
			}
			if !strings.HasPrefix(res.Customers[0].AdminURL, "https://admin.shopify.com/store/tsunagu-test/customers/") {
				t.Errorf("admin url %q", res.Customers[0].AdminURL)
			}
		})
	})
}

func TestAdminAccessRules(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		s := seedAdmin(t, a)
		ctx := context.Background()
		gone := testNow
		uninstalled := &store.Shop{Domain: "gone.myshopify.com", InstalledAt: &gone}
		mustDo(t, db.CreateShop(ctx, uninstalled))
		mustDo(t, db.MarkShopUninstalled(ctx, uninstalled.ID, testNow))
		b := s.intruder.ID
		cases := []struct {
			name, shop, method, path string
			status                   int
		}{
			{"no session", "", "GET", "/api/customers?q=a", 401},
			{"no session timeline", "", "GET", "/api/customers/1/timeline", 401},
			{"no session dashboard", "", "GET", "/api/dashboard", 401},
			{"no session templates", "", "PUT", "/api/templates/thank_you", 401},
			{"no session journeys", "", "PUT", "/api/settings/journeys", 401},
			{"unknown shop", "nope.myshopify.com", "GET", "/api/customers", 401},
			{"uninstalled shop", "gone.myshopify.com", "GET", "/api/customers", 401},
			{"other shop's customer", testShop, "GET", "/api/customers/" + itoa(b), 404},
			{"other shop's timeline", testShop, "GET", "/api/customers/" + itoa(b) + "/timeline", 404},
			{"guessed id", testShop, "GET", "/api/customers/999999", 404},
			{"non-numeric id", testShop, "GET", "/api/customers/abc/timeline", 404},
			{"own customer", testShop, "GET", "/api/customers/" + itoa(s.hanako.ID), 200},
			{"B reads own", otherShop, "GET", "/api/customers/" + itoa(b) + "/timeline", 200},
			{"B cannot read A", otherShop, "GET", "/api/customers/" + itoa(s.hanako.ID) + "/timeline", 404},
			{"bad cursor", testShop, "GET", "/api/customers/" + itoa(s.hanako.ID) + "/timeline?cursor=!!", 400},
			{"bad kind", testShop, "GET", "/api/customers/" + itoa(s.hanako.ID) + "/timeline?kind=nope", 400},
			{"pages need a session", "", "GET", "/admin/customers", 401},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				rec := adminDo(t, a, tc.shop, tc.method, tc.path, nil)
				if rec.Code != tc.status {
					t.Fatalf("%s %s = %d, want %d: %s", tc.method, tc.path, rec.Code, tc.status, rec.Body)
				}
				if strings.Contains(rec.Body.String(), "secret of shop B") && tc.shop != otherShop {
					t.Fatal("shop B's data leaked")
				}
			})
		}
		// A forged cookie (signed with another key) is refused.
		req := httptest.NewRequest("GET", "/api/customers", nil)
		other := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		req.AddCookie(&http.Cookie{Name: adminCookie, Value: other.Signer.Sign(adminPurpose, []byte(testShop+"|x"), testNow.Add(time.Hour))})
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		if rec.Code != 401 {
			t.Fatalf("forged session: %d", rec.Code)
		}
	})
}

func itoa(n int64) string { return decimal.NewFromInt(n).String() }

type timelineRes struct {
	Entries []store.TimelineEntry `json:"entries"`
	Next    string                `json:"next_cursor"`
}

func TestAdminTimeline(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		s := seedAdmin(t, a)
		base := "/api/customers/" + itoa(s.hanako.ID) + "/timeline"
		res := decode[timelineRes](t, adminDo(t, a, testShop, "GET", base, nil))
		if len(res.Entries) != s.totalTimelineA || res.Next != "" {
			for _, e := range res.Entries {
				t.Logf("%s %s %s", e.At, e.Group, e.Kind)
			}
			t.Fatalf("got %d entries (next %q), want %d", len(res.Entries), res.Next, s.totalTimelineA)
		}
		for i := 1; i < len(res.Entries); i++ {
			if res.Entries[i].At.After(res.Entries[i-1].At) {
				t.Fatalf("entry %d (%s) is newer than entry %d", i, res.Entries[i].Kind, i-1)
			}
		}
		first := res.Entries[0]
		if first.Kind != "follow_up_3" || first.Status != store.MsgSent || first.Content == "" {
			t.Errorf("newest entry = %+v, want the sent follow_up_3 with content", first)
		}
		var ty, order1001, ful *store.TimelineEntry
		for i, e := range res.Entries {
			switch {
			case e.Kind == "thank_you":
				ty = &res.Entries[i]
			case e.Kind == "order" && e.OrderName == "#1001":
				order1001 = &res.Entries[i]
			case e.Kind == "fulfillment":
				ful = &res.Entries[i]
			}
		}
		if ty == nil || ty.Status != store.MsgSkipped || ty.Reason != "not_linked" || ty.OrderName != "#1001" ||
			ty.AdminURL != "https://admin.shopify.com/store/tsunagu-test/orders/900001" {
			t.Errorf("thank-you entry = %+v", ty)
		}
		if order1001 == nil || order1001.AdminURL != "https://admin.shopify.com/store/tsunagu-test/orders/900001" || !order1001.Amount.Equal(decimal.NewFromInt(3000)) {
			t.Errorf("order entry = %+v", order1001)
		}
		if ful == nil || ful.OrderName != "#1001" || ful.URL != "https://track.example/1234" || ful.AdminURL == "" {
			t.Errorf("fulfillment entry = %+v", ful)
		}

		for _, e := range res.Entries {
			if e.ShopifyOrderID == 0 && e.AdminURL != "https://admin.shopify.com/store/tsunagu-test/customers/7001" {
				t.Errorf("%s entry links to %q, want the customer in the Shopify admin", e.Kind, e.AdminURL)
			}
		}
		det := decode[customerDetail](t, adminDo(t, a, testShop, "GET", "/api/customers/"+itoa(s.hanako.ID), nil))
		if det.Customer.Name != "Yamada Hanako" || !det.Customer.LineLinked || det.Link == nil || det.Link.DisplayName != "はなちゃん🌸" ||
			det.Customer.OrdersCount != 2 || det.Customer.AdminURL != "https://admin.shopify.com/store/tsunagu-test/customers/7001" {
			t.Errorf("customer detail = %+v, link %+v", det.Customer, det.Link)
		}

		t.Run("kind filters", func(t *testing.T) {
			cases := map[string][]string{
				"messages":       {"follow_up_3", "shipping", "thank_you"},
				"links":          {"linked", "unlinked", "linked"},
				"inbound,clicks": {"click", "line_message_in"},
				"gdpr":           {"gdpr_data_request"},
				"follows":        {"follow"},
				"orders,coupons": {"order", "coupon_issued", "order"},
				"checkouts":      {"checkout"},
				"fulfillments":   {"fulfillment"},
				"other":          nil,
			}
			for kind, want := range cases {
				res := decode[timelineRes](t, adminDo(t, a, testShop, "GET", base+"?kind="+kind, nil))
				var got []string
				for _, e := range res.Entries {
					got = append(got, e.Kind)
				}
				if !slices.Equal(got, want) {
					t.Errorf("kind=%s: %v, want %v", kind, got, want)
				}
			}
		})
		t.Run("cursor pages", func(t *testing.T) {
			var all []string
			cursor := ""
			for page := 0; page < 20; page++ {
				res := decode[timelineRes](t, adminDo(t, a, testShop, "GET", base+"?limit=3&cursor="+cursor, nil))
				if len(res.Entries) > 3 {
					t.Fatalf("page of %d", len(res.Entries))
				}
				for _, e := range res.Entries {
					all = append(all, e.Group+":"+e.Kind+":"+itoa(e.ID)+":"+e.At.String())
				}
				if res.Next == "" {
					break
				}
				cursor = res.Next
			}
			var want []string
			for _, e := range res.Entries {
				want = append(want, e.Group+":"+e.Kind+":"+itoa(e.ID)+":"+e.At.String())
			}
			if !slices.Equal(all, want) {
				t.Errorf("paged timeline\n%v\nwant\n%v", all, want)
			}
		})
	})
}

func TestAdminJourneySettings(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
	s := seedAdmin(t, a)
	ctx := context.Background()
	st := s.shopA.Settings
	st.Incentive = store.Incentive{Enabled: true, Kind: "percentage", Value: 10}
	mustDo(t, db.SaveShopSettings(ctx, s.shopA.ID, st))

	got := decode[journeysJSON](t, adminDo(t, a, testShop, "GET", "/api/settings/journeys", nil))
	if got.QuietStart != "21:00" || got.DailyCap != 2 || len(got.Journeys) != len(journeyKinds) || !got.Journeys[0].Enabled {
		t.Fatalf("defaults = %+v", got)
	}
	in := got
	in.QuietStart, in.QuietEnd, in.DailyCap = "22:30", "08:00", 3
	for i := range in.Journeys {
		if in.Journeys[i].Kind == "follow_up_7" {
			in.Journeys[i].Enabled = false
		}
		if in.Journeys[i].Kind == "cart_reminder" {
			in.Journeys[i].DelayMinutes = 90
		}
	}
	rec := adminDo(t, a, testShop, "PUT", "/api/settings/journeys", in)
	if rec.Code != 200 {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	shop, _ := db.Shop(ctx, s.shopA.ID)
	if shop.Settings.JourneyEnabled("follow_up_7") || shop.Settings.JourneyDelayMinutes("cart_reminder", 60) != 90 ||
		shop.Settings.Cap() != 3 || shop.Settings.QuietStart != "22:30" || !shop.Settings.Incentive.Enabled {
		t.Errorf("saved settings = %+v", shop.Settings)
	}
	other, _ := db.Shop(ctx, s.shopB.ID)
	if !other.Settings.JourneyEnabled("follow_up_7") {
		t.Error("shop B's settings changed")
	}
	bad := []func(j *journeysJSON){
		func(j *journeysJSON) { j.QuietStart = "25:00" },
		func(j *journeysJSON) { j.DailyCap = 0 },
		func(j *journeysJSON) { j.ThankYouTrigger = "orders/whatever" },
		func(j *journeysJSON) { j.Journeys = append(j.Journeys, journeyJSON{Kind: "nope"}) },
		func(j *journeysJSON) { j.Journeys[2].DelayMinutes = -1 },
	}
	for i, f := range bad {
		j := in
		j.Journeys = slices.Clone(in.Journeys)
		f(&j)
		if rec := adminDo(t, a, testShop, "PUT", "/api/settings/journeys", j); rec.Code != 422 {
			t.Errorf("bad input %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	req := httptest.NewRequest("PUT", "/api/settings/journeys", strings.NewReader("{"))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(testShop+"|s"), testNow.Add(time.Hour))})
	if rec := deliver(t, a, req); rec.Code != 400 {
		t.Errorf("malformed JSON: %d", rec.Code)
	}
}

func TestAdminTemplates(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
	s := seedAdmin(t, a)
	ctx := context.Background()

	list := decode[struct {
		Templates []templateJSON `json:"templates"`
	}](t, adminDo(t, a, testShop, "GET", "/api/templates", nil))
	if len(list.Templates) != len(messageKinds)*2 || list.Templates[0].Kind != "thank_you" || list.Templates[0].Source == "" {
		t.Fatalf("templates = %+v", list.Templates[:2])
	}

	// Preview renders with the shop's latest real order (#1002).
	src := `[{"type":"text","text":{{json (print "ご注文 " .Order.Name " " (money .Order.TotalPrice .Order.Currency))}}}]`
	rec := adminDo(t, a, testShop, "POST", "/api/templates/thank_you/preview?lang=ja", map[string]string{"source": src})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "ご注文 #1002 ¥5,000") || !strings.Contains(rec.Body.String(), `"data_from":"order #1002"`) {
		t.Fatalf("preview: %d %s", rec.Code, rec.Body)
	}
	// Broken templates are refused with the renderer's error and not saved.
	for name, bad := range map[string]string{
		"syntax":       `[{"type":"text","text":{{json .Order.Name}]`,
		"unknown":      `[{"type":"text","text":{{json .Nope}}}]`,
		"not json":     `hello {{.CustomerName}}`,
		"no messages":  `[]`,
		"empty text":   `[{"type":"text","text":""}]`,
		"six messages": strings.Repeat(`{"type":"text","text":"a"},`, 5) + `{"type":"text","text":"a"}`,
	} {
		if name == "six messages" {
			bad = "[" + bad + "]"
		}
		rec := adminDo(t, a, testShop, "PUT", "/api/templates/thank_you?lang=ja", map[string]string{"source": bad})
		var e map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != 422 || e["error"] == "" {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
		if rec := adminDo(t, a, testShop, "POST", "/api/templates/thank_you/preview", map[string]string{"source": bad}); rec.Code != 422 {
			t.Errorf("preview %s: %d", name, rec.Code)
		}
	}
	if rec := adminDo(t, a, testShop, "PUT", "/api/templates/nope?lang=ja", map[string]string{"source": src}); rec.Code != 404 {
		t.Errorf("unknown kind: %d", rec.Code)
	}
	if rec := adminDo(t, a, testShop, "PUT", "/api/templates/thank_you?lang=fr", map[string]string{"source": src}); rec.Code != 400 {
		t.Errorf("unknown lang: %d", rec.Code)
	}
	rec = adminDo(t, a, testShop, "PUT", "/api/templates/thank_you?lang=en", map[string]string{"source": src})
	if rec.Code != 200 {
		t.Fatalf("save: %d %s", rec.Code, rec.Body)
	}
	shop, _ := db.Shop(ctx, s.shopA.ID)
	if shop.Settings.Templates["thank_you.en"] != src || shop.Settings.Templates["thank_you.ja"] != "" {
		t.Fatalf("saved templates = %v", shop.Settings.Templates)
	}
	// The saved template is what the message job renders.
	msgs, err := a.Templates.Render("thank_you", "en", shop.Settings.Templates["thank_you.en"], sampleData(shop, "thank_you", "en"))
	if err != nil || !strings.Contains(string(msgs[0]), "#1001") {
		t.Fatalf("render saved: %v %s", err, msgs)
	}
	// Empty source restores the default.
	if rec := adminDo(t, a, testShop, "PUT", "/api/templates/thank_you?lang=en", map[string]string{"source": ""}); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	shop, _ = db.Shop(ctx, s.shopA.ID)
	if _, ok := shop.Settings.Templates["thank_you.en"]; ok {
		t.Error("reset did not remove the override")
	}
	// A shop without orders previews with sample data.
	rec = adminDo(t, a, otherShop, "POST", "/api/templates/thank_you/preview?lang=en", nil)
	if rec.Code != 200 {
		t.Fatalf("preview default: %d %s", rec.Code, rec.Body)
	}
	mustDo(t, db.WithContext(ctx).Exec("DELETE FROM orders WHERE shop_id = ?", s.shopB.ID).Error)
	rec = adminDo(t, a, otherShop, "POST", "/api/templates/thank_you/preview?lang=en", map[string]string{"source": src})
	if !strings.Contains(rec.Body.String(), `"data_from":"sample"`) || !strings.Contains(rec.Body.String(), "#1001") {
		t.Errorf("sample preview: %s", rec.Body)
	}
}

func TestAdminDashboard(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		s := seedAdmin(t, a)
		d := decode[store.Dashboard](t, adminDo(t, a, testShop, "GET", "/api/dashboard", nil))
		by := map[string]store.JourneyStats{}
		for _, j := range d.Journeys {
			by[j.Kind] = j
		}
		ty, f3, sh, lc := by["thank_you"], by["follow_up_3"], by["shipping"], by["link_coupon"]
		if ty.Planned != 1 || ty.Skipped != 1 || ty.SkippedBy["not_linked"] != 1 || ty.Sent != 0 {
			t.Errorf("thank_you = %+v (shop B's sent thank-you must not count)", ty)
		}
		if sh.Failed != 1 {
			t.Errorf("shipping = %+v", sh)
		}
		// The click on follow_up_3 came 1 h before #1002 (¥5,000).
		if f3.Sent != 1 || f3.Clicks != 1 || f3.Orders != 1 || !f3.Revenue.Equal(decimal.NewFromInt(5000)) {
			t.Errorf("follow_up_3 = %+v", f3)
		}
		// #1003 used the link coupon LINE-ABC.
		if lc.Orders != 1 || !lc.Revenue.Equal(decimal.NewFromInt(1000)) {
			t.Errorf("link_coupon = %+v", lc)
		}
		if d.LinkedNow != 1 || d.Customers != 5 || len(d.LinkedDaily) != 30 {
			t.Errorf("linked now %d, customers %d, days %d", d.LinkedNow, d.Customers, len(d.LinkedDaily))
		}
		last := d.LinkedDaily[len(d.LinkedDaily)-1]
		if last.Total != 1 {
			t.Errorf("linked series ends at %+v", last)
		}
		_ = s
	})
}

func TestLINEErrorMetrics(t *testing.T) {
	t.Parallel()
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/push") {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer fake.Close()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), fake.URL)
	for _, p := range []string{"/v2/bot/message/push", "/v2/bot/message/push", "/v2/bot/profile/U0123456789abcdef0123456789abcdef"} {
		res, err := a.HTTPClient.Post(fake.URL+p, "application/json", strings.NewReader("{}"))
		mustDo(t, err)
		res.Body.Close()
	}
	out := adminDo(t, a, "", "GET", "/metrics", nil).Body.String()
	for _, want := range []string{
		`tsunagu_line_api_errors_total{endpoint="/v2/bot/message/push",status="429"} 2`,
		`tsunagu_line_api_requests_total{endpoint="/v2/bot/profile/:id"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestMetricsAndJobsDashboard(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
	seedAdmin(t, a)
	body, _ := orderFixture(t)
	deliver(t, a, webhookRequest("orders/create", "m1", body, testSecret))
	deliver(t, a, webhookRequest("orders/create", "m2", body, "bad"))
	rec := adminDo(t, a, "", "GET", "/metrics", nil)
	out := rec.Body.String()
	for _, want := range []string{
		`tsunagu_webhooks_received_total{source="shopify",status="200",topic="orders/create"} 1`,
		`tsunagu_webhooks_received_total{source="shopify",status="401",topic="orders/create"} 1`,
		`tsunagu_messages{kind="thank_you",status="skipped"} 1`,
		`tsunagu_messages{kind="thank_you",status="sent"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Job latency comes from the Asynq middleware RunWorkers installs.
	h := a.jobMetrics(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil }))
	mustDo(t, h.ProcessTask(context.Background(), asynq.NewTask("message:send", nil)))
	if out := adminDo(t, a, "", "GET", "/metrics", nil).Body.String(); !strings.Contains(out, `tsunagu_job_duration_seconds_count{result="ok",type="message:send"} 1`) {
		t.Error("/metrics lacks the job latency")
	}
	// No ops token configured: the job dashboard does not exist.
	if rec := adminDo(t, a, testShop, "GET", "/admin/jobs", nil); rec.Code != 404 {
		t.Errorf("/admin/jobs without TSUNAGU_OPS_TOKEN: %d", rec.Code)
	}
	cfg := testConfig("http://127.0.0.1:1")
	cfg.OpsToken = "ops-secret"
	b, err := Assemble(cfg, quietLogger(), db, testenv.Redis(t))
	mustDo(t, err)
	t.Cleanup(b.Close)
	for _, tc := range []struct {
		user, pw string
		shop     bool
		status   int
	}{{"", "", true, 401}, {"ops", "wrong", false, 401}, {"ops", "ops-secret", false, 200}} {
		req := httptest.NewRequest("GET", "/admin/jobs", nil)
		if tc.pw != "" {
			req.SetBasicAuth(tc.user, tc.pw)
		}
		if tc.shop {
			// A merchant's admin session is not enough: the dashboard shows every shop's jobs.
			req.AddCookie(&http.Cookie{Name: adminCookie, Value: b.Signer.Sign(adminPurpose, []byte(testShop+"|s"), time.Now().Add(time.Hour))})
		}
		rec := httptest.NewRecorder()
		b.Handler().ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("/admin/jobs %+v: %d", tc, rec.Code)
		}
	}
	for auth, status := range map[string]int{"": 401, "Bearer nope": 401, "Bearer ops-secret": 200} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		b.Handler().ServeHTTP(rec, req)
		if rec.Code != status {
			t.Errorf("/metrics with %q: %d", auth, rec.Code)
		}
	}
}
