package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/shopify"
)

// A second LINE account of the test shop.
const (
	testTokenB      = "second-channel-access-token"
	testMsgSecretB  = "messaging-channel-secret-bbbbbbb"
	testWebhookKeyB = "wk-second-account"
)

// addSecondChannel gives the shop of e a second LINE account (not primary).
func (e *linkEnv) addSecondChannel(t *testing.T) *store.LineChannel {
	t.Helper()
	e.line.AddToken(testTokenB)
	ch := &store.LineChannel{ShopID: e.s.ID, WebhookKey: testWebhookKeyB, Name: "Outlet", MessagingChannelID: "2000000002",
		MessagingSecretEnc: e.a.Box.Seal(testMsgSecretB), MessagingTokenEnc: e.a.Box.Seal(testTokenB)}
	if err := e.a.DB.SaveLineChannel(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	if ch.IsPrimary {
		t.Fatal("a second channel became primary")
	}
	return ch
}

// deliverLINEOn posts a webhook body to one channel's URL, signed with its secret.
func (e *linkEnv) deliverLINEOn(t *testing.T, key, secret string, body []byte) {
	t.Helper()
	if rec := e.lineWebhook(key, body, lineSign(secret, body)); rec.Code != 200 {
		t.Fatalf("LINE webhook on %s: %d %s", key, rec.Code, rec.Body)
	}
	e.processPending(t)
}

// Two LINE accounts in one shop keep their friends and their limits apart:
// a follow on each account is a friend of that account (the same LINE user
// following both is two friends), each is greeted and answered with its own
// account's token, and the monthly limit one account hit stops marketing
// on that account only, with the quota recorded per account.
func TestTwoChannelsKeepFriendsAndLimitsApart(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	e, clk := newInboxEnv(t, db)
	ctx := context.Background()
	chA, err := db.LineChannel(ctx, e.s.ID)
	if err != nil {
		t.Fatal(err)
	}
	chB := e.addSecondChannel(t)

	// The same LINE user (one provider) follows both accounts; another
	// follows only B.
	const onlyB = "U00000000000000000000000000000b0b"
	e.line.IssueReplyToken("rt-a-1")
	e.deliverLINEOn(t, testWebhookKey, testMsgSecret, lineEvent(t, "follow.json", friendUser, "01HZZTWOACCOUNTS0000000A01", "rt-a-1", clk.Now(), ""))
	e.line.IssueReplyToken("rt-b-1")
	e.deliverLINEOn(t, testWebhookKeyB, testMsgSecretB, lineEvent(t, "follow.json", friendUser, "01HZZTWOACCOUNTS0000000B01", "rt-b-1", clk.Now(), ""))
	e.line.IssueReplyToken("rt-b-2")
	e.deliverLINEOn(t, testWebhookKeyB, testMsgSecretB, lineEvent(t, "follow.json", onlyB, "01HZZTWOACCOUNTS0000000B02", "rt-b-2", clk.Now(), ""))

	fa, errA := db.FriendOnChannel(ctx, chA.ID, friendUser)
	fb, errB := db.FriendOnChannel(ctx, chB.ID, friendUser)
	if errA != nil || errB != nil || fa.ID == fb.ID || !fa.IsFriend || !fb.IsFriend {
		t.Fatalf("friends of one user on two accounts: %+v %+v (%v %v)", fa, fb, errA, errB)
	}
	if _, err := db.FriendOnChannel(ctx, chA.ID, onlyB); err == nil {
		t.Fatal("a follow on account B made a friend of account A")
	}
	fOnlyB, err := db.FriendOnChannel(ctx, chB.ID, onlyB)
	if err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, &store.LineFriend{}, "shop_id = ?", e.s.ID); n != 3 {
		t.Fatalf("%d friend rows, want 3", n)
	}
	// Each greeting went out on the reply token of its event, with the
	// token of the account that received the follow.
	tokens := map[string]string{}
	for _, r := range e.line.Replies() {
		tokens[r.ReplyToken] = r.Token
	}
	if tokens["rt-a-1"] != testLINEToken || tokens["rt-b-1"] != testTokenB || tokens["rt-b-2"] != testTokenB {
		t.Fatalf("greetings by reply token → channel token: %v", tokens)
	}

	// Staff answer each conversation: by push (the reply tokens were used
	// by the greetings), each with its own account's token.
	for _, f := range []*store.LineFriend{fa, fb} {
		e.deliverLINEOn(t, map[int64]string{chA.ID: testWebhookKey, chB.ID: testWebhookKeyB}[f.ChannelID],
			map[int64]string{chA.ID: testMsgSecret, chB.ID: testMsgSecretB}[f.ChannelID],
			lineEvent(t, "message_text_user.json", friendUser, "01HZZTWOACCOUNTSMSG0000"+itoa(f.ID), "", clk.Now(), "hello"))
		if _, err := e.a.Friends().Reply(ctx, core.ReplyInput{ShopID: e.s.ID, FriendID: f.ID, Text: "はい", Staff: "Aki", CanReply: true, Key: "k" + itoa(f.ID)}); err != nil {
			t.Fatalf("reply to friend %d: %v", f.ID, err)
		}
	}
	pushed := map[string]int{}
	for _, p := range e.line.Pushes() {
		if p.To == friendUser {
			pushed[p.Token]++
		}
	}
	if pushed[testLINEToken] != 1 || pushed[testTokenB] != 1 {
		t.Fatalf("staff replies by token: %v", pushed)
	}

	// Account B has used its month; A has not. A link nudge (marketing) to
	// a friend of each: B's is stopped by B's quota, A's goes out on A.
	usedB := e.line.Usage(testTokenB)
	e.line.SetMonthlyLimit(testTokenB, 0)
	st := e.s.Settings
	st.DailyCap = 10 // the staff reply today does not hold the nudge back
	if err := db.SaveShopSettings(ctx, e.s.ID, st); err != nil {
		t.Fatal(err)
	}
	var nudges []*store.Message
	for _, f := range []*store.LineFriend{fa, fOnlyB} {
		fid := f.ID
		m := &store.Message{ShopID: e.s.ID, FriendID: &fid, Kind: core.KindLinkNudge, DedupeKey: jobs.LinkNudgeKey(e.s.ID, f.ID),
			RefType: "line_friend", RefID: f.ID, LineUserID: f.LineUserID, ScheduledFor: clk.Now()}
		if _, err := db.PlanMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		nudges = append(nudges, m)
	}
	e.sendQueued(t)
	mA, _ := db.Message(ctx, nudges[0].ID)
	mB, _ := db.Message(ctx, nudges[1].ID)
	if mA.Status != store.MsgSent || mB.Status != store.MsgSkipped || mB.Reason == "" {
		t.Fatalf("nudge on A: %s %q; on B: %s %q", mA.Status, mA.Reason, mB.Status, mB.Reason)
	}
	if n := e.line.Usage(testTokenB); n != usedB {
		t.Fatalf("account B sent %d messages past its limit", n-usedB)
	}
	qA, err := db.ChannelQuota(ctx, e.s.ID, chA.ID)
	if err != nil {
		t.Fatal(err)
	}
	qB, err := db.ChannelQuota(ctx, e.s.ID, chB.ID)
	if err != nil {
		t.Fatal(err)
	}
	if qB.CheckedAt == nil || !qB.Limited || qB.MonthlyLimit != 0 || qA.CheckedAt == nil || qA.Limited {
		t.Fatalf("quotas: A %+v, B %+v", qA, qB)
	}
	// The shop-level quota (home page) is the primary account's.
	if q, err := db.LineQuota(ctx, e.s.ID); err != nil || q.ChannelID != chA.ID {
		t.Fatalf("shop quota: %+v %v", q, err)
	}
}

// Linking from a second account's link URL logs in with that account's
// LINE Login channel, records the account on the link and on the merged
// friend, and sends the customer's messages (the link coupon) with that
// account's token. The primary account's link URL is unchanged.
func TestLinkOnSecondAccount(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e := newLinkEnv(t, db, testenv.Redis(t), "")
		ctx := context.Background()
		const loginB, loginSecretB = "1650000002", "login-channel-secret-bbbbbbbbbbbb"
		e.line.AddLoginChannel(loginB, loginSecretB)
		chB := e.addSecondChannel(t)
		chB.LoginChannelID, chB.LoginSecretEnc = loginB, e.a.Box.Seal(loginSecretB)
		mustDo(t, db.SaveLineChannel(ctx, chB))

		plain, err := e.a.LinkURL(e.s.ID, e.cust.ID)
		mustDo(t, err)
		if on, _ := e.a.LinkURLOn(e.s.ID, e.cust.ID, 0); on != plain {
			t.Fatalf("the primary's link URL changed: %s", on)
		}
		// Another shop's channel id is not an account to link on.
		if rec := e.serve(httptestGet(plain + "&c=999999")); rec.Code != 400 || countRows(t, db, &store.LinkLogin{}, "") != 0 {
			t.Fatalf("foreign channel id: %d", rec.Code)
		}
		u, err := e.a.LinkURLOn(e.s.ID, e.cust.ID, chB.ID)
		mustDo(t, err)
		la := e.authorize(t, e.startURL(t, u))
		if got := la.authURL.Query().Get("client_id"); got != loginB {
			t.Fatalf("LINE Login channel %s, want account B's %s", got, loginB)
		}
		if rec := e.callback(la, la.callback, "ja"); rec.Code != 200 {
			t.Fatalf("callback: %d %s", rec.Code, rec.Body)
		}
		link, err := db.LiveLink(ctx, e.cust.ID)
		if err != nil || link.ChannelID != chB.ID {
			t.Fatalf("link %+v %v; want it on channel %d", link, err, chB.ID)
		}
		f, err := db.FriendOnChannel(ctx, chB.ID, testLineUser)
		if err != nil || f.CustomerID == nil || *f.CustomerID != e.cust.ID {
			t.Fatalf("friend on B: %+v %v", f, err)
		}
		e.processPending(t)
		e.sendQueued(t)
		pushes := e.line.Pushes()
		if len(pushes) != 1 || pushes[0].Token != testTokenB {
			t.Fatalf("coupon pushes %+v; want one with account B's token", pushes)
		}

	})
}

// Settings lets an admin add a second LINE account (a name and the
// credentials, checked as for the first), shows each account's webhook URL
// and makes either one the primary; the campaign composer then asks which
// account sends, and the inbox names the account of each conversation.
func TestSettingsLineAccounts(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e := newLinkEnv(t, db, testenv.Redis(t), "")
	ctx := context.Background()
	a := e.a
	page := func(path string) string {
		t.Helper()
		rec := adminDo(t, a, testShop, http.MethodGet, path, nil)
		if rec.Code != 200 {
			t.Fatalf("%s: %d", path, rec.Code)
		}
		return rec.Body.String()
	}
	body := page("/admin/settings")
	if !strings.Contains(body, `id="accounts"`) || !strings.Contains(body, "/webhooks/line/"+testWebhookKey) || !strings.Contains(body, `id="account-form"`) {
		t.Fatalf("settings page lacks the accounts list or the add form:\n%s", body)
	}
	if strings.Contains(page("/admin/campaigns/new"), `id="c-account"`) {
		t.Fatal("the composer asks for an account when the shop has one")
	}

	good := url.Values{"name": {"アウトレット"}, "messaging_channel_id": {"2000000002"}, "messaging_channel_secret": {testMsgSecretB},
		"messaging_access_token": {testTokenB}}
	for _, tc := range []struct {
		name string
		edit func(url.Values)
	}{
		{"no name", func(v url.Values) { v.Del("name") }},
		{"name too long", func(v url.Values) { v.Set("name", strings.Repeat("あ", 51)) }},
		{"letters in channel id", func(v url.Values) { v.Set("messaging_channel_id", "abc") }},
		{"no token", func(v url.Values) { v.Del("messaging_access_token") }},
		{"masked secret", func(v url.Values) { v.Set("messaging_channel_secret", "••••abcd") }},
		{"the first account's channel again", func(v url.Values) { v.Set("messaging_channel_id", "2000000001") }},
	} {
		v := url.Values{}
		for k, vs := range good {
			v[k] = vs
		}
		tc.edit(v)
		rec := adminForm(t, a, "/admin/settings/line-accounts", v)
		if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "acct_err=") {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Header().Get("Location"))
		}
	}
	if all, _ := db.LineChannels(ctx, e.s.ID); len(all) != 1 {
		t.Fatalf("%d channels after refused forms", len(all))
	}
	if rec := adminForm(t, a, "/admin/settings/line-accounts", good); rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "acct=1") {
		t.Fatalf("add: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	all, err := db.LineChannels(ctx, e.s.ID)
	if err != nil || len(all) != 2 {
		t.Fatalf("channels %+v %v", all, err)
	}
	chA, chB := all[0], all[1]
	if !chA.IsPrimary || chB.IsPrimary || chB.Name != "アウトレット" || chB.WebhookKey == chA.WebhookKey || chB.WebhookKey == "" {
		t.Fatalf("accounts: %+v / %+v", chA, chB)
	}
	if tok, _ := a.Box.Open(chB.MessagingTokenEnc); tok != testTokenB {
		t.Fatal("the second account's token is not stored sealed")
	}
	body = page("/admin/settings")
	if !strings.Contains(body, "/webhooks/line/"+chB.WebhookKey) || !strings.Contains(body, `/admin/settings/line-accounts/`+itoa(chB.ID)+`/primary`) {
		t.Fatalf("settings page lacks the second account:\n%s", body)
	}
	// Its credentials are edited with ?channel=.
	if body := page("/admin/settings?channel=" + itoa(chB.ID)); !strings.Contains(body, `data-api="/api/settings/line?channel=`+itoa(chB.ID)+`"`) {
		t.Fatal("the form does not edit the chosen account")
	}
	rec := adminDo(t, a, testShop, http.MethodPut, "/api/settings/line?channel="+itoa(chB.ID), map[string]string{"name": "Outlet", "messaging_channel_id": "2000000002"})
	if rec.Code != 200 {
		t.Fatalf("edit B: %d %s", rec.Code, rec.Body)
	}
	if ch, _ := db.LineChannelByID(ctx, e.s.ID, chB.ID); ch.Name != "Outlet" || ch.IsPrimary {
		t.Fatalf("B after edit: %+v", ch)
	}
	if p, _ := db.LineChannel(ctx, e.s.ID); p.ID != chA.ID || p.Name == "Outlet" {
		t.Fatal("editing B changed the primary")
	}
	if rec := adminDo(t, a, testShop, http.MethodGet, "/api/settings/line/channels", nil); rec.Code != 200 || strings.Count(rec.Body.String(), `"webhook_url"`) != 2 ||
		strings.Contains(rec.Body.String(), testTokenB) {
		t.Fatalf("channels API: %d %s", rec.Code, rec.Body)
	}

	// The composer picks the account; a campaign cannot name another shop's.
	if body := page("/admin/campaigns/new"); !strings.Contains(body, `id="c-account"`) || !strings.Contains(body, "Outlet") {
		t.Fatalf("composer lacks the account picker:\n%s", body)
	}
	camp := map[string]any{"name": "x", "builtin": "linked_never_ordered", "messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"hi"}`)}, "line_channel_id": 999999}
	if rec := adminDo(t, a, testShop, http.MethodPost, "/api/campaigns", camp); rec.Code < 400 || rec.Code >= 500 || !strings.Contains(rec.Body.String(), "LINE account") {
		t.Fatalf("campaign on a foreign account: %d %s", rec.Code, rec.Body)
	}
	camp["line_channel_id"] = chB.ID
	rec = adminDo(t, a, testShop, http.MethodPost, "/api/campaigns", camp)
	if rec.Code != http.StatusCreated || !strings.Contains(rec.Body.String(), `"line_channel_id":`+itoa(chB.ID)) {
		t.Fatalf("campaign on B: %d %s", rec.Code, rec.Body)
	}

	// The inbox names the account of each conversation.
	e.deliverLINEOn(t, chB.WebhookKey, testMsgSecretB, lineEvent(t, "message_text_user.json", friendUser, "01HZZSETTINGSACCOUNTS00001", "", testNow, "hi"))
	if body := page("/admin/inbox"); !strings.Contains(body, `data-account="`+itoa(chB.ID)+`"`) || !strings.Contains(body, ">Outlet<") {
		t.Fatalf("inbox does not name the account:\n%s", body)
	}

	// Make B the primary from the page.
	if rec := adminForm(t, a, "/admin/settings/line-accounts/"+itoa(chB.ID)+"/primary", url.Values{}); rec.Code != http.StatusSeeOther {
		t.Fatalf("make primary: %d", rec.Code)
	}
	if p, _ := db.LineChannel(ctx, e.s.ID); p.ID != chB.ID {
		t.Fatalf("primary is %d, want %d", p.ID, chB.ID)
	}
}

// The greeting's link button of a friend of a second account leads, through
// the store's app proxy (which signs the account id with the rest of its
// query), to that account's link URL; a friend of the primary gets the
// plain one.
func TestFriendLinkCarriesAccount(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e, clk := newInboxEnv(t, db)
	chB := e.addSecondChannel(t)
	buttonOf := func(replyToken string) string {
		t.Helper()
		for _, r := range e.line.Replies() {
			if r.ReplyToken != replyToken {
				continue
			}
			s := string(r.Messages[0])
			i := strings.Index(s, "/link/friend?t=")
			if i < 0 {
				t.Fatalf("greeting without a link button: %s", s)
			}
			return s[i : i+strings.IndexByte(s[i:], '"')]
		}
		t.Fatalf("no greeting with reply token %s", replyToken)
		return ""
	}
	e.line.IssueReplyToken("rt-fl-a")
	e.deliverLINE(t, lineEvent(t, "follow.json", friendUser, "01HZZFRIENDLINKACCOUNT000A", "rt-fl-a", clk.Now(), ""))
	e.line.IssueReplyToken("rt-fl-b")
	e.deliverLINEOn(t, testWebhookKeyB, testMsgSecretB, lineEvent(t, "follow.json", friendUser, "01HZZFRIENDLINKACCOUNT000B", "rt-fl-b", clk.Now(), ""))
	shopLink := "https://" + testShop + "/apps/tsunagu/link"
	for tok, want := range map[string]string{"rt-fl-a": shopLink, "rt-fl-b": shopLink + "?c=" + itoa(chB.ID)} {
		rec := e.serve(httptestGet(buttonOf(tok)))
		if rec.Code != http.StatusFound || rec.Header().Get("Location") != want {
			t.Fatalf("button of %s: %d %s, want %s", tok, rec.Code, rec.Header().Get("Location"), want)
		}
	}
	proxy := func(customer string) *httptest.ResponseRecorder {
		q := url.Values{"shop": {testShop}, "path_prefix": {"/apps/tsunagu"}, "timestamp": {fmt.Sprint(testNow.Unix())},
			"logged_in_customer_id": {customer}, "c": {itoa(chB.ID)}}
		q.Set("signature", shopify.ProxySignature(e.a.Config.ShopifyAPISecret, q))
		return e.serve(httptestGet("/proxy/link?" + q.Encode()))
	}
	if rec := proxy(""); rec.Header().Get("Location") != "/account/login?return_url="+url.QueryEscape("/apps/tsunagu/link?c="+itoa(chB.ID)) {
		t.Fatalf("not signed in: %s", rec.Header().Get("Location"))
	}
	rec := proxy("98765")
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusFound || !strings.HasSuffix(loc, "&c="+itoa(chB.ID)) || !strings.Contains(loc, "/link/start?t=") {
		t.Fatalf("signed in: %d %s", rec.Code, loc)
	}
}

// A block on one account says nothing of the user's friendship with
// another: an unfollow on the second account leaves a link made on the
// primary reachable (also when the link's channel was deleted, which makes
// it the primary's); an unfollow on the primary marks it blocked.
func TestBlockOnOtherAccountKeepsLink(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e, clk := newInboxEnv(t, db)
	ctx := context.Background()
	e.addSecondChannel(t)
	l := &store.LineLink{ShopID: e.s.ID, CustomerID: e.cust.ID, LineUserID: friendUser, Friend: true, LinkedAt: clk.Now()}
	mustDo(t, db.CreateLink(ctx, l))
	mustDo(t, db.G.Exec("UPDATE line_links SET channel_id = NULL WHERE id = ?", l.ID).Error)
	e.deliverLINEOn(t, testWebhookKeyB, testMsgSecretB, lineEvent(t, "unfollow.json", friendUser, "01HZZBLOCKOTHERACCOUNT000B", "", clk.Now(), ""))
	if got, _ := db.Link(ctx, l.ID); got.Blocked || !got.Friend {
		t.Fatalf("an unfollow on the second account blocked the primary's link: %+v", got)
	}
	e.deliverLINE(t, lineEvent(t, "unfollow.json", friendUser, "01HZZBLOCKOTHERACCOUNT000A", "", clk.Now(), ""))
	if got, _ := db.Link(ctx, l.ID); !got.Blocked {
		t.Fatalf("an unfollow on the primary left the link reachable: %+v", got)
	}
}

// A rich menu belongs to one LINE account: a menu made for the second
// account is created, given its image, set as default and linked with that
// account's token, only to customers linked on it; the primary's default
// menu stays the primary's default, and its customers get no menu of the
// second account.
func TestRichMenuPerAccount(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	e, clk := newInboxEnv(t, db)
	ctx := context.Background()
	chB := e.addSecondChannel(t)
	userA, userB := uid("rm-on-a"), uid("rm-on-b")
	custB := &store.Customer{ShopID: e.s.ID, ShopifyID: 777001, FirstName: "B", CreatedAt: testNow, UpdatedAt: testNow}
	mustDo(t, db.WithContext(ctx).Omit("id").Create(custB).Error)
	mustDo(t, db.CreateLink(ctx, &store.LineLink{ShopID: e.s.ID, CustomerID: e.cust.ID, LineUserID: userA, Friend: true, LinkedAt: clk.Now()}))
	mustDo(t, db.CreateLink(ctx, &store.LineLink{ShopID: e.s.ID, CustomerID: custB.ID, LineUserID: userB, Friend: true, LinkedAt: clk.Now(), ChannelID: chB.ID}))

	create := func(body map[string]any) store.RichMenu {
		t.Helper()
		rec := adminCall(t, e.a, http.MethodPost, "/api/richmenus", body)
		if rec.Code != http.StatusCreated {
			t.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
		return decode[store.RichMenu](t, rec)
	}
	defA := create(menuBody(t, "primary default", "default", 0))
	b := menuBody(t, "outlet default", "default", 0)
	b["channel_id"] = chB.ID
	defB := create(b)
	b = menuBody(t, "outlet members", "linked", 10)
	b["channel_id"] = chB.ID
	linkedB := create(b)
	if defB.ChannelID == nil || *defB.ChannelID != chB.ID || defA.ChannelID == nil || *defA.ChannelID == chB.ID {
		t.Fatalf("channels: A %v, B %v", defA.ChannelID, defB.ChannelID)
	}
	b = menuBody(t, "nowhere", "default", 0)
	b["channel_id"] = chB.ID + 1000
	if rec := adminCall(t, e.a, http.MethodPost, "/api/richmenus", b); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("a menu for another shop's account: %d %s", rec.Code, rec.Body)
	}

	if _, err := e.a.Worker().SyncRichMenus(ctx, e.s.ID); err != nil {
		t.Fatal(err)
	}
	load := func(id int64) store.RichMenu {
		t.Helper()
		m, err := db.RichMenu(ctx, e.s.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		return *m
	}
	a, bd, bl := load(defA.ID), load(defB.ID), load(linkedB.ID)
	for _, m := range []store.RichMenu{a, bd, bl} {
		if m.SyncState != store.RichMenuLinked || m.LastError != "" {
			t.Fatalf("menu %q: state %q, error %q", m.Name, m.SyncState, m.LastError)
		}
	}
	if a.Audience != store.AudienceDefault || !a.LineDefault {
		t.Fatalf("the primary's default menu lost its place to the other account's: audience %q, default %v", a.Audience, a.LineDefault)
	}
	for _, c := range []struct {
		menu  store.RichMenu
		token string
	}{{a, testLINEToken}, {bd, testTokenB}, {bl, testTokenB}} {
		if got := e.line.RichMenuChannel(c.menu.LineRichMenuID); got != c.token {
			t.Errorf("menu %q created with token %q, want %q", c.menu.Name, got, c.token)
		}
	}
	if got := e.line.DefaultRichMenuOn(testLINEToken); got != a.LineRichMenuID {
		t.Errorf("primary's default at LINE: %q, want %q", got, a.LineRichMenuID)
	}
	if got := e.line.DefaultRichMenuOn(testTokenB); got != bd.LineRichMenuID {
		t.Errorf("second account's default at LINE: %q, want %q", got, bd.LineRichMenuID)
	}
	if got := e.line.RichMenuOfOn(testTokenB, userB); got != bl.LineRichMenuID {
		t.Errorf("customer linked on B shows %q on B, want %q", got, bl.LineRichMenuID)
	}
	if got := e.line.RichMenuOf(userA); got != "" {
		t.Errorf("customer linked on A was given %q", got)
	}
	if users, _ := db.RichMenuUsers(ctx, e.s.ID); users[bl.ID] != 1 {
		t.Errorf("users of B's linked menu: %d, want 1", users[bl.ID])
	}

	// The page names each menu's account and the editor offers the accounts.
	page := adminCall(t, e.a, http.MethodGet, "/admin/richmenus?lang=en", nil)
	body := page.Body.String()
	if page.Code != http.StatusOK || !strings.Contains(body, `id="rm-account"`) || !strings.Contains(body, `data-account="`+itoa(chB.ID)+`">Outlet<`) {
		t.Fatalf("rich menu page: %d, account picker or column missing", page.Code)
	}

	// Deleting B's default clears B's default only.
	if rec := adminCall(t, e.a, http.MethodDelete, "/api/richmenus/"+itoa(bd.ID), nil); rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if _, err := e.a.Worker().SyncRichMenus(ctx, e.s.ID); err != nil {
		t.Fatal(err)
	}
	if e.line.DefaultRichMenuOn(testTokenB) != "" || e.line.DefaultRichMenuOn(testLINEToken) != a.LineRichMenuID {
		t.Errorf("after deleting B's default: A %q, B %q", e.line.DefaultRichMenuOn(testLINEToken), e.line.DefaultRichMenuOn(testTokenB))
	}
}

// A template may be set for one LINE account: a message sent from that
// account uses it, a message from another account the shop's template;
// resetting the account's template returns it to the shop's.
func TestTemplateOverridePerAccount(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	e, clk := newInboxEnv(t, db)
	ctx := context.Background()
	chB := e.addSecondChannel(t)
	userA, userB := uid("tpl-on-a"), uid("tpl-on-b")
	custB := &store.Customer{ShopID: e.s.ID, ShopifyID: 777002, FirstName: "B", CreatedAt: testNow, UpdatedAt: testNow}
	mustDo(t, db.WithContext(ctx).Omit("id").Create(custB).Error)
	mustDo(t, db.CreateLink(ctx, &store.LineLink{ShopID: e.s.ID, CustomerID: e.cust.ID, LineUserID: userA, Friend: true, LinkedAt: clk.Now()}))
	mustDo(t, db.CreateLink(ctx, &store.LineLink{ShopID: e.s.ID, CustomerID: custB.ID, LineUserID: userB, Friend: true, LinkedAt: clk.Now(), ChannelID: chB.ID}))

	put := func(q, src string) *httptest.ResponseRecorder {
		return adminCall(t, e.a, http.MethodPut, "/api/templates/thank_you?"+q, map[string]string{"source": src})
	}
	for _, lang := range []string{"ja", "en"} {
		if rec := put("lang="+lang, `[{"type":"text","text":{{json (print "shop-wide " .Order.Name)}}}]`); rec.Code != http.StatusOK {
			t.Fatalf("shop template: %d %s", rec.Code, rec.Body)
		}
		if rec := put("lang="+lang+"&channel="+itoa(chB.ID), `[{"type":"text","text":{{json (print "outlet only " .Order.Name)}}}]`); rec.Code != http.StatusOK {
			t.Fatalf("account template: %d %s", rec.Code, rec.Body)
		}
	}
	if rec := put("lang=ja&channel="+itoa(chB.ID+1000), `[{"type":"text","text":"x"}]`); rec.Code != http.StatusNotFound {
		t.Fatalf("another shop's account: %d %s", rec.Code, rec.Body)
	}
	if rec := put("lang=ja&channel="+itoa(chB.ID), `[{"type":"text","text":{{json .Nope}}}]`); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("a broken account template was saved: %d", rec.Code)
	}
	list := func(q string) templateJSON {
		t.Helper()
		l := decode[struct{ Templates []templateJSON }](t, adminCall(t, e.a, http.MethodGet, "/api/templates"+q, nil))
		for _, tj := range l.Templates {
			if tj.Kind == "thank_you" && tj.Lang == "ja" {
				return tj
			}
		}
		t.Fatal("no thank_you template")
		return templateJSON{}
	}
	if tj := list("?channel=" + itoa(chB.ID)); !tj.AccountOverride || !strings.Contains(tj.Source, "outlet only") {
		t.Fatalf("account B's template: %+v", tj)
	}
	if tj := list(""); tj.AccountOverride || !strings.Contains(tj.Source, "shop-wide") {
		t.Fatalf("the shop's template: %+v", tj)
	}

	// A thank-you to a customer of each account.
	for i, c := range []*store.Customer{e.cust, custB} {
		o := &store.Order{ShopID: e.s.ID, ShopifyID: int64(880001 + i), CustomerID: &c.ID, Name: fmt.Sprintf("#%d", 8001+i),
			OrderedAt: clk.Now(), TotalPrice: mustDec("1000")}
		mustDo(t, db.UpsertOrder(ctx, o))
		m := &store.Message{ShopID: e.s.ID, CustomerID: &c.ID, Kind: "thank_you", DedupeKey: fmt.Sprintf("thank_you/%d", o.ID),
			RefType: "order", RefID: o.ID, ScheduledFor: clk.Now()}
		if _, err := db.PlanMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	e.sendQueued(t)
	got := map[string]string{}
	for _, p := range e.line.Pushes() {
		if p.To == userA || p.To == userB {
			got[p.To] = p.Token + " " + string(p.Messages[0])
		}
	}
	if !strings.HasPrefix(got[userB], testTokenB+" ") || !strings.Contains(got[userB], "outlet only #8002") {
		t.Errorf("thank-you on account B: %q", got[userB])
	}
	if !strings.HasPrefix(got[userA], testLINEToken+" ") || !strings.Contains(got[userA], "shop-wide #8001") {
		t.Errorf("thank-you on the primary: %q", got[userA])
	}

	// Reset: the account uses the shop's template again.
	rec := put("lang=ja&channel="+itoa(chB.ID), "")
	if tj := decode[templateJSON](t, rec); rec.Code != http.StatusOK || tj.AccountOverride || !strings.Contains(tj.Source, "shop-wide") {
		t.Fatalf("after reset: %d %+v", rec.Code, tj)
	}
	page := adminCall(t, e.a, http.MethodGet, "/admin/templates?lang=en&kind=thank_you&tlang=en&channel="+itoa(chB.ID), nil)
	if body := page.Body.String(); page.Code != http.StatusOK || !strings.Contains(body, `id="tpl-account"`) || !strings.Contains(body, "This account&#39;s own") ||
		!strings.Contains(body, `data-channel="`+itoa(chB.ID)+`"`) {
		t.Fatalf("template page for account B: %d", page.Code)
	}
}

// A staff test send goes out from the LINE account the composer chose.
func TestStaffTestSendThroughChosenAccount(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e, clk := newInboxEnv(t, db)
	ctx := context.Background()
	chB := e.addSecondChannel(t)
	staff := uid("staff-b")
	sl := &store.StaffLine{ShopID: e.s.ID, Name: "Aiko", Code: "123456", CodeExpiresAt: clk.Now().Add(time.Hour)}
	mustDo(t, db.CreateStaffLine(ctx, sl))
	if ok, err := db.ClaimStaffLineCode(ctx, e.s.ID, "123456", staff, "Aiko", clk.Now()); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	send := func(ch int64) *httptest.ResponseRecorder {
		return adminCall(t, e.a, http.MethodPost, "/api/campaigns/test", map[string]any{"staff_line_id": sl.ID, "line_channel_id": ch,
			"messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"test"}`)}})
	}
	for _, c := range []struct {
		ch    int64
		token string
	}{{chB.ID, testTokenB}, {0, testLINEToken}} {
		if rec := send(c.ch); rec.Code != http.StatusOK {
			t.Fatalf("test send on %d: %d %s", c.ch, rec.Code, rec.Body)
		}
		ps := e.line.Pushes()
		if last := ps[len(ps)-1]; last.To != staff || last.Token != c.token {
			t.Fatalf("test send on %d went to %s with %q, want %q", c.ch, last.To, last.Token, c.token)
		}
	}
	if rec := send(chB.ID + 1000); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("another shop's account: %d %s", rec.Code, rec.Body)
	}
}

// The composer's cost forecast reads the quota of the account it sends from.
func TestForecastUsesChosenAccountQuota(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e, clk := newInboxEnv(t, db)
	ctx := context.Background()
	chB := e.addSecondChannel(t)
	chA, err := db.LineChannel(ctx, e.s.ID)
	mustDo(t, err)
	mustDo(t, db.SaveChannelQuotaReading(ctx, e.s.ID, chA.ID, true, 1000, 100, clk.Now()))
	mustDo(t, db.SaveChannelQuotaReading(ctx, e.s.ID, chB.ID, true, 1000, 990, clk.Now()))
	left := func(q string) int64 {
		t.Helper()
		rec := adminCall(t, e.a, http.MethodPost, "/api/campaigns/forecast"+q, map[string]any{"builtin": "linked_never_ordered"})
		if rec.Code != http.StatusOK {
			t.Fatalf("forecast%s: %d %s", q, rec.Code, rec.Body)
		}
		out := decode[struct {
			Forecast core.Forecast `json:"forecast"`
		}](t, rec)
		if out.Forecast.QuotaRemaining == nil {
			t.Fatalf("forecast%s: quota unknown", q)
		}
		return *out.Forecast.QuotaRemaining
	}
	if a, b := left(""), left("?channel="+itoa(chB.ID)); a != 900 || b != 10 {
		t.Fatalf("quota left: primary %d, account B %d; want 900 and 10", a, b)
	}
	// The home page shows each account's quota.
	home := adminCall(t, e.a, http.MethodGet, "/admin?lang=en", nil)
	body := home.Body.String()
	if home.Code != http.StatusOK || !strings.Contains(body, `<li data-account="`+itoa(chB.ID)+`">Outlet: LINE messages this month 990 / 1000 (left 10)`) ||
		!strings.Contains(body, "100 / 1000 (left 900)") {
		t.Fatalf("home page quotas: %d", home.Code)
	}
	if rec := adminCall(t, e.a, http.MethodPost, "/api/campaigns/forecast?channel="+itoa(chB.ID+1000), map[string]any{"builtin": "linked_never_ordered"}); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("another shop's account: %d", rec.Code)
	}
}
