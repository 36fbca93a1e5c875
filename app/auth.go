package app

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/store"
)

// Admin sessions. Inside the Shopify admin every request carries an App
// Bridge session token (Authorization: Bearer, or id_token on the first page
// load); the first verified token also starts a short cookie session so that
// plain links and form posts between server-rendered pages work too.
const (
	adminCookie     = "tsunagu_admin"
	adminPurpose    = "admin-session"
	adminSessionTTL = 8 * time.Hour
	ctxShop         = "tsunagu.shop"
	ctxStaff        = "tsunagu.staff"
)

// currentShop is the shop an authenticated admin request is scoped to.
func currentShop(c echo.Context) *store.Shop {
	s, _ := c.Get(ctxShop).(*store.Shop)
	return s
}

// adminAuth authenticates an admin request and scopes it to one shop.
func (a *App) adminAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		domain, staff, fromToken := "", "", false
		token := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		if token == req.Header.Get("Authorization") {
			token = c.QueryParam("id_token")
		}
		if token != "" {
			if a.Shopify == nil {
				return echo.NewHTTPError(http.StatusUnauthorized, "Shopify app is not configured")
			}
			claims, err := a.Shopify.VerifySessionToken(token, a.Now())
			if err != nil {
				return echo.NewHTTPError(http.StatusUnauthorized, "invalid session token")
			}
			domain, staff, fromToken = claims.Shop, claims.UserID, true
		} else if ck, err := req.Cookie(adminCookie); err == nil {
			sess, err := a.adminSession(c, ck.Value)
			if err != nil {
				return err
			}
			domain, staff = sess.domain, sess.staff
		} else {
			return a.unauthorized(c)
		}
		shop, err := a.DB.ShopByDomain(req.Context(), domain)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// A session token proves the shop has the app: without a usable
		// offline token, exchange it for one (Shopify-managed install,
		// re-authorisation after needs_reauth).
		if fromToken && a.Tokens != nil && (shop == nil || !shop.Active() || len(shop.AccessTokenEnc) == 0 || shop.NeedsReauthAt != nil) {
			got, gerr := a.grantFromSessionToken(req.Context(), domain, token, shop)
			if gerr != nil {
				a.Log.WarnContext(req.Context(), "token exchange failed", "shop", domain, "err", gerr)
			} else {
				shop = got
			}
		}
		if shop == nil || !shop.Active() {
			return a.unauthorized(c)
		}
		if fromToken && req.Method == http.MethodGet && c.QueryParam("id_token") != "" {
			a.startAdminSession(c, shop.Domain, staff)
		}
		c.Set(ctxShop, shop)
		c.Set(ctxStaff, staff)
		return next(c)
	}
}

// startAdminSession sets the admin cookie for shop. SameSite=None is what
// lets it ride inside the Shopify admin's iframe (which needs HTTPS).
func (a *App) startAdminSession(c echo.Context, shopDomain, staff string) {
	a.startAdminSessionGen(c, shopDomain, staff, 0)
}

// startAdminSessionGen is startAdminSession for a staff account whose
// session generation is gen (see adminSession).
func (a *App) startAdminSessionGen(c echo.Context, shopDomain, staff string, gen int64) {
	secure := strings.HasPrefix(a.Config.BaseURL, "https://")
	// The random part makes every sign-in its own session, so signing
	// one out leaves the others alone.
	payload := shopDomain + "|" + staff + "|" + strconv.FormatInt(gen, 10) + "|" + randomToken()
	ck := &http.Cookie{
		Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(payload), a.Now().Add(adminSessionTTL)),
		Path: "/", HttpOnly: true, Secure: secure, MaxAge: int(adminSessionTTL / time.Second),
		SameSite: http.SameSiteLaxMode,
	}
	if secure {
		ck.SameSite = http.SameSiteNoneMode
	}
	c.SetCookie(ck)
}

// session is a verified admin cookie: "domain|staff|generation|random"
// (older cookies: "domain|staff"); staff is a Shopify user id or
// "staff:ID" for a staff account.
type session struct {
	domain, staff string
	gen           int64
}

const ctxSession = "tsunagu.session"

// adminSession verifies an admin cookie: its signature and expiry, that it
// was not signed out (POST /admin/logout), and for a staff account that it
// was signed with the account's current session generation (a password
// change ends every other session). A refusal is a 401.
func (a *App) adminSession(c echo.Context, cookie string) (*session, error) {
	if s, ok := c.Get(ctxSession).(*session); ok {
		return s, nil
	}
	p, err := a.Signer.Verify(adminPurpose, cookie, a.Now())
	if err != nil {
		return nil, a.unauthorized(c)
	}
	parts := strings.SplitN(string(p), "|", 4)
	s := &session{domain: parts[0]}
	if len(parts) > 1 {
		s.staff = parts[1]
	}
	if len(parts) > 2 {
		if s.gen, err = strconv.ParseInt(parts[2], 10, 64); err != nil {
			return nil, a.unauthorized(c)
		}
	}
	ctx := c.Request().Context()
	revoked, err := a.DB.SessionRevoked(ctx, sessionHash(cookie))
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, echo.NewHTTPError(http.StatusUnauthorized, "this session was signed out; sign in again")
	}
	if idStr, ok := strings.CutPrefix(s.staff, staffPrefix); ok {
		id, _ := strconv.ParseInt(idStr, 10, 64)
		shop, err := a.DB.ShopByDomain(ctx, s.domain)
		if err != nil {
			return nil, a.unauthorized(c)
		}
		acct, err := a.DB.Staff(ctx, shop.ID, id)
		if err == nil && acct.SessionGen != s.gen {
			return nil, echo.NewHTTPError(http.StatusUnauthorized, "the password changed; sign in again")
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	c.Set(ctxSession, s)
	return s, nil
}

// sessionHash names a cookie in revoked_sessions without storing it.
func sessionHash(cookie string) string {
	h := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(h[:])
}

// logout signs the session out on the server too: the cookie stops
// working even if someone kept a copy.
func (a *App) logout(c echo.Context) error {
	if ck, err := c.Cookie(adminCookie); err == nil {
		if _, err := a.Signer.Verify(adminPurpose, ck.Value, a.Now()); err == nil {
			// The signature carries the expiry; keep the revocation as long.
			if err := a.DB.RevokeSession(c.Request().Context(), sessionHash(ck.Value), a.Now().Add(adminSessionTTL), a.Now()); err != nil {
				return err
			}
		}
	}
	c.SetCookie(&http.Cookie{Name: adminCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	return c.Redirect(http.StatusSeeOther, "/admin/login")
}

func (a *App) unauthorized(c echo.Context) error {
	return echo.NewHTTPError(http.StatusUnauthorized, "sign in from the Shopify admin (open Tsunagu under Apps)")
}
