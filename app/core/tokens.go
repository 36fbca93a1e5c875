package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
)

// Token lifecycle of a shop's expiring offline token pair.
const (
	// RefreshAhead: an access token this close to its expiry is refreshed
	// before use rather than sent and refused.
	RefreshAhead = 5 * time.Minute
	// SweepHorizon: the daily sweep refreshes shops whose refresh token
	// would lapse within this (an idle shop makes no Admin call that would
	// refresh it; a refresh token lives 90 days).
	SweepHorizon = 30 * 24 * time.Hour
)

// ErrNeedsReauth is returned (wrapped) for a shop whose grant cannot be
// refreshed: it must authorise the app again. No Admin call is made.
var ErrNeedsReauth = errors.New("the shop must authorise Tsunagu again")

// needsReauth is the domain error for it: unavailable until the merchant acts.
func needsReauth(domain, reason string) error {
	return fmt.Errorf("%w: %w", Errorf(EUNAVAILABLE, "%s must authorise Tsunagu again (%s)", domain, reason), ErrNeedsReauth)
}

// TokenGrants is what the token lifecycle needs of Shopify (*shopify.App).
type TokenGrants interface {
	RefreshToken(ctx context.Context, shop, refreshToken string) (shopify.Token, error)
	AdminWith(shop string, ts shopify.TokenSource) *shopify.Admin
}

// Tokens keeps shops' token pairs fresh: refreshed a few minutes before
// expiry and once on a 401, by one process at a time per shop (a lock held
// in the database for the whole read–refresh–write), written as a whole
// pair with a version fence, and marked needs_reauth when no refresh can
// help.
type Tokens struct {
	DB      *store.DB
	Box     *secretbox.Box
	Shopify TokenGrants
	Now     func() time.Time
	Log     *slog.Logger
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now().UTC()
	}
	return time.Now().UTC()
}

func (t *Tokens) log() *slog.Logger {
	if t.Log != nil {
		return t.Log
	}
	return slog.Default()
}

// Admin returns the shop's Admin API client, nil when Shopify is not
// configured or the shop holds no token (uninstalled). A shop that must
// authorise again gets ErrNeedsReauth and no client.
func (t *Tokens) Admin(shop *store.Shop) (*shopify.Admin, error) {
	if t == nil || t.Shopify == nil || len(shop.AccessTokenEnc) == 0 {
		return nil, nil
	}
	if shop.NeedsReauthAt != nil {
		return nil, needsReauth(shop.Domain, shop.ReauthReason)
	}
	return t.Shopify.AdminWith(shop.Domain, &shopTokens{t: t, shopID: shop.ID, domain: shop.Domain}), nil
}

// shopTokens is one shop's shopify.TokenSource.
type shopTokens struct {
	t      *Tokens
	shopID int64
	domain string
}

func (s *shopTokens) AccessToken(ctx context.Context) (string, error) {
	shop, err := s.t.DB.Shop(ctx, s.shopID)
	if err != nil {
		return "", err
	}
	if shop.NeedsReauthAt != nil {
		return "", needsReauth(shop.Domain, shop.ReauthReason)
	}
	cur, err := s.t.Box.Open(shop.AccessTokenEnc)
	if err != nil {
		return "", fmt.Errorf("opening the token of %s: %w", shop.Domain, err)
	}
	if !s.t.expiringSoon(shop) {
		return cur, nil
	}
	return s.t.Refresh(ctx, s.shopID, cur)
}

func (s *shopTokens) Renew(ctx context.Context, rejected string) (string, error) {
	return s.t.Refresh(ctx, s.shopID, rejected)
}

// expiringSoon: the access token has a known expiry within RefreshAhead.
func (t *Tokens) expiringSoon(shop *store.Shop) bool {
	return shop.AccessTokenExpiresAt != nil && !t.now().Add(RefreshAhead).Before(*shop.AccessTokenExpiresAt)
}

// Refresh renews the shop's pair unless someone already replaced stale (the
// access token the caller holds; "" forces a refresh). It returns the access
// token to use. Only one process refreshes a shop at a time: the others wait
// for the lock, then find the new pair and use it without a call. A lost
// answer is retried once with the same refresh token, which Shopify keeps
// usable until the new pair is first used. An answer no retry can fix marks
// the shop needs_reauth.
func (t *Tokens) Refresh(ctx context.Context, shopID int64, stale string) (string, error) {
	var (
		access string
		lost   error // needs_reauth, decided inside, reported after commit
	)
	err := t.DB.Tx(ctx, func(tx *store.DB) error {
		if err := tx.LockShopToken(ctx, shopID); err != nil {
			return err
		}
		shop, err := tx.Shop(ctx, shopID)
		if err != nil {
			return err
		}
		if shop.NeedsReauthAt != nil {
			lost = needsReauth(shop.Domain, shop.ReauthReason)
			return nil
		}
		if !shop.Active() || len(shop.AccessTokenEnc) == 0 {
			lost = needsReauth(shop.Domain, "not installed")
			return nil
		}
		cur, err := t.Box.Open(shop.AccessTokenEnc)
		if err != nil {
			return fmt.Errorf("opening the token of %s: %w", shop.Domain, err)
		}
		if stale != "" && cur != stale && !t.expiringSoon(shop) {
			access = cur // refreshed by another worker meanwhile
			return nil
		}
		var rt string
		if len(shop.RefreshTokenEnc) > 0 {
			if rt, err = t.Box.Open(shop.RefreshTokenEnc); err != nil {
				return fmt.Errorf("opening the refresh token of %s: %w", shop.Domain, err)
			}
		}
		if rt == "" {
			// A non-expiring grant from before: only a new authorisation helps.
			return t.markLost(ctx, tx, shop, "no refresh token", &lost)
		}
		tok, err := t.Shopify.RefreshToken(ctx, shop.Domain, rt)
		var oe *shopify.OAuthError
		if err != nil && !errors.As(err, &oe) && ctx.Err() == nil {
			t.log().WarnContext(ctx, "token refresh answer lost; retrying with the same refresh token", "shop", shop.Domain, "err", err)
			tok, err = t.Shopify.RefreshToken(ctx, shop.Domain, rt)
		}
		if errors.Is(err, shopify.ErrGrantRevoked) {
			return t.markLost(ctx, tx, shop, "refresh refused: "+oauthCode(err), &lost)
		}
		if err != nil {
			return fmt.Errorf("refreshing the token of %s: %w", shop.Domain, err)
		}
		if err := tx.SaveShopToken(ctx, shop.ID, shop.TokenVersion, t.seal(tok), t.now()); err != nil {
			return err
		}
		access = tok.AccessToken
		return nil
	})
	if err != nil {
		return "", err
	}
	if lost != nil {
		return "", lost
	}
	return access, nil
}

func (t *Tokens) markLost(ctx context.Context, tx *store.DB, shop *store.Shop, reason string, lost *error) error {
	if err := tx.MarkShopNeedsReauth(ctx, shop.ID, reason, t.now()); err != nil {
		return err
	}
	t.log().WarnContext(ctx, "shop needs to authorise again; Admin API work waits", "shop", shop.Domain, "reason", reason)
	*lost = needsReauth(shop.Domain, reason)
	return nil
}

func oauthCode(err error) string {
	var oe *shopify.OAuthError
	if errors.As(err, &oe) {
		if oe.Code != "" {
			return oe.Code
		}
		return fmt.Sprintf("HTTP %d", oe.Status)
	}
	return "unknown"
}

// seal encrypts a token pair for the store.
func (t *Tokens) seal(tok shopify.Token) store.ShopToken {
	st := store.ShopToken{AccessTokenEnc: t.Box.Seal(tok.AccessToken), Scopes: tok.Scope}
	if tok.RefreshToken != "" {
		st.RefreshTokenEnc = t.Box.Seal(tok.RefreshToken)
	}
	if !tok.ExpiresAt.IsZero() {
		at := tok.ExpiresAt.UTC()
		st.AccessTokenExpiresAt = &at
	}
	if !tok.RefreshExpiresAt.IsZero() {
		at := tok.RefreshExpiresAt.UTC()
		st.RefreshTokenExpiresAt = &at
	}
	return st
}

// SealInto puts an encrypted token pair on a shop row about to be installed.
func (t *Tokens) SealInto(s *store.Shop, tok shopify.Token) {
	st := t.seal(tok)
	s.AccessTokenEnc, s.RefreshTokenEnc = st.AccessTokenEnc, st.RefreshTokenEnc
	s.AccessTokenExpiresAt, s.RefreshTokenExpiresAt = st.AccessTokenExpiresAt, st.RefreshTokenExpiresAt
	if tok.Scope != "" {
		s.Scopes = tok.Scope
	}
}

// Regranted stores a pair obtained by a new authorisation of an installed
// shop (token exchange, re-install) and reopens the Admin API work that
// waited for it; it returns the ids of those events, to enqueue.
func (t *Tokens) Regranted(ctx context.Context, shop *store.Shop, tok shopify.Token) ([]int64, error) {
	err := t.DB.Tx(ctx, func(tx *store.DB) error {
		if err := tx.LockShopToken(ctx, shop.ID); err != nil {
			return err
		}
		cur, err := tx.Shop(ctx, shop.ID)
		if err != nil {
			return err
		}
		return tx.SaveShopToken(ctx, shop.ID, cur.TokenVersion, t.seal(tok), t.now())
	})
	if err != nil {
		return nil, err
	}
	return t.DB.RequeueWaitingEvents(ctx, shop.ID, shop.Domain)
}

// Sweep refreshes every shop whose refresh token lapses within
// SweepHorizon. It returns how many were refreshed; shops that turned out
// to need re-authorisation are marked and counted in lost.
func (t *Tokens) Sweep(ctx context.Context) (refreshed, lost int, err error) {
	ids, err := t.DB.ShopsToRefresh(ctx, t.now().Add(SweepHorizon), 1000)
	if err != nil {
		return 0, 0, err
	}
	for _, id := range ids {
		_, err := t.Refresh(ctx, id, "")
		switch {
		case errors.Is(err, ErrNeedsReauth):
			lost++
		case err != nil:
			return refreshed, lost, fmt.Errorf("sweeping the token of shop %d: %w", id, err)
		default:
			refreshed++
		}
	}
	return refreshed, lost, nil
}
