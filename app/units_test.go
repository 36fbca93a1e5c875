package app

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
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
