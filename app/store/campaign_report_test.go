package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// TestCampaignReportConversions: conversions are each sent recipient's
// orders within the window after their own send, however far apart the
// batches went out. The report reads only orders since the first send (issue
// 14); orders before it, before the recipient's own send, after the window,
// cancelled, of a recipient not sent, of a customer not in the campaign or of
// another shop stay out.
func TestCampaignReportConversions(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		other := &store.Shop{Domain: "other-report.myshopify.com", Name: "Other"}
		if err := db.CreateShop(ctx, other); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC) // first batch
		hours := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
		cust := func(s *store.Shop, id int64) int64 {
			c := &store.Customer{ShopID: s.ID, ShopifyID: id, Email: "r" + itoa(int(id)) + "@example.com"}
			if err := db.UpsertCustomer(ctx, c); err != nil {
				t.Fatal(err)
			}
			return c.ID
		}
		early, late, skipped, outsider := cust(shop, 1), cust(shop, 2), cust(shop, 3), cust(shop, 4)
		elsewhere := cust(other, 5)
		camp := &store.Campaign{ShopID: shop.ID, Name: "report", Status: store.CampaignDone, StartedAt: &t0,
			Variants: []store.CampaignVariant{{Name: "A", Weight: 1, Messages: []json.RawMessage{json.RawMessage(`{"type":"text","text":"hi"}`)}}}}
		if err := db.CreateCampaign(ctx, camp); err != nil {
			t.Fatal(err)
		}
		// early is sent at t0, late two days later (another batch), skipped never.
		for _, r := range []struct {
			cust   int64
			status string
			at     *time.Time
		}{{early, store.MsgSent, &t0}, {late, store.MsgSent, ptr(hours(48))}, {skipped, store.MsgSkipped, nil}} {
			rec := &store.CampaignRecipient{CampaignID: camp.ID, ShopID: shop.ID, CustomerID: r.cust, Variant: "A", Status: r.status,
				LineUserID: "U" + itoa(int(r.cust)), SentAt: r.at, UpdatedAt: t0}
			if err := db.WithContext(ctx).Omit("id").Create(rec).Error; err != nil {
				t.Fatal(err)
			}
		}
		n := int64(0)
		order := func(s *store.Shop, who int64, at time.Time, price int64, cancelled bool) {
			n++
			o := &store.Order{ShopID: s.ID, ShopifyID: 500 + n, CustomerID: &who, Name: "#" + itoa(int(n)), OrderedAt: at,
				TotalPrice: decimal.NewFromInt(price)}
			if cancelled {
				o.CancelledAt = &at
			}
			if err := db.UpsertOrder(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		order(shop, early, hours(-1), 1, false)     // before any send
		order(shop, early, hours(2), 1000, false)   // converts
		order(shop, early, hours(24), 2000, false)  // converts
		order(shop, early, hours(30), 5, true)      // cancelled
		order(shop, early, hours(24*8), 7, false)   // after early's 7-day window
		order(shop, late, hours(24), 11, false)     // after the first send, before late's own
		order(shop, late, hours(24*8), 4000, false) // within late's window (sent at 48h)
		order(shop, skipped, hours(3), 13, false)   // not sent
		order(shop, outsider, hours(3), 17, false)  // not a recipient
		order(other, elsewhere, hours(3), 19, false)
		rep, err := db.CampaignReport(ctx, camp, store.ReportOptions{AttributionDays: 7, YenPerMessage: 1})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Total.Conversions != 3 || rep.Total.Revenue != 7000 || rep.Total.Sent != 2 {
			t.Errorf("total: %d conversions, revenue %v, %d sent; want 3, 7000, 2", rep.Total.Conversions, rep.Total.Revenue, rep.Total.Sent)
		}
	})
}

func ptr[T any](v T) *T { return &v }
