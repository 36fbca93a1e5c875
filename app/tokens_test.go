package app

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

// installByCallback runs the authorization code install against the fake
// and returns the stored shop.
func (e *linkEnv) installByCallback(t *testing.T) *store.Shop {
	t.Helper()
	rec := get(t, e.a, "/shopify/install?shop="+testShop)
	loc, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || err != nil {
		t.Fatalf("install: %d %v", rec.Code, err)
	}
	cb := get(t, e.a, "/shopify/callback?"+e.shop.CallbackQuery(testShop, loc.Query().Get("state")).Encode(), cookieNamed(rec, oauthCookie))
	if cb.Code != http.StatusFound {
		t.Fatalf("callback: %d %s", cb.Code, cb.Body)
	}
	return e.reloadShop(t)
}

func (e *linkEnv) reloadShop(t *testing.T) *store.Shop {
	t.Helper()
	s, err := e.a.DB.ShopByDomain(context.Background(), testShop)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// processDue runs the pending event jobs as a worker would, on the env's clock.
func (e *linkEnv) processDue(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ids, err := e.a.DB.PendingEventIDs(ctx, e.clock.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := e.a.Worker().ProcessEvent(ctx, id); err != nil {
			t.Fatalf("processing event %d: %v", id, err)
		}
	}
}

func (e *linkEnv) linkCustomer(t *testing.T) {
	t.Helper()
	la := e.authorize(t, e.start(t, e.cust))
	if rec := e.callback(la, la.callback, ""); rec.Code != http.StatusOK {
		t.Fatalf("link callback: %d", rec.Code)
	}
}

func (e *linkEnv) refreshRequests() []url.Values {
	var out []url.Values
	for _, r := range e.shop.Requests() {
		if r.Operation == shopifytest.OpRefresh {
			f, _ := url.ParseQuery(string(r.Body))
			out = append(out, f)
		}
	}
	return out
}

// Install stores an expiring pair; an hour later the access token has
// expired, and the background job that issues the link coupon refreshes it
// (once) before creating the discount.
func TestTokenExpiresJobRefreshesCouponCreated(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e := newLinkEnv(t, db, testenv.Redis(t), "")
		ctx := context.Background()
		shop := e.installByCallback(t)
		if shop.AccessTokenExpiresAt == nil || !shop.AccessTokenExpiresAt.Equal(e.clock.Now().Add(time.Hour)) ||
			shop.RefreshTokenExpiresAt == nil || !shop.RefreshTokenExpiresAt.Equal(e.clock.Now().Add(90*24*time.Hour)) {
			t.Fatalf("pair expiries not stored: %v %v", shop.AccessTokenExpiresAt, shop.RefreshTokenExpiresAt)
		}
		rt, err := e.a.Box.Open(shop.RefreshTokenEnc)
		if err != nil || !strings.HasPrefix(rt, "shprt_") || strings.Contains(string(shop.RefreshTokenEnc), rt) {
			t.Fatalf("refresh token stored badly: %v", err)
		}
		e.clock.Add(2 * time.Hour)
		e.linkCustomer(t)
		startWorkers(t, e.a)
		ids, err := db.PendingEventIDs(ctx, e.clock.Now().Add(time.Hour), 10)
		if err != nil || len(ids) == 0 {
			t.Fatalf("no pending event: %v", err)
		}
		for _, id := range ids {
			if err := e.a.Queue.EnqueueEvent(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "the link coupon to be created", func() bool {
			c, err := db.CustomerCoupon(ctx, e.s.ID, e.cust.ID, store.CampaignLineLink)
			return err == nil && c.Status == store.CouponIssued
		})
		if n := len(e.shop.Discounts()); n != 1 {
			t.Fatalf("%d discounts", n)
		}
		if got := e.refreshRequests(); len(got) != 1 || got[0].Get("refresh_token") != rt {
			t.Fatalf("refresh requests %v, want one with the stored refresh token", len(got))
		}
		after := e.reloadShop(t)
		if after.TokenVersion != shop.TokenVersion+1 || !after.AccessTokenExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
			t.Fatalf("refreshed pair not stored: v%d→v%d, expires %v", shop.TokenVersion, after.TokenVersion, after.AccessTokenExpiresAt)
		}
	})
}

// Two workers (separate clients and, on PostgreSQL, separate connections)
// find the same expired token at once: exactly one refresh call is made and
// both use its result.
func TestTokenTwoWorkersOneRefresh(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e := newLinkEnv(t, db, testenv.Redis(t), "")
		ctx := context.Background()
		e.installByCallback(t)
		e.clock.Add(2 * time.Hour)
		workers := make([]*core.Tokens, 2)
		for i := range workers {
			cfg := e.shop.App("", "read_orders")
			cfg.Now = e.clock.Now
			sa, err := shopify.NewApp(cfg)
			if err != nil {
				t.Fatal(err)
			}
			workers[i] = &core.Tokens{DB: db, Box: e.a.Box, Shopify: sa, Now: e.clock.Now, Log: quietLogger()}
		}
		shop := e.reloadShop(t)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ad, err := workers[i%2].Admin(shop)
				if err == nil {
					_, err = ad.ShopInfo(ctx)
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("worker call %d: %v", i, err)
			}
		}
		if n := e.shop.RefreshCalls(testShop); n != 1 {
			t.Fatalf("%d refresh calls, want exactly 1", n)
		}
	})
}

// The refresh answer is lost on the way: the same refresh token is spent
// again (Shopify keeps it until the new pair is used) and the call goes on.
func TestTokenLostRefreshAnswerRecovered(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e := newLinkEnv(t, db, testenv.Redis(t), "")
		ctx := context.Background()
		shop := e.installByCallback(t)
		rt, _ := e.a.Box.Open(shop.RefreshTokenEnc)
		e.clock.Add(2 * time.Hour)
		e.shop.LoseNextRefreshAnswers(1)
		ad, err := e.a.Tokens.Admin(shop)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ad.ShopInfo(ctx); err != nil {
			t.Fatalf("call after a lost refresh answer: %v", err)
		}
		reqs := e.refreshRequests()
		if len(reqs) != 2 || reqs[0].Get("refresh_token") != rt || reqs[1].Get("refresh_token") != rt {
			var ops []string
			for _, r := range e.shop.Requests() {
				ops = append(ops, string(r.Operation))
			}
			t.Fatalf("%d refresh requests, want 2 with the previous refresh token (requests: %v)", len(reqs), ops)
		}
		// The new pair has been used, so the previous refresh token is retired.
		if _, err := e.a.Shopify.RefreshToken(ctx, testShop, rt); !errors.Is(err, shopify.ErrGrantRevoked) {
			t.Fatalf("previous refresh token after the new pair was used: %v", err)
		}
		if s := e.reloadShop(t); s.NeedsReauthAt != nil || s.TokenVersion != shop.TokenVersion+1 {
			t.Fatalf("shop after recovery: needs_reauth=%v version %d", s.NeedsReauthAt, s.TokenVersion)
		}
	})
}

// The grant is revoked: the refresh is refused, the shop is marked
// needs_reauth, its Admin API work waits with a reason and makes no further
// calls; the admin shows a banner; opening the embedded admin exchanges the
// session token for a new pair and the waiting work resumes.
func TestTokenRevokedNeedsReauthResumesAfterExchange(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e := newLinkEnv(t, db, testenv.Redis(t), "")
		ctx := context.Background()
		e.installByCallback(t)
		e.linkCustomer(t)
		e.shop.Revoke(testShop)
		e.clock.Add(2 * time.Hour)
		e.processDue(t)
		shop := e.reloadShop(t)
		if shop.NeedsReauthAt == nil || !strings.Contains(shop.ReauthReason, "invalid_grant") {
			t.Fatalf("shop not marked needs_reauth: %+v", shop.ReauthReason)
		}
		var evs []store.Event
		if err := db.G.Where("topic = ?", "link/created").Find(&evs).Error; err != nil || len(evs) != 1 {
			t.Fatalf("events %v %v", evs, err)
		}
		if evs[0].Status != store.EventWaitingReauth || !strings.Contains(evs[0].Error, "needs_reauth") {
			t.Fatalf("event %s %q, want waiting_reauth with a reason", evs[0].Status, evs[0].Error)
		}
		// No retry storm: more work, the relay and the daily sweep make no Shopify call.
		calls := len(e.shop.Requests())
		if err := e.a.Worker().ProcessEvent(ctx, evs[0].ID); err != nil {
			t.Fatal(err)
		}
		if n, err := e.a.Relay().Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("relay picked up %d (%v)", n, err)
		}
		if _, _, err := e.a.Tokens.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.Tokens.Admin(shop); !errors.Is(err, core.ErrNeedsReauth) {
			t.Fatalf("Admin for a needs_reauth shop: %v", err)
		}
		if got := len(e.shop.Requests()); got != calls {
			t.Fatalf("%d more Shopify requests while waiting for the merchant", got-calls)
		}
		if n := e.shop.RefreshCalls(testShop); n != 0 {
			t.Fatalf("%d refresh grants answered for a revoked grant", n)
		}
		// The admin shows the banner with a one-click re-authorisation.
		link, err := AdminURL(e.a.Config, testShop, e.clock.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		sess := get(t, e.a, strings.TrimPrefix(link, e.a.Config.BaseURL))
		page := get(t, e.a, "/admin?lang=en", cookieNamed(sess, adminCookie))
		if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `id="reauth-banner"`) ||
			!strings.Contains(page.Body.String(), `/shopify/install?shop=`+testShop) {
			t.Fatalf("admin page without the reauth banner: %d", page.Code)
		}
		// Opening the embedded admin: App Bridge's session token is exchanged.
		page = get(t, e.a, "/admin?lang=en&id_token="+e.shop.SessionToken(testShop, "77", time.Minute))
		if page.Code != http.StatusOK || strings.Contains(page.Body.String(), `id="reauth-banner"`) {
			t.Fatalf("after token exchange: %d, banner still shown", page.Code)
		}
		after := e.reloadShop(t)
		if after.NeedsReauthAt != nil || after.AccessTokenExpiresAt == nil || len(after.RefreshTokenEnc) == 0 {
			t.Fatalf("pair not restored: %+v", after.ReauthReason)
		}
		e.processDue(t)
		c, err := db.CustomerCoupon(ctx, e.s.ID, e.cust.ID, store.CampaignLineLink)
		if err != nil || c.Status != store.CouponIssued || len(e.shop.Discounts()) != 1 {
			t.Fatalf("waiting work did not resume: %+v %v", c, err)
		}
		if tags := e.shop.Tags(e.cust.ShopifyID); len(tags) != 1 {
			t.Fatalf("tags %v", tags)
		}
	})
}

// The daily sweep refreshes a shop idle for two months, before its 90-day
// refresh token lapses; one whose refresh token has lapsed is marked.
func TestTokenSweepKeepsIdleShopsAlive(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e := newLinkEnv(t, db, testenv.Redis(t), "")
		ctx := context.Background()
		e.installByCallback(t)
		e.clock.Add(10 * 24 * time.Hour)
		if n, _, err := e.a.Tokens.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("sweep of a fresh pair refreshed %d (%v)", n, err)
		}
		e.clock.Add(51 * 24 * time.Hour)
		if n, lost, err := e.a.Tokens.Sweep(ctx); err != nil || n != 1 || lost != 0 {
			t.Fatalf("sweep at day 61: refreshed %d lost %d (%v)", n, lost, err)
		}
		if s := e.reloadShop(t); !s.RefreshTokenExpiresAt.Equal(e.clock.Now().Add(90 * 24 * time.Hour)) {
			t.Fatalf("refresh token expiry not moved: %v", s.RefreshTokenExpiresAt)
		}
		// Nobody swept for 91 days: the refresh token lapsed.
		e.clock.Add(91 * 24 * time.Hour)
		if n, lost, err := e.a.Tokens.Sweep(ctx); err != nil || n != 0 || lost != 1 {
			t.Fatalf("sweep after lapse: refreshed %d lost %d (%v)", n, lost, err)
		}
		if s := e.reloadShop(t); s.NeedsReauthAt == nil {
			t.Fatal("lapsed shop not marked needs_reauth")
		}
	})
}
