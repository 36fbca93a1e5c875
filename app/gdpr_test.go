package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
)

var webhookSeq atomic.Int64

// process delivers a signed webhook and runs its job inline.
func process(t *testing.T, a *App, topic string, body string) *store.Event {
	t.Helper()
	id := fmt.Sprintf("wh-%s-%d", strings.ReplaceAll(topic, "/", "-"), webhookSeq.Add(1))
	rec := deliver(t, a, webhookRequest(topic, id, []byte(body), testSecret))
	if rec.Code != 200 {
		t.Fatalf("%s: %d %s", topic, rec.Code, rec.Body)
	}
	var res struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	evID, _ := strconv.ParseInt(res.EventID, 10, 64)
	ctx := context.Background()
	if err := a.Worker().ProcessEvent(ctx, evID); err != nil {
		t.Fatalf("processing %s: %v", topic, err)
	}
	ev, err := a.DB.Event(ctx, evID)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

const (
	gdprCustomerID = 191167
	gdprEmail      = "hanako@example.jp"
	gdprLineUser   = "U1234567890abcdef1234567890abcdef"
)

func gdprOrder(id int64, name string) string {
	return fmt.Sprintf(`{"id":%d,"name":%q,"email":%q,"currency":"JPY","total_price":"3300","subtotal_price":"3000",
"financial_status":"paid","created_at":"2026-11-20T10:00:00+09:00","order_status_url":"https://shop.example/status/secret",
"customer":{"id":%d,"email":%q,"first_name":"Hanako","last_name":"Yamada","phone":"+81-90-0000-0000","tags":"vip"},
"line_items":[{"id":1,"product_id":7,"title":"Sencha","quantity":2,"price":"1500"}]}`, id, name, gdprEmail, gdprCustomerID, gdprEmail)
}

// seedGDPR makes a linked customer with two orders (thank-yous planned),
// one sent message with content and an inbound LINE message activity.
func seedGDPR(t *testing.T, a *App) (*store.Shop, *store.Customer) {
	t.Helper()
	ctx := context.Background()
	shop, cust := seedLinkedCustomer(t, a, gdprCustomerID, gdprLineUser)
	process(t, a, "orders/create", gdprOrder(299938, "#1001"))
	process(t, a, "orders/create", gdprOrder(280263, "#1002"))
	var msgs []store.Message
	a.DB.G.Where("customer_id = ? AND kind = ?", cust.ID, "thank_you").Order("id").Find(&msgs)
	if len(msgs) != 2 || msgs[0].Status != store.MsgQueued {
		t.Fatalf("seed messages: %+v", msgs)
	}
	if _, err := a.DB.TransitionMessage(ctx, msgs[0].ID, []string{store.MsgQueued}, store.MsgSent,
		map[string]any{"content": `[{"type":"text","text":"Hanako様、ご注文ありがとうございます"}]`, "line_user_id": gdprLineUser}); err != nil {
		t.Fatal(err)
	}
	if err := a.DB.AddActivity(ctx, &store.Activity{ShopID: shop.ID, CustomerID: &cust.ID, Kind: store.ActLineMessageIn,
		Summary: "住所を変えたいです", Data: `{"text":"住所を変えたいです"}`, OccurredAt: testNow}); err != nil {
		t.Fatal(err)
	}
	c, err := a.DB.Customer(ctx, shop.ID, cust.ID)
	if err != nil || c.Email != gdprEmail {
		t.Fatalf("seed customer: %+v %v", c, err)
	}
	return shop, c
}

func TestGDPRDataRequest(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		shop, cust := seedGDPR(t, a)
		ev := process(t, a, "customers/data_request", fmt.Sprintf(`{"shop_id":1,"shop_domain":%q,
"customer":{"id":%d,"email":%q,"phone":"555"},"orders_requested":[299938,280263],"data_request":{"id":9999}}`, testShop, gdprCustomerID, gdprEmail))
		if ev.Status != store.EventProcessed {
			t.Fatalf("event %s: %s", ev.Status, ev.Error)
		}
		var acts []store.Activity
		db.G.Where("shop_id = ? AND kind = ?", shop.ID, store.ActGDPRDataRequest).Find(&acts)
		if len(acts) != 1 || acts[0].CustomerID == nil || *acts[0].CustomerID != cust.ID {
			t.Fatalf("export activities: %+v", acts)
		}
		var doc struct {
			DataRequestID int64 `json:"data_request_id"`
			Data          struct {
				Customer   store.Customer   `json:"customer"`
				Orders     []store.Order    `json:"orders"`
				LineLinks  []store.LineLink `json:"line_links"`
				Messages   []store.Message  `json:"messages"`
				Activities []store.Activity `json:"activities"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(acts[0].Data), &doc); err != nil {
			t.Fatal(err)
		}
		d := doc.Data
		if doc.DataRequestID != 9999 || d.Customer.Email != gdprEmail || d.Customer.Phone == "" ||
			len(d.Orders) != 2 || len(d.Orders[0].Items) != 1 || d.Orders[0].Name != "#1001" ||
			len(d.LineLinks) != 1 || d.LineLinks[0].LineUserID != gdprLineUser ||
			len(thankYous(d.Messages)) != 2 || !strings.Contains(thankYous(d.Messages)[0].Content, "ありがとうございます") ||
			len(d.Activities) != 1 || d.Activities[0].Summary != "住所を変えたいです" {
			t.Fatalf("export incomplete: %+v", doc)
		}
		if !strings.Contains(acts[0].Summary, "2 orders") {
			t.Fatalf("summary %q", acts[0].Summary)
		}
		// A customer we never saw: recorded, nothing exported.
		process(t, a, "customers/data_request", `{"customer":{"id":5},"data_request":{"id":10000}}`)
		var n int64
		db.G.Model(&store.Activity{}).Where("kind = ? AND customer_id IS NULL AND summary LIKE ?", store.ActGDPRDataRequest, "%no data%").Count(&n)
		if n != 1 {
			t.Fatalf("unknown customer export not recorded")
		}
	})
}

func TestGDPRCustomersRedact(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		ctx := context.Background()
		shop, cust := seedGDPR(t, a)
		// Another customer stays untouched.
		_, other := seedLinkedCustomer(t, a, 777, "Uother000000000000000000000000000")
		// Storefront browsing of both (web pixel).
		if _, err := db.InsertPixelEvents(ctx, []store.PixelEvent{
			{ShopID: shop.ID, CustomerID: cust.ID, EventID: "pv-1", Name: store.PixelProductViewed, ProductID: 1, OccurredAt: testNow, ReceivedAt: testNow},
			{ShopID: shop.ID, CustomerID: other.ID, EventID: "pv-2", Name: store.PixelProductViewed, ProductID: 1, OccurredAt: testNow, ReceivedAt: testNow},
		}); err != nil {
			t.Fatal(err)
		}
		ev := process(t, a, "customers/redact", fmt.Sprintf(`{"shop_id":1,"shop_domain":%q,
"customer":{"id":%d,"email":%q,"phone":"555"},"orders_to_redact":[299938,280263,220458]}`, testShop, gdprCustomerID, gdprEmail))
		if ev.Status != store.EventProcessed {
			t.Fatalf("event %s: %s", ev.Status, ev.Error)
		}
		c, err := db.Customer(ctx, shop.ID, cust.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.RedactedAt == nil || c.Email != "" || c.FirstName != "" || c.LastName != "" || c.Phone != "" || c.Tags != "" || c.Birthday != "" {
			t.Fatalf("customer not erased: %+v", c)
		}
		if c.OrdersCount != 2 {
			t.Fatalf("anonymous counts lost: orders_count %d", c.OrdersCount)
		}
		var browsing []store.PixelEvent
		db.G.Order("id").Find(&browsing)
		if len(browsing) != 1 || browsing[0].CustomerID != other.ID {
			t.Fatalf("storefront activity after redaction: %+v", browsing)
		}
		var links []store.LineLink
		db.G.Where("customer_id = ?", cust.ID).Find(&links)
		if len(links) != 1 || links[0].LineUserID != "" || links[0].UnlinkedAt == nil || links[0].DisplayName != "" {
			t.Fatalf("link not erased: %+v", links)
		}
		var msgs []store.Message
		db.G.Where("customer_id = ? AND kind = ?", cust.ID, "thank_you").Order("id").Find(&msgs)
		if len(msgs) != 2 || msgs[0].Status != store.MsgSent || msgs[0].Content != "" || msgs[0].LineUserID != "" ||
			msgs[1].Status != store.MsgSkipped || msgs[1].Reason != jobs.ReasonRedacted {
			t.Fatalf("messages: %+v", msgs)
		}
		var orders []store.Order
		db.G.Where("customer_id = ?", cust.ID).Find(&orders)
		if len(orders) != 2 || orders[0].Email != "" || orders[0].OrderStatusURL != "" || orders[0].TotalPrice.IsZero() {
			t.Fatalf("orders: %+v", orders)
		}
		var acts []store.Activity
		db.G.Where("customer_id = ?", cust.ID).Order("id").Find(&acts)
		for _, x := range acts {
			if strings.Contains(x.Summary+x.Data, "住所") || strings.Contains(x.Data, gdprEmail) {
				t.Fatalf("activity still holds personal data: %+v", x)
			}
		}
		if last := acts[len(acts)-1]; last.Kind != store.ActGDPRRedact {
			t.Fatalf("redaction not on the timeline: %+v", acts)
		}
		// No stored webhook body names them any more (orders and the request itself).
		var evs []store.Event
		db.G.Where("shop_domain = ?", testShop).Find(&evs)
		for _, e := range evs {
			if strings.Contains(string(e.Payload), gdprEmail) || strings.Contains(string(e.Payload), "Hanako") {
				t.Fatalf("event %d (%s) still holds personal data: %s", e.ID, e.Topic, e.Payload)
			}
		}
		// Later webhooks do not bring the data back, and nothing is sent to them.
		process(t, a, "customers/update", fmt.Sprintf(`{"id":%d,"email":%q,"first_name":"Hanako"}`, gdprCustomerID, gdprEmail))
		process(t, a, "orders/create", gdprOrder(311111, "#1003"))
		c, _ = db.Customer(ctx, shop.ID, cust.ID)
		if c.Email != "" || c.FirstName != "" {
			t.Fatalf("redacted customer refilled: %+v", c)
		}
		m, err := db.MessageByKey(ctx, fmt.Sprintf("thank_you/s%d/o311111/c%d", shop.ID, cust.ID))
		if err != nil || m.Status != store.MsgSkipped || m.Reason != jobs.ReasonRedacted {
			t.Fatalf("message after redaction: %+v %v", m, err)
		}
		o, err := db.Customer(ctx, shop.ID, other.ID)
		if err != nil || o.FirstName != "Hanako" || o.RedactedAt != nil {
			t.Fatalf("other customer touched: %+v", o)
		}
		if _, err := db.LiveLink(ctx, other.ID); err != nil {
			t.Fatalf("other customer's link touched: %v", err)
		}
	})
}

// Compliance webhooks are verified like every other: a bad signature is
// refused and nothing is stored or done.
func TestGDPRWebhooksNeedSignature(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
	seedGDPR(t, a)
	for i, topic := range []string{"customers/data_request", "customers/redact", "shop/redact", "app/uninstalled"} {
		body := fmt.Sprintf(`{"shop_domain":%q,"customer":{"id":%d}}`, testShop, gdprCustomerID)
		if rec := deliver(t, a, webhookRequest(topic, fmt.Sprintf("bad-%d", i), []byte(body), "not-the-secret")); rec.Code != 401 {
			t.Fatalf("%s: %d", topic, rec.Code)
		}
	}
	var n int64
	db.G.Model(&store.Event{}).Where("external_id LIKE ?", "bad-%").Count(&n)
	if n != 0 {
		t.Fatalf("%d unsigned events stored", n)
	}
}

func TestGDPRShopRedact(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		ctx := context.Background()
		seedGDPR(t, a)
		body := fmt.Sprintf(`{"shop_id":1,"shop_domain":%q}`, testShop)
		// While installed, shop/redact is not acted on.
		if ev := process(t, a, "shop/redact", body); ev.Status != store.EventIgnored {
			t.Fatalf("shop/redact on an installed shop: %s", ev.Status)
		}
		if _, err := db.ShopByDomain(ctx, testShop); err != nil {
			t.Fatal(err)
		}
		process(t, a, "app/uninstalled", `{"id":1,"myshopify_domain":"`+testShop+`"}`)
		ev := process(t, a, "shop/redact", body)
		if ev.Status != store.EventProcessed {
			t.Fatalf("shop/redact: %s %s", ev.Status, ev.Error)
		}
		if _, err := db.ShopByDomain(ctx, testShop); err == nil {
			t.Fatal("shop row still there")
		}
		for _, table := range []string{"shops", "line_channels", "customers", "line_links", "orders", "order_items", "fulfillments", "checkouts", "messages", "coupons", "activities"} {
			var n int64
			if err := db.G.Table(table).Count(&n).Error; err != nil || n != 0 {
				t.Fatalf("%s: %d rows left (%v)", table, n, err)
			}
		}
		var evs []store.Event
		db.G.Find(&evs)
		if len(evs) != 1 || evs[0].ID != ev.ID || evs[0].ShopID != nil {
			t.Fatalf("events left: %+v", evs)
		}
		// Sending for the erased shop finds nothing and does nothing.
		if err := a.Worker().SendMessage(ctx, 1); err != nil {
			t.Fatal(err)
		}
	})
}

// Uninstall stops a queued message, and reinstall lets new ones through.
func TestUninstallStopsQueuedMessage(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		ctx := context.Background()
		shop, cust := seedLinkedCustomer(t, a, gdprCustomerID, gdprLineUser)
		// Queued for later (e.g. quiet hours): still queued when the uninstall comes.
		m := &store.Message{ShopID: shop.ID, CustomerID: &cust.ID, Kind: "follow_up_3", DedupeKey: "follow_up_3/test",
			ScheduledFor: testNow.Add(time.Hour), LineUserID: gdprLineUser}
		if _, err := db.PlanMessage(ctx, m); err != nil || m.Status != store.MsgQueued {
			t.Fatalf("plan: %+v %v", m, err)
		}
		if err := a.Queue.EnqueueMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		ev := process(t, a, "app/uninstalled", string(testenv.Fixture(t, "shopify/webhooks/app__uninstalled.json")))
		if ev.Status != store.EventProcessed {
			t.Fatalf("uninstall: %s %s", ev.Status, ev.Error)
		}
		s, _ := db.Shop(ctx, shop.ID)
		if s.UninstalledAt == nil || len(s.AccessTokenEnc) != 0 || s.Active() {
			t.Fatalf("shop after uninstall: %+v", s)
		}
		// The task fires later: the message stays skipped, nothing is pushed
		// (the LINE address is unreachable: a push would have failed it).
		w := a.Worker()
		w.Now = func() time.Time { return testNow.Add(2 * time.Hour) }
		if err := w.SendMessage(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		got, _ := db.Message(ctx, m.ID)
		if got.Status != store.MsgSkipped || got.Reason != jobs.ReasonShopUninstalled || got.SentAt != nil {
			t.Fatalf("message after uninstall: %+v", got)
		}
		// A message planned while uninstalled is skipped at once with the reason.
		process(t, a, "orders/create", gdprOrder(400001, "#2001"))
		tk, err := db.MessageByKey(ctx, fmt.Sprintf("thank_you/s%d/o400001/c%d", shop.ID, cust.ID))
		if err != nil || tk.Status != store.MsgSkipped || tk.Reason != jobs.ReasonShopUninstalled {
			t.Fatalf("thank-you while uninstalled: %+v %v", tk, err)
		}
		// Reinstall: active again, the next order's thank-you is queued.
		if err := db.InstallShop(ctx, &store.Shop{Domain: testShop, AccessTokenEnc: a.Box.Seal("shpat_new")}, testNow.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if s, _ := db.Shop(ctx, shop.ID); s.UninstalledAt != nil || !s.Active() {
			t.Fatalf("reinstall did not clear uninstalled_at: %+v", s)
		}
		process(t, a, "orders/create", gdprOrder(400002, "#2002"))
		tk, err = db.MessageByKey(ctx, fmt.Sprintf("thank_you/s%d/o400002/c%d", shop.ID, cust.ID))
		if err != nil || tk.Status != store.MsgQueued {
			t.Fatalf("thank-you after reinstall: %+v %v", tk, err)
		}
	})
}

// thankYous keeps the thank-you messages (the follow-ups planned beside
// them are not what these tests look at).
func thankYous(ms []store.Message) []store.Message {
	var out []store.Message
	for _, m := range ms {
		if m.Kind == "thank_you" {
			out = append(out, m)
		}
	}
	return out
}
