package app

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/app/testenv"
)

func TestSegmentFunnelAPI(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		shop := seedMerchant(t, a)
		ctx := context.Background()
		// One linked customer already had two marketing messages today (the cap),
		// plus a thank-you, which the cap does not count.
		var capped store.LineLink
		mustDo(t, a.DB.WithContext(ctx).Where("shop_id = ? AND blocked = ? AND line_user_id <> ?", shop.ID, false, uid("owner")).Order("id").First(&capped).Error)
		for i, kind := range []string{"follow_up_3", "campaign", "thank_you"} {
			sent := testNow.Add(-time.Hour)
			m := &store.Message{ShopID: shop.ID, CustomerID: &capped.CustomerID, Kind: kind, DedupeKey: "cap:" + kind, ScheduledFor: sent, Status: store.MsgSent, SentAt: &sent}
			_, err := a.DB.PlanMessage(ctx, m)
			mustDo(t, err)
			_ = i
		}
		rec := adminCall(t, a, http.MethodPost, "/api/segments/funnel", map[string]any{"definition": json.RawMessage(`{"and":[]}`)})
		if rec.Code != http.StatusOK {
			t.Fatalf("funnel: %d %s", rec.Code, rec.Body)
		}
		f := decode[core.Funnel](t, rec)
		// 41 customers; 21 linked (the owner + every other one); 4 of those blocked; 1 at the cap.
		want := map[string]int64{core.StepInSegment: 41, core.StepLinked: 21, core.StepFriend: 21, core.StepNotBlock: 17, core.StepUnderCap: 16, core.StepNotQuiet: 16}
		for _, s := range f.Steps {
			if s.Count != want[s.Key] {
				t.Errorf("step %s = %d, want %d", s.Key, s.Count, want[s.Key])
			}
		}
		// The builder's one call per edit: count, sample and funnel from one evaluation.
		rec = adminCall(t, a, http.MethodPost, "/api/segments/preview", map[string]any{"funnel": true, "definition": json.RawMessage(`{"and":[]}`)})
		if rec.Code != http.StatusOK {
			t.Fatalf("preview with funnel: %d %s", rec.Code, rec.Body)
		}
		p := decode[struct {
			Count  int64                 `json:"count"`
			Sample []store.SegmentMember `json:"sample"`
			Funnel *core.Funnel          `json:"funnel"`
		}](t, rec)
		if p.Count != 41 || p.Funnel == nil || p.Funnel.InSegment() != 41 || len(p.Funnel.Steps) != len(f.Steps) || p.Funnel.Steps[3].Count != want[core.StepNotBlock] {
			t.Errorf("preview with funnel: count %d, funnel %+v", p.Count, p.Funnel)
		}
		// A sample is the same whether the segment is read whole (small or
		// unknown size) or walked newest first (a large known size).
		n := segment.Node{And: []segment.Node{}}
		whole, err := a.DB.SampleSegment(ctx, shop, n, testNow, -1, 20)
		mustDo(t, err)
		walked, err := a.DB.SampleSegment(ctx, shop, n, testNow, 1<<40, 20)
		mustDo(t, err)
		if len(whole) != 20 || len(p.Sample) != 20 || !slices.Equal(whole, walked) || !slices.Equal(whole, p.Sample) || whole[0].ID < whole[19].ID {
			t.Errorf("samples differ or are not newest first:\n%v\n%v\n%v", whole, walked, p.Sample)
		}
		if none, err := a.DB.SampleSegment(ctx, shop, n, testNow, 0, 20); err != nil || len(none) != 0 {
			t.Errorf("an empty segment's sample: %v, %v", none, err)
		}
		// With quiet hours around noon JST: nobody now, the rest later.
		st := shop.Settings
		st.QuietStart, st.QuietEnd = "11:00", "13:00"
		mustDo(t, a.DB.SaveShopSettings(ctx, shop.ID, st))
		f = decode[core.Funnel](t, adminCall(t, a, http.MethodPost, "/api/segments/funnel", map[string]any{"builtin": "vip"}))
		if !f.QuietNow || f.Reachable != 0 || f.QuietUntil == nil || !f.QuietUntil.Equal(time.Date(2026, 11, 25, 4, 0, 0, 0, time.UTC)) || f.ReachableLater == 0 {
			t.Errorf("quiet-hours funnel: %+v", f)
		}
		if rec := adminCall(t, a, http.MethodPost, "/api/segments/funnel", map[string]any{"definition": json.RawMessage(`{"field":"nope"}`)}); rec.Code != http.StatusBadRequest {
			t.Errorf("bad definition: %d", rec.Code)
		}
	})
}
