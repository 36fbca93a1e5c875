package app

import (
	"bytes"
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
)

// adminForm posts a form to the admin as the shop's owner.
func adminForm(t *testing.T, a *App, target string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.AddCookie(&http.Cookie{Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(testShop+"|staff-1"), testNow.Add(time.Hour))})
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	return rec
}

// A friend-add scenario edited in the admin (days, not minutes) is saved
// with its steps; bad forms are refused with a notice.
func TestScenarioAdminForm(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	e, _ := newInboxEnv(t, db)
	ctx := context.Background()
	form := url.Values{"name": {"Welcome series"}, "trigger": {core.TriggerFriendAdd}, "enabled": {"1"},
		"days_0": {"1"}, "text_ja_0": {"ようこそ！ https://shop.example.com/new"}, "text_en_0": {"Welcome!"}, "stop_0": {""},
		"days_1": {"3"}, "text_ja_1": {"連携するとクーポンがもらえます"}, "stop_1": {core.StopLinked},
		"days_2": {"7"}, "text_ja_2": {"まだ連携していませんか？"}, "stop_2": {core.StopLinked}}
	if rec := adminForm(t, e.a, "/admin/scenarios", form); rec.Code != http.StatusSeeOther || strings.Contains(rec.Header().Get("Location"), "notice") {
		t.Fatalf("saving: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	for name, bad := range map[string]url.Values{
		"days going back":     {"name": {"x"}, "trigger": {core.TriggerFriendAdd}, "days_0": {"5"}, "text_ja_0": {"a"}, "days_1": {"2"}, "text_ja_1": {"b"}},
		"linked after a link": {"name": {"x"}, "trigger": {core.TriggerLink}, "days_0": {"1"}, "text_ja_0": {"a"}, "stop_0": {core.StopLinked}},
		"no steps":            {"name": {"x"}, "trigger": {core.TriggerFriendAdd}},
		"unknown trigger":     {"name": {"x"}, "trigger": {"birthday"}, "days_0": {"1"}, "text_ja_0": {"a"}},
		"unknown stop":        {"name": {"x"}, "trigger": {core.TriggerFriendAdd}, "days_0": {"1"}, "text_ja_0": {"a"}, "stop_0": {"birthday"}},
		"too long":            {"name": {"x"}, "trigger": {core.TriggerFriendAdd}, "days_0": {"1"}, "text_ja_0": {strings.Repeat("あ", core.MaxStepRunes+1)}},
	} {
		if rec := adminForm(t, e.a, "/admin/scenarios", bad); rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "notice") {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Header().Get("Location"))
		}
	}
	scs, err := db.Scenarios(ctx, e.s.ID)
	if err != nil || len(scs) != 1 || len(scs[0].Steps) != 3 || scs[0].Steps[1].Days != 3 || scs[0].Steps[1].Stop != core.StopLinked {
		t.Fatalf("scenarios %+v %v", scs, err)
	}
	if rec := adminDo(t, e.a, testShop, http.MethodGet, "/admin/scenarios", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Welcome series") {
		t.Fatalf("page: %d", rec.Code)
	}
}

// scenarioOrder is the orders/create example as order id of the customer
// with Shopify id custShopifyID, placed at.
func scenarioOrder(t *testing.T, id, custShopifyID int64, at time.Time) []byte {
	t.Helper()
	raw, _ := orderFixture(t)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	m["id"] = id
	m["name"] = fmt.Sprintf("#%d", id)
	m["order_number"] = id
	m["created_at"], m["processed_at"], m["updated_at"] = at.Format(time.RFC3339), at.Format(time.RFC3339), at.Format(time.RFC3339)
	m["admin_graphql_api_id"] = fmt.Sprintf("gid://shopify/Order/%d", id)
	cust := m["customer"].(map[string]any)
	cust["id"] = custShopifyID
	cust["admin_graphql_api_id"] = fmt.Sprintf("gid://shopify/Customer/%d", custShopifyID)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// scenarioRun drives one recipient of a scenario test: n names the LINE
// user (nudgeUser(n)) and, for a customer, its Shopify id 8800+n.
type scenarioRun struct {
	e      *linkEnv
	clk    *testClock
	db     *store.DB
	n      int
	cust   *store.Customer
	friend *store.LineFriend
	who    string // recipient in the step keys
	order  int64  // orders placed so far
}

func (r *scenarioRun) follow(t *testing.T) {
	t.Helper()
	r.e.deliverLINE(t, lineEvent(t, "follow.json", nudgeUser(r.n), fmt.Sprintf("01HZZSCNFOLLOW%012d", r.n), "", r.clk.Now(), ""))
	f, err := r.db.FriendByUser(context.Background(), r.e.s.ID, nudgeUser(r.n))
	if err != nil {
		t.Fatal(err)
	}
	r.friend = f
}

// link links the recipient's LINE user to its customer through LINE Login
// (the real flow: callback, link event, onLinked).
func (r *scenarioRun) link(t *testing.T) {
	t.Helper()
	if r.cust == nil {
		r.cust = addCustomer(t, r.db, r.e.s.ID, int64(8800+r.n))
	}
	r.e.line.SetLoginUser(nudgeUser(r.n), fmt.Sprintf("Friend %d", r.n), true)
	la := r.e.authorize(t, r.e.start(t, r.cust))
	if rec := r.e.callback(la, la.callback, ""); rec.Code != http.StatusOK {
		t.Fatalf("link callback: %d %s", rec.Code, rec.Body)
	}
	r.e.processPending(t)
}

// buy places an order of the recipient's customer (orders/create webhook).
func (r *scenarioRun) buy(t *testing.T) {
	t.Helper()
	r.order++
	id := int64(9_000_000 + 100*r.n + int(r.order))
	if rec := r.e.serve(webhookRequest("orders/create", fmt.Sprint("scn-order-", id), scenarioOrder(t, id, r.cust.ShopifyID, r.clk.Now()), r.e.shop.APISecret)); rec.Code != 200 {
		t.Fatalf("order webhook: %d %s", rec.Code, rec.Body)
	}
	r.e.processPending(t)
}

// click opens the tracked link of the last push to the recipient.
func (r *scenarioRun) click(t *testing.T) {
	t.Helper()
	var text string
	for _, p := range r.e.line.Pushes() {
		if p.To == nudgeUser(r.n) {
			text = string(p.Messages[0])
		}
	}
	i := strings.Index(text, "/c/")
	if i < 0 {
		t.Fatalf("no tracked link pushed to recipient %d: %s", r.n, text)
	}
	tok := text[i+3:]
	tok = tok[:strings.IndexAny(tok, "\" \\")]
	if rec := r.e.serve(httptest.NewRequest(http.MethodGet, "/c/"+tok, nil)); rec.Code != http.StatusFound {
		t.Fatalf("click: %d", rec.Code)
	}
}

func (r *scenarioRun) block(t *testing.T) {
	t.Helper()
	r.e.deliverLINE(t, lineEvent(t, "unfollow.json", nudgeUser(r.n), fmt.Sprintf("01HZZSCNUNFOLL%012d", r.n), "", r.clk.Now(), ""))
}

func (r *scenarioRun) step(t *testing.T, scenarioID int64, pos int) *store.Message {
	t.Helper()
	m, err := r.db.MessageByKey(context.Background(), core.ScenarioStepKey(r.e.s.ID, scenarioID, r.who, pos))
	if err != nil {
		t.Fatalf("step %d of recipient %d (%s): %v", pos, r.n, r.who, err)
	}
	return m
}

// Every stop condition, on every trigger that starts a run: a scenario of
// three steps (day 1, then days 3 and 7 with the stop condition) runs for
// two recipients, started by a follow, a link through LINE Login or a
// first order (orders/create); the run's steps are planned from the
// trigger's time. After day 1 the first recipient meets the condition (links,
// orders again, clicks the day-1 link, blocks): their day-3 step is skipped
// with "scenario_stopped: <condition>" and day 7 cancelled, while the other
// recipient gets every step. A second order starts no second first-order
// run, and a click or order from before the run does not stop it.
func TestScenarioStopsOnCondition(t *testing.T) {
	t.Parallel()
	type act func(t *testing.T, r *scenarioRun)
	follow := func(t *testing.T, r *scenarioRun) { r.follow(t) }
	link := func(t *testing.T, r *scenarioRun) { r.follow(t); r.link(t) }
	firstOrder := func(t *testing.T, r *scenarioRun) { r.follow(t); r.link(t); r.buy(t) }
	cases := []struct {
		stop, trigger string
		start         act // the recipient enters the run (at day 0)
		meet          act // the first recipient meets the stop condition
	}{
		{core.StopLinked, core.TriggerFriendAdd, follow, func(t *testing.T, r *scenarioRun) { r.link(t) }},
		{core.StopOrdered, core.TriggerFriendAdd, func(t *testing.T, r *scenarioRun) { r.follow(t); r.link(t) }, func(t *testing.T, r *scenarioRun) { r.buy(t) }},
		{core.StopOrdered, core.TriggerLink, link, func(t *testing.T, r *scenarioRun) { r.buy(t) }},
		{core.StopOrdered, core.TriggerFirstOrder, firstOrder, func(t *testing.T, r *scenarioRun) { r.buy(t) }},
		{core.StopClicked, core.TriggerFriendAdd, follow, func(t *testing.T, r *scenarioRun) { r.click(t) }},
		{core.StopClicked, core.TriggerFirstOrder, firstOrder, func(t *testing.T, r *scenarioRun) { r.click(t) }},
		{core.StopBlocked, core.TriggerFriendAdd, follow, func(t *testing.T, r *scenarioRun) { r.block(t) }},
		{core.StopBlocked, core.TriggerLink, link, func(t *testing.T, r *scenarioRun) { r.block(t) }},
	}
	for _, tc := range cases {
		t.Run(tc.stop+"/"+tc.trigger, func(t *testing.T) {
			t.Parallel()
			db := testenv.Postgres(t)
			e, clk := newInboxEnv(t, db)
			ctx := context.Background()
			sc := &store.Scenario{ShopID: e.s.ID, Name: "Series", TriggerOn: tc.trigger, Enabled: true, Steps: []store.ScenarioStep{
				{Days: 1, TextJA: "ようこそ！ https://shop.example.com/new"},
				{Days: 3, TextJA: "三日目", Stop: tc.stop},
				{Days: 7, TextJA: "七日目", Stop: tc.stop},
			}}
			if err := core.CheckScenario(sc); err != nil {
				t.Fatal(err)
			}
			if err := db.SaveScenario(ctx, sc); err != nil {
				t.Fatal(err)
			}
			stopper := &scenarioRun{e: e, clk: clk, db: db, n: 1}
			stayer := &scenarioRun{e: e, clk: clk, db: db, n: 2}
			start := clk.Now()
			tc.start(t, stopper)
			tc.start(t, stayer)
			for _, r := range []*scenarioRun{stopper, stayer} {
				r.who = core.ScenarioRecipient(r.friend.ID, 0)
				if tc.trigger != core.TriggerFriendAdd {
					r.who = core.ScenarioRecipient(0, r.cust.ID)
				}
			}
			for _, r := range []*scenarioRun{stopper, stayer} {
				for pos, days := range []int{1, 3, 7} {
					if m := r.step(t, sc.ID, pos); m.Status != store.MsgQueued || !m.ScheduledFor.Equal(start.AddDate(0, 0, days)) {
						t.Fatalf("planned step %d of %d: %s at %s, want queued at day %d", pos, r.n, m.Status, m.ScheduledFor, days)
					}
				}
			}
			if tc.trigger == core.TriggerFirstOrder {
				stayer.buy(t) // a second order starts no second run
			}
			if n := countRows(t, db, &store.Message{}, "kind = ?", core.KindScenarioStep); n != 6 {
				t.Fatalf("%d step rows, want 6", n)
			}

			clk.Add(24*time.Hour + time.Minute)
			e.sendQueued(t)
			for _, r := range []*scenarioRun{stopper, stayer} {
				if m := r.step(t, sc.ID, 0); m.Status != store.MsgSent {
					t.Fatalf("day 1 step of %d: %s %q; rejected %v", r.n, m.Status, m.Reason, e.line.Rejected())
				}
			}
			pushes := len(e.line.Pushes())
			tc.meet(t, stopper)
			clk.Add(2 * 24 * time.Hour)
			e.sendQueued(t)
			stopped := core.ReasonScenarioStopped + ": " + tc.stop
			if m := stopper.step(t, sc.ID, 1); m.Status != store.MsgSkipped || m.Reason != stopped {
				t.Fatalf("day 3 step after %s: %s %q", tc.stop, m.Status, m.Reason)
			}
			if m := stopper.step(t, sc.ID, 2); m.Status != store.MsgCancelled || m.Reason != stopped {
				t.Fatalf("day 7 step after %s: %s %q", tc.stop, m.Status, m.Reason)
			}
			if m := stayer.step(t, sc.ID, 1); m.Status != store.MsgSent {
				t.Fatalf("day 3 step of the other recipient: %s %q", m.Status, m.Reason)
			}
			clk.Add(4 * 24 * time.Hour)
			e.sendQueued(t)
			if m := stayer.step(t, sc.ID, 2); m.Status != store.MsgSent {
				t.Fatalf("day 7 step of the other recipient: %s %q", m.Status, m.Reason)
			}
			var steps int
			for _, p := range e.line.Pushes()[pushes:] {
				if strings.Contains(string(p.Messages[0]), "日目") {
					steps++
					if p.To != nudgeUser(2) {
						t.Errorf("a step went to %s after the stop", p.To)
					}
				}
			}
			if steps != 2 {
				t.Fatalf("%d later steps pushed, want 2", steps)
			}
		})
	}
}
