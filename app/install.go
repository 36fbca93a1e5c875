package app

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
)

// The OAuth state travels in a signed cookie bound to this browser, so a
// callback opened in another browser (or forged) finds no matching state.
const (
	oauthCookie     = "tsunagu_oauth"
	oauthPurpose    = "shopify-oauth-state"
	oauthStateTTL   = 10 * time.Minute
	adminURLPurpose = "admin-url"
	// DefaultAdminURLTTL is how long a `tsunagu admin-url` link can be opened.
	DefaultAdminURLTTL = 10 * time.Minute
)

// WebhookURL is where Shopify delivers webhooks for this deployment.
func (a *App) WebhookURL() string {
	return strings.TrimSuffix(a.Config.BaseURL, "/") + "/webhooks/shopify"
}

// shopifyInstall starts the authorization code grant for ?shop=.
func (a *App) shopifyInstall(c echo.Context) error {
	if a.Shopify == nil {
		return a.installRefused(c, http.StatusServiceUnavailable, "", "This Tsunagu has no Shopify app configured (SHOPIFY_API_KEY and SHOPIFY_API_SECRET).")
	}
	raw := c.QueryParam("shop")
	shop, err := shopify.NormalizeShopDomain(raw)
	if err != nil {
		msg := "Enter your store's myshopify.com domain to install Tsunagu."
		if raw != "" {
			msg = fmt.Sprintf("%q is not a Shopify store domain: only <name>.myshopify.com is accepted.", raw)
		}
		return a.installRefused(c, http.StatusBadRequest, "", msg)
	}
	state := shopify.NewState()
	authURL, err := a.Shopify.AuthorizeURL(shop, state)
	if err != nil {
		return fmt.Errorf("building authorize URL for %s: %w", shop, err)
	}
	c.SetCookie(&http.Cookie{
		Name: oauthCookie, Value: a.Signer.Sign(oauthPurpose, []byte(shop+"|"+state), a.Now().Add(oauthStateTTL)),
		Path: "/shopify/", HttpOnly: true, Secure: strings.HasPrefix(a.Config.BaseURL, "https://"),
		// Lax: the callback is a top-level GET redirect from Shopify.
		SameSite: http.SameSiteLaxMode, MaxAge: int(oauthStateTTL / time.Second),
	})
	return c.Redirect(http.StatusFound, authURL)
}

// shopifyCallback finishes the install: it checks the signature, shop,
// timestamp and state before anything is stored, exchanges the code for an
// offline token, subscribes the webhooks and stores the shop with its token
// encrypted. Every refusal is a page that says why, and stores nothing.
func (a *App) shopifyCallback(c echo.Context) error {
	if a.Shopify == nil {
		return a.installRefused(c, http.StatusServiceUnavailable, "", "This Tsunagu has no Shopify app configured.")
	}
	ctx := c.Request().Context()
	q := c.QueryParams()
	// The state is single use whatever happens next.
	c.SetCookie(&http.Cookie{Name: oauthCookie, Value: "", Path: "/shopify/", MaxAge: -1, HttpOnly: true})
	hint := ""
	if shopify.ValidShopDomain(q.Get("shop")) {
		hint = strings.ToLower(q.Get("shop"))
	}
	if q.Get("error") != "" && q.Get("code") == "" {
		return a.installRefused(c, http.StatusBadRequest, hint, "The install was cancelled in Shopify; nothing was saved.")
	}
	shop, err := a.Shopify.VerifyCallback(q, a.Now())
	switch {
	case errors.Is(err, shopify.ErrBadHMAC):
		return a.installRefused(c, http.StatusUnauthorized, "", "This request was not signed by Shopify (HMAC mismatch). Start the install again from your Shopify admin.")
	case errors.Is(err, shopify.ErrBadShop):
		return a.installRefused(c, http.StatusBadRequest, "", fmt.Sprintf("%q is not a Shopify store domain: only <name>.myshopify.com is accepted.", q.Get("shop")))
	case errors.Is(err, shopify.ErrStaleTimestamp):
		return a.installRefused(c, http.StatusBadRequest, hint, "This install link has expired (its timestamp is too old or in the future). Start the install again.")
	case err != nil:
		return a.installRefused(c, http.StatusBadRequest, hint, "The install request is malformed.")
	}
	ck, err := c.Cookie(oauthCookie)
	if err != nil || ck.Value == "" {
		return a.installRefused(c, http.StatusForbidden, shop, "This browser did not start this install (no install session cookie). Start again from this browser.")
	}
	p, err := a.Signer.Verify(oauthPurpose, ck.Value, a.Now())
	wantShop, wantState, _ := strings.Cut(string(p), "|")
	if err != nil || wantShop != shop || wantState == "" ||
		subtle.ConstantTimeCompare([]byte(wantState), []byte(q.Get("state"))) != 1 {
		return a.installRefused(c, http.StatusForbidden, shop, "The install state does not match the one this browser started with (expired, or another store). Start again.")
	}
	tok, err := a.Shopify.ExchangeToken(ctx, shop, q.Get("code"))
	if err != nil {
		a.Log.WarnContext(ctx, "token exchange failed", "shop", shop, "err", err)
		return a.installRefused(c, http.StatusBadGateway, shop, "Shopify did not accept the authorization code (it may have been used already). Start the install again.")
	}
	if _, err := a.completeInstall(ctx, shop, tok); err != nil {
		if errors.Is(err, errWebhooksRefused) {
			return a.installRefused(c, http.StatusBadGateway, shop, "Shopify did not accept the webhook subscriptions. Nothing was saved; try the install again in a minute.")
		}
		return err
	}
	a.startAdminSession(c, shop, "installer")
	return c.Redirect(http.StatusFound, a.afterInstallURL(shop, q.Get("host")))
}

var errWebhooksRefused = errors.New("webhook subscriptions refused")

// webPixelSettings are the web pixel's settings for shop (the fields of
// extensions/web-pixel/shopify.extension.toml).
func (a *App) webPixelSettings(shop string) map[string]string {
	return map[string]string{"endpoint": a.Config.BaseURL + "/pixel/events", "key": core.PixelKey(a.Config.SecretKey, shop)}
}

// enablePixel is Settings' "turn on browsing events" button.
func (a *App) enablePixel(c echo.Context) error {
	ctx := c.Request().Context()
	shop := currentShop(c)
	admin, err := a.Tokens.Admin(shop)
	if err != nil {
		return err
	}
	if admin == nil {
		return core.Errorf(core.EUNAVAILABLE, "Shopify is not connected for this shop")
	}
	id, err := admin.EnsureWebPixel(ctx, a.webPixelSettings(shop.Domain))
	if shopify.IsAccessDenied(err) {
		return core.Errorf(core.ECONFLICT, "Tsunagu needs the write_pixels and read_customer_events permissions: open Tsunagu from Apps in the Shopify admin and approve the updated permissions, then try again")
	}
	if err != nil {
		a.Log.WarnContext(ctx, "turning on the web pixel", "shop", shop.Domain, "err", err)
		return core.Errorf(core.EUNAVAILABLE, "Shopify did not turn the web pixel on; try again in a minute")
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "pixel": id})
}

// enableWebPixel turns the storefront pixel on for browse abandonment. It
// does not fail the install: a grant without the pixel scopes still runs
// everything else, and Settings offers to turn the pixel on later.
func (a *App) enableWebPixel(ctx context.Context, admin *shopify.Admin, shop string) {
	id, err := admin.EnsureWebPixel(ctx, a.webPixelSettings(shop))
	if err != nil {
		a.Log.WarnContext(ctx, "turning on the web pixel", "shop", shop, "err", err)
		return
	}
	a.Log.InfoContext(ctx, "web pixel on", "shop", shop, "pixel", id)
}

// completeInstall stores a new grant for shop (authorization code or token
// exchange): it reads the shop's profile, makes sure the webhooks exist
// (shopify.app.toml declares them; this is the idempotent fallback), stores
// the encrypted pair and resumes work that waited for it.
func (a *App) completeInstall(ctx context.Context, shop string, tok shopify.Token) (*store.Shop, error) {
	admin := a.Shopify.Admin(shop, tok.AccessToken)
	s := &store.Shop{Domain: shop}
	a.Tokens.SealInto(s, tok)
	if info, err := admin.ShopInfo(ctx); err != nil {
		a.Log.WarnContext(ctx, "reading shop info", "shop", shop, "err", err) // defaults serve until the next install
	} else {
		s.Name, s.Email, s.Currency, s.Timezone, s.Locale = info.Name, info.Email, info.Currency, info.IANATimezone, info.PrimaryLocale
	}
	// Subscriptions before the shop is stored: a shop without webhooks would look installed and hear nothing.
	created, err := admin.EnsureWebhooks(ctx, a.WebhookURL(), shopify.Topics)
	if err != nil {
		a.Log.ErrorContext(ctx, "registering webhooks", "shop", shop, "err", err)
		return nil, fmt.Errorf("%w: %w", errWebhooksRefused, err)
	}
	if err := a.DB.InstallShop(ctx, s, a.Now()); err != nil {
		return nil, err
	}
	a.enableWebPixel(ctx, admin, shop)
	a.resumeWaiting(ctx, s)
	a.historyOnInstall(ctx, s)
	a.Log.InfoContext(ctx, "shop installed", "shop", shop, "scopes", s.Scopes, "expiring_token", tok.Expiring(), "webhooks_created", len(created))
	return s, nil
}

// grantFromSessionToken exchanges a verified App Bridge session token for
// an expiring offline token (Shopify-managed installation, or a shop that
// must authorise again) and stores it.
func (a *App) grantFromSessionToken(ctx context.Context, domain, sessionToken string, cur *store.Shop) (*store.Shop, error) {
	tok, err := a.Shopify.ExchangeSessionToken(ctx, domain, sessionToken)
	if err != nil {
		return nil, fmt.Errorf("token exchange for %s: %w", domain, err)
	}
	if cur == nil || !cur.Active() {
		return a.completeInstall(ctx, domain, tok)
	}
	ids, err := a.Tokens.Regranted(ctx, cur, tok)
	if err != nil {
		return nil, err
	}
	// The grant may carry scopes approved since install (the pixel's).
	a.enableWebPixel(ctx, a.Shopify.Admin(domain, tok.AccessToken), domain)
	for _, id := range ids {
		a.Dispatcher.Dispatch(id)
	}
	a.Log.InfoContext(ctx, "shop authorised again by token exchange", "shop", domain, "events_resumed", len(ids))
	return a.DB.Shop(ctx, cur.ID)
}

// resumeWaiting reopens the Admin API work that waited for the shop to
// authorise again and hands it to the workers (the relay covers a failure).
func (a *App) resumeWaiting(ctx context.Context, s *store.Shop) {
	ids, err := a.DB.RequeueWaitingEvents(ctx, s.ID, s.Domain)
	if err != nil {
		a.Log.WarnContext(ctx, "reopening waiting events", "shop", s.Domain, "err", err)
		return
	}
	for _, id := range ids {
		a.Dispatcher.Dispatch(id)
	}
	if len(ids) > 0 {
		a.Log.InfoContext(ctx, "Admin API work resumed after re-authorisation", "shop", s.Domain, "events", len(ids))
	}
}

// afterInstallURL is the embedded app inside the Shopify admin when talking
// to the real Shopify, else (local fakes, dev) the app's own /admin page.
func (a *App) afterInstallURL(shop, host string) string {
	local := "/admin?shop=" + url.QueryEscape(shop)
	if a.Config.ShopifyAdminBase != shopify.DefaultAdminBase || host == "" {
		return local
	}
	raw := strings.TrimRight(host, "=")
	h, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		if h, err = base64.RawStdEncoding.DecodeString(raw); err != nil {
			return local
		}
	}
	admin := string(h)
	name := strings.TrimSuffix(shop, ".myshopify.com")
	if admin != "admin.shopify.com/store/"+name && admin != shop+"/admin" {
		return local // a host that is not this shop's admin is not followed
	}
	return "https://" + admin + "/apps/" + url.PathEscape(a.Shopify.APIKey())
}

// adminEntry lets Shopify's app launch reach the admin page: a signed
// launch for a shop not (or no longer) installed goes to the install; a
// signed launch of an installed shop starts a session. Anything else goes
// through adminAuth (session token or cookie).
func (a *App) adminEntry(next echo.HandlerFunc) echo.HandlerFunc {
	next = frameAncestors(next)
	auth := a.adminAuth(next)
	return func(c echo.Context) error {
		q := c.QueryParams()
		if a.Shopify != nil && q.Get("hmac") != "" && q.Get("id_token") == "" {
			if shop, err := a.Shopify.VerifyCallback(q, a.Now()); err == nil {
				s, err := a.DB.ShopByDomain(c.Request().Context(), shop)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if s == nil || !s.Active() || len(s.AccessTokenEnc) == 0 {
					install := "/shopify/install?shop=" + url.QueryEscape(shop)
					if q.Get("embedded") == "1" {
						setFrameAncestors(c, shop)
						return a.exitIframe(c, install)
					}
					return c.Redirect(http.StatusFound, install)
				}
				a.startAdminSession(c, shop, "shopify-admin")
				c.Set(ctxShop, s)
				c.Set(ctxStaff, "shopify-admin")
				return next(c)
			}
		}
		err := auth(c)
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code == http.StatusUnauthorized {
			return a.page(c, http.StatusUnauthorized, "Tsunagu — sign in", "Sign in from the Shopify admin",
				"Open Tsunagu from your Shopify admin (Apps → Tsunagu). Support staff with a Tsunagu account sign in at /admin/login. For local development, run: tsunagu admin-url --shop <name>.myshopify.com", "")
		}
		return err
	}
}

// frameAncestors lets only the shop's own admin frame an admin page, as
// Shopify requires of embedded apps (and nobody else: clickjacking).
func frameAncestors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s := currentShop(c); s != nil {
			setFrameAncestors(c, s.Domain)
		}
		return next(c)
	}
}

func setFrameAncestors(c echo.Context, shop string) {
	c.Response().Header().Set("Content-Security-Policy", "frame-ancestors https://"+shop+" https://admin.shopify.com;")
}

// adminSessionFromURL opens an admin session from a `tsunagu admin-url`
// link: the documented fallback outside the Shopify admin (local dev).
func (a *App) adminSessionFromURL(c echo.Context) error {
	p, err := a.Signer.Verify(adminURLPurpose, c.QueryParam("token"), a.Now())
	if err != nil {
		return a.page(c, http.StatusUnauthorized, "Tsunagu — sign in", "This sign-in link is invalid or expired",
			"Create a new one with: tsunagu admin-url --shop <name>.myshopify.com", "")
	}
	shop := string(p)
	s, err := a.DB.ShopByDomain(c.Request().Context(), shop)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.Active()) {
		return a.installRefused(c, http.StatusNotFound, shop, "Tsunagu is not installed on "+shop+".")
	}
	if err != nil {
		return err
	}
	a.startAdminSession(c, shop, "admin-url")
	return c.Redirect(http.StatusFound, "/admin?shop="+url.QueryEscape(shop))
}

// AdminURL returns a signed link that opens an admin session for shop,
// valid for ttl (printed by `tsunagu admin-url`).
func AdminURL(cfg *Config, shop string, now time.Time, ttl time.Duration) (string, error) {
	domain, err := shopify.NormalizeShopDomain(shop)
	if err != nil {
		return "", err
	}
	if ttl <= 0 {
		ttl = DefaultAdminURLTTL
	}
	tok := secretbox.NewSigner(cfg.SecretKey).Sign(adminURLPurpose, []byte(domain), now.Add(ttl))
	return strings.TrimSuffix(cfg.BaseURL, "/") + "/admin/session?token=" + url.QueryEscape(tok), nil
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#202223}
h1{font-size:1.4rem}#reason{background:#fff4f4;border-left:4px solid #d72c0d;padding:.75rem 1rem}
form{margin-top:1.5rem}input{padding:.4rem;width:18rem}button{padding:.4rem .8rem}</style></head>
<body><h1>{{.Heading}}</h1>
<p id="reason">{{.Message}}</p>
<form action="/shopify/install" method="get"><label>Store domain <input name="shop" value="{{.Shop}}" placeholder="your-store.myshopify.com"></label>
<button type="submit">Install Tsunagu</button></form>
</body></html>`))

// installRefused renders why an install cannot go on, with a form to retry.
func (a *App) installRefused(c echo.Context, status int, shop, msg string) error {
	return a.page(c, status, "Tsunagu — install refused", "Tsunagu could not be installed", msg, shop)
}

func (a *App) page(c echo.Context, status int, title, heading, msg, shop string) error {
	var b strings.Builder
	if err := pageTmpl.Execute(&b, map[string]string{"Title": title, "Heading": heading, "Message": msg, "Shop": shop}); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	if h.Get("Content-Security-Policy") == "" {
		h.Set("Content-Security-Policy", "frame-ancestors 'none';")
	}
	return c.HTML(status, b.String())
}

var exitIframeTmpl = template.Must(template.New("exit").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Tsunagu</title>
<meta name="shopify-api-key" content="{{.APIKey}}"><script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script></head>
<body><p><a id="continue" href="{{.URL}}" target="_top">Continue to install Tsunagu</a></p>
<script>window.open({{.URL}}, "_top");</script></body></html>`))

// exitIframe leaves the Shopify admin's iframe for a top-level page: the
// OAuth pages refuse to be framed and the state cookie must be first-party.
func (a *App) exitIframe(c echo.Context, to string) error {
	var b strings.Builder
	abs := strings.TrimSuffix(a.Config.BaseURL, "/") + to
	if err := exitIframeTmpl.Execute(&b, map[string]string{"APIKey": a.Shopify.APIKey(), "URL": abs}); err != nil {
		return err
	}
	return c.HTML(http.StatusOK, b.String())
}
