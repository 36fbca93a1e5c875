package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
)

// Roles a route can require. A staff route names the least staff role it
// admits (viewer < admin); Shopify staff, who manage the app, act as admins.
// Public routes check their own signature or token; ops routes need
// TSUNAGU_OPS_TOKEN.
const (
	rolePublic = "public"
	roleOps    = "ops"
	roleViewer = core.RoleViewer
	roleAdmin  = core.RoleAdmin
)

// route is one row of the route table.
type route struct {
	Method string // an HTTP method, or routeAny
	Path   string
	// Role is the least role the route admits: rolePublic, roleOps,
	// roleViewer or roleAdmin. Every write a viewer may do says why in
	// ViewerWrite (checked by TestRouteTableRoles).
	Role        string
	ViewerWrite string
	// Page routes answer with HTML (adminEntry: Shopify's signed launch, a
	// sign-in page); other staff routes are JSON APIs (adminAuth).
	Page bool
	H    echo.HandlerFunc
	MW   []echo.MiddlewareFunc // after authentication and the role check
}

// routeTable is every route Tsunagu serves, with the role each requires.
// It is the one place that decides who may call what: the staff
// middleware reads the role from here, never from the path.
func (a *App) routeTable() []route {
	inbox := limitBody(maxInboxBody)
	extCORS := middleware.CORSWithConfig(middleware.CORSConfig{
		// UI extensions run in Shopify's web workers (origin
		// https://extensions.shopifycdn.com and others) and authenticate
		// with a bearer token, never a cookie: any origin may ask.
		AllowOrigins: []string{"*"}, AllowMethods: []string{http.MethodGet},
		AllowHeaders: []string{echo.HeaderAuthorization, echo.HeaderAccept}, MaxAge: 600,
	})
	pixelCORS := middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOriginFunc: func(origin string) (bool, error) { return pixelOrigin(origin), nil },
		AllowMethods:    []string{http.MethodPost}, AllowHeaders: []string{echo.HeaderContentType}, MaxAge: 600,
	})
	const (
		GET, POST, PUT, PATCH, DELETE = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete
	)
	mw := func(m ...echo.MiddlewareFunc) []echo.MiddlewareFunc { return m }
	rt := []route{
		// Health, webhooks, install and the shopper's pages: no staff session.
		{Method: GET, Path: "/livez", Role: rolePublic, H: a.livez},
		{Method: GET, Path: "/healthz", Role: rolePublic, H: a.livez},
		{Method: GET, Path: "/readyz", Role: rolePublic, H: a.readyz},
		{Method: POST, Path: "/webhooks/shopify", Role: rolePublic, H: a.shopifyWebhook},
		{Method: POST, Path: "/webhooks/shopify/*", Role: rolePublic, H: a.shopifyWebhook},
		{Method: POST, Path: "/webhooks/line/:key", Role: rolePublic, H: a.lineWebhook},
		{Method: GET, Path: "/shopify/install", Role: rolePublic, H: a.shopifyInstall},
		{Method: GET, Path: "/shopify/callback", Role: rolePublic, H: a.shopifyCallback},
		{Method: GET, Path: "/admin/session", Role: rolePublic, H: a.adminSessionFromURL},
		{Method: GET, Path: "/admin/login", Role: rolePublic, H: a.loginForm},
		{Method: POST, Path: "/admin/login", Role: rolePublic, H: a.login},
		{Method: POST, Path: "/admin/logout", Role: rolePublic, H: a.logout},
		{Method: GET, Path: "/admin/assets/*", Role: rolePublic, H: a.adminAssets()},
		{Method: GET, Path: "/link/start", Role: rolePublic, H: a.linkStart},
		{Method: GET, Path: linkCallbackPath, Role: rolePublic, H: a.linkCallback},
		{Method: POST, Path: "/link/unlink", Role: rolePublic, H: a.linkUnlink},
		{Method: GET, Path: "/link/friend", Role: rolePublic, H: a.friendLink},
		{Method: GET, Path: "/link/order", Role: rolePublic, H: a.linkFromOrder},
		{Method: GET, Path: "/link/order/qr.png", Role: rolePublic, H: a.linkFromOrder},
		{Method: GET, Path: "/proxy/link", Role: rolePublic, H: a.proxyLink},
		{Method: GET, Path: "/proxy/block", Role: rolePublic, H: a.proxyBlock},
		{Method: GET, Path: "/ext/link-block", Role: rolePublic, H: a.extLinkBlock, MW: mw(extCORS)},
		{Method: POST, Path: "/pixel/events", Role: rolePublic, H: a.pixelEvents, MW: mw(pixelCORS, a.refuseForeignOrigin)},
		{Method: GET, Path: "/c/:token", Role: rolePublic, H: a.click},
		{Method: GET, Path: "/cc/:token", Role: rolePublic, H: a.campaignClick},
		{Method: GET, Path: "/cr/:token", Role: rolePublic, H: a.recipientClick},
		{Method: GET, Path: "/cc/:id/:variant", Role: rolePublic, H: a.legacyCampaignClick},

		// Operators.
		{Method: GET, Path: "/metrics", Role: roleOps, H: a.metricsHandler()},

		// Support: customers, timeline, dashboard.
		{Method: GET, Path: "/api/customers", Role: roleViewer, H: a.apiSearchCustomers},
		{Method: GET, Path: "/api/customers/:id", Role: roleViewer, H: a.apiCustomer},
		{Method: GET, Path: "/api/customers/:id/timeline", Role: roleViewer, H: a.apiTimeline},
		{Method: GET, Path: "/api/dashboard", Role: roleViewer, H: a.apiDashboard},

		// Settings, journeys and templates.
		{Method: GET, Path: "/api/settings/journeys", Role: roleViewer, H: a.apiGetJourneys},
		{Method: PUT, Path: "/api/settings/journeys", Role: roleAdmin, H: a.apiPutJourneys},
		{Method: GET, Path: "/api/settings/line", Role: roleViewer, H: a.getLineSettings},
		{Method: PUT, Path: "/api/settings/line", Role: roleAdmin, H: a.putLineSettings},
		{Method: POST, Path: "/api/settings/line/test", Role: roleAdmin, H: a.testLineSettings},
		// Several LINE accounts per shop (issue 13): ?channel=ID on the three above names one.
		{Method: GET, Path: "/api/settings/line/channels", Role: roleViewer, H: a.listLineChannels},
		{Method: POST, Path: "/api/settings/line/channels", Role: roleAdmin, H: a.newLineChannel},
		{Method: POST, Path: "/api/settings/line/channels/:id/primary", Role: roleAdmin, H: a.setPrimaryLineChannel},
		{Method: GET, Path: "/api/settings/forwards", Role: roleViewer, H: a.apiForwards},
		{Method: POST, Path: "/api/settings/forwards", Role: roleAdmin, H: a.apiNewForward},
		{Method: DELETE, Path: "/api/settings/forwards/:id", Role: roleAdmin, H: a.apiDeleteForward},
		{Method: POST, Path: "/api/settings/pixel", Role: roleAdmin, H: a.enablePixel},
		{Method: GET, Path: "/api/settings/history", Role: roleViewer, H: a.getHistory},
		{Method: POST, Path: "/api/settings/history", Role: roleAdmin, H: a.postHistory},
		{Method: GET, Path: "/api/settings/incentive", Role: roleViewer, H: a.getIncentive},
		{Method: PUT, Path: "/api/settings/incentive", Role: roleAdmin, H: a.putIncentive},
		{Method: GET, Path: "/api/templates", Role: roleViewer, H: a.apiTemplates},
		{Method: PUT, Path: "/api/templates/:kind", Role: roleAdmin, H: a.apiPutTemplate},
		{Method: POST, Path: "/api/templates/:kind/preview", Role: roleViewer, H: a.apiPreviewTemplate,
			ViewerWrite: "renders without saving, bounded by the template budget"},

		// Staff accounts.
		{Method: GET, Path: "/api/staff", Role: roleAdmin, H: a.apiListStaff},
		{Method: POST, Path: "/api/staff", Role: roleAdmin, H: a.apiCreateStaff},
		{Method: PATCH, Path: "/api/staff/:id", Role: roleAdmin, H: a.apiUpdateStaff},
		{Method: GET, Path: "/api/staff-lines", Role: roleViewer, H: a.listStaffLines},
		{Method: POST, Path: "/api/staff-lines", Role: roleAdmin, H: a.createStaffLine},
		{Method: DELETE, Path: "/api/staff-lines/:id", Role: roleAdmin, H: a.deleteStaffLine},

		// Segments.
		{Method: GET, Path: "/api/segments", Role: roleViewer, H: a.listSegments},
		{Method: POST, Path: "/api/segments", Role: roleAdmin, H: a.createSegment},
		{Method: POST, Path: "/api/segments/preview", Role: roleViewer, H: a.previewSegment,
			ViewerWrite: "counts without saving, within the segment size and cost limits"},
		{Method: POST, Path: "/api/segments/funnel", Role: roleAdmin, H: a.segmentFunnel},
		{Method: GET, Path: "/api/segments/products", Role: roleViewer, H: a.segmentProducts},
		{Method: GET, Path: "/api/segments/:id", Role: roleViewer, H: a.getSegment},
		{Method: PUT, Path: "/api/segments/:id", Role: roleAdmin, H: a.updateSegment},
		{Method: DELETE, Path: "/api/segments/:id", Role: roleAdmin, H: a.deleteSegment},

		// Campaigns, automations, rich menus, reports.
		{Method: GET, Path: "/api/campaigns", Role: roleViewer, H: a.listCampaigns},
		{Method: POST, Path: "/api/campaigns", Role: roleAdmin, H: a.createCampaign},
		{Method: POST, Path: "/api/campaigns/forecast", Role: roleAdmin, H: a.campaignForecast},
		{Method: POST, Path: "/api/campaigns/test", Role: roleAdmin, H: a.campaignTestSend},
		{Method: GET, Path: "/api/campaigns/:id", Role: roleViewer, H: a.getCampaign},
		{Method: POST, Path: "/api/campaigns/:id/send", Role: roleAdmin, H: a.sendCampaign},
		{Method: POST, Path: "/api/campaigns/:id/cancel", Role: roleAdmin, H: a.cancelCampaign},
		{Method: POST, Path: "/api/campaigns/:id/winner", Role: roleAdmin, H: a.campaignWinner},
		{Method: POST, Path: "/api/insights/refresh", Role: roleAdmin, H: a.refreshInsights},
		{Method: GET, Path: "/api/campaigns/:id/ab", Role: roleViewer, H: a.campaignAB},
		{Method: GET, Path: "/api/campaigns/:id/report", Role: roleViewer, H: a.campaignReport},
		{Method: GET, Path: "/api/campaigns/:id/report.csv", Role: roleViewer, H: a.campaignReportCSV},
		{Method: GET, Path: "/api/reports/journeys", Role: roleViewer, H: a.journeyReport},
		{Method: GET, Path: "/api/automations", Role: roleViewer, H: a.getAutomations},
		{Method: PUT, Path: "/api/automations", Role: roleAdmin, H: a.putAutomations},
		{Method: POST, Path: "/api/automations/run", Role: roleAdmin, H: a.runAutomations},
		{Method: GET, Path: "/api/richmenus", Role: roleViewer, H: a.listRichMenus},
		{Method: POST, Path: "/api/richmenus", Role: roleAdmin, H: a.createRichMenu},
		{Method: DELETE, Path: "/api/richmenus/:id", Role: roleAdmin, H: a.deleteRichMenu},
		{Method: GET, Path: "/api/richmenus/:id/image", Role: roleViewer, H: a.richMenuImage},
		{Method: POST, Path: "/api/richmenus/sync", Role: roleAdmin, H: a.syncRichMenus},

		// Failed messages, dead-lettered events, the audit log (issue 18).
		{Method: GET, Path: "/api/messages/failed", Role: roleViewer, H: a.apiFailedMessages},
		{Method: POST, Path: "/api/messages/:id/resend", Role: roleAdmin, H: a.apiResendMessage},
		{Method: GET, Path: "/api/events/dead", Role: roleViewer, H: a.apiDeadEvents},
		{Method: POST, Path: "/api/events/replay", Role: roleAdmin, H: a.apiReplayAll},
		{Method: POST, Path: "/api/events/:id/replay", Role: roleAdmin, H: a.apiReplayEvent},
		{Method: GET, Path: "/api/audit", Role: roleViewer, H: a.apiAuditLog},

		// Inbox.
		{Method: GET, Path: "/api/inbox", Role: roleViewer, H: a.apiInbox, MW: mw(inbox)},
		{Method: POST, Path: "/api/friends/:id/reply", Role: roleAdmin, H: a.apiReply, MW: mw(inbox)},
		{Method: POST, Path: "/api/friends/:id/assign", Role: roleAdmin, H: a.apiAssign, MW: mw(inbox)},
		{Method: GET, Path: "/api/canned-replies", Role: roleViewer, H: a.apiCannedReplies, MW: mw(inbox)},
		{Method: POST, Path: "/api/canned-replies", Role: roleAdmin, H: a.apiNewCannedReply, MW: mw(inbox)},
		{Method: DELETE, Path: "/api/canned-replies/:id", Role: roleAdmin, H: a.apiDeleteCannedReply, MW: mw(inbox)},
		{Method: GET, Path: "/api/auto-replies", Role: roleViewer, H: a.apiAutoReplies, MW: mw(inbox)},
		{Method: POST, Path: "/api/auto-replies", Role: roleAdmin, H: a.apiNewAutoReply, MW: mw(inbox)},
		{Method: DELETE, Path: "/api/auto-replies/:id", Role: roleAdmin, H: a.apiDeleteAutoReply, MW: mw(inbox)},

		// Admin pages.
		{Method: GET, Path: "/admin", Role: roleViewer, Page: true, H: a.pageHome},
		{Method: GET, Path: "/admin/customers", Role: roleViewer, Page: true, H: a.pageCustomers},
		{Method: GET, Path: "/admin/customers/:id", Role: roleViewer, Page: true, H: a.pageCustomer},
		{Method: GET, Path: "/admin/settings", Role: roleViewer, Page: true, H: a.pageSettings},
		{Method: POST, Path: "/admin/settings/forwards", Role: roleAdmin, Page: true, H: a.formNewForward},
		{Method: POST, Path: "/admin/settings/line-accounts", Role: roleAdmin, Page: true, H: a.formNewLineChannel},
		{Method: POST, Path: "/admin/settings/line-accounts/:id/primary", Role: roleAdmin, Page: true, H: a.formPrimaryLineChannel},
		{Method: GET, Path: "/admin/scenarios", Role: roleViewer, Page: true, H: a.pageScenarios},
		{Method: POST, Path: "/admin/scenarios", Role: roleAdmin, Page: true, H: a.formSaveScenario},
		{Method: POST, Path: "/admin/scenarios/:id", Role: roleAdmin, Page: true, H: a.formSaveScenario},
		{Method: POST, Path: "/admin/scenarios/:id/delete", Role: roleAdmin, Page: true, H: a.formDeleteScenario},
		{Method: POST, Path: "/admin/settings/forwards/:id/delete", Role: roleAdmin, Page: true, H: a.formDeleteForward},
		{Method: GET, Path: "/admin/templates", Role: roleViewer, Page: true, H: a.pageTemplates},
		{Method: GET, Path: "/admin/segments", Role: roleViewer, Page: true, H: a.segmentsPage},
		{Method: GET, Path: "/admin/campaigns", Role: roleViewer, Page: true, H: a.campaignsPage},
		{Method: GET, Path: "/admin/campaigns/new", Role: roleViewer, Page: true, H: a.composerPage},
		{Method: GET, Path: "/admin/campaigns/:id", Role: roleViewer, Page: true, H: a.campaignPage},
		{Method: GET, Path: "/admin/automations", Role: roleViewer, Page: true, H: a.automationsPage},
		{Method: GET, Path: "/admin/richmenus", Role: roleViewer, Page: true, H: a.richMenusPage},
		{Method: GET, Path: "/admin/failures", Role: roleViewer, Page: true, H: a.pageFailures},
		{Method: POST, Path: "/admin/failures/messages/:id/resend", Role: roleAdmin, Page: true, H: a.formResend},
		{Method: POST, Path: "/admin/failures/events/replay", Role: roleAdmin, Page: true, H: a.formReplayAll},
		{Method: POST, Path: "/admin/failures/events/:id/replay", Role: roleAdmin, Page: true, H: a.formReplay},
		{Method: GET, Path: "/admin/inbox", Role: roleViewer, Page: true, H: a.pageInbox, MW: mw(inbox)},
		{Method: GET, Path: "/admin/inbox/setup", Role: roleViewer, Page: true, H: a.pageInboxSetup, MW: mw(inbox)},
		{Method: POST, Path: "/admin/inbox/canned", Role: roleAdmin, Page: true, H: a.formNewCanned, MW: mw(inbox)},
		{Method: POST, Path: "/admin/inbox/canned/:id/delete", Role: roleAdmin, Page: true, H: a.formDeleteCanned, MW: mw(inbox)},
		{Method: POST, Path: "/admin/inbox/auto", Role: roleAdmin, Page: true, H: a.formNewAuto, MW: mw(inbox)},
		{Method: POST, Path: "/admin/inbox/auto/:id/delete", Role: roleAdmin, Page: true, H: a.formDeleteAuto, MW: mw(inbox)},
		{Method: POST, Path: "/admin/inbox/greeting", Role: roleAdmin, Page: true, H: a.formGreeting, MW: mw(inbox)},
		{Method: GET, Path: "/admin/inbox/:id", Role: roleViewer, Page: true, H: a.pageConversation, MW: mw(inbox)},
		{Method: POST, Path: "/admin/inbox/:id/reply", Role: roleAdmin, Page: true, H: a.formReply, MW: mw(inbox)},
		{Method: POST, Path: "/admin/inbox/:id/assign", Role: roleAdmin, Page: true, H: a.formAssign, MW: mw(inbox)},
	}
	// asynqmon shows every shop's tasks, so it is for Tsunagu's operators
	// only, and only where TSUNAGU_OPS_TOKEN is set.
	if a.jobsMonitor != nil {
		for _, p := range []string{"/admin/jobs", "/admin/jobs/*"} {
			rt = append(rt, route{Method: routeAny, Path: p, Role: roleOps, H: a.jobsMonitor})
		}
	}
	if a.sandbox != nil {
		// The demo's stand-in for LINE and Shopify (TSUNAGU_SANDBOX; never in production).
		rt = append(rt, route{Method: routeAny, Path: sandboxPrefix + "/*", Role: rolePublic, H: echo.WrapHandler(a.sandbox)})
	}
	return rt
}

// routeAny is the Method of a route that answers every method.
const routeAny = "ANY"

// catchAlls keep an unknown path under a prefix behind that prefix's
// middleware (authentication before 404; CORS answers preflights).
func (a *App) catchAlls() []route {
	return []route{
		{Path: "/api", Role: roleViewer}, {Path: "/api/*", Role: roleViewer},
		{Path: "/admin", Role: roleViewer, Page: true}, {Path: "/admin/*", Role: roleViewer, Page: true},
	}
}

func (a *App) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = a.errorHandler
	e.Use(a.requestLog, a.securityHeaders, bodyLimit(), a.requestDeadline(), a.requestGuard, a.countWebhooks)
	for _, r := range a.routeTable() {
		chain := append(a.guards(r), r.MW...)
		if r.Method == routeAny {
			e.Any(r.Path, r.H, chain...)
		} else {
			e.Add(r.Method, r.Path, r.H, chain...)
		}
	}
	for _, r := range a.catchAlls() {
		e.RouteNotFound(r.Path, echo.NotFoundHandler, a.guards(r)...)
	}
	// CORS must answer a preflight for an extension or pixel path.
	for _, r := range a.routeTable() {
		if len(r.MW) > 0 && r.Role == rolePublic {
			e.RouteNotFound(r.Path, echo.NotFoundHandler, r.MW...)
		}
	}
	return e
}

// guards is the authentication and role check a route's role asks for.
func (a *App) guards(r route) []echo.MiddlewareFunc {
	switch r.Role {
	case rolePublic:
		return nil
	case roleOps:
		if a.Config.OpsToken == "" {
			return nil // /metrics carries no shop data; production requires the token
		}
		return []echo.MiddlewareFunc{a.opsAuth}
	}
	auth := a.adminAuth
	if r.Page {
		auth = a.adminEntry
	}
	return []echo.MiddlewareFunc{auth, a.requireRole(r.Role)}
}

const ctxRole = "tsunagu.role"

// callerRole is the role requireRole found for the request.
func callerRole(c echo.Context) string {
	r, _ := c.Get(ctxRole).(string)
	return r
}

// requireRole admits a staff request whose role is at least min. A staff
// account (a signed-in support person) is checked against the database on
// every request, so that disabling it or lowering its role takes effect at
// once; Shopify staff act as admins.
func (a *App) requireRole(min string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			role := roleAdmin
			staff, _ := c.Get(ctxStaff).(string)
			if idStr, isStaff := strings.CutPrefix(staff, staffPrefix); isStaff {
				id, _ := strconv.ParseInt(idStr, 10, 64)
				acct, err := a.DB.Staff(c.Request().Context(), currentShop(c).ID, id)
				if errors.Is(err, store.ErrNotFound) || (err == nil && acct.DisabledAt != nil) {
					c.SetCookie(&http.Cookie{Name: adminCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
					return echo.NewHTTPError(http.StatusUnauthorized, "this staff account is disabled")
				}
				if err != nil {
					return err
				}
				c.Set(ctxStaffAccount, acct)
				role = acct.Role
			}
			c.Set(ctxRole, role)
			if !core.RoleAllows(role, min) {
				return core.Errorf(core.EFORBIDDEN, "this needs the %s role (yours: %s)", min, role)
			}
			return next(c)
		}
	}
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
		r := c.Request()
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelError
		} else if !isProbe(r.URL.Path) {
			level = slog.LevelInfo
		}
		// Typed attributes: the same line (and the same context.Background
		// Info and the others log with) without boxing each value.
		a.Log.LogAttrs(context.Background(), level, "http", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.Int64("ms", time.Since(start).Milliseconds()))
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
