package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// answerLost pushes for real, then reports a dropped connection: LINE took
// the message, the worker never heard.
type answerLost struct{ jobs.Pusher }

func (l answerLost) Push(ctx context.Context, token, to string, msgs []line.Message, key string) (line.SendResult, error) {
	if _, err := l.Pusher.Push(ctx, token, to, msgs, key); err != nil {
		return line.SendResult{}, err
	}
	return line.SendResult{}, errors.New("reading LINE's answer: connection reset")
}

type resendEnv struct {
	a    *App
	fake *linetest.Server
	clk  *clock
	w    *jobs.Worker
	shop *store.Shop
}

func newResendEnv(t *testing.T) *resendEnv {
	t.Helper()
	fake := linetest.NewServer(t)
	fake.AddToken(testLINEToken)
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	clk := &clock{}
	clk.Set(testNow)
	a.Now = clk.Now
	shop, _ := seedLinkedCustomer(t, a, 501, uid("resend"))
	return &resendEnv{a: a, fake: fake, clk: clk, w: a.Worker(), shop: shop}
}

// thankYou delivers an order webhook, applies it and returns the planned
// thank-you.
func (e *resendEnv) thankYou(t *testing.T, orderID int64) *store.Message {
	t.Helper()
	ctx := context.Background()
	body := fmt.Sprintf(`{"id": %d, "name": "#%d", "currency": "JPY", "total_price": "4800", "financial_status": "paid",
		"line_items": [{"id": 1, "title": "ほうじ茶", "quantity": 2, "price": "2400"}], "customer": {"id": 501, "first_name": "花子"}}`, orderID, orderID)
	if rec := deliver(t, e.a, webhookRequest("orders/create", fmt.Sprint("o", orderID), []byte(body), testSecret)); rec.Code != http.StatusOK {
		t.Fatalf("webhook: %d %s", rec.Code, rec.Body)
	}
	ids, err := e.a.DB.PendingEventIDs(ctx, e.clk.Now().Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := e.w.ProcessEvent(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	var m store.Message
	if err := e.a.DB.G.Where("shop_id = ? AND kind = ? AND ref_type = ?", e.shop.ID, jobs.KindThankYou, "order").Order("id DESC").Take(&m).Error; err != nil {
		t.Fatal(err)
	}
	return &m
}

func (e *resendEnv) send(t *testing.T, id int64) *store.Message {
	t.Helper()
	ctx := context.Background()
	if err := e.w.SendMessage(ctx, id); err != nil {
		t.Fatal(err)
	}
	m, err := e.a.DB.Message(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// call is an admin request (Shopify staff) signed on the env's clock.
func (e *resendEnv) call(t *testing.T, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.AddCookie(&http.Cookie{Name: adminCookie, Value: e.a.Signer.Sign(adminPurpose, []byte(testShop+"|staff-1"), e.clk.Now().Add(time.Hour))})
	return deliver(t, e.a, req)
}

func (e *resendEnv) resend(t *testing.T, id int64) (int, map[string]any) {
	t.Helper()
	rec := e.call(t, http.MethodPost, "/api/messages/"+strconv.FormatInt(id, 10)+"/resend")
	return rec.Code, decode[map[string]any](t, rec)
}

// An operator re-sends, within LINE's 24 h retry-key window, a message
// whose first push LINE took although the answer was lost (and whose next
// try was refused): the re-send carries the same retry key, LINE answers
// 409, and the customer gets it once. A second click is refused. The
// audit log names who re-sent.
func TestResendWithinRetryKeyWindowDeliversOnce(t *testing.T) {
	t.Parallel()
	e := newResendEnv(t)
	m := e.thankYou(t, 7001)
	e.w.LINE = answerLost{e.a.Messenger}
	if m = e.send(t, m.ID); m.Status != store.MsgQueued {
		t.Fatalf("after a lost answer: %s %s", m.Status, m.Reason)
	}
	e.w.LINE = e.a.Messenger
	e.fake.FailNext(http.StatusBadRequest, 1)
	e.clk.Add(5 * time.Minute)
	if m = e.send(t, m.ID); m.Status != store.MsgFailed {
		t.Fatalf("after a refusal: %s %s", m.Status, m.Reason)
	}
	list := decode[struct {
		Messages []failedMessageJSON `json:"messages"`
	}](t, adminCall(t, e.a, http.MethodGet, "/api/messages/failed", nil))
	if len(list.Messages) != 1 || list.Messages[0].ID != m.ID || list.Messages[0].Resend != "same_key" {
		t.Fatalf("failed list %+v", list.Messages)
	}
	e.clk.Add(3 * time.Hour)
	code, body := e.resend(t, m.ID)
	if code != http.StatusOK || body["same_key"] != true {
		t.Fatalf("re-send: %d %v", code, body)
	}
	if code, body := e.resend(t, m.ID); code != http.StatusConflict {
		t.Fatalf("second re-send: %d %v", code, body)
	}
	if m = e.send(t, m.ID); m.Status != store.MsgSent || m.LineRequestID == "" {
		t.Fatalf("after the re-send: %s %s", m.Status, m.Reason)
	}
	if n := len(e.fake.Pushes()); n != 1 {
		t.Fatalf("%d pushes reached LINE's users, want 1", n)
	}
	audit := decode[struct {
		Entries []store.AuditEntry `json:"entries"`
	}](t, e.call(t, http.MethodGet, "/api/audit"))
	if len(audit.Entries) != 1 || audit.Entries[0].Action != store.AuditResend || audit.Entries[0].RefID != m.ID || audit.Entries[0].Actor == "" {
		t.Fatalf("audit %+v", audit.Entries)
	}
}

// Past LINE's window the key is forgotten, so the re-send is a new message
// (its own key) and the failed one says which; it goes out once.
func TestResendAfterRetryKeyWindowIsANewMessage(t *testing.T) {
	t.Parallel()
	e := newResendEnv(t)
	m := e.thankYou(t, 7002)
	e.fake.FailNext(http.StatusBadRequest, 1)
	if m = e.send(t, m.ID); m.Status != store.MsgFailed {
		t.Fatalf("after a refusal: %s %s", m.Status, m.Reason)
	}
	e.clk.Add(25 * time.Hour)
	code, body := e.resend(t, m.ID)
	if code != http.StatusOK || body["same_key"] != false {
		t.Fatalf("re-send: %d %v", code, body)
	}
	newID := int64(body["id"].(float64))
	if newID == m.ID {
		t.Fatal("re-send after the window reused the row")
	}
	if code, _ := e.resend(t, m.ID); code != http.StatusConflict {
		t.Fatalf("second re-send: %d", code)
	}
	if nm := e.send(t, newID); nm.Status != store.MsgSent {
		t.Fatalf("new message: %s %s", nm.Status, nm.Reason)
	}
	old, _ := e.a.DB.Message(context.Background(), m.ID)
	if old.Status != store.MsgFailed || !strings.Contains(old.Reason, "as message "+strconv.FormatInt(newID, 10)) {
		t.Fatalf("original: %s %q", old.Status, old.Reason)
	}
	if n := len(e.fake.Pushes()); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
}

// Dead-lettered events are listed with their reason, a payload summary and
// attempts; an admin replays one, then all; a replay is idempotent (the
// second is refused and applying twice plans nothing twice).
func TestDeadLetterListAndReplay(t *testing.T) {
	t.Parallel()
	e := newResendEnv(t)
	ctx := context.Background()
	dead := func(n int) *store.Event {
		body := fmt.Sprintf(`{"id": %d, "name": "#%d", "currency": "JPY", "total_price": "4800", "financial_status": "paid",
			"line_items": [{"id": 1, "title": "茶", "quantity": 1, "price": "4800"}], "customer": {"id": 501}}`, 8000+n, 8000+n)
		now := e.clk.Now()
		ev := &store.Event{Source: "shopify", Topic: "orders/create", ExternalID: fmt.Sprint("dead-", n), ShopDomain: testShop,
			Payload: []byte(body), ReceivedAt: now, Status: store.EventDead, Error: "database refused: invalid byte sequence", Attempts: 10, ProcessedAt: &now}
		if _, err := e.a.DB.InsertEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	first, second, third := dead(1), dead(2), dead(3)
	list := decode[struct {
		Events []deadEventJSON `json:"events"`
	}](t, adminCall(t, e.a, http.MethodGet, "/api/events/dead", nil))
	if len(list.Events) != 3 {
		t.Fatalf("dead list %+v", list.Events)
	}
	got := list.Events[2]
	if got.ID != first.ID || got.Attempts != 10 || !strings.Contains(got.Reason, "invalid byte") ||
		!strings.Contains(got.Summary, "id 8001") || !strings.Contains(got.Summary, "1 line items") {
		t.Fatalf("dead event %+v", got)
	}
	// The admin page lists them too, with the replay buttons.
	page := adminCall(t, e.a, http.MethodGet, "/admin/failures", nil)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), fmt.Sprintf(`/admin/failures/events/%d/replay`, first.ID)) {
		t.Fatalf("failures page: %d", page.Code)
	}
	replay := func(id int64) int {
		return adminCall(t, e.a, http.MethodPost, fmt.Sprintf("/api/events/%d/replay", id), nil).Code
	}
	if c := replay(first.ID); c != http.StatusOK {
		t.Fatalf("replay: %d", c)
	}
	if c := replay(first.ID); c != http.StatusConflict {
		t.Fatalf("second replay: %d", c)
	}
	all := decode[struct {
		Replayed []int64 `json:"replayed"`
	}](t, adminCall(t, e.a, http.MethodPost, "/api/events/replay", nil))
	if len(all.Replayed) != 2 {
		t.Fatalf("replay all: %v", all.Replayed)
	}
	// Applied (twice for the first, as a duplicate delivery would): one
	// thank-you per order.
	for _, id := range []int64{first.ID, first.ID, second.ID, third.ID} {
		if err := e.w.ProcessEvent(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	var n int64
	e.a.DB.G.Model(&store.Message{}).Where("shop_id = ? AND kind = ?", e.shop.ID, jobs.KindThankYou).Count(&n)
	if n != 3 {
		t.Fatalf("%d thank-yous planned, want 3", n)
	}
	audit := decode[struct {
		Entries []store.AuditEntry `json:"entries"`
	}](t, e.call(t, http.MethodGet, "/api/audit"))
	if len(audit.Entries) != 3 {
		t.Fatalf("audit %+v", audit.Entries)
	}
	// The form on the page: nothing left to replay.
	form := adminCall(t, e.a, http.MethodPost, "/admin/failures/events/replay", nil)
	if form.Code != http.StatusSeeOther {
		t.Fatalf("form replay all: %d %s", form.Code, form.Body)
	}
	if loc, _ := url.Parse(form.Header().Get("Location")); loc == nil || loc.Path != "/admin/failures" {
		t.Fatalf("redirect %q", form.Header().Get("Location"))
	}
}
