package app

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// No-webhook mode learns blocks from LINE, which answers a push to a user
// who blocked the account 200 and drops it: before each push the profile
// is looked up; a 404 marks the friend and the link blocked and the
// message is skipped with the reason (nothing pushed); later messages are
// skipped as blocked until LINE has a profile again (unblocked), which
// clears the block. With the webhook set, the same push goes to LINE (it
// answers 200 and does not deliver, as the fake does): blocks come from
// unfollow events there.
func TestNoWebhookModeLearnsBlocksBeforeSending(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		noWebhook bool
	}{{"no-webhook mode", true}, {"webhook set", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := testenv.Postgres(t)
			e, clk := newInboxEnv(t, db)
			ctx := context.Background()
			user := nudgeUser(7)
			cust := addCustomer(t, db, e.s.ID, 8807)
			if err := db.CreateLink(ctx, &store.LineLink{ShopID: e.s.ID, CustomerID: cust.ID, LineUserID: user, Friend: true, LinkedAt: clk.Now()}); err != nil {
				t.Fatal(err)
			}
			if err := core.MergeOnLink(ctx, db, e.s.ID, 0, cust.ID, user, "Nana", "", true, clk.Now()); err != nil {
				t.Fatal(err)
			}
			e.line.SetProfile(linetest.Profile{UserID: user, DisplayName: "Nana"})
			// The channel was connected 30 days ago; a webhook came an hour ago, or never.
			cols := map[string]any{"created_at": clk.Now().AddDate(0, 0, -30), "last_webhook_at": nil}
			if !tc.noWebhook {
				cols["last_webhook_at"] = clk.Now().Add(-time.Hour)
			}
			if err := db.G.Model(&store.LineChannel{}).Where("shop_id = ?", e.s.ID).Updates(cols).Error; err != nil {
				t.Fatal(err)
			}
			orders := 0
			thankYou := func() *store.Message {
				t.Helper()
				orders++
				id := int64(7_700_000 + orders)
				if rec := e.serve(webhookRequest("orders/create", fmt.Sprint("nowh-", id), scenarioOrder(t, id, cust.ShopifyID, clk.Now()), e.shop.APISecret)); rec.Code != http.StatusOK {
					t.Fatalf("order webhook: %d %s", rec.Code, rec.Body)
				}
				e.processPending(t)
				e.sendQueued(t)
				var m store.Message
				if err := db.G.Where("kind = ? AND customer_id = ?", jobs.KindThankYou, cust.ID).Order("id DESC").Take(&m).Error; err != nil {
					t.Fatal(err)
				}
				return &m
			}
			reach := func() (*store.LineLink, *store.LineFriend) {
				t.Helper()
				l, err := db.LiveLink(ctx, cust.ID)
				if err != nil {
					t.Fatal(err)
				}
				f, err := db.FriendByUser(ctx, e.s.ID, user)
				if err != nil {
					t.Fatal(err)
				}
				return l, f
			}

			if m := thankYou(); m.Status != store.MsgSent {
				t.Fatalf("thank-you to a friend: %s %q", m.Status, m.Reason)
			}
			e.line.Block(user)
			m := thankYou()
			l, f := reach()
			if !tc.noWebhook {
				// LINE took it (200) and dropped it; no unfollow event came.
				if m.Status != store.MsgSent || len(e.line.Undelivered()) != 1 || l.Blocked || f.Blocked {
					t.Fatalf("with the webhook: %s %q, undelivered %d, link blocked %v", m.Status, m.Reason, len(e.line.Undelivered()), l.Blocked)
				}
				return
			}
			if m.Status != store.MsgSkipped || m.Reason != core.ReasonBlockedLearnt {
				t.Fatalf("thank-you after the block: %s %q", m.Status, m.Reason)
			}
			if !l.Blocked || l.Friend || !f.Blocked || f.IsFriend || f.BlockedAt == nil {
				t.Fatalf("block not learnt: link %+v friend blocked %v friend %v", l, f.Blocked, f.IsFriend)
			}
			if n := countRows(t, db, &store.Activity{}, "customer_id = ? AND kind = ?", cust.ID, store.ActUnfollow); n != 1 {
				t.Fatalf("%d block entries on the timeline", n)
			}
			if m := thankYou(); m.Status != store.MsgSkipped || m.Reason != jobs.ReasonBlocked {
				t.Fatalf("thank-you while blocked: %s %q", m.Status, m.Reason)
			}
			if n, u := len(e.line.Pushes()), len(e.line.Undelivered()); n != 1 || u != 0 {
				t.Fatalf("%d pushes and %d undelivered, want 1 and 0", n, u)
			}
			e.line.Unblock(user)
			if m := thankYou(); m.Status != store.MsgSent {
				t.Fatalf("thank-you after the unblock: %s %q", m.Status, m.Reason)
			}
			if l, f := reach(); l.Blocked || !l.Friend || f.Blocked || !f.IsFriend {
				t.Fatalf("unblock not learnt: link %+v friend blocked %v", l, f.Blocked)
			}
			if n := len(e.line.Pushes()); n != 2 {
				t.Fatalf("%d pushes, want 2", n)
			}
		})
	}
}
