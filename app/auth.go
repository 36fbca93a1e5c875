package app

import (
	"errors"
	"net/http"
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
			p, err := a.Signer.Verify(adminPurpose, ck.Value, a.Now())
			if err != nil {
				return a.unauthorized(c)
			}
			domain, staff, _ = strings.Cut(string(p), "|")
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
	secure := strings.HasPrefix(a.Config.BaseURL, "https://")
	ck := &http.Cookie{
		Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(shopDomain+"|"+staff), a.Now().Add(adminSessionTTL)),
		Path: "/", HttpOnly: true, Secure: secure, MaxAge: int(adminSessionTTL / time.Second),
		SameSite: http.SameSiteLaxMode,
	}
	if secure {
		ck.SameSite = http.SameSiteNoneMode
	}
	c.SetCookie(ck)
}

func (a *App) unauthorized(c echo.Context) error {
	return echo.NewHTTPError(http.StatusUnauthorized, "sign in from the Shopify admin (open Tsunagu under Apps)")
}
