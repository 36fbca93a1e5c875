package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// Link and Unlink decide without HTTP or tasks: one live link per customer
// and per LINE user, the coupon row and the outbox event in the same
// transaction, once; an unlink cancels what was queued and emits its event.
func TestLinkAndUnlinkInCore(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		installed := now
		shop := &store.Shop{Domain: "core-link.myshopify.com", InstalledAt: &installed}
		shop.Settings.Incentive.Enabled = true
		if err := db.CreateShop(ctx, shop); err != nil {
			t.Fatal(err)
		}
		mk := func(id int64) *store.Customer {
			c := &store.Customer{ShopID: shop.ID, ShopifyID: id}
			if err := db.UpsertCustomer(ctx, c); err != nil {
				t.Fatal(err)
			}
			return c
		}
		hanako, taro := mk(1), mk(2)
		in := core.LinkInput{Shop: shop, Customer: hanako, LineUserID: "Uaaaa", DisplayName: "Hanako", Friend: true, Now: now}
		out, l, ev, err := core.Link(ctx, db, in)
		if err != nil || out != core.LinkNew || ev == nil || ev.Topic != core.TopicLinkCreated {
			t.Fatalf("first link: %v %v %+v", out, err, ev)
		}
		cp, err := db.CustomerCoupon(ctx, shop.ID, hanako.ID, store.CampaignLineLink)
		if err != nil || cp.ExpiresAt == nil || !cp.ExpiresAt.Equal(now.AddDate(0, 0, core.DefaultCouponDays)) {
			t.Fatalf("coupon row: %+v %v", cp, err)
		}
		if out, _, ev, err := core.Link(ctx, db, in); err != nil || out != core.LinkAlready || ev != nil {
			t.Fatalf("again: %v %+v %v", out, ev, err)
		}
		other := in
		other.Customer = taro
		if out, _, ev, err := core.Link(ctx, db, other); err != nil || out != core.LinkUserTaken || ev != nil {
			t.Fatalf("same LINE user, other customer: %v %+v %v", out, ev, err)
		}
		other = in
		other.LineUserID = "Ubbbb"
		if out, _, _, err := core.Link(ctx, db, other); err != nil || out != core.LinkCustomerTaken {
			t.Fatalf("same customer, other LINE user: %v %v", out, err)
		}

		rm, err := core.Unlink(ctx, db, l, "customer", now.Add(time.Hour))
		if err != nil || rm == nil || rm.Topic != core.TopicLinkRemoved {
			t.Fatalf("unlink: %+v %v", rm, err)
		}
		if _, err := db.LiveLink(ctx, hanako.ID); err == nil {
			t.Fatal("still linked")
		}
		if rm, err := core.Unlink(ctx, db, l, "customer", now.Add(2*time.Hour)); err != nil || rm != nil {
			t.Fatalf("second unlink: %+v %v", rm, err)
		}
		// Linking again never draws a second coupon.
		if out, _, _, err := core.Link(ctx, db, in); err != nil || out != core.LinkNew {
			t.Fatalf("relink: %v %v", out, err)
		}
		cp2, err := db.CustomerCoupon(ctx, shop.ID, hanako.ID, store.CampaignLineLink)
		if err != nil || cp2.ID != cp.ID {
			t.Fatalf("coupon after relink: %+v %v", cp2, err)
		}
	})
}
