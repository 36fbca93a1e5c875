package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/line/linetest"
)

const friendUser = "U0f0e0d0c0b0a09080706050403020100"

// newInboxEnv is a linkEnv whose app and fake LINE run on a movable clock.
func newInboxEnv(t *testing.T, db *store.DB) (*linkEnv, *testClock) {
	t.Helper()
	e := newLinkEnv(t, db, testenv.Redis(t), "")
	clk := &testClock{now: testNow}
	e.a.Now = clk.Now
	e.line.SetClock(clk.Now)
	return e, clk
}

// lineEvent is a LINE webhook fixture rewritten to come from userID now,
// with the given event id, reply token and (for messages) text.
func lineEvent(t *testing.T, name, userID, eventID, replyToken string, at time.Time, text string) []byte {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(testenv.Fixture(t, "line/webhooks/"+name), &body); err != nil {
		t.Fatal(err)
	}
	for _, ev := range body["events"].([]any) {
		m := ev.(map[string]any)
		m["source"] = map[string]any{"type": "user", "userId": userID}
		m["webhookEventId"] = eventID
		m["timestamp"] = at.UnixMilli()
		if replyToken != "" {
			m["replyToken"] = replyToken
		}
		if msg, ok := m["message"].(map[string]any); ok && text != "" {
			msg["text"] = text
		}
	}
	b, _ := json.Marshal(body)
	return b
}

func (e *linkEnv) deliverLINE(t *testing.T, body []byte) {
	t.Helper()
	if rec := e.lineWebhook(testWebhookKey, body, lineSign(testMsgSecret, body)); rec.Code != 200 {
		t.Fatalf("LINE webhook: %d %s", rec.Code, rec.Body)
	}
	e.processPending(t)
}

// A follow is answered with the greeting over the follow's reply token
// (free), carrying a button into ID linking; the friend is stored with the
// profile LINE gives, and the button leads into the store's link flow.
func TestFollowGreetsWithLinkButton(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e, clk := newInboxEnv(t, db)
		ctx := context.Background()
		e.line.SetProfile(linetest.Profile{UserID: friendUser, DisplayName: "Sakura", PictureURL: "https://profile.line-scdn.net/abc", Language: "ja"})
		e.line.IssueReplyToken("rt-follow-0001")
		e.deliverLINE(t, lineEvent(t, "follow.json", friendUser, "01HZZFOLLOW000000000000001", "rt-follow-0001", clk.Now(), ""))

		replies := e.line.Replies()
		if len(replies) != 1 || replies[0].ReplyToken != "rt-follow-0001" {
			t.Fatalf("replies %+v; rejected %v", replies, e.line.Rejected())
		}
		if n := len(e.line.Pushes()); n != 0 {
			t.Fatalf("%d pushes for a greeting", n)
		}
		var flex struct {
			Type     string `json:"type"`
			Contents struct {
				Footer struct {
					Contents []struct {
						Action struct{ Type, URI string }
					}
				}
			}
		}
		if err := json.Unmarshal(replies[0].Messages[0], &flex); err != nil || flex.Type != "flex" || len(flex.Contents.Footer.Contents) != 1 {
			t.Fatalf("greeting %s (%v)", replies[0].Messages[0], err)
		}
		btn := flex.Contents.Footer.Contents[0].Action
		if btn.Type != "uri" || !strings.Contains(btn.URI, "/link/friend?t=") {
			t.Fatalf("button %+v", btn)
		}
		f, err := db.FriendByUser(ctx, e.s.ID, friendUser)
		if err != nil {
			t.Fatal(err)
		}
		if f.DisplayName != "Sakura" || f.Language != "ja" || !f.IsFriend || f.FriendSince == nil || f.FollowSource != store.SourceFollow || f.CustomerID != nil {
			t.Fatalf("friend %+v", f)
		}
		m, err := db.MessageByKey(ctx, "greeting/s"+itoa(e.s.ID)+"/01HZZFOLLOW000000000000001")
		if err != nil || m.Status != store.MsgSent || m.Delivery != store.DeliveryReply || m.FriendID == nil || *m.FriendID != f.ID {
			t.Fatalf("greeting row %+v %v", m, err)
		}

		// The button: click recorded on the friend, then the store's sign-in and link flow.
		u, _ := url.Parse(btn.URI)
		rec := e.serve(httptestGet(u.RequestURI()))
		if rec.Code != http.StatusFound || rec.Header().Get("Location") != "https://"+testShop+"/apps/tsunagu/link" {
			t.Fatalf("friend link: %d %s", rec.Code, rec.Header().Get("Location"))
		}
		if n := countRows(t, db, &store.Activity{}, "friend_id = ? AND kind = ?", f.ID, store.ActClick); n != 1 {
			t.Fatalf("%d clicks recorded", n)
		}
		if rec := e.serve(httptestGet("/link/friend?t=forged")); rec.Code != http.StatusBadRequest {
			t.Fatalf("forged link: %d", rec.Code)
		}

		// Profile is not fetched again while fresh; a redelivered follow greets no one twice.
		reqs := e.line.Requests()
		e.deliverLINE(t, lineEvent(t, "message_text_user.json", friendUser, "01HZZMSG000000000000000001", "", clk.Now(), "hi"))
		if e.line.Requests() != reqs {
			t.Fatalf("a fresh profile was fetched again (%d -> %d requests)", reqs, e.line.Requests())
		}
		if err := db.UpdateFriend(ctx, f.ID, map[string]any{"profile_at": clk.Now().Add(-core.ProfileMaxAge - time.Hour)}); err != nil {
			t.Fatal(err)
		}
		e.deliverLINE(t, lineEvent(t, "message_text_user.json", friendUser, "01HZZMSG000000000000000002", "", clk.Now(), "hi again"))
		if e.line.Requests() != reqs+1 {
			t.Fatalf("a stale profile was not refreshed (%d -> %d requests)", reqs, e.line.Requests())
		}
	})
}

// An unlinked friend's message is stored on the friend, counted in the
// inbox and found by search; linking later merges the friend into the
// customer with that history.
func TestUnlinkedFriendSearchAndMerge(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e, clk := newInboxEnv(t, db)
		ctx := context.Background()
		e.line.SetProfile(linetest.Profile{UserID: testLineUser, DisplayName: "Kaede Friend", Language: "en"})
		e.deliverLINE(t, lineEvent(t, "message_text_user.json", testLineUser, "01HZZMSG000000000000000011", "", clk.Now(), "Is the blue mug in stock?"))

		hits, err := db.SearchFriends(ctx, e.s.ID, "kaede", 10)
		if err != nil || len(hits) != 1 || hits[0].LineUserID != testLineUser {
			t.Fatalf("search: %+v %v", hits, err)
		}
		page := adminDo(t, e.a, testShop, http.MethodGet, "/admin/customers?q=Kaede", nil)
		if page.Code != 200 || !strings.Contains(page.Body.String(), "Kaede Friend") {
			t.Fatalf("customer search page does not show the friend: %d", page.Code)
		}
		inbox := decode[inboxJSON](t, adminDo(t, e.a, testShop, http.MethodGet, "/api/inbox", nil))
		if inbox.Counts.Unread != 1 || inbox.Counts.Unanswered != 1 || len(inbox.Conversations) != 1 ||
			inbox.Conversations[0].LastText != "Is the blue mug in stock?" || inbox.Conversations[0].CustomerID != nil {
			t.Fatalf("inbox %+v", inbox)
		}
		fid := inbox.Conversations[0].ID
		for _, path := range []string{"/admin/inbox", "/admin/inbox?filter=unlinked", "/admin/inbox/" + itoa(fid), "/admin/inbox/setup"} {
			if rec := adminDo(t, e.a, testShop, http.MethodGet, path, nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Kaede Friend") && !strings.Contains(path, "setup") {
				t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
			}
		}

		// Link through LINE Login: the friend and its message join the customer.
		la := e.authorize(t, e.start(t, e.cust))
		if rec := e.callback(la, la.callback, "ja"); rec.Code != 200 {
			t.Fatalf("callback %d", rec.Code)
		}
		f, err := db.Friend(ctx, e.s.ID, fid)
		if err != nil || f.CustomerID == nil || *f.CustomerID != e.cust.ID {
			t.Fatalf("friend after linking %+v %v", f, err)
		}
		if n := countRows(t, db, &store.Activity{}, "friend_id = ? AND customer_id = ? AND kind = ?", fid, e.cust.ID, store.ActLineMessageIn); n != 1 {
			t.Fatalf("%d merged messages on the customer", n)
		}
		if n := countRows(t, db, &store.LineFriend{}, "shop_id = ?", e.s.ID); n != 1 {
			t.Fatalf("%d friend rows after linking", n)
		}
	})
}

// A staff reply uses the message's reply token while it is valid (free),
// after that a push (counted); the row records which, and the staff name.
// The same form submitted twice sends once; blocked friends are refused.
func TestStaffReplyTokenThenPush(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e, clk := newInboxEnv(t, db)
		ctx := context.Background()
		e.line.IssueReplyToken("rt-msg-0001")
		e.deliverLINE(t, lineEvent(t, "message_text_user.json", friendUser, "01HZZMSG000000000000000021", "rt-msg-0001", clk.Now(), "hello?"))
		f, err := db.FriendByUser(ctx, e.s.ID, friendUser)
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(20 * time.Second)
		path := "/api/friends/" + itoa(f.ID) + "/reply"
		rec := adminDo(t, e.a, testShop, http.MethodPost, path, map[string]string{"text": "Yes, we have it!", "key": "k1"})
		out := decode[replyJSON](t, rec)
		if rec.Code != 200 || out.Delivery != store.DeliveryReply || out.Status != store.MsgSent || out.StaffName == "" {
			t.Fatalf("reply within validity: %d %+v", rec.Code, out)
		}
		if r := e.line.Replies(); len(r) != 1 || r[0].ReplyToken != "rt-msg-0001" || len(e.line.Pushes()) != 0 {
			t.Fatalf("replies %+v pushes %d", r, len(e.line.Pushes()))
		}
		// Resubmitted form: nothing sent again.
		rec = adminDo(t, e.a, testShop, http.MethodPost, path, map[string]string{"text": "Yes, we have it!", "key": "k1"})
		if rec.Code != 200 || len(e.line.Replies()) != 1 || len(e.line.Pushes()) != 0 {
			t.Fatalf("resubmission sent again: %d, %d replies, %d pushes", rec.Code, len(e.line.Replies()), len(e.line.Pushes()))
		}
		f, _ = db.Friend(ctx, e.s.ID, f.ID)
		if f.Unanswered || f.Unread != 0 {
			t.Fatalf("answered conversation still open: %+v", f)
		}

		// A new message; staff answer after the token's minute: push.
		e.line.IssueReplyToken("rt-msg-0002")
		e.deliverLINE(t, lineEvent(t, "message_text_user.json", friendUser, "01HZZMSG000000000000000022", "rt-msg-0002", clk.Now(), "and the red one?"))
		clk.Add(2 * time.Minute)
		rec = adminDo(t, e.a, testShop, http.MethodPost, path, map[string]string{"text": "Sold out, sorry.", "key": "k2"})
		out = decode[replyJSON](t, rec)
		if rec.Code != 200 || out.Delivery != store.DeliveryPush || out.Status != store.MsgSent {
			t.Fatalf("reply after validity: %d %+v", rec.Code, out)
		}
		if p := e.line.Pushes(); len(p) != 1 || p[0].To != friendUser || len(e.line.Replies()) != 1 {
			t.Fatalf("pushes %+v", p)
		}

		// Blocked: refused with the reason recorded, nothing sent.
		e.deliverLINE(t, lineEvent(t, "unfollow.json", friendUser, "01HZZUNF000000000000000023", "", clk.Now(), ""))
		rec = adminDo(t, e.a, testShop, http.MethodPost, path, map[string]string{"text": "Hello?", "key": "k3"})
		out = decode[replyJSON](t, rec)
		if rec.Code != http.StatusConflict || out.Reason != core.ReasonBlocked || len(e.line.Pushes()) != 1 {
			t.Fatalf("reply to a blocked friend: %d %+v", rec.Code, out)
		}
		// Oversize or empty text is refused before anything is recorded.
		for _, txt := range []string{"", strings.Repeat("あ", core.MaxReplyRunes+1)} {
			if rec := adminDo(t, e.a, testShop, http.MethodPost, path, map[string]string{"text": txt}); rec.Code != http.StatusUnprocessableEntity {
				t.Fatalf("bad text: %d", rec.Code)
			}
		}
	})
}

// A viewer reads the inbox but cannot reply (403, nothing recorded or sent);
// an admin staff account can, and their name is on the reply.
func TestViewerCannotReply(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	e, clk := newInboxEnv(t, db)
	ctx := context.Background()
	e.deliverLINE(t, lineEvent(t, "message_text_user.json", friendUser, "01HZZMSG000000000000000031", "", clk.Now(), "help"))
	f, err := db.FriendByUser(ctx, e.s.ID, friendUser)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(email, name, role string) *http.Cookie {
		hash, err := hashPassword("correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateStaff(ctx, &store.StaffAccount{ShopID: e.s.ID, Email: email, Name: name, Role: role, PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
		_, ck := login(t, e.a, testShop, email, "correct horse battery")
		if ck == nil {
			t.Fatal("no session")
		}
		return ck
	}
	viewer := mk("viewer@example.com", "Viewer Vi", store.RoleViewer)
	admin := mk("agent@example.com", "Agent Aoi", store.RoleAdmin)
	path := "/api/friends/" + itoa(f.ID) + "/reply"
	if rec := e.serve(withCookie(http.MethodGet, "/api/inbox", viewer, "")); rec.Code != 200 {
		t.Fatalf("viewer inbox: %d", rec.Code)
	}
	if rec := e.serve(withCookie(http.MethodPost, path, viewer, `{"text":"hi"}`)); rec.Code != http.StatusForbidden {
		t.Fatalf("viewer reply: %d %s", rec.Code, rec.Body)
	}
	if n := countRows(t, db, &store.Message{}, "friend_id = ?", f.ID); n != 0 || len(e.line.Pushes()) != 0 {
		t.Fatalf("viewer's reply left %d rows, %d pushes", n, len(e.line.Pushes()))
	}
	// The core rule holds without the HTTP middleware too.
	if _, err := e.a.Friends().Reply(ctx, core.ReplyInput{ShopID: e.s.ID, FriendID: f.ID, Text: "hi", Staff: "Viewer Vi"}); core.ErrorCode(err) != core.EFORBIDDEN {
		t.Fatalf("core reply by a viewer: %v", err)
	}
	rec := e.serve(withCookie(http.MethodPost, path, admin, `{"text":"Happy to help"}`))
	out := decode[replyJSON](t, rec)
	if rec.Code != 200 || out.StaffName != "Agent Aoi" || out.Delivery != store.DeliveryPush {
		t.Fatalf("admin reply: %d %+v", rec.Code, out)
	}
	p := e.line.Pushes()
	if len(p) != 1 || !strings.Contains(string(p[0].Messages[0]), `"sender":{"name":"Agent Aoi"}`) {
		t.Fatalf("push %+v", p)
	}
}

func httptestGet(target string) *http.Request {
	return httptest.NewRequest(http.MethodGet, target, nil)
}
