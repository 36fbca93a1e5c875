package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/shopify"
)

// ID linking: a signed link token names shop and customer; /link/start sends
// the browser to LINE Login (state, nonce, PKCE S256, bot_prompt) and
// /link/callback links the verified LINE user to the customer.
const (
	linkPurpose     = "link"
	unlinkPurpose   = "unlink"
	linkTokenTTL    = 30 * 24 * time.Hour
	linkLoginTTL    = 10 * time.Minute
	unlinkTokenTTL  = 24 * time.Hour
	linkCookiePrefx = "tsunagu_ll_"
)

// LinkToken signs an ID-linking token for a customer (store ids).
func LinkToken(s interface {
	Sign(string, []byte, time.Time) string
}, shopID, customerID int64, now time.Time) string {
	return s.Sign(linkPurpose, []byte(fmt.Sprintf("%d:%d:%d", shopID, customerID, now.Unix())), now.Add(linkTokenTTL))
}

// LinkURL returns the signed ID-linking URL for a customer (store ids, not
// Shopify's), valid for 30 days. Messages, emails and the thank-you page use it.
func (a *App) LinkURL(shopID, customerID int64) (string, error) {
	if shopID <= 0 || customerID <= 0 {
		return "", fmt.Errorf("link URL: invalid shop %d or customer %d", shopID, customerID)
	}
	return strings.TrimRight(a.Config.BaseURL, "/") + "/link/start?t=" + url.QueryEscape(LinkToken(a.Signer, shopID, customerID, a.Now())), nil
}

// LinkURLOn is LinkURL for linking on one of the shop's LINE accounts
// (channelID; zero means the primary, the plain LinkURL).
func (a *App) LinkURLOn(shopID, customerID, channelID int64) (string, error) {
	u, err := a.LinkURL(shopID, customerID)
	if err != nil || channelID == 0 {
		return u, err
	}
	return u + "&c=" + strconv.FormatInt(channelID, 10), nil
}

// channelParam reads the optional LINE account id of a link ("c"); 0 when
// absent or not a positive number.
func channelParam(v string) int64 {
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// parseLinkToken reads "shop:customer:issued-unix". Tokens made before the
// issue time was added read as issued at the epoch: spent by any link.
func parseLinkToken(p []byte) (shopID, customerID int64, issued time.Time, ok bool) {
	parts := strings.Split(string(p), ":")
	if len(parts) != 2 && len(parts) != 3 {
		return 0, 0, time.Time{}, false
	}
	var err1, err2, err3 error
	shopID, err1 = strconv.ParseInt(parts[0], 10, 64)
	customerID, err2 = strconv.ParseInt(parts[1], 10, 64)
	var unix int64
	if len(parts) == 3 {
		unix, err3 = strconv.ParseInt(parts[2], 10, 64)
	}
	return shopID, customerID, time.Unix(unix, 0), err1 == nil && err2 == nil && err3 == nil
}

func hashState(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// linkCookieName binds a login attempt to the browser that started it; one
// cookie per attempt, so two tabs don't spoil each other.
func linkCookieName(state string) string { return linkCookiePrefx + hashState(state)[:16] }

// loginConfig returns the LINE Login configuration of one of the shop's
// accounts (channelID, or the primary when zero), if complete.
func (a *App) loginConfig(ctx context.Context, shopID, channelID int64) (line.LoginConfig, bool, error) {
	ch, err := a.DB.LineChannelFor(ctx, shopID, channelID)
	if errors.Is(err, store.ErrNotFound) {
		return line.LoginConfig{}, false, nil
	}
	if err != nil {
		return line.LoginConfig{}, false, err
	}
	secret, err := a.Box.Open(ch.LoginSecretEnc)
	if errors.Is(err, secretbox.ErrWrongKey) {
		a.logWrongKey(ctx, shopID, "line.login_secret")
	}
	if err != nil || secret == "" || ch.LoginChannelID == "" {
		return line.LoginConfig{}, false, nil
	}
	return line.LoginConfig{
		ChannelID: ch.LoginChannelID, ChannelSecret: secret,
		RedirectURI: strings.TrimRight(a.Config.BaseURL, "/") + linkCallbackPath,
		AuthBase:    a.Config.LineAuthBase, APIBase: a.Config.LineAPIBase,
	}, true, nil
}

func (a *App) linkStart(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := a.Signer.Verify(linkPurpose, c.QueryParam("t"), a.Now())
	if err != nil {
		return a.linkPage(c, http.StatusBadRequest, pageInvalidLink, nil)
	}
	shopID, customerID, issued, ok := parseLinkToken(p)
	if !ok {
		return a.linkPage(c, http.StatusBadRequest, pageInvalidLink, nil)
	}
	shop, err := a.DB.Shop(ctx, shopID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !shop.Active()) {
		return a.linkPage(c, http.StatusNotFound, pageUnavailable, nil)
	}
	if err != nil {
		return err
	}
	cust, err := a.DB.Customer(ctx, shopID, customerID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && cust.RedactedAt != nil) {
		return a.linkPage(c, http.StatusNotFound, pageInvalidLink, &pageData{Shop: shop})
	}
	if err != nil {
		return err
	}
	hist, err := a.DB.LinkHistory(ctx, customerID)
	if err != nil {
		return err
	}
	if !core.LinkTokenUsable(issued, hist.LastLinkedAt) {
		return a.linkPage(c, http.StatusGone, pageInvalidLink, &pageData{Shop: shop})
	}
	// c names one of the shop's LINE accounts to link on (a channel's own
	// link URL); without it, the primary. Another shop's channel is not found.
	var channelID int64
	var loginChannel *int64
	if v := c.QueryParam("c"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return a.linkPage(c, http.StatusBadRequest, pageInvalidLink, &pageData{Shop: shop})
		}
		if _, err := a.DB.LineChannelByID(ctx, shopID, id); errors.Is(err, store.ErrNotFound) {
			return a.linkPage(c, http.StatusBadRequest, pageInvalidLink, &pageData{Shop: shop})
		} else if err != nil {
			return err
		}
		channelID, loginChannel = id, &id
	}
	cfg, ok, err := a.loginConfig(ctx, shopID, channelID)
	if err != nil {
		return err
	}
	if !ok {
		return a.linkPage(c, http.StatusServiceUnavailable, pageUnavailable, &pageData{Shop: shop})
	}
	if err := a.DB.PruneLinkLogins(ctx, a.Now().Add(-24*time.Hour)); err != nil {
		a.Log.WarnContext(ctx, "pruning old LINE Login attempts", "err", err)
	}
	state, nonce := line.NewState(), line.NewNonce()
	verifier, challenge := line.NewPKCE()
	now := a.Now()
	if err := a.DB.CreateLinkLogin(ctx, &store.LinkLogin{
		StateHash: hashState(state), ShopID: shopID, CustomerID: customerID, ChannelID: loginChannel, Nonce: nonce,
		VerifierEnc: a.Box.Seal(verifier), ExpiresAt: now.Add(linkLoginTTL), CreatedAt: now,
	}); err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: linkCookieName(state), Value: state, Path: "/link", HttpOnly: true,
		Secure: strings.HasPrefix(a.Config.BaseURL, "https://"), SameSite: http.SameSiteLaxMode,
		MaxAge: int(linkLoginTTL / time.Second),
	})
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	return c.Redirect(http.StatusFound, a.LineLogin.AuthorizeURL(cfg, state, nonce, challenge))
}

func (a *App) linkCallback(c echo.Context) error {
	state := c.QueryParam("state")
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	if !takeLoginCookie(c, state) {
		return a.linkPage(c, http.StatusBadRequest, pageSessionGone, nil)
	}
	res, err := a.linkLogin().Complete(c.Request().Context(),
		core.LoginCallback{StateHash: hashState(state), Error: c.QueryParam("error"), Code: c.QueryParam("code")})
	if err != nil {
		return err
	}
	if res.Event != nil {
		a.Dispatcher.Dispatch(res.Event.ID)
	}
	if res.Outcome == core.LoginLinked {
		return a.linkedPage(c, res.Shop, res.Customer, res.Link)
	}
	var pd *pageData
	if res.Shop != nil {
		pd = &pageData{Shop: res.Shop}
	}
	status, page := loginOutcomePage(res.Outcome)
	return a.linkPage(c, status, page, pd)
}

// loginOutcomePage is the page (and status) for each outcome of a LINE Login
// other than a link.
func loginOutcomePage(o core.LoginOutcome) (int, pageKind) {
	switch o {
	case core.LoginCancelled:
		return http.StatusOK, pageCancelled
	case core.LoginUnavailable:
		return http.StatusServiceUnavailable, pageUnavailable
	case core.LoginFailed:
		return http.StatusBadRequest, pageLoginFailed
	case core.LoginCustomerGone:
		return http.StatusNotFound, pageInvalidLink
	case core.LoginUserTaken:
		return http.StatusConflict, pageUserTaken
	case core.LoginCustomerTaken:
		return http.StatusConflict, pageCustomerTaken
	}
	return http.StatusBadRequest, pageSessionGone
}

// takeLoginCookie reports whether the browser holds the cookie of the login
// attempt named by state (set by linkStart), and removes it: one attempt,
// one callback, in the browser that started it.
func takeLoginCookie(c echo.Context, state string) bool {
	if state == "" {
		return false
	}
	name := linkCookieName(state)
	ck, err := c.Cookie(name)
	bound := err == nil && subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) == 1
	c.SetCookie(&http.Cookie{Name: name, Value: "", Path: "/link", MaxAge: -1, HttpOnly: true})
	return bound
}

// linkLogin completes LINE Logins with the app's current clients (tests
// swap LineLogin and the LINE origins).
func (a *App) linkLogin() *core.LinkLogin {
	return &core.LinkLogin{DB: a.DB, Box: a.Box, Client: a.LineLogin, Config: a.loginConfig, Log: a.Log, Now: a.Now}
}

// linkedPage shows the result of a link: the coupon when there is one and
// the unlink button.
func (a *App) linkedPage(c echo.Context, shop *store.Shop, cust *store.Customer, link *store.LineLink) error {
	pd := &pageData{Shop: shop, Friend: link.Friend,
		UnlinkToken: a.Signer.Sign(unlinkPurpose, []byte(strconv.FormatInt(link.ID, 10)), a.Now().Add(unlinkTokenTTL))}
	ctx := c.Request().Context()
	cp, err := a.DB.CustomerCoupon(ctx, shop.ID, cust.ID, store.CampaignLineLink)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	hist, err := a.DB.LinkHistory(ctx, cust.ID)
	if err != nil {
		return err
	}
	if cp != nil && cp.Status != store.CouponFailed && core.CouponVisibleTo(hist.FirstLineUserID, link.LineUserID) {
		pd.CouponCode = cp.Code
		pd.CouponTitle = shop.Settings.Incentive.Title
		if cp.ExpiresAt != nil {
			pd.CouponExpires = cp.ExpiresAt.In(shop.Location())
		}
	}
	return a.linkPage(c, http.StatusOK, pageLinked, pd)
}

// linkUnlink ends the link named by a signed unlink token from the result page.
func (a *App) linkUnlink(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := a.Signer.Verify(unlinkPurpose, c.FormValue("t"), a.Now())
	if err != nil {
		return a.linkPage(c, http.StatusBadRequest, pageSessionGone, nil)
	}
	id, err := strconv.ParseInt(string(p), 10, 64)
	if err != nil {
		return a.linkPage(c, http.StatusBadRequest, pageSessionGone, nil)
	}
	l, err := a.DB.Link(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return a.linkPage(c, http.StatusOK, pageUnlinked, nil)
	}
	if err != nil {
		return err
	}
	shop, err := a.DB.Shop(ctx, l.ShopID)
	if err != nil {
		return err
	}
	ev, err := core.Unlink(ctx, a.DB, l, "customer", a.Now())
	if err != nil {
		return err
	}
	if ev != nil {
		a.Dispatcher.Dispatch(ev.ID)
	}
	return a.linkPage(c, http.StatusOK, pageUnlinked, &pageData{Shop: shop})
}

// proxyLink is the storefront entry: with the app proxy set to
// <base>/proxy (prefix apps, subpath tsunagu), a theme links to
// /apps/tsunagu/link and Shopify forwards it here, signed, with the
// logged-in customer's id. It sends them on to their link URL.
func (a *App) proxyLink(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	domain, ok := shopify.VerifyProxy(a.Config.ShopifyAPISecret, q, a.Now())
	if !ok {
		return a.linkPage(c, http.StatusUnauthorized, pageInvalidLink, nil)
	}
	shop, err := a.DB.ShopByDomain(ctx, domain)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !shop.Active()) {
		return a.linkPage(c, http.StatusNotFound, pageUnavailable, nil)
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	custID, err := strconv.ParseInt(q.Get("logged_in_customer_id"), 10, 64)
	if err != nil || custID <= 0 {
		// Not signed in to the store: log in, then come back here.
		back := strings.TrimRight(q.Get("path_prefix"), "/") + "/link"
		if !strings.HasPrefix(back, "/apps/") && !strings.HasPrefix(back, "/a/") && !strings.HasPrefix(back, "/community/") && !strings.HasPrefix(back, "/tools/") {
			back = "/apps/tsunagu/link"
		}
		if id := channelParam(q.Get("c")); id != 0 {
			back += "?c=" + strconv.FormatInt(id, 10)
		}
		return c.Redirect(http.StatusFound, "/account/login?return_url="+url.QueryEscape(back))
	}
	cust, err := a.DB.CustomerByShopifyID(ctx, shop.ID, custID)
	if errors.Is(err, store.ErrNotFound) {
		// Create the row only; a concurrent webhook's profile stays.
		cust, err = a.DB.UpsertCustomerProfile(ctx, store.CustomerProfile{ShopID: shop.ID, ShopifyID: custID})
	}
	if err != nil {
		return err
	}
	// A friend's invitation names the LINE account they follow (c, signed
	// by Shopify with the rest of the proxy query).
	u, err := a.LinkURLOn(shop.ID, cust.ID, channelParam(q.Get("c")))
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, u)
}
