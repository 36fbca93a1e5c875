package app

import (
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Server-wide limits. Every route reads at most MaxRequestBody; the
// webhook doors and the JSON APIs have their own, smaller limits inside.
const (
	MaxRequestBody = 2 << 20
	// maxFormBody bounds the sign-in form and the other small form posts.
	maxFormBody = 16 << 10
	// ReadTimeout covers headers and body: a client trickling a byte every
	// few seconds is cut off instead of holding a connection for ever.
	ReadTimeout       = 30 * time.Second
	ReadHeaderTimeout = 10 * time.Second
	// WriteTimeout is long enough for the largest CSV report.
	WriteTimeout = 2 * time.Minute
	IdleTimeout  = 90 * time.Second
)

// httpServer is the one HTTP server configuration, timeouts included.
func (a *App) httpServer() *http.Server {
	return &http.Server{Addr: a.Config.Addr, Handler: a.echo,
		ReadTimeout: ReadTimeout, ReadHeaderTimeout: ReadHeaderTimeout, WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout,
		MaxHeaderBytes: 64 << 10}
}

// bodyLimit caps every request body (Content-Length and the bytes actually
// read), so no handler, bind or multipart parser can be made to buffer or
// spill to disk more than that.
func bodyLimit() echo.MiddlewareFunc {
	return middleware.BodyLimit("2M")
}

// securityHeaders sets the headers every answer carries. Handlers that may
// be framed (the embedded admin) replace the frame-ancestors default with
// the shop's admin.
func (a *App) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	https := strings.HasPrefix(a.Config.BaseURL, "https://")
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "frame-ancestors 'none';")
		h.Set("X-Content-Type-Options", "nosniff")
		if https || c.Request().TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		return next(c)
	}
}

// requestGuard refuses the requests a browser can be tricked into sending
// for a signed-in merchant (CSRF), and bodies of a type the route does not
// take. A JSON API takes only application/json: a cross-site form can only
// send form or text/plain bodies without a CORS preflight, which Tsunagu
// never grants.
func (a *App) requestGuard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		p := r.URL.Path
		if !isWrite(r.Method) {
			return next(c)
		}
		if isAdminPath(p) && crossSiteWrite(r) {
			return echo.NewHTTPError(http.StatusForbidden, "cross-site request refused")
		}
		if strings.HasPrefix(p, "/api/") && hasBody(r) && mediaType(r) != "application/json" {
			return echo.NewHTTPError(http.StatusUnsupportedMediaType, "send JSON with Content-Type: application/json")
		}
		if p == "/admin/login" || p == "/link/unlink" {
			if mt := mediaType(r); mt != "application/x-www-form-urlencoded" {
				return echo.NewHTTPError(http.StatusUnsupportedMediaType, "send the form as application/x-www-form-urlencoded")
			}
			if r.ContentLength > maxFormBody {
				return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "form too large")
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, maxFormBody)
		}
		return next(c)
	}
}

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
}

func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// crossSiteWrite reports a state-changing request another site made the
// browser send. The admin cookie is SameSite=None inside the Shopify admin's
// iframe, so without this check any page could post a form to the API with
// it. Requests carrying a session token (Authorization) are not cookie-borne.
//
// Browsers send Sec-Fetch-Site (all current ones) and Origin on every POST;
// "null" is what a sandboxed frame or a data: page sends, so it is refused.
// A request with neither comes from an old browser or a non-browser client:
// it passes only with a JSON body, which no cross-site form can send.
func crossSiteWrite(r *http.Request) bool {
	if !isWrite(r.Method) {
		return false
	}
	if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return false
	case "":
	default: // cross-site, same-site (another subdomain)
		return true
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return o == "null" || err != nil || u.Host != r.Host
	}
	return hasBody(r) && mediaType(r) != "application/json"
}
