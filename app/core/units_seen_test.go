package core_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// TestUnitsSeenSparesTheRead (issue 16): every batch of a campaign uses the
// same aggregation unit, so a worker that recorded it a moment ago uses it
// without reading line_units (the row deleted behind its back stays gone);
// after UnitSeenFor, or in a new month, it reads and records it again, so
// the hourly touch of last_sent_at and the monthly budget still apply.
// Without Seen the second call records the row again.
func TestUnitsSeenSparesTheRead(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	ctx := context.Background()
	shop := &store.Shop{Domain: "units-seen.myshopify.com", Name: "Units"}
	if err := db.CreateShop(ctx, shop); err != nil {
		t.Fatal(err)
	}
	camp := &store.Campaign{ShopID: shop.ID, Name: "sale", Status: store.CampaignDraft,
		Variants: []store.CampaignVariant{{Name: "A", Weight: 1, Messages: []json.RawMessage{json.RawMessage(`{"type":"text","text":"hi"}`)}}}}
	if err := db.CreateCampaign(ctx, camp); err != nil {
		t.Fatal(err)
	}
	rows := func() int64 {
		var n int64
		if err := db.G.Model(&store.LineUnit{}).Where("shop_id = ?", shop.ID).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	forget := func() {
		if err := db.G.Exec("DELETE FROM line_units WHERE shop_id = ?", shop.ID).Error; err != nil {
			t.Fatal(err)
		}
	}
	use := func(u *core.Units, at time.Time) {
		t.Helper()
		unit, err := u.ForCampaign(ctx, camp, &camp.Variants[0], at)
		if err != nil || unit == "" {
			t.Fatalf("unit %q, %v", unit, err)
		}
	}
	t0 := time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)
	seen := &core.Units{DB: db, InstallationID: "abcdef", Seen: &core.UnitsSeen{}}
	use(seen, t0)
	if rows() != 1 {
		t.Fatalf("%d unit rows after the first batch, want 1", rows())
	}
	forget()
	use(seen, t0.Add(5*time.Minute))
	if rows() != 0 {
		t.Errorf("a batch 5 minutes later read and recorded the unit again (%d rows)", rows())
	}
	use(seen, t0.Add(core.UnitSeenFor))
	if rows() != 1 {
		t.Errorf("after UnitSeenFor the unit was not read again (%d rows)", rows())
	}
	forget()
	plain := &core.Units{DB: db, InstallationID: "abcdef"}
	use(plain, t0.Add(core.UnitSeenFor+time.Minute))
	if rows() != 1 {
		t.Errorf("without Seen the unit was not recorded (%d rows)", rows())
	}
	// A new month (in Japan) starts the budget again: read, not remembered.
	forget()
	monthEnd := time.Date(2026, 12, 31, 14, 55, 0, 0, time.UTC) // 23:55 JST
	use(seen, monthEnd)
	forget()
	use(seen, monthEnd.Add(6*time.Minute)) // 00:01 JST, January
	if rows() != 1 {
		t.Errorf("the first batch of a new month did not record the unit (%d rows)", rows())
	}
}
