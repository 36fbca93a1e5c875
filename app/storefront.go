package app

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/labstack/echo/v4"
	"github.com/skip2/go-qrcode"
	"golang.org/x/time/rate"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/jsonscan"
	"github.com/tsunagu/tsunagu/shopify"
)

// The shopper-facing extensions' endpoints: the Thank-you / Order status
// block (session token), the theme block and embed (app proxy) and the web
// pixel's ingest. The rules are in core.Storefront and core.Pixel.

// Pixel ingest rate limits: per shop (all its visitors) and per shop and
// client (one browser). A pixel sends a batch at most every second.
const (
	pixelShopRate    = 500 // requests per second
	pixelShopBurst   = 1000
	pixelClientRate  = 5
	pixelClientBurst = 20
)

// pixelOrigin: the origins Shopify runs web pixels from — the shop's
// myshopify.com domain and Shopify's own hosts. A strict-sandbox pixel's
// worker may also send no Origin at all (allowed: the shop key decides).
func pixelOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "https" || u.Path != "" || u.User != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return (strings.HasSuffix(h, ".myshopify.com") && shopify.ValidShopDomain(h)) ||
		h == "shopify.com" || strings.HasSuffix(h, ".shopify.com") || strings.HasSuffix(h, ".shopifycdn.com") ||
		strings.HasSuffix(h, ".shopifysvc.com")
}

// refuseForeignOrigin answers 403 to a browser request from any other
// origin, instead of storing it and letting CORS hide the answer.
func (a *App) refuseForeignOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if o := c.Request().Header.Get(echo.HeaderOrigin); o != "" && !pixelOrigin(o) {
			return echo.NewHTTPError(http.StatusForbidden, "origin not allowed")
		}
		return next(c)
	}
}

func (a *App) extLinkBlock(c echo.Context) error {
	if a.Shopify == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Shopify app not configured")
	}
	tok, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
	if !ok {
		return echo.NewHTTPError(http.StatusUnauthorized, "missing session token")
	}
	claims, err := a.Shopify.VerifyExtensionToken(tok, a.Now())
	if err != nil {
		return echo.NewHTTPError(http.StatusUnauthorized, "invalid session token")
	}
	ans, err := a.Storefront.LinkBlock(c.Request().Context(), core.LinkBlockRequest{
		Shop: claims.Shop, SignedInCustomer: claims.CustomerID, Target: c.QueryParam("target"),
		OrderGID: c.QueryParam("order_id"), CheckoutToken: c.QueryParam("checkout_token"), Lang: c.QueryParam("lang"),
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, ans)
}

// proxyAnswer is what the theme block script reads (extensions/line-link-theme/src/model.ts).
type proxyAnswer struct {
	State     string `json:"state"`
	LinkURL   string `json:"link_url,omitempty"`
	LoginURL  string `json:"login_url,omitempty"`
	Incentive string `json:"incentive,omitempty"`
	QR        string `json:"qr,omitempty"`
	// PixelToken proves the signed-in customer to the web pixel's ingest
	// (core.PixelCustomerToken); the theme script keeps it in a cookie.
	PixelToken string `json:"pixel_token,omitempty"`
}

func (a *App) proxyBlock(c echo.Context) error {
	q := c.QueryParams()
	domain, ok := shopify.VerifyProxy(a.Config.ShopifyAPISecret, q, a.Now())
	if !ok {
		return echo.NewHTTPError(http.StatusUnauthorized, "invalid app proxy signature")
	}
	custID, _ := strconv.ParseInt(q.Get("logged_in_customer_id"), 10, 64)
	ctx := c.Request().Context()
	ans, cust, err := a.Storefront.ProxyBlock(ctx, core.ProxyBlockRequest{
		Shop: domain, LoggedInCustomer: custID, Embed: q.Get("placement") == "embed", Lang: q.Get("lang"),
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store, private")
	prefix := proxyPrefix(q.Get("path_prefix"))
	out := proxyAnswer{State: ans.State, Incentive: ans.Incentive}
	if custID > 0 {
		out.PixelToken = a.Pixel.CustomerToken(domain, custID)
	}
	switch ans.State {
	case core.BlockLink:
		// Through the proxy, so the link is always for whoever is signed in.
		out.LinkURL = prefix + "/link"
		if ans.URL != "" && cust != nil && q.Get("qr") == "1" {
			// The QR holds the signed link: a buyer at a computer scans it
			// with the phone that has LINE, where they are not signed in.
			png, err := qrcode.Encode(ans.URL, qrcode.Medium, 200)
			if err != nil {
				return fmt.Errorf("drawing the link QR code: %w", err)
			}
			out.QR = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
		}
	case core.BlockSignIn:
		out.LoginURL = "/account/login?return_url=" + url.QueryEscape(prefix+"/link")
	}
	return c.JSON(http.StatusOK, out)
}

// proxyPrefix is the storefront path the proxy is mounted at, checked
// against Shopify's allowed prefixes.
func proxyPrefix(p string) string {
	p = strings.TrimRight(p, "/")
	for _, ok := range []string{"/apps/", "/a/", "/community/", "/tools/"} {
		if strings.HasPrefix(p+"/", ok) && !strings.ContainsAny(p, "?#\\") && !strings.Contains(p, "..") {
			return p
		}
	}
	return "/apps/tsunagu"
}

func (a *App) pixelEvents(c echo.Context) error {
	req := c.Request()
	body, err := io.ReadAll(io.LimitReader(req.Body, core.PixelMaxBody+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "could not read body")
	}
	if len(body) > core.PixelMaxBody {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body over 64 KiB")
	}
	if !jsonscan.Valid(body) {
		return echo.NewHTTPError(http.StatusBadRequest, "body is not JSON")
	}
	now := a.Now()
	batch, evs, err := core.ParsePixelBatch(body, now)
	if err != nil {
		return err
	}
	if !a.pixelLimits.allow(batch.Shop, batch.ClientID, now) {
		c.Response().Header().Set("Retry-After", "1")
		return core.Errorf(core.ERATELIMITED, "too many pixel requests")
	}
	res, err := a.Pixel.Ingest(req.Context(), batch, evs)
	if err != nil {
		return err
	}
	if res.Trigger != nil {
		a.Dispatcher.Dispatch(res.Trigger.ID)
	}
	return c.JSON(http.StatusOK, res)
}

// pixelLimiter holds a token bucket per shop and per shop+client, the
// least recently used forgotten beyond a bound.
type pixelLimiter struct {
	mu      sync.Mutex
	shops   *lru.Cache[string, *rate.Limiter]
	clients *lru.Cache[string, *rate.Limiter]
	shopR   rate.Limit
	shopB   int
	clientR rate.Limit
	clientB int
}

func newPixelLimiter(shopRate float64, shopBurst int, clientRate float64, clientBurst int) *pixelLimiter {
	shops, _ := lru.New[string, *rate.Limiter](10000)
	clients, _ := lru.New[string, *rate.Limiter](200000)
	return &pixelLimiter{shops: shops, clients: clients, shopR: rate.Limit(shopRate), shopB: shopBurst,
		clientR: rate.Limit(clientRate), clientB: clientBurst}
}

// allow takes one token from the client's bucket and the shop's; a client
// over its rate does not use up the shop's.
func (l *pixelLimiter) allow(shop, client string, now time.Time) bool {
	l.mu.Lock()
	cl, ok := l.clients.Get(shop + "\x00" + client)
	if !ok {
		cl = rate.NewLimiter(l.clientR, l.clientB)
		l.clients.Add(shop+"\x00"+client, cl)
	}
	sh, ok := l.shops.Get(shop)
	if !ok {
		sh = rate.NewLimiter(l.shopR, l.shopB)
		l.shops.Add(shop, sh)
	}
	l.mu.Unlock()
	return cl.AllowN(now, 1) && sh.AllowN(now, 1)
}
