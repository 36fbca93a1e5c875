package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/templates"
)

// noon in Tokyo: outside the default quiet hours.
var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

type fakePush struct {
	To       string
	RetryKey string
	Msgs     []line.Message
}

// fakeLINE records pushes and answers with err (if set) instead.
type fakeLINE struct {
	mu     sync.Mutex
	pushes []fakePush
	err    error
}

func (f *fakeLINE) Push(ctx context.Context, token, to string, msgs []line.Message, retryKey string) (line.SendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return line.SendResult{}, f.err
	}
	f.pushes = append(f.pushes, fakePush{To: to, RetryKey: retryKey, Msgs: msgs})
	return line.SendResult{RequestID: fmt.Sprintf("req-%d", len(f.pushes))}, nil
}

func (f *fakeLINE) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pushes)
}

type env struct {
	t    *testing.T
	ctx  context.Context
	w    *Worker
	line *fakeLINE
	now  time.Time
	shop *store.Shop
	cust *store.Customer
	seq  int
	// redis is the test's Redis database (the queue's).
	redis asynq.RedisClientOpt
}

// newEnv is a worker on a fresh SQLite database and a Redis database, with
// one installed shop (LINE connected) and one linked customer.
func newEnv(t *testing.T) *env { return newEnvOn(t, testenv.SQLite(t)) }

// newEnvOn is newEnv on db, which cases may share: each gets its own shop.
func newEnvOn(t *testing.T, db *store.DB) *env {
	t.Helper()
	ctx := context.Background()
	key, _ := secretbox.ParseKey(secretbox.NewKey())
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	redisOpt := testenv.Redis(t)
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { client.Close() })
	e := &env{t: t, ctx: ctx, line: &fakeLINE{}, now: t0, redis: redisOpt}
	e.w = &Worker{DB: db, Box: box, LINE: e.line, Templates: tpl, Queue: NewQueue(client),
		Now: func() time.Time { return e.now }, BaseURL: "https://app.example", Signer: secretbox.NewSigner(key)}
	if e.w.InstallationID, err = db.InstallationID(ctx); err != nil {
		t.Fatal(err)
	}
	installed := t0.Add(-time.Hour)
	e.shop = &store.Shop{Domain: fmt.Sprintf("rules-%d.myshopify.com", time.Now().UnixNano()), Name: "Rules", InstalledAt: &installed}
	if err := db.CreateShop(ctx, e.shop); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveLineChannel(ctx, &store.LineChannel{ShopID: e.shop.ID, WebhookKey: e.shop.Domain, MessagingTokenEnc: box.Seal("tok")}); err != nil {
		t.Fatal(err)
	}
	e.cust = e.customer(7001, "U00000000000000000000000000000001")
	return e
}

func (e *env) customer(shopifyID int64, lineUser string) *store.Customer {
	c := &store.Customer{ShopID: e.shop.ID, ShopifyID: shopifyID, FirstName: "Hanako", LastName: "Yamada"}
	if err := e.w.DB.UpsertCustomer(e.ctx, c); err != nil {
		e.t.Fatal(err)
	}
	if lineUser != "" {
		if err := e.w.DB.CreateLink(e.ctx, &store.LineLink{ShopID: e.shop.ID, CustomerID: c.ID, LineUserID: lineUser, Friend: true, LinkedAt: t0}); err != nil {
			e.t.Fatal(err)
		}
	}
	return c
}

// settings changes the shop's settings.
func (e *env) settings(fn func(s *store.Settings)) {
	fn(&e.shop.Settings)
	if err := e.w.DB.SaveShopSettings(e.ctx, e.shop.ID, e.shop.Settings); err != nil {
		e.t.Fatal(err)
	}
}

// event stores and processes one Shopify webhook.
func (e *env) event(topic, body string) error {
	e.seq++
	ev := &store.Event{Source: "shopify", Topic: topic, ExternalID: fmt.Sprintf("%s-%d", e.t.Name(), e.seq), ShopDomain: e.shop.Domain, Payload: []byte(body)}
	if _, err := e.w.DB.InsertEvent(e.ctx, ev); err != nil {
		e.t.Fatal(err)
	}
	if err := e.w.ProcessEvent(e.ctx, ev.ID); err != nil {
		return err
	}
	got, _ := e.w.DB.Event(e.ctx, ev.ID)
	if got.Status != store.EventProcessed {
		return fmt.Errorf("event %s: %s", got.Status, got.Error)
	}
	return nil
}

func (e *env) mustEvent(topic, body string) {
	e.t.Helper()
	if err := e.event(topic, body); err != nil {
		e.t.Fatal(err)
	}
}

func orderJSON(id, customer int64, extra string) string {
	return fmt.Sprintf(`{"id": %d, "name": "#%d", "currency": "JPY", "total_price": "5700", "financial_status": "paid",
		"line_items": [{"id": 1, "title": "ほうじ茶", "quantity": 2, "price": "1200"}],
		"customer": {"id": %d, "first_name": "Hanako", "last_name": "Yamada"}%s}`, id, id%10000, customer, extra)
}

func (e *env) messages() map[string]store.Message {
	var ms []store.Message
	e.w.DB.G.Where("shop_id = ?", e.shop.ID).Order("id").Find(&ms)
	out := map[string]store.Message{}
	for _, m := range ms {
		out[m.DedupeKey] = m
	}
	return out
}

func (e *env) msg(key string) store.Message {
	e.t.Helper()
	m, err := e.w.DB.MessageByKey(e.ctx, key)
	if err != nil {
		e.t.Fatalf("message %s: %v", key, err)
	}
	return *m
}

// sendAt runs the send task of the message with key at time at.
func (e *env) sendAt(key string, at time.Time) (store.Message, error) {
	e.t.Helper()
	e.now = at
	m := e.msg(key)
	err := e.w.SendMessage(e.ctx, m.ID)
	return e.msg(key), err
}

func TestPlanOrderJourneys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustEvent(shopify.TopicOrdersCreate, orderJSON(501, 7001, ""))
	sid, cid := e.shop.ID, e.cust.ID
	want := map[string]time.Time{
		fmt.Sprintf("thank_you/s%d/o501/c%d", sid, cid):    t0,
		fmt.Sprintf("follow_up_3/s%d/o501/c%d", sid, cid):  t0.Add(3 * 24 * time.Hour),
		fmt.Sprintf("follow_up_7/s%d/o501/c%d", sid, cid):  t0.Add(7 * 24 * time.Hour),
		fmt.Sprintf("follow_up_30/s%d/o501/c%d", sid, cid): t0.Add(30 * 24 * time.Hour),
	}
	got := e.messages()
	if len(got) != len(want) {
		t.Fatalf("%d messages planned, want %d: %v", len(got), len(want), got)
	}
	for k, at := range want {
		m, ok := got[k]
		if !ok || m.Status != store.MsgQueued || !m.ScheduledFor.Equal(at) {
			t.Errorf("%s = %+v, want queued at %v", k, m, at)
		}
	}
	// The same order again (redelivery, orders/paid, orders/updated) plans nothing new.
	e.mustEvent(shopify.TopicOrdersCreate, orderJSON(501, 7001, ""))
	e.mustEvent(shopify.TopicOrdersPaid, orderJSON(501, 7001, ""))
	e.mustEvent(shopify.TopicOrdersUpdated, orderJSON(501, 7001, ""))
	if n := len(e.messages()); n != 4 {
		t.Fatalf("%d messages after redelivery, want 4", n)
	}
}

func TestPlanRules(t *testing.T) {
	t.Parallel()
	type check struct {
		key    string // with %d for shop and customer ids
		status string // "" means absent
		reason string
		at     time.Duration // from t0, for queued
	}
	cases := []struct {
		name   string
		events func(e *env) error
		checks []check
	}{
		{"thank-you on orders/paid when set", func(e *env) error {
			e.settings(func(s *store.Settings) { s.ThankYouTrigger = "orders/paid" })
			e.mustEvent(shopify.TopicOrdersCreate, orderJSON(601, 7001, ""))
			if n := len(e.messages()); n != 3 {
				return fmt.Errorf("%d messages after orders/create, want 3 follow-ups only", n)
			}
			return e.event(shopify.TopicOrdersPaid, orderJSON(601, 7001, ""))
		}, []check{{"thank_you/s%d/o601/c%d", store.MsgQueued, "", 0}}},
		{"cart reminder after 60 minutes", func(e *env) error {
			return e.event(shopify.TopicCheckoutsCreate, checkoutJSON("tokA", "cartA", 7001))
		}, []check{
			{"cart_reminder/s%d/ktokA/c%d", store.MsgQueued, "", time.Hour},
			{"cart_reminder_2/s%d/ktokA/c%d", "", "", 0},
		}},
		{"second reminder when switched on, delays per setting", func(e *env) error {
			on := true
			e.settings(func(s *store.Settings) {
				s.Journeys = map[string]store.JourneySetting{KindCartReminder: {DelayMinutes: 30}, KindCartReminder2: {Enabled: &on}}
			})
			return e.event(shopify.TopicCheckoutsUpdate, checkoutJSON("tokB", "cartB", 7001))
		}, []check{
			{"cart_reminder/s%d/ktokB/c%d", store.MsgQueued, "", 30 * time.Minute},
			{"cart_reminder_2/s%d/ktokB/c%d", store.MsgQueued, "", 24 * time.Hour},
		}},
		{"checkout activity pushes the reminder back", func(e *env) error {
			e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tokP", "cartP", 7001))
			e.now = t0.Add(30 * time.Minute)
			return e.event(shopify.TopicCheckoutsUpdate, checkoutJSON("tokP", "cartP", 7001))
		}, []check{{"cart_reminder/s%d/ktokP/c%d", store.MsgQueued, "", 90 * time.Minute}}},
		{"checkout of unknown customer plans nothing", func(e *env) error {
			return e.event(shopify.TopicCheckoutsCreate, strings.Replace(checkoutJSON("tokC", "cartC", 7001), `"customer": {"id": 7001}`, `"customer": null`, 1))
		}, []check{{"cart_reminder/s%d/ktokC/c%d", "", "", 0}}},
		{"order for the checkout cancels the reminder", func(e *env) error {
			e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tokD", "cartD", 7001))
			return e.event(shopify.TopicOrdersCreate, orderJSON(602, 7001, `, "checkout_token": "tokD"`))
		}, []check{{"cart_reminder/s%d/ktokD/c%d", store.MsgCancelled, ReasonOrderPlaced, 0}}},
		{"order by cart token cancels the reminder", func(e *env) error {
			e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tokE", "cartE", 7001))
			return e.event(shopify.TopicOrdersCreate, orderJSON(603, 0, `, "cart_token": "cartE"`))
		}, []check{{"cart_reminder/s%d/ktokE/c%d", store.MsgCancelled, ReasonOrderPlaced, 0}}},
		{"checkout arriving after its order plans nothing", func(e *env) error {
			e.mustEvent(shopify.TopicOrdersCreate, orderJSON(604, 7001, `, "checkout_token": "tokF"`))
			return e.event(shopify.TopicCheckoutsUpdate, checkoutJSON("tokF", "cartF", 7001))
		}, []check{{"cart_reminder/s%d/ktokF/c%d", "", "", 0}}},
		{"completed checkout plans nothing", func(e *env) error {
			return e.event(shopify.TopicCheckoutsUpdate, strings.Replace(checkoutJSON("tokG", "cartG", 7001), `"completed_at": null`, `"completed_at": "2026-11-25T03:00:00Z"`, 1))
		}, []check{{"cart_reminder/s%d/ktokG/c%d", "", "", 0}}},
		{"shipping on fulfillment with tracking, once per number", func(e *env) error {
			e.mustEvent(shopify.TopicOrdersCreate, orderJSON(605, 7001, ""))
			e.mustEvent(shopify.TopicFulfillmentsCreate, fulfillmentJSON(91, 605, "", ""))
			e.mustEvent(shopify.TopicFulfillmentsUpdate, fulfillmentJSON(91, 605, "YT123", "https://track.example/YT123"))
			e.mustEvent(shopify.TopicFulfillmentsUpdate, fulfillmentJSON(91, 605, "YT123", "https://track.example/YT123"))
			return e.event(shopify.TopicFulfillmentsUpdate, fulfillmentJSON(91, 605, "YT999", ""))
		}, []check{
			{"shipping/s%d/f91/tYT123/c%d", store.MsgQueued, "", 0},
			{"shipping/s%d/f91/tYT999/c%d", store.MsgQueued, "", 0},
		}},
		{"cancelled order cancels follow-ups", func(e *env) error {
			e.mustEvent(shopify.TopicOrdersCreate, orderJSON(606, 7001, ""))
			return e.event(shopify.TopicOrdersCancelled, orderJSON(606, 7001, `, "cancelled_at": "2026-11-25T04:00:00Z"`))
		}, []check{
			{"follow_up_3/s%d/o606/c%d", store.MsgCancelled, ReasonOrderVoid, 0},
			{"follow_up_30/s%d/o606/c%d", store.MsgCancelled, ReasonOrderVoid, 0},
		}},
		{"refund cancels follow-ups", func(e *env) error {
			e.mustEvent(shopify.TopicOrdersCreate, orderJSON(607, 7001, ""))
			return e.event(shopify.TopicOrdersUpdated, strings.Replace(orderJSON(607, 7001, ""), `"paid"`, `"refunded"`, 1))
		}, []check{{"follow_up_7/s%d/o607/c%d", store.MsgCancelled, ReasonOrderVoid, 0}}},
		{"newer order restarts the sequence", func(e *env) error {
			e.mustEvent(shopify.TopicOrdersCreate, orderJSON(608, 7001, `, "created_at": "2026-11-20T03:00:00Z"`))
			return e.event(shopify.TopicOrdersCreate, orderJSON(609, 7001, `, "created_at": "2026-11-25T03:00:00Z"`))
		}, []check{
			{"follow_up_7/s%d/o608/c%d", store.MsgCancelled, ReasonNewerOrder, 0},
			{"follow_up_7/s%d/o609/c%d", store.MsgQueued, "", 7 * 24 * time.Hour},
		}},
		{"older order arriving late does not cancel the newer one's", func(e *env) error {
			e.mustEvent(shopify.TopicOrdersCreate, orderJSON(611, 7001, `, "created_at": "2026-11-25T03:00:00Z"`))
			return e.event(shopify.TopicOrdersCreate, orderJSON(610, 7001, `, "created_at": "2026-11-20T03:00:00Z"`))
		}, []check{{"follow_up_7/s%d/o611/c%d", store.MsgQueued, "", 7 * 24 * time.Hour}}},
		{"newer order keeps the sequence when restart is off", func(e *env) error {
			off := false
			e.settings(func(s *store.Settings) { s.RestartFollowUps = &off })
			e.mustEvent(shopify.TopicOrdersCreate, orderJSON(612, 7001, `, "created_at": "2026-11-20T03:00:00Z"`))
			return e.event(shopify.TopicOrdersCreate, orderJSON(613, 7001, `, "created_at": "2026-11-25T03:00:00Z"`))
		}, []check{{"follow_up_7/s%d/o612/c%d", store.MsgQueued, "", 7 * 24 * time.Hour}}},
		{"cancel delivered before create: nothing planned", func(e *env) error {
			e.mustEvent(shopify.TopicOrdersCancelled, orderJSON(615, 7001, `, "cancelled_at": "2026-11-25T04:00:00Z"`))
			return e.event(shopify.TopicOrdersCreate, orderJSON(615, 7001, ""))
		}, []check{
			{"thank_you/s%d/o615/c%d", "", "", 0},
			{"follow_up_3/s%d/o615/c%d", "", "", 0},
		}},
		{"journey switched off is recorded as skipped", func(e *env) error {
			off := false
			e.settings(func(s *store.Settings) { s.Journeys = map[string]store.JourneySetting{KindFollowUp7: {Enabled: &off}} })
			return e.event(shopify.TopicOrdersCreate, orderJSON(614, 7001, ""))
		}, []check{{"follow_up_7/s%d/o614/c%d", store.MsgSkipped, ReasonJourneyOff, 0}}},
	}
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnvOn(t, db)
				if err := tc.events(e); err != nil {
					t.Fatal(err)
				}
				got := e.messages()
				for _, c := range tc.checks {
					key := fmt.Sprintf(c.key, e.shop.ID, e.cust.ID)
					m, ok := got[key]
					if c.status == "" {
						if ok {
							t.Errorf("%s planned (%s), want none", key, m.Status)
						}
						continue
					}
					if !ok {
						t.Errorf("%s not planned; have %v", key, keys(got))
						continue
					}
					if m.Status != c.status || m.Reason != c.reason {
						t.Errorf("%s = %s/%s, want %s/%s", key, m.Status, m.Reason, c.status, c.reason)
					}
					if c.status == store.MsgQueued && !m.ScheduledFor.Equal(t0.Add(c.at)) {
						t.Errorf("%s scheduled %v, want %v", key, m.ScheduledFor, t0.Add(c.at))
					}
				}
			})
		}
	})
}

func TestFulfillmentBeforeOrderRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	err := e.event(shopify.TopicFulfillmentsCreate, fulfillmentJSON(92, 700, "YT1", ""))
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err = %v, want a retryable not-found", err)
	}
}

func keys(m map[string]store.Message) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v.Status)
	}
	return out
}

func checkoutJSON(token, cart string, customer int64) string {
	return fmt.Sprintf(`{"token": %q, "cart_token": %q, "currency": "JPY", "total_price": "3300", "completed_at": null,
		"abandoned_checkout_url": "https://shop.example/checkouts/%s/recover?key=k",
		"line_items": [{"title": "湯呑み", "quantity": 1, "price": "3300"}], "customer": {"id": %d}}`, token, cart, token, customer)
}

func fulfillmentJSON(id, order int64, number, url string) string {
	return fmt.Sprintf(`{"id": %d, "order_id": %d, "status": "success", "tracking_company": "Yamato", "tracking_number": %q, "tracking_url": %q}`, id, order, number, url)
}

// The rules checked right before a send, one case each.
func TestSendRules(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	cases := []struct {
		name   string
		setup  func(e *env) (key string) // plans a message and changes the world
		at     time.Duration             // send time after t0
		status string
		reason string
		pushes int
		next   time.Time // for a deferred message
		err    bool      // the task returns an error (Asynq retries)
	}{
		{"thank-you is sent", func(e *env) string { return e.order(701) }, 0, store.MsgSent, "", 1, time.Time{}, false},
		{"follow-up is sent on day 3", func(e *env) string { e.order(702); return e.key(KindFollowUp3, "o702") }, 3 * day, store.MsgSent, "", 1, time.Time{}, false},
		{"shop uninstalled", func(e *env) string {
			k := e.order(703)
			e.w.DB.MarkShopUninstalled(e.ctx, e.shop.ID, t0)
			return k
		}, 0, store.MsgSkipped, ReasonShopUninstalled, 0, time.Time{}, false},
		{"customer redacted", func(e *env) string {
			k := e.order(704)
			e.w.DB.G.Model(&store.Customer{}).Where("id = ?", e.cust.ID).Update("redacted_at", t0)
			return k
		}, 0, store.MsgSkipped, ReasonRedacted, 0, time.Time{}, false},
		{"unlinked after planning", func(e *env) string {
			k := e.order(705)
			e.w.DB.G.Model(&store.LineLink{}).Where("customer_id = ?", e.cust.ID).Update("unlinked_at", t0)
			return k
		}, 0, store.MsgSkipped, ReasonUnlinked, 0, time.Time{}, false},
		{"blocked the bot", func(e *env) string {
			k := e.order(706)
			e.w.DB.G.Model(&store.LineLink{}).Where("customer_id = ?", e.cust.ID).Update("blocked", true)
			return k
		}, 0, store.MsgSkipped, ReasonBlocked, 0, time.Time{}, false},
		{"linked but never added the bot", func(e *env) string {
			k := e.order(799)
			e.w.DB.G.Model(&store.LineLink{}).Where("customer_id = ?", e.cust.ID).Update("friend", false)
			return k
		}, 0, store.MsgSkipped, ReasonNotFriend, 0, time.Time{}, false},
		{"journey switched off after planning", func(e *env) string {
			e.order(707)
			off := false
			e.settings(func(s *store.Settings) { s.Journeys = map[string]store.JourneySetting{KindFollowUp3: {Enabled: &off}} })
			return e.key(KindFollowUp3, "o707")
		}, 3 * day, store.MsgSkipped, ReasonJourneyOff, 0, time.Time{}, false},
		{"LINE disconnected", func(e *env) string {
			k := e.order(708)
			e.w.DB.G.Where("shop_id = ?", e.shop.ID).Delete(&store.LineChannel{})
			return k
		}, 0, store.MsgSkipped, ReasonNoChannel, 0, time.Time{}, false},
		{"channel token sealed under another secret key", func(e *env) string {
			k := e.order(726)
			key, _ := secretbox.ParseKey(secretbox.NewKey())
			other, _ := secretbox.New(key)
			e.w.DB.G.Model(&store.LineChannel{}).Where("shop_id = ?", e.shop.ID).Update("messaging_token_enc", other.Seal("token"))
			return k
		}, 0, store.MsgSkipped, ReasonSecretKey, 0, time.Time{}, false},
		{"order cancelled (state only, as if the cancel raced the plan)", func(e *env) string {
			e.order(709)
			e.w.DB.G.Model(&store.Order{}).Where("shop_id = ? AND shopify_id = ?", e.shop.ID, 709).Update("cancelled_at", t0)
			return e.key(KindFollowUp7, "o709")
		}, 7 * day, store.MsgSkipped, ReasonOrderVoid, 0, time.Time{}, false},
		{"thank-you for an order cancelled before it went out", func(e *env) string {
			k := e.order(725)
			e.w.DB.G.Model(&store.Order{}).Where("shop_id = ? AND shopify_id = ?", e.shop.ID, 725).Update("cancelled_at", t0)
			return k
		}, 0, store.MsgSkipped, ReasonOrderVoid, 0, time.Time{}, false},
		{"order refunded", func(e *env) string {
			e.order(710)
			e.w.DB.G.Model(&store.Order{}).Where("shop_id = ? AND shopify_id = ?", e.shop.ID, 710).Update("financial_status", "refunded")
			return e.key(KindFollowUp30, "o710")
		}, 30 * day, store.MsgSkipped, ReasonOrderVoid, 0, time.Time{}, false},
		{"partially refunded order still gets follow-ups", func(e *env) string {
			e.order(711)
			e.w.DB.G.Model(&store.Order{}).Where("shop_id = ? AND shopify_id = ?", e.shop.ID, 711).Update("financial_status", "partially_refunded")
			return e.key(KindFollowUp3, "o711")
		}, 3 * day, store.MsgSent, "", 1, time.Time{}, false},
		{"newer order (state only) restarts the sequence", func(e *env) string {
			e.order(712)
			o := &store.Order{ShopID: e.shop.ID, ShopifyID: 713, CustomerID: &e.cust.ID, OrderedAt: t0.Add(day)}
			e.w.DB.UpsertOrder(e.ctx, o)
			return e.key(KindFollowUp3, "o712")
		}, 3 * day, store.MsgSkipped, ReasonNewerOrder, 0, time.Time{}, false},
		{"checkout completed (state only) skips the reminder", func(e *env) string {
			e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tk1", "ct1", 7001))
			o := &store.Order{ShopID: e.shop.ID, ShopifyID: 714, CartToken: "ct1", OrderedAt: t0}
			e.w.DB.UpsertOrder(e.ctx, o)
			return e.key(KindCartReminder, "ktk1")
		}, time.Hour, store.MsgSkipped, ReasonOrderPlaced, 0, time.Time{}, false},
		{"cart reminder is sent", func(e *env) string {
			e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tk2", "ct2", 7001))
			return e.key(KindCartReminder, "ktk2")
		}, time.Hour, store.MsgSent, "", 1, time.Time{}, false},
		{"cancelled fulfillment skips the shipping notice", func(e *env) string {
			e.order(715)
			e.mustEvent(shopify.TopicFulfillmentsCreate, fulfillmentJSON(93, 715, "YT1", ""))
			e.w.DB.G.Model(&store.Fulfillment{}).Where("shop_id = ? AND shopify_id = ?", e.shop.ID, 93).Update("status", "cancelled")
			return e.key(KindShipping, "f93/tYT1")
		}, 0, store.MsgSkipped, ReasonFulfillmentCancelled, 0, time.Time{}, false},
		{"quiet hours defer to 09:00 Tokyo", func(e *env) string { return e.order(716) },
			13*time.Hour + 30*time.Minute, store.MsgQueued, "", 0, time.Date(2026, 11, 26, 9, 0, 0, 0, tokyo), false},
		{"quiet hours in the shop's own time zone", func(e *env) string {
			e.w.DB.G.Model(&store.Shop{}).Where("id = ?", e.shop.ID).Update("timezone", "America/New_York")
			return e.order(717) // 03:00 UTC is 22:00 in New York
		}, 0, store.MsgQueued, "", 0, time.Date(2026, 11, 25, 9, 0, 0, 0, mustLoc("America/New_York")), false},
		{"custom quiet window", func(e *env) string {
			e.settings(func(s *store.Settings) { s.QuietStart, s.QuietEnd = "11:00", "13:00" })
			return e.order(718) // noon Tokyo
		}, 0, store.MsgQueued, "", 0, time.Date(2026, 11, 25, 13, 0, 0, 0, tokyo), false},
		{"frequency cap defers marketing to tomorrow, after quiet hours", func(e *env) string {
			e.sentToday(2)
			e.order(719)
			return e.key(KindFollowUp3, "o719")
		}, 3 * day, store.MsgQueued, "", 0, time.Date(2026, 11, 29, 9, 0, 0, 0, tokyo), false},
		{"a cart reminder the cap would push past its deadline is skipped, not sent late", func(e *env) string {
			e.sentOn(t0, 2)
			e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tk3", "ct3", 7001))
			return e.key(KindCartReminder, "ktk3")
		}, time.Hour, store.MsgSkipped, core.ReasonExpiredUnderCap, 0, time.Time{}, false},
		{"a cart reminder due today holds the last slot against a follow-up", func(e *env) string {
			e.sentToday(1)
			e.order(727)
			e.reminderDue(t0.Add(3*day+2*time.Hour), "ct4")
			return e.key(KindFollowUp3, "o727")
		}, 3 * day, store.MsgQueued, "", 0, time.Date(2026, 11, 29, 9, 0, 0, 0, tokyo), false},
		{"a follow-up due today does not hold a slot against a cart reminder", func(e *env) string {
			e.sentOn(t0, 1)
			e.followUpDue(t0.Add(3 * time.Hour))
			e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tk5", "ct5", 7001))
			return e.key(KindCartReminder, "ktk5")
		}, time.Hour, store.MsgSent, "", 1, time.Time{}, false},
		{"frequency cap under the limit", func(e *env) string {
			e.sentToday(1)
			e.order(720)
			return e.key(KindFollowUp3, "o720")
		}, 3 * day, store.MsgSent, "", 1, time.Time{}, false},
		{"transactional messages are exempt from the cap", func(e *env) string {
			e.sentToday(5)
			return e.order(721)
		}, 0, store.MsgSent, "", 1, time.Time{}, false},
		{"LINE refuses (400): failed with LINE's message", func(e *env) string {
			e.line.err = &line.APIError{Status: 400, Message: "The request body has 1 error(s)", Details: []string{"messages[0].text: May not be empty"}}
			return e.order(722)
		}, 0, store.MsgFailed, "LINE 400: The request body has 1 error(s) (messages[0].text: May not be empty)", 0, time.Time{}, false},
		{"LINE rate limited (429): queued again on the retry schedule", func(e *env) string {
			e.line.err = &line.APIError{Status: http.StatusTooManyRequests, Message: "Too Many Requests", RetryAfter: time.Second}
			return e.order(723)
		}, 0, store.MsgQueued, "retrying: LINE 429: Too Many Requests", 0, t0.Add(30 * time.Second), false},
		{"LINE rate limited with a long Retry-After: not sooner", func(e *env) string {
			e.line.err = &line.APIError{Status: http.StatusTooManyRequests, Message: "Too Many Requests", RetryAfter: 5 * time.Minute}
			return e.order(725)
		}, 0, store.MsgQueued, "retrying: LINE 429: Too Many Requests", 0, t0.Add(5 * time.Minute), false},
		{"LINE down (503): queued again on the retry schedule", func(e *env) string {
			e.line.err = &line.APIError{Status: 503, Message: "Service Unavailable"}
			return e.order(724)
		}, 0, store.MsgQueued, "retrying: LINE 503: Service Unavailable", 0, t0.Add(30 * time.Second), false},
		{"past its deadline: skipped, not sent late", func(e *env) string {
			return e.order(726)
		}, 25 * time.Hour, store.MsgSkipped, "expired", 0, time.Time{}, false},
	}
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnvOn(t, db)
				key := tc.setup(e)
				m, err := e.sendAt(key, t0.Add(tc.at))
				if (err != nil) != tc.err {
					t.Fatalf("SendMessage error = %v, want error: %v", err, tc.err)
				}
				if m.Status != tc.status || m.Reason != tc.reason {
					t.Fatalf("message = %s/%q, want %s/%q", m.Status, m.Reason, tc.status, tc.reason)
				}
				if n := e.line.count(); n != tc.pushes {
					t.Fatalf("%d pushes, want %d", n, tc.pushes)
				}
				if !tc.next.IsZero() && !m.ScheduledFor.Equal(tc.next) {
					t.Fatalf("deferred to %v, want %v", m.ScheduledFor.In(tc.next.Location()), tc.next)
				}
				if tc.pushes == 1 {
					p := e.line.pushes[0]
					if p.To != "U00000000000000000000000000000001" || p.RetryKey != e.w.retryKey(key, 0) {
						t.Fatalf("push to %s with retry key %s", p.To, p.RetryKey)
					}
					// A second run of the same task never sends again.
					if err := e.w.SendMessage(e.ctx, m.ID); err != nil || e.line.count() != 1 {
						t.Fatalf("resend: err %v, %d pushes", err, e.line.count())
					}
				}
			})
		}
	})
}

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// order delivers orders/create for shopifyID and returns the thank-you key.
func (e *env) order(shopifyID int64) string {
	e.t.Helper()
	e.mustEvent(shopify.TopicOrdersCreate, orderJSON(shopifyID, 7001, ""))
	return e.key(KindThankYou, fmt.Sprintf("o%d", shopifyID))
}

func (e *env) key(kind, ref string) string {
	return fmt.Sprintf("%s/s%d/%s/c%d", kind, e.shop.ID, ref, e.cust.ID)
}

// sentToday records n marketing messages sent to the customer on the send
// day of the cap cases (t0 + 3 days).
func (e *env) sentToday(n int) {
	for i := 0; i < n; i++ {
		sent := t0.Add(3*24*time.Hour - time.Duration(i+1)*time.Minute)
		m := &store.Message{ShopID: e.shop.ID, CustomerID: &e.cust.ID, Kind: "campaign", DedupeKey: fmt.Sprintf("campaign/s%d/%d", e.shop.ID, i),
			ScheduledFor: sent, Status: store.MsgSent, SentAt: &sent}
		if _, err := e.w.DB.PlanMessage(e.ctx, m); err != nil {
			e.t.Fatal(err)
		}
	}
}

// sentOn records n marketing messages sent to the customer in the hour before day.
func (e *env) sentOn(day time.Time, n int) {
	for i := 0; i < n; i++ {
		sent := day.Add(-time.Duration(i+1) * time.Minute)
		m := &store.Message{ShopID: e.shop.ID, CustomerID: &e.cust.ID, Kind: "campaign", DedupeKey: fmt.Sprintf("campaign-on/s%d/%d", e.shop.ID, i),
			ScheduledFor: sent, Status: store.MsgSent, SentAt: &sent}
		if _, err := e.w.DB.PlanMessage(e.ctx, m); err != nil {
			e.t.Fatal(err)
		}
	}
}

// queuedFor plans a queued message of kind to the customer at at.
func (e *env) queuedFor(kind, ref string, at time.Time) {
	expires := core.MessageDeadline(kind, at)
	m := &store.Message{ShopID: e.shop.ID, CustomerID: &e.cust.ID, Kind: kind, DedupeKey: e.key(kind, ref),
		RefType: "customer", RefID: e.cust.ID, ScheduledFor: at, ExpiresAt: &expires}
	if _, err := e.w.DB.PlanMessage(e.ctx, m); err != nil {
		e.t.Fatal(err)
	}
}

// reminderDue plans a cart reminder to the customer at at.
func (e *env) reminderDue(at time.Time, ref string) { e.queuedFor(KindCartReminder, "k"+ref, at) }

// followUpDue plans a follow-up to the customer at at.
func (e *env) followUpDue(at time.Time) { e.queuedFor(KindFollowUp7, "o-due", at) }

// The message's links go through click tracking with a signed token that
// names the message and the target.
func TestSentLinksAreTracked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustEvent(shopify.TopicCheckoutsCreate, checkoutJSON("tk9", "ct9", 7001))
	m, err := e.sendAt(e.key(KindCartReminder, "ktk9"), t0.Add(time.Hour))
	if err != nil || m.Status != store.MsgSent {
		t.Fatalf("send: %v %s %s", err, m.Status, m.Reason)
	}
	body := string(e.line.pushes[0].Msgs[1])
	i := strings.Index(body, "https://app.example/c/")
	if i < 0 {
		t.Fatalf("no tracked link in %s", body)
	}
	token := strings.Trim(strings.SplitN(body[i+len("https://app.example/c/"):], `"`, 2)[0], " ")
	c, err := core.ParseClickToken(e.w.Signer, token, t0)
	if err != nil {
		t.Fatal(err)
	}
	if c.MessageID != m.ID || c.Kind != KindCartReminder || c.Target != "https://shop.example/checkouts/tk9/recover?key=k" {
		t.Fatalf("click = %+v", c)
	}
	if !strings.Contains(string(e.line.pushes[0].Msgs[1]), `"altText"`) {
		t.Fatalf("second message is not the Flex card")
	}
	var stored []json.RawMessage
	if err := json.Unmarshal([]byte(m.Content), &stored); err != nil || len(stored) != 2 {
		t.Fatalf("stored content: %v %s", err, m.Content)
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	rate := &line.APIError{Status: 429, RetryAfter: 30 * time.Second}
	cases := []struct {
		n        int
		err      error
		min, max time.Duration
	}{
		{0, errors.New("x"), 2 * time.Second, 3 * time.Second},
		{1, errors.New("x"), 4 * time.Second, 6 * time.Second},
		{3, errors.New("x"), 16 * time.Second, 24 * time.Second},
		{20, errors.New("x"), 10 * time.Minute, 15 * time.Minute},
		{0, rate, 30 * time.Second, 45 * time.Second},
		{6, rate, 128 * time.Second, 192 * time.Second},
	}
	for _, tc := range cases {
		seen := map[time.Duration]bool{}
		for i := 0; i < 50; i++ {
			d := RetryDelay(tc.n, tc.err, nil)
			if d < tc.min || d > tc.max {
				t.Fatalf("RetryDelay(%d, %v) = %v, want within [%v, %v]", tc.n, tc.err, d, tc.min, tc.max)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("RetryDelay(%d) has no jitter", tc.n)
		}
	}
}

func TestDedupeKeys(t *testing.T) {
	t.Parallel()
	cases := []struct{ got, want string }{
		{FollowUpKey(KindFollowUp7, 1, 555, 9), "follow_up_7/s1/o555/c9"},
		{CartReminderKey(KindCartReminder, 1, "abc123", 9), "cart_reminder/s1/kabc123/c9"},
		{ShippingKey(1, 77, "1Z-99", "", 9), "shipping/s1/f77/t1Z-99/c9"},
		{ShippingKey(1, 77, "", "https://t.example/x", 9), ShippingKey(1, 77, "", "https://t.example/x", 9)},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("key %s, want %s", tc.got, tc.want)
		}
	}
	if a, b := ShippingKey(1, 77, "", "https://t.example/x", 9), ShippingKey(1, 77, "", "https://t.example/y", 9); a == b || strings.Contains(a, "://") {
		t.Errorf("URL-only keys %s %s should differ and be hashed", a, b)
	}
}

// The day-30 nudge reminds the customer of a coupon they still hold.
func TestFollowUp30RemindsCoupon(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	issued, expires := t0, t0.Add(40*24*time.Hour)
	if err := e.w.DB.G.Create(&store.Coupon{ShopID: e.shop.ID, CustomerID: &e.cust.ID, Campaign: "link", Code: "LINE-ABCD-1234",
		Status: "issued", IssuedAt: &issued, ExpiresAt: &expires, CreatedAt: t0, UpdatedAt: t0}).Error; err != nil {
		t.Fatal(err)
	}
	e.order(901)
	m, err := e.sendAt(e.key(KindFollowUp30, "o901"), t0.Add(30*24*time.Hour))
	if err != nil || m.Status != store.MsgSent {
		t.Fatalf("send: %v %s %s", err, m.Status, m.Reason)
	}
	if !strings.Contains(m.Content, "LINE-ABCD-1234") || !strings.Contains(m.Content, "2027年1月4日") {
		t.Fatalf("no coupon reminder in %s", m.Content)
	}
}

// Workers sending to one customer at once cannot slip past the daily cap
// together: exactly the cap goes out, the rest waits for tomorrow.
func TestDailyCapHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e := newEnvOn(t, db)
		var ids []int64
		for i := range 6 {
			m := &store.Message{ShopID: e.shop.ID, CustomerID: &e.cust.ID, Kind: KindWinBack, RefType: "customer", RefID: e.cust.ID,
				DedupeKey: fmt.Sprintf("cap-race/s%d/%d", e.shop.ID, i), ScheduledFor: e.now}
			if _, err := db.PlanMessage(e.ctx, m); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(ids))
		for _, id := range ids {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- e.w.SendMessage(e.ctx, id) }()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := e.line.count(); n != store.DefaultDailyCap {
			t.Fatalf("%d pushes, want the daily cap %d", n, store.DefaultDailyCap)
		}
		var waiting int64
		db.G.Model(&store.Message{}).Where("customer_id = ? AND status = ? AND scheduled_for > ?", e.cust.ID, store.MsgQueued, e.now).Count(&waiting)
		if waiting != int64(len(ids)-store.DefaultDailyCap) {
			t.Errorf("%d messages moved to tomorrow, want %d", waiting, len(ids)-store.DefaultDailyCap)
		}
	})
}
