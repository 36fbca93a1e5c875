package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// segNow is 2026-03-15 12:00 JST.
var segNow = time.Date(2026, 3, 15, 3, 0, 0, 0, time.UTC)

type segFixture struct {
	shop *store.Shop
	ids  map[string]int64 // customer name → id
}

// seedSegmentFixture builds a small, hand-checked population:
//
//	alice  5 orders, 60000 spent, last order 10 days ago, tags "VIP, wholesale", Tokyo, born in March, linked friend, marketing ok
//	bob    2 orders, 6000, last order 120 days ago, Osaka, linked but blocked, got a coupon and used it
//	carol  1 order, 3000, last order 400 days ago, Tokyo, unlinked (link history), bought vendor "Kyoto Tea"
//	dave   0 orders, linked friend, received thank_you and clicked it, unused coupon
//	erin   1 order 5 days ago (first order), Hokkaido, born in July
//	LINE friend rows: alice (100 days), carol (20 days, after unlinking), bob blocked, erin unfollowed
//	zed    redacted: never in any segment
func seedSegmentFixture(t *testing.T, db *store.DB) segFixture {
	t.Helper()
	ctx := context.Background()
	shop := newShop(t, db)
	f := segFixture{shop: shop, ids: map[string]int64{}}
	days := func(n int) *time.Time { x := segNow.AddDate(0, 0, -n); return &x }
	type cust struct {
		name, tags, region, birthday string
		marketing                    bool
		orders                       int
		spent                        int64
		first, last                  *time.Time
	}
	custs := []cust{
		{"alice", "VIP, wholesale", "Tokyo", "1990-03-02", true, 5, 60000, days(300), days(10)},
		{"bob", "", "Osaka", "1985-11-30", false, 2, 6000, days(200), days(120)},
		{"carol", "wholesale_x", "Tokyo", "", true, 1, 3000, days(400), days(400)},
		{"dave", "newsletter", "", "--03-20", false, 0, 0, nil, nil},
		{"erin", "", "Hokkaido", "2000-07-07", true, 1, 4000, days(5), days(5)},
		{"zed", "VIP", "Tokyo", "1990-03-01", true, 9, 99000, days(10), days(1)},
	}
	for i, c := range custs {
		m := &store.Customer{ShopID: shop.ID, ShopifyID: int64(100 + i), FirstName: c.name, Email: c.name + "@example.com",
			Tags: c.tags, Region: c.region, AcceptsMarketing: c.marketing}
		if err := db.UpsertCustomer(ctx, m); err != nil {
			t.Fatal(err)
		}
		upd := map[string]any{"birthday": c.birthday, "orders_count": c.orders, "total_spent": decimal.NewFromInt(c.spent),
			"first_order_at": c.first, "last_order_at": c.last}
		if c.name == "zed" {
			upd["redacted_at"] = segNow
		}
		if err := db.WithContext(ctx).Model(&store.Customer{}).Where("id = ?", m.ID).Updates(upd).Error; err != nil {
			t.Fatal(err)
		}
		f.ids[c.name] = m.ID
	}
	order := func(who string, n int64, vendor string, productID int64, title string, cancelled bool) {
		cid := f.ids[who]
		o := &store.Order{ShopID: shop.ID, ShopifyID: n, CustomerID: &cid, Name: "#" + who, OrderedAt: segNow.AddDate(0, 0, -10),
			TotalPrice: decimal.NewFromInt(1000), Items: []store.OrderItem{{ProductID: productID, Vendor: vendor, Title: title, Quantity: 1}}}
		if cancelled {
			o.CancelledAt = &segNow
		}
		if err := db.UpsertOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	order("alice", 1, "Tsunagu Farm", 501, "Matcha 100g", false)
	order("carol", 2, "Kyoto Tea", 777, "Sencha_Special", false)
	order("bob", 3, "Kyoto Tea", 777, "Sencha", true) // cancelled: does not count as purchased
	link := func(who string, friend, blocked, unlinked bool) {
		l := &store.LineLink{ShopID: shop.ID, CustomerID: f.ids[who], LineUserID: "U" + who, Friend: friend, Blocked: blocked, LinkedAt: segNow}
		if err := db.CreateLink(ctx, l); err != nil {
			t.Fatal(err)
		}
		if unlinked {
			if _, err := db.Unlink(ctx, l.ID, "test", segNow); err != nil {
				t.Fatal(err)
			}
		}
	}
	link("alice", true, false, false)
	link("bob", true, true, false)
	link("carol", true, false, true)
	link("dave", true, false, false)
	// LINE friend rows: alice a friend for 100 days (linked), carol still a
	// friend for 20 days after unlinking, bob blocked, erin unfollowed, and
	// one friend who is no customer at all.
	friend := func(who string, since int, isFriend, blocked bool) {
		fr := &store.LineFriend{ShopID: shop.ID, LineUserID: "F" + who, IsFriend: isFriend, Blocked: blocked, FriendSince: days(since), FollowSource: store.SourceFollow}
		if id, ok := f.ids[who]; ok {
			fr.CustomerID = &id
		}
		if _, err := db.EnsureFriend(ctx, fr); err != nil {
			t.Fatal(err)
		}
	}
	friend("alice", 100, true, false)
	friend("carol", 20, true, false)
	friend("bob", 50, false, true)
	friend("erin", 40, false, false)
	friend("nobody", 60, true, false)
	dave := f.ids["dave"]
	msg := &store.Message{ShopID: shop.ID, CustomerID: &dave, Kind: "thank_you", DedupeKey: "ty:dave", ScheduledFor: segNow, Status: store.MsgSent}
	if _, err := db.PlanMessage(ctx, msg); err != nil {
		t.Fatal(err)
	}
	db.WithContext(ctx).Model(msg).Update("sent_at", segNow.AddDate(0, 0, -3))
	if err := db.AddActivity(ctx, &store.Activity{ShopID: shop.ID, CustomerID: &dave, Kind: store.ActClick, RefType: "message", RefID: msg.ID, OccurredAt: segNow.AddDate(0, 0, -3)}); err != nil {
		t.Fatal(err)
	}
	coupon := func(who, code string, redeemed bool) {
		cid := f.ids[who]
		cp := &store.Coupon{ShopID: shop.ID, CustomerID: &cid, Campaign: "link", Code: code, Status: "issued", IssuedAt: days(20),
			ExpiresAt: func() *time.Time { x := segNow.AddDate(0, 0, 10); return &x }(), CreatedAt: segNow, UpdatedAt: segNow}
		if redeemed {
			cp.RedeemedAt = days(2)
		}
		if err := db.WithContext(ctx).Omit("id").Create(cp).Error; err != nil {
			t.Fatal(err)
		}
	}
	coupon("bob", "BOB1", true)
	coupon("dave", "DAVE1", false)
	// Storefront activity (web pixel).
	var evs []store.PixelEvent
	browse := func(who, name string, product, collection int64, daysAgo int) {
		evs = append(evs, store.PixelEvent{ShopID: shop.ID, CustomerID: f.ids[who], EventID: who + name + itoa(len(evs)), Name: name,
			ProductID: product, CollectionID: collection, OccurredAt: segNow.AddDate(0, 0, -daysAgo), ReceivedAt: segNow})
	}
	browse("alice", store.PixelProductViewed, 501, 0, 2)
	browse("alice", store.PixelCollectionView, 0, 9, 20)
	browse("dave", store.PixelAddedToCart, 777, 0, 1)
	browse("erin", store.PixelProductViewed, 777, 0, 40)
	browse("zed", store.PixelProductViewed, 501, 0, 1)
	if _, err := db.InsertPixelEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	return f
}

func itoa(n int) string { return fmt.Sprint(n) }

// segmentCases are definitions and who in the fixture they select.
var segmentCases = []struct {
	name string
	def  string
	want []string
}{
	{"orders >= 2", `{"field":"orders_count","op":">=","value":2}`, []string{"alice", "bob"}},
	{"never ordered", `{"field":"orders_count","op":"=","value":0}`, []string{"dave"}},
	{"spent > 5000", `{"field":"total_spent","op":">","value":5000}`, []string{"alice", "bob"}},
	{"aov >= 4000", `{"field":"aov","op":">=","value":4000}`, []string{"alice", "erin"}},
	{"last order > 90 days", `{"field":"days_since_last_order","op":">","value":90}`, []string{"bob", "carol"}},
	{"last order <= 30 days", `{"field":"days_since_last_order","op":"<=","value":30}`, []string{"alice", "erin"}},
	{"first order before 2025-03-01", `{"field":"first_order_date","op":"<","value":"2025-03-01"}`, []string{"carol"}},
	{"bought product 777", `{"field":"product_id","op":"=","value":777}`, []string{"carol"}},
	{"bought vendor", `{"field":"vendor","op":"in","value":["Kyoto Tea","Nope"]}`, []string{"carol"}},
	{"title contains underscore literally", `{"field":"product_title","op":"contains","value":"a_s"}`, []string{"carol"}},
	// Not bought: bob's order is cancelled, zed is redacted.
	{"not bought vendor", `{"field":"vendor","op":"!=","value":"Kyoto Tea"}`, []string{"alice", "bob", "dave", "erin"}},
	{"not bought vendors (list)", `{"field":"vendor","op":"not_in","value":["Kyoto Tea","Tsunagu Farm"]}`, []string{"bob", "dave", "erin"}},
	{"not (bought product 501)", `{"not":{"field":"product_id","op":"in","value":[501]}}`, []string{"bob", "carol", "dave", "erin"}},
	{"not bought product 777", `{"field":"product_id","op":"not_in","value":[777]}`, []string{"alice", "bob", "dave", "erin"}},
	{"title not contains sencha", `{"field":"product_title","op":"not_contains","value":"sencha"}`, []string{"alice", "bob", "dave", "erin"}},
	{"not (not bought vendor)", `{"not":{"field":"vendor","op":"!=","value":"Kyoto Tea"}}`, []string{"carol"}},
	{"title contains matcha", `{"field":"product_title","op":"contains","value":"MATCHA"}`, []string{"alice"}},
	{"tag vip (whole tag, any case)", `{"field":"tag","op":"=","value":"vip"}`, []string{"alice"}},
	{"tag wholesale not wholesale_x", `{"field":"tag","op":"=","value":"wholesale"}`, []string{"alice"}},
	{"not tag wholesale", `{"field":"tag","op":"!=","value":"wholesale"}`, []string{"bob", "carol", "dave", "erin"}},
	// An empty tag value matches the customers without tags (the quick
	// "tags <> ''" test of a tag condition must not apply to it).
	{"tag empty value", `{"field":"tag","value":""}`, []string{"bob", "erin"}},
	{"tags vip or empty", `{"field":"tag","value":["vip", " "]}`, []string{"alice", "bob", "erin"}},
	{"region tokyo", `{"field":"region","op":"in","value":["tokyo"]}`, []string{"alice", "carol"}},
	{"birthday march", `{"field":"birthday_month","op":"=","value":3}`, []string{"alice", "dave"}},
	{"accepts marketing", `{"field":"accepts_marketing","op":"=","value":true}`, []string{"alice", "carol", "erin"}},
	{"linked", `{"field":"linked","value":true}`, []string{"alice", "bob", "dave"}},
	{"not linked", `{"field":"linked","value":false}`, []string{"carol", "erin"}},
	{"friend (not blocked)", `{"field":"friend","value":true}`, []string{"alice", "dave"}},
	{"blocked", `{"field":"blocked","value":true}`, []string{"bob"}},
	{"friend, not linked", `{"field":"friend_not_linked","value":true}`, []string{"carol"}},
	{"not (friend, not linked)", `{"field":"friend_not_linked","value":false}`, []string{"alice", "bob", "dave", "erin"}},
	{"friend for 30+ days", `{"field":"friend_days","op":">=","value":30}`, []string{"alice"}},
	{"friend for under 30 days", `{"field":"friend_days","op":"<","value":30}`, []string{"carol"}},
	{"friend for 20 days", `{"field":"friend_days","op":"=","value":20}`, []string{"carol"}},
	{"received thank_you", `{"field":"received","op":"=","value":"thank_you"}`, []string{"dave"}},
	{"received thank_you within 1 day", `{"field":"received","value":"thank_you","within_days":1}`, nil},
	{"clicked thank_you", `{"field":"clicked","value":"thank_you"}`, []string{"dave"}},
	{"clicked any within 7 days", `{"field":"clicked","value":"any","within_days":7}`, []string{"dave"}},
	{"coupon used", `{"field":"coupon_used","value":true}`, []string{"bob"}},
	{"coupon unused", `{"field":"coupon_unused","value":true}`, []string{"dave"}},
	{"and/or/not", `{"and":[{"or":[{"field":"region","value":"Tokyo"},{"field":"region","value":"Osaka"}]},{"not":{"field":"blocked","value":true}}]}`, []string{"alice", "carol"}},
	{"builtin vip", `{"builtin":"vip"}`, []string{"alice"}},
	{"builtin at_risk", `{"builtin":"at_risk"}`, []string{"bob"}},
	{"builtin dormant", `{"builtin":"dormant"}`, []string{"carol"}},
	{"builtin new", `{"builtin":"new"}`, []string{"erin"}},
	{"builtin birthday this month", `{"builtin":"birthday_this_month"}`, []string{"alice", "dave"}},
	{"builtin linked never ordered", `{"builtin":"linked_never_ordered"}`, []string{"dave"}},
	{"viewed product 501 within 7 days", `{"field":"viewed_product","value":501,"within_days":7}`, []string{"alice"}},
	{"viewed any product", `{"field":"viewed_product","value":true}`, []string{"alice", "erin"}},
	{"viewed 777 within 30 days", `{"field":"viewed_product","value":[777],"within_days":30}`, nil},
	{"not viewed 501", `{"field":"viewed_product","op":"!=","value":501}`, []string{"bob", "carol", "dave", "erin"}},
	{"viewed collection 9", `{"field":"viewed_collection","value":9}`, []string{"alice"}},
	{"viewed collection 9 within 7 days", `{"field":"viewed_collection","value":9,"within_days":7}`, nil},
	{"added to cart within 7 days", `{"field":"added_to_cart","value":true,"within_days":7}`, []string{"dave"}},
	{"empty and is everyone", `{"and":[]}`, []string{"alice", "bob", "carol", "dave", "erin"}},
}

func TestSegmentCompile(t *testing.T) {
	t.Parallel()
	cases := segmentCases
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := seedSegmentFixture(t, db)
		names := map[int64]string{}
		for n, id := range f.ids {
			names[id] = n
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				n, err := segment.Parse([]byte(tc.def))
				if err != nil {
					t.Fatal(err)
				}
				ids, err := db.SegmentCustomerIDs(ctx, f.shop, n, segNow, 0, 100)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, id := range ids {
					got = append(got, names[id])
				}
				sort.Strings(got)
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
				count, err := db.CountSegment(ctx, f.shop, n, segNow)
				if err != nil {
					t.Fatal(err)
				}
				if count != int64(len(tc.want)) {
					t.Errorf("count %d, want %d", count, len(tc.want))
				}
			})
		}
	})
}

func TestSegmentRejectsBadDefinitions(t *testing.T) {
	t.Parallel()
	for _, def := range []string{
		`{"field":"orders_count","op":"; DROP TABLE customers","value":1}`,
		`{"field":"nope","op":"=","value":1}`,
		`{"field":"orders_count","op":">=","value":"3 OR 1=1"}`,
		`{"and":[{"field":"linked","value":true}],"field":"linked"}`,
		`{"builtin":"everyone"}`,
		`{"field":"birthday_month","value":13}`,
		`{"unknown":1}`,
		`{"field":"viewed_product","value":"shoes"}`,
		`{"field":"added_to_cart","value":false}`,
	} {
		if _, err := segment.Parse([]byte(def)); !errors.Is(err, segment.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrBadSegment", def, err)
		}
	}
	// Values travel as parameters: a hostile string is just a string.
	n, err := segment.Parse([]byte(`{"field":"tag","value":"x' OR '1'='1"}`))
	if err != nil {
		t.Fatal(err)
	}
	sql, args, _ := segment.Compile(n, segNow, time.UTC)
	if b, _ := json.Marshal(sql); len(args) != 1 || string(b) == "" || containsQuoteOR(sql) {
		t.Errorf("value leaked into SQL: %s %v", sql, args)
	}
}

func containsQuoteOR(s string) bool {
	for i := 0; i+4 < len(s); i++ {
		if s[i:i+4] == "'1'=" {
			return true
		}
	}
	return false
}

func TestJourneyReport(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := seedSegmentFixture(t, db)
		// dave got thank_you and clicked it 3 days before segNow; give him an order 1 day after the
		// click (credited to thank_you) and one 20 days after (outside the 7-day window).
		dave := f.ids["dave"]
		for i, d := range []int{-2, 17} {
			o := &store.Order{ShopID: f.shop.ID, ShopifyID: int64(500 + i), CustomerID: &dave, Name: "#d", OrderedAt: segNow.AddDate(0, 0, d),
				TotalPrice: decimal.NewFromInt(2500)}
			if err := db.UpsertOrder(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		ms, err := db.JourneyReport(ctx, f.shop.ID, segNow.AddDate(0, 0, -10), time.Now().Add(time.Hour), store.ReportOptions{AttributionDays: 7, YenPerMessage: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 1 {
			t.Fatalf("kinds %+v", ms)
		}
		m := ms[0]
		if m.Key != "thank_you" || m.Sent != 1 || m.Clicks != 1 || m.UniqueClicks != 1 || m.Conversions != 1 || m.Revenue != 2500 || m.CostYen != 3 {
			t.Errorf("journey metrics %+v", m)
		}
	})
}

// TestSegmentEstimate: the quick "about N" of the builder evaluates the same
// condition as the count. Sampling the whole table (PostgreSQL's TABLESAMPLE
// SYSTEM (100)) must give every case's exact count; SQLite counts exactly.
// A small fixture gives fewer sampled matches than an estimate states as
// "about N", so each also carries a bound ("under N") at or above the count.
func TestSegmentEstimate(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := seedSegmentFixture(t, db)
		for _, tc := range segmentCases {
			n, err := segment.Parse([]byte(tc.def))
			if err != nil {
				t.Fatal(err)
			}
			got, err := db.EstimateSegmentSampled(ctx, f.shop, n, segNow, 1e9, 1)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got.Count != int64(len(tc.want)) {
				t.Errorf("%s: estimate %d, want %d", tc.name, got.Count, len(tc.want))
			}
			if want := db.Dialect == "postgres"; got.Estimated != want {
				t.Errorf("%s: estimated %v, want %v", tc.name, got.Estimated, want)
			}
			if got.Estimated && got.Under < got.Count {
				t.Errorf("%s: under %d, below the count %d", tc.name, got.Under, got.Count)
			}
		}
		// A shop the sample holds too few of is counted exactly.
		n, _ := segment.Parse([]byte(`{"field":"orders_count","op":">=","value":2}`))
		got, err := db.EstimateSegmentSampled(ctx, f.shop, n, segNow, 1e9, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if got != (store.SegmentSize{Count: 2}) {
			t.Errorf("small shop: %+v, want an exact 2", got)
		}
	})
}
