package app

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
)

func (a *App) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = a.errorHandler
	e.Use(a.requestLog, a.securityHeaders, bodyLimit(), a.requestDeadline(), a.requestGuard)
	e.GET("/livez", a.livez)
	e.GET("/healthz", a.livez)
	e.GET("/readyz", a.readyz)
	e.POST("/webhooks/shopify", a.shopifyWebhook)
	e.POST("/webhooks/shopify/*", a.shopifyWebhook)
	a.installRoutes(e)
	a.linkRoutes(e)
	a.clickRoutes(e)
	a.adminRoutes(e)
	a.campaignRoutes(e)
	a.segmentRoutes(e)
	a.merchantRoutes(e)
	a.storefrontRoutes(e)
	a.inboxRoutes(e)
	return e
}

// requestLog logs one line per request: method, path (never the query,
// which carries OAuth codes and HMACs), status and duration.
func (a *App) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		level := a.Log.Debug
		if status >= 500 {
			level = a.Log.Error
		} else if !isProbe(c.Request().URL.Path) {
			level = a.Log.Info
		}
		level("http", "method", c.Request().Method, "path", c.Request().URL.Path, "status", status, "ms", time.Since(start).Milliseconds())
		return nil
	}
}

// httpStatus maps each domain error code to its HTTP status: the one place
// where the deciding layer's failures meet HTTP.
var httpStatus = map[string]int{
	core.ENOTFOUND:     http.StatusNotFound,
	core.ECONFLICT:     http.StatusConflict,
	core.EINVALID:      http.StatusUnprocessableEntity,
	core.EFORBIDDEN:    http.StatusForbidden,
	core.EUNAVAILABLE:  http.StatusServiceUnavailable,
	core.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	core.ERATELIMITED:  http.StatusTooManyRequests,
	core.EUNAUTHORIZED: http.StatusUnauthorized,
}

// errorHandler answers errors as JSON {"error": "..."} with the right status.
func (a *App) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		code = he.Code
		if s, ok := he.Message.(string); ok {
			msg = s
		} else {
			msg = http.StatusText(code)
		}
	case core.ErrorCode(err) != core.EINTERNAL:
		code, msg = httpStatus[core.ErrorCode(err)], core.ErrorMessage(err)
	default:
		a.Log.Error("request failed", "path", c.Request().URL.Path, "err", err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(code)
		return
	}
	_ = c.JSON(code, map[string]string{"error": msg})
}
