package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Token endpoint grants (shopify.dev, "About offline access tokens" and
// "Exchange a session token for an access token", December 2025 onwards).
const (
	grantRefreshToken    = "refresh_token"
	grantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	tokenTypeOfflineAuth = "urn:shopify:params:oauth:token-type:offline-access-token"
)

// maxTokenBody bounds what is read of a token endpoint answer.
const maxTokenBody = 64 << 10

// Token is an expiring offline token pair as the token endpoint returns it.
// Every request Tsunagu makes asks for an expiring token (expiring=1):
// Shopify refuses Admin API calls from non-expiring offline tokens of public
// apps (from 2027-01-01 for all, from 2026-04-01 for new apps).
type Token struct {
	AccessToken string
	Scope       string
	// ExpiresAt is when the access token stops working (issued + expires_in,
	// one hour on Shopify). Zero when the answer had no expires_in.
	ExpiresAt time.Time
	// RefreshToken rotates on every refresh; it lives 90 days from issue.
	RefreshToken     string
	RefreshExpiresAt time.Time
}

// Expiring reports whether the answer was an expiring pair.
func (t Token) Expiring() bool { return t.RefreshToken != "" && !t.ExpiresAt.IsZero() }

// OAuthError is an error answer of the token endpoint, e.g. invalid_grant
// for a revoked, expired or retired refresh token.
type OAuthError struct {
	Status      int
	Code        string // "invalid_grant", "invalid_request", "invalid_client", ...
	Description string
}

func (e *OAuthError) Error() string {
	s := fmt.Sprintf("shopify: token endpoint answered %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// ErrGrantRevoked matches (errors.Is) an OAuthError that no retry can fix:
// the grant was revoked, expired or retired, or the app was uninstalled.
// The shop has to authorise the app again.
var ErrGrantRevoked = errors.New("shopify: grant revoked or expired")

// Is makes errors.Is(err, ErrGrantRevoked) true for unrecoverable answers.
func (e *OAuthError) Is(target error) bool {
	if target != ErrGrantRevoked {
		return false
	}
	return e.Code == "invalid_grant" || e.Code == "invalid_subject_token" ||
		e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden || e.Status == http.StatusNotFound
}

// ExchangeToken trades the callback's code for an expiring offline token.
func (a *App) ExchangeToken(ctx context.Context, shop, code string) (Token, error) {
	if code == "" {
		return Token{}, errors.New("shopify: exchange code: empty code")
	}
	return a.tokenRequest(ctx, "exchange code", shop, url.Values{"code": {code}, "expiring": {"1"}})
}

// RefreshToken spends refreshToken for a new pair. Shopify keeps the old
// refresh token usable until the new pair is first used, so a caller that
// lost this answer retries with the same refresh token.
func (a *App) RefreshToken(ctx context.Context, shop, refreshToken string) (Token, error) {
	if refreshToken == "" {
		return Token{}, &OAuthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "no refresh token"}
	}
	return a.tokenRequest(ctx, "refresh token", shop, url.Values{
		"grant_type": {grantRefreshToken}, "refresh_token": {refreshToken},
	})
}

// ExchangeSessionToken trades an App Bridge session token (already verified
// by the caller) for an expiring offline token: the token-exchange grant of
// Shopify-managed installation.
func (a *App) ExchangeSessionToken(ctx context.Context, shop, sessionToken string) (Token, error) {
	if sessionToken == "" {
		return Token{}, errors.New("shopify: token exchange: empty session token")
	}
	return a.tokenRequest(ctx, "token exchange", shop, url.Values{
		"grant_type":           {grantTokenExchange},
		"subject_token":        {sessionToken},
		"subject_token_type":   {tokenTypeIDToken},
		"requested_token_type": {tokenTypeOfflineAuth},
		"expiring":             {"1"},
	})
}

// tokenRequest posts to /admin/oauth/access_token. It goes through the same
// transport as Admin calls (AdminBase, 429/5xx retries). A 200 answer is the
// only success; anything else is an *OAuthError or a transport error.
func (a *App) tokenRequest(ctx context.Context, what, shop string, form url.Values) (Token, error) {
	if !ValidShopDomain(shop) {
		return Token{}, fmt.Errorf("%s: %w: %q", what, ErrBadShop, shop)
	}
	form.Set("client_id", a.cfg.APIKey)
	form.Set("client_secret", a.cfg.APISecret)
	hc, err := a.httpClient(shop)
	if err != nil {
		return Token{}, fmt.Errorf("shopify: %s for %s: %w", what, shop, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+shop+"/admin/oauth/access_token",
		bytes.NewReader([]byte(form.Encode())))
	if err != nil {
		return Token{}, fmt.Errorf("shopify: %s for %s: %w", what, shop, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("shopify: %s for %s: %w", what, shop, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	if err != nil {
		return Token{}, fmt.Errorf("shopify: %s for %s: reading answer: %w", what, shop, err)
	}
	if resp.StatusCode != http.StatusOK {
		oe := &OAuthError{Status: resp.StatusCode}
		var eb struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		if json.Unmarshal(body, &eb) == nil {
			oe.Code, oe.Description = eb.Error, eb.ErrorDescription
		}
		return Token{}, fmt.Errorf("shopify: %s for %s: %w", what, shop, oe)
	}
	var tr struct {
		AccessToken           string `json:"access_token"`
		Scope                 string `json:"scope"`
		ExpiresIn             int64  `json:"expires_in"`
		RefreshToken          string `json:"refresh_token"`
		RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return Token{}, fmt.Errorf("shopify: %s for %s: malformed answer: %w", what, shop, err)
	}
	if tr.AccessToken == "" {
		return Token{}, fmt.Errorf("shopify: %s for %s: no access_token in answer", what, shop)
	}
	now := a.now()
	t := Token{AccessToken: tr.AccessToken, Scope: tr.Scope, RefreshToken: tr.RefreshToken}
	if tr.ExpiresIn > 0 {
		t.ExpiresAt = now.Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	if tr.RefreshTokenExpiresIn > 0 {
		t.RefreshExpiresAt = now.Add(time.Duration(tr.RefreshTokenExpiresIn) * time.Second)
	}
	return t, nil
}

// IsNonExpiringRefused reports Shopify's 403 for an Admin API call made with
// a non-expiring offline token.
func IsNonExpiringRefused(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Non-expiring access tokens are no longer accepted")
}
