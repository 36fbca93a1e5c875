package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
	"github.com/tsunagu/tsunagu/shopify"
)

// orderFixture returns the published orders/create example and its customer id.
// orderFixture is Shopify's sample orders/create made a live order: the
// sample is a voided, cancelled one, which rightly earns no thank-you.
func orderFixture(t *testing.T) ([]byte, int64) {
	raw := testenv.Fixture(t, "shopify/webhooks/orders__create.json")
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	m["cancelled_at"], m["cancel_reason"], m["financial_status"] = nil, nil, "paid"
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var o shopify.Order
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatal(err)
	}
	return body, o.Customer.ID
}

func TestShopifyWebhookRejects(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
	body, _ := orderFixture(t)
	big := append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), MaxWebhookBody)...)
	big = append(big, '"', '}')
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		stored bool
	}{
		{"no signature", func() *http.Request { return webhookRequest("orders/create", "w1", body, "") }, 401, false},
		{"wrong secret", func() *http.Request { return webhookRequest("orders/create", "w2", body, "other-secret") }, 401, false},
		{"tampered body", func() *http.Request {
			r := webhookRequest("orders/create", "w3", body, testSecret)
			r2 := webhookRequest("orders/create", "w3", append([]byte(" "), body...), "")
			r2.Header = r.Header
			return r2
		}, 401, false},
		{"missing topic", func() *http.Request {
			r := webhookRequest("orders/create", "w4", body, testSecret)
			r.Header.Del(shopify.HeaderTopic)
			return r
		}, 400, false},
		{"missing webhook id", func() *http.Request {
			r := webhookRequest("orders/create", "", body, testSecret)
			return r
		}, 400, false},
		{"foreign shop domain", func() *http.Request {
			r := webhookRequest("orders/create", "w5", body, testSecret)
			r.Header.Set(shopify.HeaderShopDomain, "shop.myshopify.com.evil.com")
			return r
		}, 400, false},
		{"too large", func() *http.Request { return webhookRequest("orders/create", "w6", big, testSecret) }, 413, false},
		{"malformed JSON after good signature", func() *http.Request {
			return webhookRequest("orders/create", "w7", []byte(`{"id": 1,`), testSecret)
		}, 400, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := deliver(t, a, tc.req())
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			var errBody map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &errBody); err != nil || errBody["error"] == "" {
				t.Fatalf("error body = %q, want a JSON error", rec.Body)
			}
		})
	}
	var events []store.Event
	db.G.Find(&events)
	if len(events) != 1 || events[0].ExternalID != testShop+"|w7" || events[0].Status != store.EventInvalid || string(events[0].Payload) != `{"id": 1,` {
		t.Fatalf("stored events = %+v; want only the malformed one, kept raw and marked invalid", events)
	}
}

func TestShopifyWebhookDuplicateAcknowledged(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		body, _ := orderFixture(t)
		for i, dup := range []bool{false, true, true} {
			rec := deliver(t, a, webhookRequest("orders/create", "dup-1", body, testSecret))
			if rec.Code != 200 {
				t.Fatalf("delivery %d: status %d %s", i, rec.Code, rec.Body)
			}
			var res struct {
				Duplicate bool
				EventID   string `json:"event_id"`
			}
			json.Unmarshal(rec.Body.Bytes(), &res)
			if res.Duplicate != dup {
				t.Fatalf("delivery %d: duplicate = %v, want %v", i, res.Duplicate, dup)
			}
			// The answer is what encoding/json writes for the same map.
			var want bytes.Buffer
			json.NewEncoder(&want).Encode(map[string]any{"ok": true, "event_id": res.EventID, "duplicate": dup})
			if rec.Body.String() != want.String() || res.EventID == "" || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("delivery %d: answer %q (%s), want %q (application/json)", i, rec.Body, rec.Header().Get("Content-Type"), want.String())
			}
		}
		var n int64
		db.G.Model(&store.Event{}).Count(&n)
		if n != 1 {
			t.Fatalf("%d events stored, want 1", n)
		}
	})
}

// The foundation's promise, end to end on PostgreSQL + Redis: a signed
// orders/create for a linked customer gives exactly one thank-you push with
// the right recipient, retry key and text, though the webhook comes three
// times and the worker restarts in between.
func TestOrderCreateThankYouExactlyOnce(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	fake := linetest.NewServer(t)
	fake.AddToken(testLINEToken)
	a := newTestApp(t, db, testenv.Redis(t), fake.URL)
	body, custID := orderFixture(t)
	shop, cust := seedLinkedCustomer(t, a, custID, "U4af4980629aaaaaaaaaaaaaaaaaaaaaa")

	stop := startWorkers(t, a)
	if rec := deliver(t, a, webhookRequest("orders/create", "wh-order-1", body, testSecret)); rec.Code != 200 {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	key := fmt.Sprintf("thank_you/s%d/o820982911946154508/c%d", shop.ID, cust.ID)
	var o shopify.Order
	json.Unmarshal(body, &o)
	key = fmt.Sprintf("thank_you/s%d/o%d/c%d", shop.ID, o.ID, cust.ID)
	eventually(t, "thank-you sent", func() bool {
		m, err := a.DB.MessageByKey(context.Background(), key)
		return err == nil && m.Status == store.MsgSent
	})
	stop()

	// Shopify redelivers twice while the worker is down, then it comes back.
	for _, id := range []string{"wh-order-1", "wh-order-1"} {
		if rec := deliver(t, a, webhookRequest("orders/create", id, body, testSecret)); rec.Code != 200 {
			t.Fatalf("redelivery status %d", rec.Code)
		}
	}
	startWorkers(t, a)
	if _, err := a.Relay().Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A second, distinct event for the same order (orders/create again with a
	// new webhook id) must not send a second thank-you either.
	if rec := deliver(t, a, webhookRequest("orders/create", "wh-order-1-resent", body, testSecret)); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	eventually(t, "second event processed", func() bool {
		e := store.Event{}
		a.DB.G.Where("external_id = ?", testShop+"|wh-order-1-resent").Take(&e)
		return e.ProcessedAt != nil
	})

	pushes := fake.Pushes()
	if len(pushes) != 1 {
		t.Fatalf("%d pushes, want exactly 1", len(pushes))
	}
	p := pushes[0]
	if p.To != "U4af4980629aaaaaaaaaaaaaaaaaaaaaa" {
		t.Errorf("push to %q", p.To)
	}
	if want := line.RetryKey(a.installationID + "/" + key); p.RetryKey != want {
		t.Errorf("retry key %q, want %q (salted with the installation id)", p.RetryKey, want)
	}
	var msg struct{ Type, Text string }
	json.Unmarshal(p.Messages[0], &msg)
	// Shopify's example order was placed with customer_locale "en": the buyer gets the English thank-you.
	if msg.Type != "text" || !strings.Contains(msg.Text, "#9999") || !strings.Contains(msg.Text, "Thank you for shopping") {
		t.Errorf("message = %+v", msg)
	}
	var n int64
	a.DB.G.Model(&store.Message{}).Where("kind = ?", jobs.KindThankYou).Count(&n)
	if n != 1 {
		t.Errorf("%d thank-you rows, want 1", n)
	}
	a.DB.G.Model(&store.Message{}).Count(&n)
	if n != 4 {
		t.Errorf("%d message rows, want 4 (thank-you and the day-3/7/30 follow-ups)", n)
	}
}

func TestOrderCreateUnlinkedIsSkippedWithReason(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		fake := linetest.NewServer(t)
		fake.AddToken(testLINEToken)
		a := newTestApp(t, db, testenv.Redis(t), fake.URL)
		body, custID := orderFixture(t)
		seedLinkedCustomer(t, a, custID, "")
		startWorkers(t, a)
		deliver(t, a, webhookRequest("orders/create", "wh-unlinked", body, testSecret))
		var m store.Message
		eventually(t, "message recorded", func() bool {
			return a.DB.G.Where("kind = ?", jobs.KindThankYou).Take(&m).Error == nil
		})
		if m.Status != store.MsgSkipped || m.Reason != jobs.ReasonNotLinked {
			t.Fatalf("message = %s/%s, want skipped/not_linked", m.Status, m.Reason)
		}
		if len(fake.Pushes()) != 0 {
			t.Fatal("pushed to an unlinked customer")
		}
	})
}

// Redis is down while 100 signed webhooks arrive: every one is stored and
// acknowledged; once Redis is back the relay enqueues them, all are processed
// and no message goes out twice.
func TestRedisOutageLosesNothing(t *testing.T) {
	// Not parallel: it pushes 100 webhooks through a Redis it stops and restarts;
	// beside other tests on two cores it can outlast its deadline.
	db := testenv.Postgres(t)
	fake := linetest.NewServer(t)
	fake.AddToken(testLINEToken)
	rs := testenv.StartRedisServer(t)
	a := newTestApp(t, db, asynq.RedisClientOpt{Addr: rs.Addr}, fake.URL)
	_, custID := orderFixture(t)
	shop, _ := seedLinkedCustomer(t, a, custID, "U0ade0000000000000000000000000000")
	rs.Stop()

	const orders = 50 // each delivered twice: 100 webhooks
	for i := 0; i < orders*2; i++ {
		n := i % orders
		body := fmt.Sprintf(`{"id": %d, "name": "#%d", "currency": "JPY", "total_price": "1200", "customer": {"id": %d, "first_name": "Hanako"}}`, 5000+n, 1000+n, custID)
		rec := deliver(t, a, webhookRequest("orders/create", fmt.Sprintf("outage-%d", n), []byte(body), testSecret))
		if rec.Code != 200 {
			t.Fatalf("webhook %d answered %d while Redis was down: %s", i, rec.Code, rec.Body)
		}
	}
	var stored int64
	db.G.Model(&store.Event{}).Where("shop_domain = ?", shop.Domain).Count(&stored)
	if stored != orders {
		t.Fatalf("%d events stored, want %d", stored, orders)
	}

	rs.Start()
	startWorkers(t, a)
	a.Now = func() time.Time { return testNow.Add(time.Minute) } // past the relay's grace
	eventually(t, "all events processed", func() bool {
		if _, err := a.Relay().Sweep(context.Background()); err != nil {
			return false
		}
		var pending int64
		db.G.Model(&store.Event{}).Where("processed_at IS NULL").Count(&pending)
		return pending == 0
	})
	eventually(t, "all messages sent", func() bool {
		a.Relay().Sweep(context.Background())
		var sent int64
		db.G.Model(&store.Message{}).Where("status = ?", store.MsgSent).Count(&sent)
		return sent == orders
	})
	if got := len(fake.Pushes()); got != orders {
		t.Fatalf("%d pushes, want %d", got, orders)
	}
	seen := map[string]bool{}
	for _, p := range fake.Pushes() {
		if seen[p.RetryKey] {
			t.Fatalf("retry key %s pushed twice", p.RetryKey)
		}
		seen[p.RetryKey] = true
	}
}

// Signed deliveries whose headers or fields PostgreSQL cannot store as
// text (NUL, invalid UTF-8) answer 400, never a 500 that the sender retries
// forever; a refusal kept for inspection is stored. Found by FuzzShopifyDoor
// and FuzzLineDoor's "storable" property (the app's own fuzz targets run on
// SQLite, which takes NUL in text).
func TestWebhookDoorUnstorableText(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
	seedLinkedCustomer(t, a, 7001, "")
	cases := []struct {
		name   string
		req    *http.Request
		stored bool
	}{
		{"topic not UTF-8", webhookRequest("orders/\xff", "u1", []byte(`{"id":1}`), testSecret), false},
		{"webhook id not UTF-8", webhookRequest("orders/create", "u2\xfe", []byte(`{"id":1}`), testSecret), false},
		{"NUL in the payload's shop", webhookRequest("shop/redact", "u3", []byte(`{"shop_domain":"evil\u0000.myshopify.com"}`), testSecret), true},
	}
	lineBody := []byte(`{"destination":"U1","events":[{"type":"follow","webhookEventId":"01H\u0000NUL","timestamp":1,"mode":"active","source":{"type":"user","userId":"U1"}}]}`)
	lineReq := httptest.NewRequest(http.MethodPost, "/webhooks/line/wk-test", bytes.NewReader(lineBody))
	lineReq.Header.Set("Content-Type", "application/json")
	lineReq.Header.Set("X-Line-Signature", lineSign("line-channel-secret", lineBody))
	cases = append(cases, struct {
		name   string
		req    *http.Request
		stored bool
	}{"NUL in a LINE event id", lineReq, false})
	for _, tc := range cases {
		var before int64
		db.G.Model(&store.Event{}).Count(&before)
		rec := deliver(t, a, tc.req)
		var after int64
		db.G.Model(&store.Event{}).Count(&after)
		if rec.Code != http.StatusBadRequest || (after > before) != tc.stored {
			t.Errorf("%s: %d %s, %d event(s) stored; want 400, stored=%v", tc.name, rec.Code, strings.TrimSpace(rec.Body.String()), after-before, tc.stored)
		}
	}
}

// TestShopifyWebhookStoresEachBodyAsSent: the door reads bodies into lent
// buffers, given back when the handler returns; deliveries of every length,
// side by side, each with refused ones in between, are stored byte for byte.
func TestShopifyWebhookStoresEachBodyAsSent(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		body := func(g, i int) []byte {
			// Lengths from a few bytes to past presizeMax, a long one before a short one.
			n := []int{70_000, 3, 15_000, 40, 66_000, 1, 900}[(g+i)%7]
			return []byte(fmt.Sprintf(`{"g":%d,"i":%d,"pad":"%s"}`, g, i, strings.Repeat(string(rune('a'+g)), n)))
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 7 {
					if rec := deliver(t, a, webhookRequest("orders/create", fmt.Sprintf("lent-%d-%d", g, i), body(g, i), testSecret)); rec.Code != 200 {
						t.Errorf("delivery %d/%d: %d %s", g, i, rec.Code, rec.Body)
					}
					if rec := deliver(t, a, webhookRequest("orders/create", "refused", body(g, i), "other-secret")); rec.Code != 401 {
						t.Errorf("unsigned delivery %d/%d: %d", g, i, rec.Code)
					}
				}
			}()
		}
		wg.Wait()
		var events []store.Event
		if err := db.G.Find(&events).Error; err != nil {
			t.Fatal(err)
		}
		if len(events) != 28 {
			t.Fatalf("%d events stored, want 28", len(events))
		}
		for _, e := range events {
			var g, i int
			if _, err := fmt.Sscanf(e.ExternalID, testShop+"|lent-%d-%d", &g, &i); err != nil {
				t.Fatalf("stored %q: %v", e.ExternalID, err)
			}
			if want := body(g, i); !bytes.Equal(e.Payload, want) {
				t.Errorf("%s: stored %d bytes %.40q…, sent %d bytes %.40q…", e.ExternalID, len(e.Payload), e.Payload, len(want), want)
			}
		}
	})
}
