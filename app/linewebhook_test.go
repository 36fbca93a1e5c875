package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
)

// lineFixture loads a LINE webhook example with every event rewritten to
// come from userID with the given webhookEventId.
func lineFixture(t *testing.T, name, userID, eventID string) []byte {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(testenv.Fixture(t, "line/webhooks/"+name), &body); err != nil {
		t.Fatal(err)
	}
	for _, ev := range body["events"].([]any) {
		m := ev.(map[string]any)
		m["source"] = map[string]any{"type": "user", "userId": userID}
		m["webhookEventId"] = eventID
	}
	b, _ := json.Marshal(body)
	return b
}

func lineSign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (e *linkEnv) lineWebhook(key string, body []byte, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/line/"+key, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-Line-Signature", sig)
	}
	return e.serve(req)
}

func TestLineWebhookRejects(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e := newLinkEnv(t, db, testenv.Redis(t), "")
	body := lineFixture(t, "follow.json", testLineUser, "01HMQGW40RZJPJM3RAJP7BHC2Q")
	for _, tc := range []struct {
		name, key, sig string
		body           []byte
		status         int
	}{
		{"no signature", testWebhookKey, "", body, 401},
		{"wrong secret", testWebhookKey, lineSign("other-secret", body), body, 401},
		{"tampered body", testWebhookKey, lineSign(testMsgSecret, body), append([]byte(" "), body...), 401},
		{"signed with the login secret", testWebhookKey, lineSign(testLoginSecret, body), body, 401},
		{"unknown channel", "nope", lineSign(testMsgSecret, body), body, 404},
		{"malformed JSON", testWebhookKey, lineSign(testMsgSecret, []byte("{")), []byte("{"), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rec := e.lineWebhook(tc.key, tc.body, tc.sig); rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
		})
	}
	// LINE's "Verify" button sends no events.
	empty := []byte(`{"destination":"U0","events":[]}`)
	if rec := e.lineWebhook(testWebhookKey, empty, lineSign(testMsgSecret, empty)); rec.Code != 200 {
		t.Fatalf("verify request: %d", rec.Code)
	}
	if n := countRows(t, db, &store.Event{}, ""); n != 0 {
		t.Fatalf("%d events stored", n)
	}
}

// Unfollow (block) marks the link blocked so the next thank-you is skipped
// with reason "blocked"; follow makes them reachable again; messages go to
// the timeline; redeliveries are stored once; the unlink postback unlinks.
func TestLineWebhookReachability(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e := newLinkEnv(t, db, testenv.Redis(t), "")
		ctx := context.Background()
		order, shopifyCustID := orderFixture(t)
		cust := addCustomer(t, db, e.s.ID, shopifyCustID)
		if err := db.CreateLink(ctx, &store.LineLink{ShopID: e.s.ID, CustomerID: cust.ID, LineUserID: testLineUser, Friend: true, LinkedAt: testNow}); err != nil {
			t.Fatal(err)
		}
		send := func(name, id string) map[string]any {
			t.Helper()
			body := lineFixture(t, name, testLineUser, id)
			rec := e.lineWebhook(testWebhookKey, body, lineSign(testMsgSecret, body))
			if rec.Code != 200 {
				t.Fatalf("%s: %d %s", name, rec.Code, rec.Body)
			}
			var out map[string]any
			json.Unmarshal(rec.Body.Bytes(), &out)
			return out
		}
		orderIn := func(webhookID string) {
			t.Helper()
			if rec := e.serve(webhookRequest("orders/create", webhookID, order, e.shop.APISecret)); rec.Code != 200 {
				t.Fatalf("order webhook: %d %s", rec.Code, rec.Body)
			}
			e.processPending(t)
			e.sendQueued(t)
		}

		send("unfollow.json", "01FZ74A0TDDPYRVKNK77XKC3Z1")
		// The same event again, as a redelivery: stored once.
		if out := send("unfollow.json", "01FZ74A0TDDPYRVKNK77XKC3Z1"); out["duplicates"] != "1" {
			t.Errorf("redelivery answer %v", out)
		}
		e.processPending(t)
		link, _ := db.LiveLink(ctx, cust.ID)
		if !link.Blocked || link.Friend {
			t.Fatalf("after unfollow: %+v", link)
		}
		orderIn("order-1")
		var m store.Message
		if err := db.G.Where("kind = ? AND customer_id = ?", jobs.KindThankYou, cust.ID).Take(&m).Error; err != nil {
			t.Fatal(err)
		}
		if m.Status != store.MsgSkipped || m.Reason != "blocked" {
			t.Fatalf("thank-you to a blocked user: %s %q", m.Status, m.Reason)
		}
		if len(e.line.Pushes()) != 0 {
			t.Fatal("pushed to a blocked user")
		}

		send("follow_unblocked.json", "01HMQGW40RZJPJM3RAJP7BHC21")
		e.processPending(t)
		if link, _ := db.LiveLink(ctx, cust.ID); link.Blocked || !link.Friend {
			t.Fatalf("after follow: %+v", link)
		}

		send("message_text_user.json", "01G2KZKG2DS765NMRH3GZFD8A1")
		send("message_redelivery.json", "01G2KZKG2DS765NMRH3GZFD8A1")
		e.processPending(t)
		var acts []store.Activity
		db.G.Where("customer_id = ?", cust.ID).Order("id").Find(&acts)
		var kinds []string
		for _, a := range acts {
			kinds = append(kinds, a.Kind)
		}
		if got := strings.Join(kinds, ","); got != "unfollow,follow,line_message_in" {
			t.Fatalf("activities %s", got)
		}
		if acts[2].Summary != "Hello, world" || !strings.Contains(acts[2].Data, `"text":"Hello, world"`) {
			t.Errorf("message activity %+v", acts[2])
		}

		// Unlink from a LINE postback (e.g. a rich menu button): what is
		// queued for the customer is cancelled at once.
		queued := &store.Message{ShopID: e.s.ID, CustomerID: &cust.ID, Kind: "follow_up_3", DedupeKey: "follow_up_3/test",
			LineUserID: testLineUser, ScheduledFor: testNow.AddDate(0, 0, 3)}
		if _, err := db.PlanMessage(ctx, queued); err != nil {
			t.Fatal(err)
		}
		pb := lineFixture(t, "postback.json", testLineUser, "01FZ74A0TDDPYRVKNK77XKC3Z9")
		pb = bytes.Replace(pb, []byte(`storeId=12345`), []byte(`action=unlink`), 1)
		if rec := e.lineWebhook(testWebhookKey, pb, lineSign(testMsgSecret, pb)); rec.Code != 200 {
			t.Fatal(rec.Code)
		}
		e.processPending(t)
		if _, err := db.LiveLink(ctx, cust.ID); err == nil {
			t.Fatal("still linked after the unlink postback")
		}
		last, _ := db.LastLink(ctx, cust.ID)
		if last.UnlinkReason != "postback" {
			t.Errorf("unlink reason %q", last.UnlinkReason)
		}
		if m, _ := db.Message(ctx, queued.ID); m.Status != store.MsgCancelled || m.Reason != jobs.ReasonUnlinked {
			t.Errorf("queued message after unlink: %s %q", m.Status, m.Reason)
		}
		if n := countRows(t, db, &store.Activity{}, "customer_id = ? AND kind = ?", cust.ID, store.ActUnlinked); n != 1 {
			t.Errorf("%d unlink activities", n)
		}
		if got := countRows(t, db, &store.Event{}, "source = ?", jobs.SourceLINE); got != 4 {
			t.Errorf("%d LINE events stored, want 4 (redeliveries once)", got)
		}
	})
}

// Linked without adding the bot: the coupon is held back (reason
// not_friend) and goes out when the follow event arrives.
func TestLinkNotFriendThenFollow(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e := newLinkEnv(t, db, testenv.Redis(t), "")
	ctx := context.Background()
	e.line.SetLoginUser(testLineUser, "Taro Line", false)
	la := e.authorize(t, e.start(t, e.cust))
	rec := e.callback(la, la.callback, "ja")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `id="add-friend"`) {
		t.Fatalf("callback: %d %s", rec.Code, rec.Body)
	}
	e.processPending(t)
	e.sendQueued(t)
	key := jobs.LinkCouponKey(e.s.ID, e.cust.ID)
	if m, err := db.MessageByKey(ctx, key); err != nil || m.Status != store.MsgSkipped || m.Reason != jobs.ReasonNotFriend {
		t.Fatalf("coupon message before follow: %+v %v", m, err)
	}
	body := lineFixture(t, "follow.json", testLineUser, "01HMQGW40RZJPJM3RAJP7BHC77")
	if rec := e.lineWebhook(testWebhookKey, body, lineSign(testMsgSecret, body)); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	e.processPending(t)
	e.sendQueued(t)
	if m, _ := db.MessageByKey(ctx, key); m.Status != store.MsgSent {
		t.Fatalf("coupon message after follow: %s %q", m.Status, m.Reason)
	}
	if p := e.line.Pushes(); len(p) != 1 || p[0].To != testLineUser {
		t.Fatalf("pushes %+v", p)
	}
}
