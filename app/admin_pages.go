package app

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"
	"github.com/skip2/go-qrcode"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	templates "github.com/tsunagu/tsunagu/templates"
)

//go:embed adminui
var adminUI embed.FS

// adminPage is what every admin page template gets.
type adminPage struct {
	Lang  string
	Title string
	Nav   string
	Shop  *store.Shop
	Path  string
	Data  any
	// AppBridgeKey, when set, loads Shopify App Bridge: inside the Shopify
	// admin it adds a fresh session token to every fetch, so the API calls
	// work even where the iframe's cookies are blocked.
	AppBridgeKey string
	BaseURL      string
}

func (p adminPage) T(key string) string { return tr(p.Lang, key) }

// ReauthURL is where the needs_reauth banner sends the merchant: the
// authorization code install, top level (it cannot run in the iframe).
func (p adminPage) ReauthURL() string {
	return p.BaseURL + "/shopify/install?shop=" + url.QueryEscape(p.Shop.Domain)
}

// loadAdminTemplates parses one template set per page (layout + page).
func loadAdminTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"money": func(d decimal.Decimal, cur string) string { return templates.Money(d, cur) },
		"json": func(v any) (template.JS, error) {
			b, err := json.Marshal(v)
			return template.JS(b), err
		},
		"msgTexts": core.MessageTexts,
		"add":      func(a, b int) int { return a + b },
		"deref": func(p *int64) int64 {
			if p == nil {
				return 0
			}
			return *p
		},
		"bundle": bundle,
		"rate": func(n, total int64) string {
			if total == 0 {
				return "–"
			}
			return strconv.FormatFloat(float64(n)*100/float64(total), 'f', 1, 64) + "%"
		},
		"pct": func(n, total int64) int64 {
			if total == 0 {
				return 0
			}
			return n * 100 / total
		},
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		},
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"home", "customers", "customer", "settings", "templates", "segments", "campaigns", "campaign_new", "campaign", "automations", "richmenus",
		"inbox", "conversation", "inboxsetup", "scenarios"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(adminUI, "adminui/layout.html", "adminui/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parsing admin page %s: %w", name, err)
		}
		pages[name] = t
	}
	raw, err := template.New("raw").Funcs(funcs).ParseFS(adminUI, "adminui/layout.html")
	if err == nil {
		_, err = raw.Parse(`{{define "content"}}{{.Data}}{{end}}`)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing the admin layout: %w", err)
	}
	pages["raw"] = raw
	return pages, nil
}

// renderAdmin renders page name (a template set of loadAdminTemplates)
// inside the admin layout; title is a uiText key.
func (a *App) renderAdmin(c echo.Context, name, title string, data any) error {
	lang := adminLang(c)
	p := adminPage{Lang: lang, Title: tr(lang, title), Nav: name, Shop: currentShop(c), Path: c.Request().URL.Path, Data: data,
		BaseURL: strings.TrimSuffix(a.Config.BaseURL, "/")}
	if strings.HasPrefix(a.Config.BaseURL, "https://") {
		p.AppBridgeKey = a.Config.ShopifyAPIKey
	}
	// Embedded in the Shopify admin's iframe, and nowhere else.
	setFrameAncestors(c, p.Shop.Domain)
	var buf bytes.Buffer
	if err := a.adminTmpl[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("rendering admin page %s: %w", name, err)
	}
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// AdminPage renders body (trusted HTML built by the caller) inside the
// admin layout, with nav ("segments", "campaigns", …) marked as current:
// the way other areas (segments, campaigns) get pages that match the admin.
// Call it from a handler behind a.adminAuth.
func (a *App) AdminPage(c echo.Context, nav, title string, body template.HTML) error {
	lang := adminLang(c)
	p := adminPage{Lang: lang, Title: title, Nav: nav, Shop: currentShop(c), Path: c.Request().URL.Path, Data: body,
		BaseURL: strings.TrimSuffix(a.Config.BaseURL, "/")}
	if strings.HasPrefix(a.Config.BaseURL, "https://") {
		p.AppBridgeKey = a.Config.ShopifyAPIKey
	}
	setFrameAncestors(c, p.Shop.Domain)
	var buf bytes.Buffer
	if err := a.adminTmpl["raw"].ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("rendering admin page %s: %w", nav, err)
	}
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// adminAssets serves the admin's embedded CSS and scripts.
func (a *App) adminAssets() echo.HandlerFunc {
	assets, _ := fs.Sub(adminUI, "adminui/assets")
	return echo.WrapHandler(http.StripPrefix("/admin/assets/", http.FileServer(http.FS(assets))))
}

func (a *App) pageHome(c echo.Context) error {
	d, err := a.homeData(c)
	if err != nil {
		return err
	}
	return a.renderAdmin(c, "home", "home.title", d)
}

func (a *App) pageCustomers(c echo.Context) error {
	shop := currentShop(c)
	before, _ := strconv.ParseInt(c.QueryParam("cursor"), 10, 64)
	hits, next, err := a.DB.SearchCustomers(c.Request().Context(), shop.ID, c.QueryParam("q"), before, 25)
	if err != nil {
		return err
	}
	// LINE friends who never linked are found by their LINE name too.
	var friends []store.LineFriend
	if before == 0 {
		if friends, err = a.DB.SearchFriends(c.Request().Context(), shop.ID, c.QueryParam("q"), 25); err != nil {
			return err
		}
	}
	return a.renderAdmin(c, "customers", "cust.title", map[string]any{"Q": c.QueryParam("q"), "Hits": hits, "Next": next, "Friends": friends})
}

func (a *App) pageCustomer(c echo.Context) error {
	shop := currentShop(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	det, err := a.customerDetail(c, shop, id, adminLang(c))
	if err != nil {
		return err
	}
	entries, next, err := a.timeline(c, shop, id)
	if err != nil {
		return err
	}
	nextCursor := ""
	if next != nil {
		nextCursor = next.String()
	}
	loc := shop.Location()
	for i := range entries {
		entries[i].At = entries[i].At.In(loc)
	}
	// Staff answer the customer's LINE from here too (issue 13).
	friend, err := a.DB.FriendByCustomer(c.Request().Context(), shop.ID, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return a.renderAdmin(c, "customer", "tl.title", map[string]any{
		"C": det.Customer, "Link": det.Link, "Entries": entries, "Next": nextCursor, "Kind": c.QueryParam("kind"),
		"Groups": store.TimelineGroups, "Friend": friend, "ReplyKey": uuid.NewString(),
	})
}

// lineAccountView is one of the shop's LINE accounts on the settings page.
type lineAccountView struct {
	ID      int64
	Label   string
	Primary bool
	Webhook string
}

func (a *App) pageSettings(c echo.Context) error {
	shop := currentShop(c)
	ch, err := a.DB.LineChannel(c.Request().Context(), shop.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	all, err := a.DB.LineChannels(c.Request().Context(), shop.ID)
	if err != nil {
		return err
	}
	// The credentials form edits the primary, or the account ?channel= names.
	var accounts []lineAccountView
	editQuery := ""
	for i := range all {
		o := &all[i]
		accounts = append(accounts, lineAccountView{ID: o.ID, Label: o.Label(), Primary: o.IsPrimary, Webhook: a.Config.BaseURL + "/webhooks/line/" + o.WebhookKey})
		if id := channelParam(c.QueryParam("channel")); id == o.ID && !o.IsPrimary {
			ch, editQuery = o, "?channel="+strconv.FormatInt(o.ID, 10)
		}
	}
	webhook, keyErr := "", false
	if ch != nil {
		webhook = a.Config.BaseURL + "/webhooks/line/" + ch.WebhookKey
		keyErr = a.sealedProblem(c.Request().Context(), ch.Sealed()) != nil
	}
	exts, err := a.extensionStatus(c.Request().Context(), shop.ID)
	if err != nil {
		return err
	}
	hist, err := a.DB.HistoryImports(c.Request().Context(), shop.ID)
	if err != nil {
		return err
	}
	fwds, err := a.DB.WebhookForwards(c.Request().Context(), shop.ID)
	if err != nil {
		return err
	}
	_, canEdit, err := a.currentStaff(c)
	if err != nil {
		return err
	}
	notice, ok := c.QueryParam("notice"), c.QueryParam("fwd") == "1"
	return a.renderAdmin(c, "settings", "set.title", map[string]any{
		"Forwards": fwds, "MaxForwards": core.MaxForwards, "Hook": a.webhookStateOf(ch), "CanEdit": canEdit,
		"FwdNotice": notice, "FwdOK": ok, "Accounts": accounts, "EditQuery": editQuery, "MaxAccounts": MaxLineChannels,
		"AcctOK": c.QueryParam("acct") == "1", "AcctErr": c.QueryParam("acct_err"),
		"Journeys": journeysOf(shop.Settings), "Incentive": shop.Settings.Incentive, "Channel": ch, "Webhook": webhook, "KeyError": keyErr,
		"Extensions": exts, "ThemeEditorURL": a.themeEmbedURL(shop.Domain),
		"CheckoutEditorURL": checkoutEditorURL(shop.Domain),
		"History":           historyView(hist, a.Now()), "CanImport": canEdit,
	})
}

func (a *App) pageTemplates(c echo.Context) error {
	shop := currentShop(c)
	kind := c.QueryParam("kind")
	if !knownKind(kind) {
		kind = "thank_you"
	}
	lang := c.QueryParam("tlang")
	if lang != "en" {
		lang = "ja"
	}
	// With several LINE accounts the editor edits the shop's template (all
	// accounts) or one account's own.
	chs, err := a.DB.LineChannels(c.Request().Context(), shop.ID)
	if err != nil {
		return err
	}
	var accounts []lineAccountView
	channel := channelParam(c.QueryParam("channel"))
	known := false
	if len(chs) > 1 {
		for i := range chs {
			accounts = append(accounts, lineAccountView{ID: chs[i].ID, Label: chs[i].Label(), Primary: chs[i].IsPrimary})
			known = known || chs[i].ID == channel
		}
	}
	if !known {
		channel = 0
	}
	var cur templateJSON
	for _, t := range a.templatesOf(shop.Settings, channel) {
		if t.Kind == kind && t.Lang == lang {
			cur = t
		}
	}
	return a.renderAdmin(c, "templates", "tpl.title", map[string]any{"Kinds": templates.KindNames(templates.Kind.HasTemplate), "Cur": cur,
		"Accounts": accounts, "Channel": channel})
}

// homeData is the checklist and the dashboard.
type checkItem struct {
	Key, Href string
	Done      bool
	// Shopify: a page of the Shopify admin, opened in the top frame.
	Shopify bool
}

func (a *App) homeData(c echo.Context) (map[string]any, error) {
	ctx := c.Request().Context()
	shop := currentShop(c)
	_, chErr := a.DB.LineChannel(ctx, shop.ID)
	if chErr != nil && !errors.Is(chErr, store.ErrNotFound) {
		return nil, chErr
	}
	var links int64
	a.DB.WithContext(ctx).Model(&store.LineLink{}).Where("shop_id = ?", shop.ID).Limit(1).Count(&links)
	seen, err := a.DB.ExtensionsSeen(ctx, shop.ID)
	if err != nil {
		return nil, err
	}
	since := a.Now().Add(-core.ExtensionActiveWindow)
	active := func(exts ...string) bool {
		for _, e := range exts {
			if seen[e].After(since) {
				return true
			}
		}
		return false
	}
	st := shop.Settings
	items := []checkItem{
		{Key: "setup.line", Href: "/admin/settings#line", Done: chErr == nil},
		{Key: "setup.incentive", Href: "/admin/settings#incentive", Done: st.Incentive.Enabled},
		{Key: "setup.journeys", Href: "/admin/settings#journeys", Done: len(st.Journeys) > 0},
		{Key: "setup.templates", Href: "/admin/templates", Done: len(st.Templates) > 0},
		// Straight into Shopify's editors: the block and the embed are
		// turned on there, not here. Done once a shopper has seen them.
		{Key: "setup.checkout", Href: checkoutEditorURL(shop.Domain), Shopify: true, Done: active(core.ExtThankYou, core.ExtOrderStatus)},
		{Key: "setup.theme", Href: a.themeEmbedURL(shop.Domain), Shopify: true, Done: active(core.ExtThemeEmbed, core.ExtThemeBlock)},
		{Key: "setup.link", Href: "/admin/settings#link", Done: links > 0},
	}
	done := 0
	for _, it := range items {
		if it.Done {
			done++
		}
	}
	loc := shop.Location()
	now := a.Now().In(loc)
	until := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, 1)
	d, err := a.dashboard(ctx, shop, until.AddDate(0, 0, -30), until)
	if err != nil {
		return nil, err
	}
	q, err := a.DB.LineQuota(ctx, shop.ID)
	if err != nil {
		return nil, err
	}
	fc, err := a.monthForecast(ctx, shop, q)
	if err != nil {
		return nil, err
	}
	// With several LINE accounts each has its own monthly quota.
	accounts, err := a.accountQuotas(ctx, shop)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Checklist": items, "Done": done, "Total": len(items), "Dash": d, "Chart": linkChart(d.LinkedDaily),
		"Currency": shop.Currency, "Quota": quotaOf(q, a.Now(), shop.Location()), "Forecast": fc, "AccountQuotas": accounts}, nil
}

// accountQuota is one LINE account's monthly quota on the home page.
type accountQuota struct {
	ID      int64
	Label   string
	Primary bool
	Quota   quotaView
}

// accountQuotas lists each LINE account's quota when the shop has more
// than one (nil otherwise: the page shows the one quota as before).
func (a *App) accountQuotas(ctx context.Context, shop *store.Shop) ([]accountQuota, error) {
	chs, err := a.DB.LineChannels(ctx, shop.ID)
	if err != nil || len(chs) < 2 {
		return nil, err
	}
	out := make([]accountQuota, 0, len(chs))
	for i := range chs {
		q, err := a.DB.ChannelQuota(ctx, shop.ID, chs[i].ID)
		if err != nil {
			return nil, err
		}
		out = append(out, accountQuota{ID: chs[i].ID, Label: chs[i].Label(), Primary: chs[i].IsPrimary, Quota: quotaOf(q, a.Now(), shop.Location())})
	}
	return out, nil
}

// monthForecast is the month's LINE cost so far and planned, at the shop's
// price per message, against the quota left (q, the last reading).
func (a *App) monthForecast(ctx context.Context, shop *store.Shop, q *store.LineQuota) (core.MonthForecast, error) {
	loc := shop.Location()
	start, end := core.MonthBounds(a.Now(), loc)
	m, err := a.monthSends(ctx, shop.ID, start, end)
	if err != nil {
		return core.MonthForecast{}, err
	}
	return core.ForecastMonth(core.QuotaMonth(a.Now(), loc), m.Sent, m.Planned, m.ScheduledCampaigns,
		shop.Settings.ReportOptions().YenPerMessage, quotaLeft(q, a.Now(), loc)), nil
}

// quotaView is this month's LINE message quota on the home page.
type quotaView struct {
	// Exhausted: LINE refused a send for the monthly limit this month, so
	// marketing has stopped until next month (transactional keeps trying).
	Exhausted bool
	// Known: a reading of a limited plan from this month.
	Known             bool
	Used, Limit, Left int64
}

func quotaOf(q *store.LineQuota, now time.Time, loc *time.Location) quotaView {
	month := core.QuotaMonth(now, loc)
	v := quotaView{Exhausted: q.ExhaustedMonth == month}
	if q.Limited && q.CheckedAt != nil && core.QuotaMonth(*q.CheckedAt, loc) == month {
		v.Known, v.Used, v.Limit = true, q.Used, q.MonthlyLimit
		v.Left = max(q.MonthlyLimit-q.Used, 0)
		if v.Exhausted {
			v.Left = 0
		}
	}
	return v
}

// chartBar is one day of the linked-customers chart, in SVG units.
type chartBar struct {
	X, Y, H float64
	Label   string
	Total   int64
}

func linkChart(days []store.DayCount) []chartBar {
	var max int64 = 1
	for _, d := range days {
		if d.Total > max {
			max = d.Total
		}
	}
	bars := make([]chartBar, len(days))
	for i, d := range days {
		h := 120 * float64(d.Total) / float64(max)
		bars[i] = chartBar{X: float64(i) * 20, Y: 130 - h, H: h, Label: d.Day, Total: d.Total}
	}
	return bars
}

// extensionRow is one app extension on the settings page: whether the shop's
// storefront or checkout has rendered it in the last 7 days.
type extensionRow struct {
	Key      string // i18n key of its name
	Seen     bool
	LastSeen time.Time
}

// extensionStatus lists the extensions in the order a merchant turns them on.
func (a *App) extensionStatus(ctx context.Context, shopID int64) ([]extensionRow, error) {
	seen, err := a.DB.ExtensionsSeen(ctx, shopID)
	if err != nil {
		return nil, err
	}
	since := a.Now().Add(-7 * 24 * time.Hour)
	var out []extensionRow
	for _, ext := range []string{core.ExtThankYou, core.ExtOrderStatus, core.ExtThemeEmbed, core.ExtThemeBlock, core.ExtWebPixel} {
		at, ok := seen[ext]
		out = append(out, extensionRow{Key: "ext." + ext, Seen: ok && at.After(since), LastSeen: at})
	}
	return out, nil
}

// checkoutEditorURL opens the checkout and accounts editor on the Thank-you
// page with the app blocks listed, where the merchant adds Tsunagu's block.
func checkoutEditorURL(shopDomain string) string {
	return "https://" + shopDomain + "/admin/settings/checkout/editor?page=thank-you&context=apps"
}

// themeEmbedURL opens the theme editor with Tsunagu's app embed switched on
// (Shopify's deep link: activateAppId=<api key>/<embed block handle>).
func (a *App) themeEmbedURL(shopDomain string) string {
	return "https://" + shopDomain + "/admin/themes/current/editor?context=apps&activateAppId=" +
		url.QueryEscape(a.Config.ShopifyAPIKey) + "/line_embed"
}

// linkFromOrder starts ID linking from the order status page: the buyer
// proves who they are with the order's checkout token, which only the buyer
// (and Shopify) know, and is sent on to the signed per-customer link.
func (a *App) linkFromOrder(c echo.Context) error {
	ctx := c.Request().Context()
	shop, err := a.DB.ShopByDomain(ctx, c.QueryParam("shop"))
	if err != nil || !shop.Active() {
		return echo.NewHTTPError(http.StatusNotFound, "shop not found")
	}
	orderID, _ := strconv.ParseInt(c.QueryParam("order"), 10, 64)
	key := c.QueryParam("key")
	o, err := a.DB.OrderByShopifyID(ctx, shop.ID, orderID)
	if err != nil || key == "" || o.CheckoutToken == "" || subtle.ConstantTimeCompare([]byte(o.CheckoutToken), []byte(key)) != 1 || o.CustomerID == nil {
		return echo.NewHTTPError(http.StatusNotFound, "order not found")
	}
	if strings.HasSuffix(c.Request().URL.Path, "/qr.png") {
		// A buyer at a computer scans this with the phone that has LINE.
		u := a.Config.BaseURL + "/link/order?" + url.Values{"shop": {shop.Domain}, "order": {c.QueryParam("order")}, "key": {key}}.Encode()
		png, err := qrcode.Encode(u, qrcode.Medium, 240)
		if err != nil {
			return fmt.Errorf("drawing QR code: %w", err)
		}
		c.Response().Header().Set("Cache-Control", "private, max-age=86400")
		return c.Blob(http.StatusOK, "image/png", png)
	}
	u, err := a.LinkURL(shop.ID, *o.CustomerID)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, u)
}
