package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// Browse abandonment end to end on PostgreSQL + Redis with real Asynq
// workers and the fake LINE server: the web pixel's events for a linked
// customer → one LINE message with the product after X hours; a customer
// who orders in time gets none; redelivered events send nothing twice.
func TestBrowseAbandonmentEndToEnd(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	fake := linetest.NewServer(t)
	fake.AddToken(testLINEToken)
	a := newTestApp(t, db, testenv.Redis(t), fake.URL)
	var clk clock
	// Noon in Tokyo, in the past so Asynq runs every task at once and the
	// worker's clock alone decides what is due.
	t0 := time.Date(2025, 1, 15, 3, 0, 0, 0, time.UTC)
	clk.Set(t0)
	a.Now = clk.Now
	ctx := context.Background()

	users := map[string]string{"G": fmt.Sprintf("U%032x", 0xb1), "H": fmt.Sprintf("U%032x", 0xb2)}
	shop, g := seedLinkedCustomer(t, a, 9201, users["G"])
	_, h := seedLinkedCustomer(t, a, 9202, users["H"])
	_, u := seedLinkedCustomer(t, a, 9203, "") // known, never linked
	on := true
	shop.Settings.Journeys = map[string]store.JourneySetting{jobs.KindBrowse: {Enabled: &on, DelayMinutes: 120}}
	shop.Settings.Browse = store.Browse{MinViews: 2, CooldownDays: 7}
	if err := db.SaveShopSettings(ctx, shop.ID, shop.Settings); err != nil {
		t.Fatal(err)
	}
	key := core.PixelKey(a.Config.SecretKey, testShop)
	pixel := func(client string, cust *store.Customer, events ...map[string]any) core.IngestResult {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"shop": testShop, "key": key, "client_id": client,
			"customer_id": fmt.Sprint(cust.ShopifyID), "customer_token": core.PixelCustomerToken(a.Config.SecretKey, testShop, cust.ShopifyID, testNow.Add(time.Hour)),
			"consent": map[string]bool{"analytics": true, "marketing": true}, "events": events})
		rec := postPixel(t, a, body, "https://"+testShop)
		if rec.Code != 200 {
			t.Fatalf("pixel: %d %s", rec.Code, rec.Body)
		}
		var res core.IngestResult
		readJSON(t, rec, &res)
		return res
	}
	ev := func(id, name string, product int, title string, at time.Time) map[string]any {
		return map[string]any{"id": id, "name": name, "ts": at.Format(time.RFC3339Nano), "product_id": fmt.Sprint(product),
			"title": title, "url": "/products/p" + fmt.Sprint(product), "image": "https://cdn.shopify.com/s/files/p.jpg", "price": 3300, "currency": "JPY"}
	}
	browseMsgs := func(c *store.Customer) []store.Message {
		var ms []store.Message
		db.G.Where("customer_id = ? AND kind = ?", c.ID, jobs.KindBrowse).Order("id").Find(&ms)
		return ms
	}
	pushesOf := func(user, title string) int {
		n := 0
		for _, p := range fake.Pushes() {
			b, _ := json.Marshal(p)
			// The browse-abandonment message, not the thank-you that may name the same product.
			if p.To == user && strings.Contains(string(b), title) && strings.Contains(string(b), "ご覧いただいた商品") {
				n++
			}
		}
		return n
	}
	stop := startJourneyWorkers(t, a, nil, 5*time.Second)
	defer stop()

	// G views the teacup twice; the pixel's batch is then redelivered.
	gBatch := []map[string]any{ev("g-1", "product_viewed", 501, "美濃焼 湯呑み", t0), ev("g-2", "product_viewed", 501, "美濃焼 湯呑み", t0.Add(time.Minute))}
	if r := pixel("client-g", g, gBatch...); r.Stored != 2 {
		t.Fatalf("G's events: %+v", r)
	}
	if r := pixel("client-g", g, gBatch...); r.Stored != 0 || r.Duplicates != 2 {
		t.Fatalf("G's redelivery: %+v", r)
	}
	// H adds a pot to the cart, then orders 30 minutes later.
	clk.Set(t0.Add(2 * time.Minute))
	pixel("client-h", h, ev("h-1", "product_viewed", 777, "急須", t0.Add(time.Minute)), ev("h-2", "product_added_to_cart", 777, "急須", t0.Add(2*time.Minute)))
	// U is not linked: nothing is planned for them.
	pixel("client-u", u, ev("u-1", "product_viewed", 501, "美濃焼 湯呑み", t0), ev("u-2", "product_viewed", 501, "美濃焼 湯呑み", t0.Add(time.Second)))

	eventually(t, "G's and H's messages planned", func() bool { return len(browseMsgs(g)) == 1 && len(browseMsgs(h)) == 1 })
	if m := browseMsgs(g)[0]; m.Status != store.MsgQueued || !m.ScheduledFor.Equal(t0.Add(time.Minute+2*time.Hour)) {
		t.Fatalf("G's message: %s at %v, want queued for X=2h after the last view", m.Status, m.ScheduledFor)
	}
	clk.Set(t0.Add(30 * time.Minute))
	order := fmt.Sprintf(`{"id": 8101, "name": "#8101", "currency": "JPY", "total_price": "5400", "financial_status": "paid",
		"created_at": %q, "line_items": [{"id": 1, "product_id": 777, "title": "急須", "quantity": 1, "price": "5400"}],
		"customer": {"id": %d}}`, t0.Add(30*time.Minute).Format(time.RFC3339), h.ShopifyID)
	if rec := deliver(t, a, webhookRequest("orders/create", "h-order", []byte(order), testSecret)); rec.Code != 200 {
		t.Fatalf("order: %d", rec.Code)
	}
	eventually(t, "H's order stored", func() bool { _, err := db.OrderByShopifyID(ctx, shop.ID, 8101); return err == nil })

	// Two hours after the last activity the relay hands the messages to the workers.
	clk.Set(t0.Add(2*time.Hour + 5*time.Minute))
	if _, err := a.Relay().Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "G's browse message sent", func() bool { return browseMsgs(g)[0].Status == store.MsgSent })
	eventually(t, "H's browse message skipped", func() bool { return browseMsgs(h)[0].Status == store.MsgSkipped })
	if r := browseMsgs(h)[0].Reason; r != jobs.ReasonCheckedOut {
		t.Fatalf("H's reason %q, want %q", r, jobs.ReasonCheckedOut)
	}
	if n := pushesOf(users["G"], "美濃焼 湯呑み"); n != 1 {
		t.Fatalf("G got %d pushes with the teacup, want 1", n)
	}
	if n := pushesOf(users["H"], "急須"); n != 0 {
		t.Fatalf("H got %d browse pushes after ordering", n)
	}
	if got := browseMsgs(u); len(got) != 0 {
		t.Fatalf("unlinked U got messages planned: %+v", got)
	}

	// Later: the old batch arrives once more and G views the teacup again,
	// within the cooldown. Still one message.
	clk.Set(t0.Add(3 * time.Hour))
	if r := pixel("client-g", g, gBatch...); r.Stored != 0 {
		t.Fatalf("late redelivery stored %+v", r)
	}
	pixel("client-g", g, ev("g-3", "product_viewed", 501, "美濃焼 湯呑み", t0.Add(3*time.Hour)), ev("g-4", "product_viewed", 501, "美濃焼 湯呑み", t0.Add(3*time.Hour+time.Second)))
	eventually(t, "G's new browsing processed", func() bool {
		var n int64
		db.G.Model(&store.Event{}).Where("source = ? AND processed_at IS NOT NULL", core.SourcePixel).Count(&n)
		return n >= 4
	})
	clk.Set(t0.Add(6 * time.Hour))
	if _, err := a.Relay().Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let any wrongly planned message go out before counting
	if n, ms := pushesOf(users["G"], "美濃焼 湯呑み"), browseMsgs(g); n != 1 || len(ms) != 1 {
		t.Fatalf("after redelivery and cooldown: %d pushes, %d messages", n, len(ms))
	}
	// The browsing is on G's timeline.
	var stored int64
	db.G.Model(&store.PixelEvent{}).Where("customer_id = ?", g.ID).Count(&stored)
	if stored != 4 {
		t.Fatalf("G's stored events = %d, want 4", stored)
	}
	tl, _, err := db.Timeline(ctx, shop.ID, g.ID, nil, []string{store.TLBrowsing}, 50)
	if err != nil || len(tl) != 4 || tl[0].Kind != store.PixelProductViewed || tl[0].Summary != "美濃焼 湯呑み" || !tl[0].At.Equal(t0.Add(3*time.Hour+time.Second)) {
		t.Fatalf("G's browsing timeline: %+v %v", tl, err)
	}
	// H's timeline holds H's browsing only.
	tl, _, _ = db.Timeline(ctx, shop.ID, h.ID, nil, []string{store.TLBrowsing}, 50)
	if len(tl) != 2 || tl[0].Kind != store.PixelAddedToCart {
		t.Fatalf("H's browsing timeline: %+v", tl)
	}
}
