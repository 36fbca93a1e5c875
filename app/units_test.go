package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// sendABCampaign creates an A/B campaign to every linked customer with
// the whole audience in the test (no winner wait), and sends every batch.
func sendABCampaign(t *testing.T, a *App, link string) store.Campaign {
	t.Helper()
	ctx := context.Background()
	rec := adminCall(t, a, http.MethodPost, "/api/campaigns", map[string]any{
		"name": "Units", "definition": map[string]any{"field": "linked", "value": true}, "test_percent": 100,
		"variants": []map[string]any{
			{"name": "A", "weight": 1, "link": link, "messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"A {{link}}"}`)}},
			{"name": "B", "weight": 1, "link": link, "messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"B {{link}}"}`)}},
		}, "send": true,
	})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	camp := decode[store.Campaign](t, rec)
	w := a.Worker()
	if err := w.StartCampaign(ctx, camp.ID); err != nil {
		t.Fatal(err)
	}
	c, _ := a.DB.Campaign(ctx, 0, camp.ID)
	for b := 0; b < c.Batches; b++ {
		if err := w.SendCampaignBatch(ctx, camp.ID, b); err != nil {
			t.Fatal(err)
		}
	}
	return camp
}

// Every multicast of a campaign carries its variant's aggregation unit:
// one valid name per request, A and B apart, the same name on every batch
// of a variant, and a line_units row per variant.
func TestCampaignMulticastCarriesUnit(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	au := seedAudience(t, a, 1200)
	camp := sendABCampaign(t, a, "https://shop.example/sale")
	units := map[string]string{} // first text -> unit
	for _, m := range fake.Multicasts() {
		if len(m.Units) != 1 || !line.ValidUnit(m.Units[0]) {
			t.Fatalf("multicast units %q, want one valid name", m.Units)
		}
		var msg struct{ Text string }
		_ = json.Unmarshal(m.Messages[0], &msg)
		v := msg.Text[:1]
		if u, ok := units[v]; ok && u != m.Units[0] {
			t.Errorf("variant %s sent under %s and %s", v, u, m.Units[0])
		}
		units[v] = m.Units[0]
	}
	if len(units) != 2 || units["A"] == units["B"] {
		t.Fatalf("units per variant %v, want two different", units)
	}
	if r := fake.Rejected(); len(r) > 0 {
		t.Fatalf("LINE would refuse: %v", r)
	}
	rows, err := a.DB.CampaignUnits(context.Background(), au.shop.ID, camp.ID)
	if err != nil || len(rows) != 2 || rows[0].Variant != "A" || rows[0].Unit != units["A"] || rows[1].Unit != units["B"] {
		t.Fatalf("line_units rows %+v (%v), want A %s and B %s", rows, err, units["A"], units["B"])
	}
}

// The on-demand insight read (a schedules row) stores what LINE answers
// for each variant's unit, and the campaign page shows it: numbers as
// they are, values LINE withholds as "fewer than 20" (never 0), with the
// read's date, beside Tsunagu's own redirect clicks, and says honestly
// that a multicast's clicks are not attributed to customers.
func TestInsightReadShowsOnCampaignPage(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	au := seedAudience(t, a, 40)
	ctx := context.Background()
	camp := sendABCampaign(t, a, "https://shop.example/sale")
	rows, err := a.DB.CampaignUnits(ctx, au.shop.ID, camp.ID)
	if err != nil || len(rows) != 2 {
		t.Fatalf("units %+v %v", rows, err)
	}
	fake.SetUnitStats(testLINEToken, rows[0].Unit, linetest.UnitStats{UniqueImpression: linetest.N(40), UniqueClick: nil,
		Clicks: []linetest.UnitClick{{Seq: 1, URL: "https://tsunagu.example/cc/x", Click: linetest.N(35), UniqueClick: linetest.N(25)}}})
	// B: nothing set, LINE answers every value null (too few people).

	if rec := adminCall(t, a, http.MethodPost, "/api/insights/refresh", nil); rec.Code != http.StatusAccepted {
		t.Fatalf("refresh: %d %s", rec.Code, rec.Body)
	}
	due, err := a.DB.DueSchedules(ctx, a.Now())
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	for _, s := range due {
		if s.Name == jobs.InsightSchedule(au.shop.ID) {
			if err := a.Worker().RunScheduled(ctx, s.Name, s.NextAt); err != nil {
				t.Fatal(err)
			}
			ran = true
		}
	}
	if !ran {
		t.Fatalf("no insight read due after the refresh: %+v", due)
	}
	if r := fake.Rejected(); len(r) > 0 {
		t.Fatalf("LINE would refuse: %v", r)
	}
	rows, _ = a.DB.CampaignUnits(ctx, au.shop.ID, camp.ID)
	a0, b0 := rows[0], rows[1]
	if a0.ReadAt == nil || a0.UniqueImpression == nil || *a0.UniqueImpression != 40 || a0.UniqueClick != nil || len(a0.Clicks) != 1 || *a0.Clicks[0].UniqueClick != 25 {
		t.Fatalf("A stored %+v", a0)
	}
	if b0.ReadAt == nil || b0.UniqueImpression != nil || b0.ReadError != "" {
		t.Fatalf("B stored %+v, want read with null opens", b0)
	}

	rec := adminDo(t, a, testShop, http.MethodGet, fmt.Sprintf("/admin/campaigns/%d?lang=en", camp.ID), nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("page: %d", rec.Code)
	}
	page := rec.Body.String()
	table := page[strings.Index(page, `id="c-insights-table"`):]
	cell := func(variant, k string) string {
		page := table
		i := strings.Index(page, `<tr data-variant="`+variant+`"><td>`+variant+`</td>`)
		if i < 0 {
			t.Fatalf("no insight row for %s in the page", variant)
		}
		j := strings.Index(page[i:], `data-k="`+k+`">`)
		rest := page[i+j+len(`data-k="`+k+`">`):]
		return rest[:strings.Index(rest, "<")]
	}
	for _, c := range []struct{ v, k, want string }{
		{"A", "opens", "40"}, {"A", "line-clicks", "fewer than 20"}, {"B", "opens", "fewer than 20"}, {"B", "line-clicks", "fewer than 20"},
	} {
		if got := cell(c.v, c.k); got != c.want {
			t.Errorf("%s %s shows %q, want %q", c.v, c.k, got, c.want)
		}
	}
	// The A/B result carries the opens too.
	ab := page[strings.Index(page, `id="c-variants-table"`):]
	if i := strings.Index(ab, `<tr data-variant="A">`); i < 0 || !strings.Contains(ab[i:i+strings.Index(ab[i:], "</tr>")], `data-k="ab-opens">40<`) {
		t.Errorf("the A/B table lacks A's 40 opens")
	}
	if !strings.Contains(page, a0.ReadAt.In(au.shop.Location()).Format("2006-01-02")) || !strings.Contains(page, "not which customer clicked") {
		t.Errorf("the page lacks the read date or the multicast attribution note")
	}
	// The one-off read is gone; the daily one is the reconciler's.
	if due, _ := a.DB.DueSchedules(ctx, a.Now()); len(due) != 0 {
		for _, s := range due {
			if s.Name == jobs.InsightSchedule(au.shop.ID) {
				t.Errorf("the on-demand read is still due after it ran")
			}
		}
	}
}

// A campaign sent per recipient gives each customer their own link: a
// click on it records that customer, so "clicked: campaign" matches them
// and no one else. Multicast clicks (one link for everyone) match no one.
func TestPerRecipientCampaignClickMatchesSegment(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	au := seedAudience(t, a, 3)
	ctx := context.Background()
	rec := adminCall(t, a, http.MethodPost, "/api/campaigns", map[string]any{
		"name": "Per recipient", "definition": map[string]any{"field": "linked", "value": true}, "delivery": "push", "link": "https://shop.example/sale",
		"messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"Sale {{link}}"}`)}, "send": true,
	})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	camp := decode[store.Campaign](t, rec)
	w := a.Worker()
	if err := w.StartCampaign(ctx, camp.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.SendCampaignBatch(ctx, camp.ID, 0); err != nil {
		t.Fatal(err)
	}
	if r := fake.Rejected(); len(r) > 0 {
		t.Fatalf("LINE would refuse: %v", r)
	}
	pushes := fake.Pushes()
	if len(pushes) != len(au.linked) || len(fake.Multicasts()) != 0 {
		t.Fatalf("%d pushes and %d multicasts, want a push to each of %d linked customers", len(pushes), len(fake.Multicasts()), len(au.linked))
	}
	links := map[string]string{} // LINE user -> link
	for _, p := range pushes {
		var m struct{ Text string }
		_ = json.Unmarshal(p.Messages[0], &m)
		_, link, _ := strings.Cut(m.Text, "Sale ")
		if !strings.Contains(link, "/cr/") || len(p.Units) != 1 {
			t.Fatalf("push to %s: %q units %v, want a per-recipient link and a unit", p.To, m.Text, p.Units)
		}
		for _, l := range links {
			if l == link {
				t.Fatalf("two recipients share the link %s", link)
			}
		}
		links[p.To] = link
	}
	c, _ := a.DB.Campaign(ctx, 0, camp.ID)
	if c.Status != store.CampaignDone || c.Delivery != store.CampaignPush {
		t.Errorf("campaign %s by %s, want done by push", c.Status, c.Delivery)
	}

	// au.first clicks their link (twice: counted once).
	for i := 0; i < 2; i++ {
		req := httptest.NewRequest(http.MethodGet, strings.TrimPrefix(links[uid("first")], a.Config.BaseURL), nil)
		res := httptest.NewRecorder()
		a.Handler().ServeHTTP(res, req)
		if res.Code != http.StatusFound || !strings.HasPrefix(res.Header().Get("Location"), "https://shop.example/sale") {
			t.Fatalf("click: %d %s", res.Code, res.Header().Get("Location"))
		}
	}
	n, err := segment.Parse([]byte(`{"field":"clicked","op":"=","value":"campaign"}`))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := a.DB.SegmentCustomerIDs(ctx, au.shop, n, a.Now(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != au.first.ID {
		t.Errorf("clicked: campaign matches %v, want only the clicker %d", ids, au.first.ID)
	}
	var clicks int64
	a.DB.WithContext(ctx).Model(&store.Activity{}).Where("ref_type = ? AND ref_id = ?", "campaign", camp.ID).Count(&clicks)
	if clicks != 1 {
		t.Errorf("%d click activities, want 1", clicks)
	}
}

// The automations page shows LINE's opens per message kind from the
// kind's unit: the number when LINE gave one, "fewer than 20" when it
// withheld it, "not read yet" before the first read.
func TestAutomationsPageShowsOpensPerKind(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), "")
	shop, _ := seedLinkedCustomer(t, a, 1, uid("a"))
	ctx := context.Background()
	now := a.Now()
	for kind, opens := range map[string]*int64{"thank_you": linetest.N(120), "shipping": nil} {
		u := store.LineUnit{ShopID: shop.ID, Unit: "t_j_" + kind, Kind: kind}
		if ok, err := a.DB.UseUnit(ctx, u, now, now.AddDate(0, -1, 0), 10); err != nil || !ok {
			t.Fatalf("UseUnit: %v %v", ok, err)
		}
		units, _ := a.DB.KindUnits(ctx, shop.ID)
		for i := range units {
			if units[i].Kind == kind {
				units[i].UniqueImpression = opens
				if err := a.DB.SaveUnitStats(ctx, &units[i], "", now); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	rec := adminDo(t, a, testShop, http.MethodGet, "/admin/automations?lang=en", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("page: %d", rec.Code)
	}
	page := rec.Body.String()
	opens := func(kind string) string {
		i := strings.Index(page, `<tr data-kind="`+kind+`">`)
		if i < 0 {
			t.Fatalf("no row for %s", kind)
		}
		rest := page[i:]
		rest = rest[strings.Index(rest, "data-opens>")+len("data-opens>"):]
		return rest[:strings.Index(rest, "<")]
	}
	for kind, want := range map[string]string{"thank_you": "120", "shipping": "fewer than 20", "cart_reminder": "not read yet"} {
		if got := opens(kind); got != want {
			t.Errorf("%s opens %q, want %q", kind, got, want)
		}
	}
}
