package app

import (
	"context"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// adminCall makes an authenticated admin API request.
func adminCall(t *testing.T, a *App, method, path string, body any) *httptest.ResponseRecorder {
	t.Helper()
	return adminDo(t, a, testShop, method, path, body)
}

// audience seeds n linked customers (plus the fixed odd ones) and returns
// the LINE user ids that should receive a campaign to everyone.
type audience struct {
	shop     *store.Shop
	linked   []string
	blocked  int64
	unlinked int64
	capped   int64
	// first is linked and sendable; blockedCust blocked the account.
	first, blockedCust *store.Customer
}

func seedAudience(t *testing.T, a *App, n int) audience {
	t.Helper()
	ctx := context.Background()
	shop, first := seedLinkedCustomer(t, a, 1, uid("first"))
	au := audience{shop: shop, linked: []string{uid("first")}, first: first}
	custs := make([]store.Customer, 0, n)
	for i := 0; i < n; i++ {
		custs = append(custs, store.Customer{ShopID: shop.ID, ShopifyID: int64(1000 + i), FirstName: "C", CreatedAt: testNow, UpdatedAt: testNow})
	}
	if err := a.DB.WithContext(ctx).Omit("id").CreateInBatches(&custs, 500).Error; err != nil {
		t.Fatal(err)
	}
	links := make([]store.LineLink, 0, n)
	for i, c := range custs {
		links = append(links, store.LineLink{ShopID: shop.ID, CustomerID: c.ID, LineUserID: uid(fmt.Sprint(i)), Friend: true,
			LinkedAt: testNow, CreatedAt: testNow, UpdatedAt: testNow})
		au.linked = append(au.linked, uid(fmt.Sprint(i)))
	}
	if err := a.DB.CreateLinks(ctx, links); err != nil {
		t.Fatal(err)
	}
	// Not sendable: blocked, unlinked, never linked, and one already at today's cap.
	_, au.blockedCust = seedLinkedCustomer(t, a, 2, uid("blocked"))
	blocked, err := a.DB.LiveLinkByUser(ctx, shop.ID, uid("blocked"))
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, a.DB.SetLinkReachability(ctx, blocked.ID, true, true, testNow))
	_, gone := seedLinkedCustomer(t, a, 3, uid("gone"))
	goneLink, err := a.DB.LiveLinkByUser(ctx, shop.ID, uid("gone"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.DB.Unlink(ctx, goneLink.ID, "test", testNow); err != nil {
		t.Fatal(err)
	}
	_, _ = seedLinkedCustomer(t, a, 4, "")
	_, capped := seedLinkedCustomer(t, a, 5, uid("capped"))
	for i := 0; i < 2; i++ {
		sent := testNow.Add(-time.Hour)
		m := &store.Message{ShopID: shop.ID, CustomerID: &capped.ID, Kind: "follow_up_3", DedupeKey: fmt.Sprintf("fu:%d", i),
			ScheduledFor: sent, Status: store.MsgSent, SentAt: &sent}
		if _, err := a.DB.PlanMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	_ = first
	_ = gone
	au.blocked, au.unlinked, au.capped = 1, 1, 1
	return au
}

// crashingLINE lets LINE accept the crashAt-th multicast and then fails as
// if the worker died before recording it; after that it sends nothing.
type crashingLINE struct {
	*line.Messenger
	mu      sync.Mutex
	calls   int
	crashAt int
	crashed chan struct{}
}

func (c *crashingLINE) Multicast(ctx context.Context, token string, to []string, msgs []line.Message, key string) (line.SendResult, error) {
	return c.MulticastUnit(ctx, token, to, msgs, key, "")
}

// MulticastUnit is what campaigns call (with their aggregation unit).
func (c *crashingLINE) MulticastUnit(ctx context.Context, token string, to []string, msgs []line.Message, key, unit string) (line.SendResult, error) {
	c.mu.Lock()
	c.calls++
	n := c.calls
	c.mu.Unlock()
	if n > c.crashAt {
		return line.SendResult{}, errors.New("worker is dead")
	}
	res, err := c.Messenger.MulticastUnit(ctx, token, to, msgs, key, unit)
	if n == c.crashAt {
		close(c.crashed)
		return line.SendResult{}, errors.New("crash after LINE accepted")
	}
	return res, err
}

func runWorker(t *testing.T, a *App, w *jobs.Worker) (stop func()) {
	t.Helper()
	return startTestWorkers(t, a, w, 3, 5*time.Second)
}

func TestCampaignEndToEndWithRestart(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	db := testenv.Postgres(t)
	a := newTestApp(t, db, testenv.Redis(t), fake.URL)
	au := seedAudience(t, a, 1300) // 1301 sendable: 3 batches

	rec := adminCall(t, a, http.MethodPost, "/api/campaigns", map[string]any{
		"name": "Winter sale", "definition": map[string]any{"and": []any{}},
		"messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"冬のセール {{link}}"}`)},
		"link":     "https://shop.example/sale", "coupon_code": "WINTER", "send": true,
	})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	camp := decode[store.Campaign](t, rec)

	crash := &crashingLINE{Messenger: a.Messenger, crashAt: 2, crashed: make(chan struct{})}
	w1 := a.Worker()
	w1.LINE = crash
	stop1 := runWorker(t, a, w1)
	select {
	case <-crash.crashed:
	case <-time.After(30 * time.Second):
		c, _ := a.DB.Campaign(context.Background(), 0, camp.ID)
		counts, _ := a.DB.CampaignCounts(context.Background(), camp.ID)
		t.Fatalf("the first worker never reached the crash: %+v %+v", c, counts)
	}
	stop1()
	if got := len(fake.Multicasts()); got != 2 {
		t.Fatalf("before restart LINE accepted %d multicasts, want 2", got)
	}
	runWorker(t, a, a.Worker()) // the restarted worker

	path := fmt.Sprintf("/api/campaigns/%d", camp.ID)
	var body struct {
		Campaign store.Campaign `json:"campaign"`
		Progress Progress       `json:"progress"`
	}
	eventually(t, "campaign done", func() bool {
		body = decode[struct {
			Campaign store.Campaign `json:"campaign"`
			Progress Progress       `json:"progress"`
		}](t, adminCall(t, a, http.MethodGet, path, nil))
		return body.Campaign.Status == store.CampaignDone
	})

	got := map[string]int{}
	for _, m := range fake.Multicasts() {
		if len(m.To) > line.MaxMulticastTo {
			t.Errorf("multicast to %d", len(m.To))
		}
		if !strings.Contains(string(m.Messages[0]), "/cc/") {
			t.Errorf("message has no tracked link: %s", m.Messages[0])
		}
		for _, to := range m.To {
			got[to]++
		}
	}
	for _, u := range au.linked {
		if got[u] != 1 {
			t.Errorf("%s received %d times, want 1", u, got[u])
		}
	}
	if len(got) != len(au.linked) {
		t.Errorf("LINE delivered to %d users, want %d (none extra)", len(got), len(au.linked))
	}
	if len(fake.Multicasts()) != 3 {
		t.Errorf("%d multicasts, want 3 (the crashed batch was not resent)", len(fake.Multicasts()))
	}
	p := body.Progress
	if p.ByStatus[store.MsgSent] != int64(len(au.linked)) || p.ByReason["blocked"] != 1 || p.ByReason["unlinked"] != 1 ||
		p.ByReason["not_linked"] != 1 || p.ByReason["frequency_cap"] != 1 {
		t.Errorf("progress %+v", p)
	}
	// Campaign sends are messages too, on their recipient rows (no messages
	// row each): the timeline shows them with their reason, and the daily cap
	// counts them.
	ctx := context.Background()
	if n, err := db.CountSentSince(ctx, au.first.ID, core.CapExemptKinds, testNow.Add(-time.Hour)); err != nil || n != 1 {
		t.Errorf("cap count after the campaign = %d, %v; want 1", n, err)
	}
	for _, c := range []struct {
		cust           *store.Customer
		status, reason string
	}{{au.first, store.MsgSent, ""}, {au.blockedCust, store.MsgSkipped, "blocked"}} {
		tl, _, err := db.Timeline(ctx, au.shop.ID, c.cust.ID, nil, []string{store.TLMessages}, 50)
		if err != nil || len(tl) != 1 || tl[0].Kind != store.CampaignMessageKind || tl[0].Status != c.status || tl[0].Reason != c.reason ||
			tl[0].Summary != "Winter sale" {
			t.Errorf("timeline of customer %d: %+v, %v; want one campaign message %s %q", c.cust.ID, tl, err, c.status, c.reason)
		}
	}
	var mirrored int64
	db.WithContext(ctx).Model(&store.Message{}).Where("campaign_id = ?", camp.ID).Count(&mirrored)
	if mirrored != 0 {
		t.Errorf("%d messages rows written for the campaign, want none", mirrored)
	}

	// Measurement: a click and an order with the coupon within the window.
	click := httptest.NewRequest(http.MethodGet, "/cc/"+core.CampaignClickToken(a.Signer, camp.ID, "A"), nil)
	crec := httptest.NewRecorder()
	a.Handler().ServeHTTP(crec, click)
	if crec.Code != http.StatusFound || !strings.Contains(crec.Header().Get("Location"), "utm_campaign=campaign-") {
		t.Fatalf("click: %d %s", crec.Code, crec.Header().Get("Location"))
	}
	buyer, _ := a.DB.CustomerByShopifyID(context.Background(), au.shop.ID, 1000)
	o := &store.Order{ShopID: au.shop.ID, ShopifyID: 9001, CustomerID: &buyer.ID, Name: "#9001", DiscountCodes: "winter",
		OrderedAt: testNow.Add(time.Hour), TotalPrice: mustDec("4500")}
	if err := a.DB.UpsertOrder(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	rep := decode[store.CampaignReport](t, adminCall(t, a, http.MethodGet, path+"/report", nil))
	if rep.Total.Sent != int64(len(au.linked)) || rep.Total.Clicks != 1 || rep.Total.UniqueClicks != 1 || rep.Total.Conversions != 1 ||
		rep.Total.Revenue != 4500 || rep.Total.CostYen != float64(len(au.linked))*store.DefaultYenPerMessage {
		t.Errorf("report total %+v", rep.Total)
	}
	csvRec := adminCall(t, a, http.MethodGet, path+"/report.csv", nil)
	rows, err := csv.NewReader(csvRec.Body).ReadAll()
	if err != nil || len(rows) != 3 || rows[2][2] != "total" || rows[2][11] != "1" {
		t.Errorf("csv: %v %v", rows, err)
	}
}

func TestCampaignCancelMidway(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	db := testenv.Postgres(t)
	a := newTestApp(t, db, testenv.Redis(t), fake.URL)
	seedAudience(t, a, 1200)
	rec := adminCall(t, a, http.MethodPost, "/api/campaigns", map[string]any{
		"name": "Cancel me", "builtin": "", "definition": map[string]any{"field": "linked", "value": true},
		"messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"hi"}`)}, "send": true,
	})
	camp := decode[store.Campaign](t, rec)
	// Run only the start task and one batch by hand, then cancel.
	w := a.Worker()
	ctx := context.Background()
	if err := w.StartCampaign(ctx, camp.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.SendCampaignBatch(ctx, camp.ID, 0); err != nil {
		t.Fatal(err)
	}
	if rec := adminCall(t, a, http.MethodPost, fmt.Sprintf("/api/campaigns/%d/cancel", camp.ID), nil); rec.Code != http.StatusOK {
		t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
	}
	for b := 1; b < 3; b++ {
		if err := w.SendCampaignBatch(ctx, camp.ID, b); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(fake.Multicasts()); n != 1 {
		t.Errorf("%d multicasts after cancel, want 1", n)
	}
	counts, _ := a.DB.CampaignCounts(ctx, camp.ID)
	p := progressOf(counts)
	if p.ByStatus[store.MsgSent] != 500 || p.ByStatus[store.MsgCancelled] != 702 || p.ByReason[store.ReasonCampaignCancelled] != 702 {
		t.Errorf("progress after cancel %+v", p)
	}
}

func TestCampaignABSplitDeterministicAndWinner(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		fake := linetest.NewServer(t)
		a := newTestApp(t, db, testenv.Redis(t), fake.URL)
		au := seedAudience(t, a, 1000)
		ctx := context.Background()
		create := func() store.Campaign {
			rec := adminCall(t, a, http.MethodPost, "/api/campaigns", map[string]any{
				"name": "AB", "definition": map[string]any{"field": "linked", "value": true}, "test_percent": 40,
				"variants": []map[string]any{
					{"name": "A", "weight": 1, "messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"A"}`)}},
					{"name": "B", "weight": 1, "messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"B"}`)}},
				}, "send": true,
			})
			if rec.Code != http.StatusCreated {
				t.Fatalf("create: %d %s", rec.Code, rec.Body)
			}
			return decode[store.Campaign](t, rec)
		}
		camp := create()
		w := a.Worker()
		w.LINE = a.Messenger
		if err := w.StartCampaign(ctx, camp.ID); err != nil {
			t.Fatal(err)
		}
		rs, _ := a.DB.CampaignRecipients(ctx, camp.ID)
		counts := map[string]int{}
		for _, r := range rs {
			b := store.CampaignBucket(camp.ID, r.CustomerID)
			want := ""
			switch {
			case b < 2000:
				want = "A"
			case b < 4000:
				want = "B"
			}
			if r.Variant != want {
				t.Fatalf("customer %d bucket %d in %q, want %q", r.CustomerID, b, r.Variant, want)
			}
			counts[r.Variant]++
		}
		// Roughly 20/20/60 (a pure function; the bound just catches a broken hash).
		total := len(rs)
		if counts["A"] < total/10 || counts["B"] < total/10 || counts[""] < total/2 {
			t.Errorf("split %v of %d", counts, total)
		}
		// Running the start again changes nothing.
		if err := w.StartCampaign(ctx, camp.ID); err != nil {
			t.Fatal(err)
		}
		rs2, _ := a.DB.CampaignRecipients(ctx, camp.ID)
		for i := range rs2 {
			if rs2[i].Variant != rs[i].Variant || rs2[i].Batch != rs[i].Batch {
				t.Fatal("a second start changed the split")
			}
		}
		c, _ := a.DB.Campaign(ctx, 0, camp.ID)
		for b := 0; b < c.Batches; b++ {
			if err := w.SendCampaignBatch(ctx, camp.ID, b); err != nil {
				t.Fatal(err)
			}
		}
		c, _ = a.DB.Campaign(ctx, 0, camp.ID)
		if c.Status != store.CampaignWaitingWinner {
			t.Fatalf("status %s, want waiting_winner", c.Status)
		}
		// B gets a click; "auto" picks it and the held rest goes out with B.
		adminReq := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/cc/%d/B", camp.ID), nil)
		a.Handler().ServeHTTP(httptest.NewRecorder(), adminReq) // no link on B: 404, no click
		db.WithContext(ctx).Create(&store.Activity{ShopID: au.shop.ID, Kind: store.ActClick, RefType: "campaign", RefID: camp.ID,
			Data: `{"variant":"B","visitor":"v1"}`, OccurredAt: testNow})
		if rec := adminCall(t, a, http.MethodPost, fmt.Sprintf("/api/campaigns/%d/winner", camp.ID), map[string]string{"variant": "auto"}); rec.Code != http.StatusOK {
			t.Fatalf("winner: %d %s", rec.Code, rec.Body)
		}
		bs, _ := a.DB.OpenBatches(ctx, camp.ID)
		for _, b := range bs {
			if err := w.SendCampaignBatch(ctx, camp.ID, b); err != nil {
				t.Fatal(err)
			}
		}
		rs3, _ := a.DB.CampaignRecipients(ctx, camp.ID)
		for _, r := range rs3 {
			if r.Status == store.MsgSkipped {
				continue
			}
			if r.Variant == "" || r.Status == store.RecipientHeld {
				t.Fatalf("recipient %d still held", r.CustomerID)
			}
			if r.Variant != "A" && r.Variant != "B" {
				t.Fatalf("variant %q", r.Variant)
			}
			if rs[sort.Search(len(rs), func(i int) bool { return rs[i].CustomerID >= r.CustomerID })].Variant == "" && r.Variant != "B" {
				t.Fatalf("held customer %d got %s, want the winner B", r.CustomerID, r.Variant)
			}
		}
		c, _ = a.DB.Campaign(ctx, 0, camp.ID)
		if c.Status != store.CampaignDone || c.Winner != "B" {
			t.Errorf("status %s winner %s", c.Status, c.Winner)
		}
	})
}

// uid is a LINE-shaped user id (U + 32 hex digits) for a name.
func uid(name string) string {
	sum := md5.Sum([]byte(name))
	return "U" + hex.EncodeToString(sum[:])
}

func mustDec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestCampaignScheduledAndQuietHours(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	seedAudience(t, a, 10)
	ctx := context.Background()
	at := testNow.Add(10 * time.Hour) // 22:00 JST: inside the default quiet hours
	rec := adminCall(t, a, http.MethodPost, "/api/campaigns", map[string]any{
		"name": "Tonight", "builtin": "linked_never_ordered", "scheduled_at": at,
		"messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"hi"}`)},
	})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	camp := decode[store.Campaign](t, rec)
	if camp.Status != store.CampaignScheduled {
		t.Fatalf("status %s", camp.Status)
	}
	clock := testNow
	w := a.Worker()
	w.Now = func() time.Time { return clock }
	// Too early: the start task does nothing.
	if err := w.StartCampaign(ctx, camp.ID); err != nil {
		t.Fatal(err)
	}
	if rs, _ := a.DB.CampaignRecipients(ctx, camp.ID); len(rs) != 0 {
		t.Fatalf("materialized %d recipients before the scheduled time", len(rs))
	}
	clock = at
	if err := w.StartCampaign(ctx, camp.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.SendCampaignBatch(ctx, camp.ID, 0); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Multicasts()); n != 0 {
		t.Fatalf("%d multicasts during quiet hours", n)
	}
	counts, _ := a.DB.CampaignCounts(ctx, camp.ID)
	if p := progressOf(counts); p.ByStatus[store.MsgQueued] == 0 || p.ByStatus[store.MsgSent] != 0 {
		t.Fatalf("during quiet hours: %+v", p)
	}
	clock = testNow.Add(22 * time.Hour) // 10:00 JST next day
	if err := w.SendCampaignBatch(ctx, camp.ID, 0); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Multicasts()); n != 1 {
		t.Fatalf("%d multicasts after quiet hours, want 1", n)
	}
	c, _ := a.DB.Campaign(ctx, 0, camp.ID)
	if c.Status != store.CampaignDone {
		t.Errorf("status %s", c.Status)
	}
}

func TestCampaignsToResume(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := &store.Shop{Domain: testShop}
		if err := db.CreateShop(ctx, shop); err != nil {
			t.Fatal(err)
		}
		past, future := testNow.Add(-time.Hour), testNow.Add(time.Hour)
		want := map[string]bool{}
		for _, c := range []struct {
			name, status string
			at           *time.Time
			resume       bool
		}{
			{"due", store.CampaignScheduled, &past, true},
			{"later", store.CampaignScheduled, &future, false},
			{"sending", store.CampaignSending, &past, true},
			{"done", store.CampaignDone, &past, false},
			{"draft", store.CampaignDraft, nil, false},
		} {
			camp := &store.Campaign{ShopID: shop.ID, Name: c.name, Status: c.status, ScheduledAt: c.at, Definition: json.RawMessage(`{}`)}
			if err := db.CreateCampaign(ctx, camp); err != nil {
				t.Fatal(err)
			}
			if c.resume {
				want[fmt.Sprint(camp.ID)] = true
			}
		}
		ids, err := db.CampaignsToResume(ctx, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != len(want) {
			t.Fatalf("resume %v, want %v", ids, want)
		}
		for _, id := range ids {
			if !want[fmt.Sprint(id)] {
				t.Errorf("unexpected %d", id)
			}
		}
	})
}
