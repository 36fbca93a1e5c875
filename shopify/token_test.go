package shopify_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

// testClock is a clock shared by the fake and the app that a test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newClockedApp(t *testing.T) (*shopify.App, *shopifytest.Server, *testClock) {
	t.Helper()
	clock := &testClock{now: time.Date(2027, 1, 5, 3, 0, 0, 0, time.UTC)}
	fake := shopifytest.NewServer(t, shopifytest.WithClock(clock.Now))
	cfg := fake.App(testRedirect, "read_orders")
	cfg.Now = clock.Now
	app, err := shopify.NewApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	shopify.SetRetryBackoff(app, time.Millisecond)
	return app, fake, clock
}

// The fake holds Shopify's 2027 rules: a non-expiring token is refused with
// 403, an access token lasts one hour, a refresh rotates the pair, the spent
// refresh token stays good until the new pair is first used and is retired
// (invalid_grant) after that.
func TestExpiringTokenRules(t *testing.T) {
	t.Parallel()
	app, fake, clock := newClockedApp(t)
	ctx := context.Background()

	legacy := fake.IssueNonExpiringToken(testShop)
	_, err := app.Admin(testShop, legacy).ShopInfo(ctx)
	if !shopify.IsNonExpiringRefused(err) {
		t.Fatalf("non-expiring token: %v, want Shopify's 403", err)
	}

	pair := fake.IssueTokenPair(testShop)
	if _, err := app.Admin(testShop, pair.AccessToken).ShopInfo(ctx); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	clock.Add(time.Hour + time.Second)
	if _, err := app.Admin(testShop, pair.AccessToken).ShopInfo(ctx); err == nil || !strings.Contains(err.Error(), "Invalid API key or access token") {
		t.Fatalf("token after an hour: %v, want 401", err)
	}

	// Refresh: a new pair; the old access token is gone.
	next, err := app.RefreshToken(ctx, testShop, pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if next.AccessToken == pair.AccessToken || next.RefreshToken == pair.RefreshToken || !next.Expiring() ||
		!next.ExpiresAt.Equal(clock.Now().Add(time.Hour)) || !next.RefreshExpiresAt.Equal(clock.Now().Add(90*24*time.Hour)) {
		t.Fatalf("refresh did not rotate the pair: %+v", next)
	}
	// The answer was lost: the same refresh token works again, until the new pair is used.
	again, err := app.RefreshToken(ctx, testShop, pair.RefreshToken)
	if err != nil {
		t.Fatalf("previous refresh token refused before the new pair was used: %v", err)
	}
	if _, err := app.Admin(testShop, next.AccessToken).ShopInfo(ctx); err == nil {
		t.Fatal("the superseded pair still works")
	}
	if _, err := app.Admin(testShop, again.AccessToken).ShopInfo(ctx); err != nil {
		t.Fatalf("newest pair: %v", err)
	}
	_, err = app.RefreshToken(ctx, testShop, pair.RefreshToken)
	var oe *shopify.OAuthError
	if !errors.As(err, &oe) || oe.Code != "invalid_grant" || !errors.Is(err, shopify.ErrGrantRevoked) {
		t.Fatalf("retired refresh token: %v, want invalid_grant", err)
	}
	if strings.Contains(err.Error(), fake.APISecret) || strings.Contains(err.Error(), pair.RefreshToken) {
		t.Fatal("error text leaks a secret")
	}
	// The refresh request is a form post with the documented parameters.
	var form url.Values
	for _, r := range fake.Requests() {
		if r.Operation == shopifytest.OpRefresh {
			form, _ = url.ParseQuery(string(r.Body))
		}
	}
	if form.Get("grant_type") != "refresh_token" || form.Get("client_id") != fake.APIKey || form.Get("refresh_token") == "" {
		t.Fatalf("refresh form %v", form)
	}
	// A refresh token expires 90 days after issue.
	clock.Add(91 * 24 * time.Hour)
	if _, err := app.RefreshToken(ctx, testShop, again.RefreshToken); !errors.Is(err, shopify.ErrGrantRevoked) {
		t.Fatalf("refresh token after 91 days: %v", err)
	}
}

// The Admin client renews once on a 401 through its TokenSource.
type renewingSource struct {
	current, next string
	renewed       []string
}

func (s *renewingSource) AccessToken(context.Context) (string, error) { return s.current, nil }
func (s *renewingSource) Renew(_ context.Context, rejected string) (string, error) {
	s.renewed = append(s.renewed, rejected)
	s.current = s.next
	return s.current, nil
}

func TestAdminRenewsOnceOn401(t *testing.T) {
	t.Parallel()
	app, fake, clock := newClockedApp(t)
	ctx := context.Background()
	old := fake.IssueToken(testShop)
	clock.Add(2 * time.Hour)
	src := &renewingSource{current: old, next: fake.IssueToken(testShop)}
	if _, err := app.AdminWith(testShop, src).ShopInfo(ctx); err != nil {
		t.Fatal(err)
	}
	if len(src.renewed) != 1 || src.renewed[0] != old {
		t.Fatalf("renewed %v", src.renewed)
	}
	// A source that cannot produce a working token: one renewal, then the error.
	bad := &renewingSource{current: "shpat_nope", next: "shpat_still_nope"}
	if _, err := app.AdminWith(testShop, bad).ShopInfo(ctx); err == nil {
		t.Fatal("want an error")
	}
	if len(bad.renewed) != 1 {
		t.Fatalf("renewed %d times, want once", len(bad.renewed))
	}
}

func TestTokenExchange(t *testing.T) {
	t.Parallel()
	app, fake, _ := newClockedApp(t)
	ctx := context.Background()
	tok, err := app.ExchangeSessionToken(ctx, testShop, fake.SessionToken(testShop, "42", time.Minute))
	if err != nil || !tok.Expiring() {
		t.Fatalf("exchange: %+v %v", tok, err)
	}
	if _, err := app.Admin(testShop, tok.AccessToken).ShopInfo(ctx); err != nil {
		t.Fatal(err)
	}
	var form url.Values
	for _, r := range fake.Requests() {
		if r.Operation == shopifytest.OpTokenExchange {
			form, _ = url.ParseQuery(string(r.Body))
		}
	}
	if form.Get("expiring") != "1" || form.Get("requested_token_type") != "urn:shopify:params:oauth:token-type:offline-access-token" {
		t.Fatalf("exchange form %v", form)
	}
	// A session token of another shop, or a forged one, is refused.
	if _, err := app.ExchangeSessionToken(ctx, testShop, fake.SessionToken("other.myshopify.com", "42", time.Minute)); err == nil {
		t.Fatal("session token of another shop exchanged")
	}
	if _, err := app.ExchangeSessionToken(ctx, testShop, "not-a-jwt"); !errors.Is(err, shopify.ErrGrantRevoked) {
		t.Fatalf("forged session token: %v", err)
	}
}
