package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// RequestDeadline bounds every request below Shopify's 5 s webhook
// timeout: a database that hangs (a lock, an exhausted pool, a frozen
// server) makes the request give up with a 503, so Shopify retries it,
// instead of holding the connection past Shopify's own cut-off.
const RequestDeadline = 4 * time.Second

// OtherRequestDeadline bounds every other request (the admin, LINE Login
// callbacks, sign-in with its deliberate password hashing): long enough
// for a loaded machine, short enough that a hung database frees the
// connection.
const OtherRequestDeadline = 25 * time.Second

// probeTimeout bounds each dependency check of /readyz.
const probeTimeout = 2 * time.Second

// longRequest reports the routes allowed past RequestDeadline: downloads
// that stream a report (bounded by WriteTimeout instead).
func longRequest(c echo.Context) bool {
	return strings.HasSuffix(c.Path(), ".csv")
}

func isProbe(path string) bool {
	return path == "/livez" || path == "/healthz" || path == "/readyz"
}

// requestDeadline gives each request's context a.requestTimeout (default
// RequestDeadline). A handler that fails after its deadline passed answers
// 503 with Retry-After, whatever error the store wrapped it in.
func (a *App) requestDeadline() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if longRequest(c) {
				return next(c)
			}
			d := a.requestTimeout
			if d <= 0 {
				d = OtherRequestDeadline
				if strings.HasPrefix(c.Request().URL.Path, "/webhooks/") {
					d = RequestDeadline
				}
			}
			ctx, cancel := context.WithTimeout(c.Request().Context(), d)
			defer cancel()
			c.SetRequest(c.Request().WithContext(ctx))
			err := next(c)
			if err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded)) {
				a.Log.Warn("request deadline passed", "path", c.Request().URL.Path, "err", err)
				c.Response().Header().Set("Retry-After", "5")
				return echo.NewHTTPError(http.StatusServiceUnavailable, "temporarily unavailable, retry shortly")
			}
			return err
		}
	}
}

// livez (also /healthz) answers 200 while the process can serve HTTP at
// all; it checks nothing else, so a restart is never triggered by a
// dependency's outage.
func (a *App) livez(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when this process can do its HTTP work: that needs the
// database (webhooks, OAuth, the admin all store there). Redis is reported
// but not required: webhooks are stored in the outbox (events) and the
// relay hands them to Redis once it is back, so a load balancer must keep
// sending them here ("redis": "unreachable", "degraded": true).
func (a *App) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), probeTimeout)
	defer cancel()
	res := map[string]any{"database": "ok", "redis": "ok", "degraded": false}
	ready := true
	if err := a.DB.Ping(ctx); err != nil {
		res["database"], ready = "unreachable", false
		if ctx.Err() != nil {
			res["database"] = "timeout"
		}
	}
	pinged := make(chan error, 1)
	go func() { pinged <- a.Queue.Ping() }()
	select {
	case err := <-pinged:
		if err != nil {
			res["redis"], res["degraded"] = "unreachable", true
		}
	case <-ctx.Done():
		res["redis"], res["degraded"] = "timeout", true
	}
	if !ready {
		return c.JSON(http.StatusServiceUnavailable, res)
	}
	return c.JSON(http.StatusOK, res)
}
