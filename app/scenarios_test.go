package app

import (
	"context"
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

// A friend-add scenario edited in the admin (days, not minutes) plans its
// steps as message rows when a friend follows; each step goes through the
// journey path; a friend who links meets the "linked" stop condition: that
// step is skipped with the reason and the rest of their run is cancelled,
// while another friend gets every step. Bad forms are refused at save.
func TestScenarioStopsOnCondition(t *testing.T) {
	db := testenv.Postgres(t)
	e, clk := newInboxEnv(t, db)
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
		"too long":            {"name": {"x"}, "trigger": {core.TriggerFriendAdd}, "days_0": {"1"}, "text_ja_0": {strings.Repeat("あ", core.MaxStepRunes+1)}},
	} {
		if rec := adminForm(t, e.a, "/admin/scenarios", bad); rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "notice") {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Header().Get("Location"))
		}
	}
	scs, err := db.Scenarios(ctx, e.s.ID)
	if err != nil || len(scs) != 1 || len(scs[0].Steps) != 3 || scs[0].Steps[1].Days != 3 {
		t.Fatalf("scenarios %+v %v", scs, err)
	}
	if rec := adminDo(t, e.a, testShop, http.MethodGet, "/admin/scenarios", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Welcome series") {
		t.Fatalf("page: %d", rec.Code)
	}

	follow := func(n int) *store.LineFriend {
		t.Helper()
		e.deliverLINE(t, lineEvent(t, "follow.json", nudgeUser(n), "01HZZSCNFOLLOW00000000000"+string(rune('0'+n)), "", clk.Now(), ""))
		f, err := db.FriendByUser(ctx, e.s.ID, nudgeUser(n))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	linker, stayer := follow(1), follow(2)
	step := func(f *store.LineFriend, pos int) *store.Message {
		t.Helper()
		m, err := db.MessageByKey(ctx, core.ScenarioStepKey(e.s.ID, scs[0].ID, core.ScenarioRecipient(f.ID, 0), pos))
		if err != nil {
			t.Fatalf("step %d of friend %d: %v", pos, f.ID, err)
		}
		return m
	}
	for _, f := range []*store.LineFriend{linker, stayer} {
		for pos, days := range []int{1, 3, 7} {
			if m := step(f, pos); m.Status != store.MsgQueued || !m.ScheduledFor.Equal(testNow.AddDate(0, 0, days)) {
				t.Fatalf("planned step %+v", m)
			}
		}
	}

	pushes := len(e.line.Pushes())
	clk.Add(24*time.Hour + time.Minute)
	e.sendQueued(t)
	for _, f := range []*store.LineFriend{linker, stayer} {
		if m := step(f, 0); m.Status != store.MsgSent {
			t.Fatalf("day 1 step %+v", m)
		}
	}
	if p := e.line.Pushes(); len(p) != pushes+2 || !strings.Contains(string(p[pushes].Messages[0]), "/c/") {
		t.Fatalf("day 1 pushes %d (links tracked?) %s", len(p)-pushes, p[pushes].Messages[0])
	}

	// The first friend links before day 3.
	c := addCustomer(t, db, e.s.ID, 8801)
	if err := db.CreateLink(ctx, &store.LineLink{ShopID: e.s.ID, CustomerID: c.ID, LineUserID: nudgeUser(1), Friend: true, LinkedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := db.MergeFriend(ctx, linker.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * 24 * time.Hour)
	e.sendQueued(t)
	stopped := core.ReasonScenarioStopped + ": " + core.StopLinked
	if m := step(linker, 1); m.Status != store.MsgSkipped || m.Reason != stopped {
		t.Fatalf("linked friend's day 3 step %+v", m)
	}
	if m := step(linker, 2); m.Status != store.MsgCancelled || m.Reason != stopped {
		t.Fatalf("linked friend's day 7 step %+v", m)
	}
	if m := step(stayer, 1); m.Status != store.MsgSent {
		t.Fatalf("unlinked friend's day 3 step %+v", m)
	}
	clk.Add(4 * 24 * time.Hour)
	e.sendQueued(t)
	if m := step(stayer, 2); m.Status != store.MsgSent {
		t.Fatalf("unlinked friend's day 7 step %+v", m)
	}
	if n := len(e.line.Pushes()) - pushes; n != 4 {
		t.Fatalf("%d scenario pushes, want 4", n)
	}
	// A redelivered follow starts nothing twice.
	if n := countRows(t, db, &store.Message{}, "kind = ?", core.KindScenarioStep); n != 6 {
		t.Fatalf("%d step rows", n)
	}
}
