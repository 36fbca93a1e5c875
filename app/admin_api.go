package app

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/templates"
)

// shopifyAdminURL is the Shopify admin address of a resource ("orders/123").
func shopifyAdminURL(shopDomain, path string) string {
	if h, ok := strings.CutSuffix(shopDomain, ".myshopify.com"); ok {
		return "https://admin.shopify.com/store/" + h + "/" + path
	}
	return "https://" + shopDomain + "/admin/" + path
}

// pathID parses an id path parameter; anything else is a 404, like an id of
// another shop, so ids cannot be probed.
func pathID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	return id, nil
}

func notFoundAs(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, what+" not found")
	}
	return err
}

// customerJSON is a customer as the admin API shows it.
type customerJSON struct {
	ID              int64           `json:"id"`
	ShopifyID       int64           `json:"shopify_id"`
	Name            string          `json:"name"`
	FirstName       string          `json:"first_name"`
	LastName        string          `json:"last_name"`
	Email           string          `json:"email"`
	Phone           string          `json:"phone"`
	Tags            string          `json:"tags"`
	Locale          string          `json:"locale"`
	OrdersCount     int             `json:"orders_count"`
	TotalSpent      decimal.Decimal `json:"total_spent"`
	LastOrderAt     *time.Time      `json:"last_order_at"`
	Redacted        bool            `json:"redacted"`
	LineLinked      bool            `json:"line_linked"`
	LineBlocked     bool            `json:"line_blocked"`
	LineDisplayName string          `json:"line_display_name"`
	AdminURL        string          `json:"admin_url"`
}

func (a *App) customerJSON(shop *store.Shop, h store.CustomerHit, lang string) customerJSON {
	c := h.Customer
	return customerJSON{ID: c.ID, ShopifyID: c.ShopifyID, Name: c.Name(lang), FirstName: c.FirstName, LastName: c.LastName,
		Email: c.Email, Phone: c.Phone, Tags: c.Tags, Locale: c.Locale, OrdersCount: c.OrdersCount, TotalSpent: c.TotalSpent,
		LastOrderAt: c.LastOrderAt, Redacted: c.RedactedAt != nil,
		LineLinked: h.LineLinked, LineBlocked: h.LineBlocked, LineDisplayName: h.LineDisplayName,
		AdminURL: shopifyAdminURL(shop.Domain, "customers/"+strconv.FormatInt(c.ShopifyID, 10))}
}

// lineLinkJSON is a customer's latest LINE link.
type lineLinkJSON struct {
	LineUserID   string     `json:"line_user_id"`
	DisplayName  string     `json:"display_name"`
	Friend       bool       `json:"friend"`
	Blocked      bool       `json:"blocked"`
	LinkedAt     time.Time  `json:"linked_at"`
	UnlinkedAt   *time.Time `json:"unlinked_at"`
	UnlinkReason string     `json:"unlink_reason,omitempty"`
}

func (a *App) apiSearchCustomers(c echo.Context) error {
	shop := currentShop(c)
	var before int64
	if s := c.QueryParam("cursor"); s != "" {
		var err error
		if before, err = strconv.ParseInt(s, 10, 64); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "bad cursor")
		}
	}
	limit, _ := strconv.Atoi(c.QueryParam("limit"))
	hits, next, err := a.DB.SearchCustomers(c.Request().Context(), shop.ID, c.QueryParam("q"), before, limit)
	if err != nil {
		return err
	}
	out := make([]customerJSON, len(hits))
	for i, h := range hits {
		out[i] = a.customerJSON(shop, h, "ja")
	}
	res := map[string]any{"customers": out}
	if next != 0 {
		res["next_cursor"] = strconv.FormatInt(next, 10)
	}
	return c.JSON(http.StatusOK, res)
}

func (a *App) apiCustomer(c echo.Context) error {
	shop := currentShop(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	res, err := a.customerDetail(c, shop, id, "ja")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

type customerDetail struct {
	Customer customerJSON  `json:"customer"`
	Link     *lineLinkJSON `json:"line_link"`
}

func (a *App) customerDetail(c echo.Context, shop *store.Shop, id int64, lang string) (*customerDetail, error) {
	ctx := c.Request().Context()
	cust, err := a.DB.Customer(ctx, shop.ID, id)
	if err != nil {
		return nil, notFoundAs(err, "customer")
	}
	h := store.CustomerHit{Customer: *cust}
	res := &customerDetail{}
	if l, err := a.DB.LastLink(ctx, cust.ID); err == nil && l.ShopID == shop.ID {
		res.Link = &lineLinkJSON{LineUserID: l.LineUserID, DisplayName: l.DisplayName, Friend: l.Friend, Blocked: l.Blocked,
			LinkedAt: l.LinkedAt, UnlinkedAt: l.UnlinkedAt, UnlinkReason: l.UnlinkReason}
		h.LineDisplayName, h.LineLinked, h.LineBlocked = l.DisplayName, l.UnlinkedAt == nil, l.Blocked
	}
	res.Customer = a.customerJSON(shop, h, lang)
	return res, nil
}

func (a *App) apiTimeline(c echo.Context) error {
	shop := currentShop(c)
	id, err := pathID(c)
	if err != nil {
		return err
	}
	entries, next, err := a.timeline(c, shop, id)
	if err != nil {
		return err
	}
	res := map[string]any{"entries": entries}
	if next != nil {
		res["next_cursor"] = next.String()
	}
	return c.JSON(http.StatusOK, res)
}

// timeline reads one page of a customer's timeline from the request's
// cursor and kind (comma-separated groups) parameters.
func (a *App) timeline(c echo.Context, shop *store.Shop, id int64) ([]store.TimelineEntry, *store.TimelineCursor, error) {
	cur, err := store.ParseTimelineCursor(c.QueryParam("cursor"))
	if err != nil {
		return nil, nil, echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	var groups []string
	for _, g := range strings.Split(c.QueryParam("kind"), ",") {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		if !validGroup(g) {
			return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "unknown kind "+strconv.Quote(g))
		}
		groups = append(groups, g)
	}
	limit, _ := strconv.Atoi(c.QueryParam("limit"))
	entries, next, err := a.DB.Timeline(c.Request().Context(), shop.ID, id, cur, groups, limit)
	if err != nil {
		return nil, nil, notFoundAs(err, "customer")
	}
	// Entries about an order link to it in the Shopify admin, the rest to the customer.
	cust, err := a.DB.Customer(c.Request().Context(), shop.ID, id)
	if err != nil {
		return nil, nil, notFoundAs(err, "customer")
	}
	custURL := shopifyAdminURL(shop.Domain, "customers/"+strconv.FormatInt(cust.ShopifyID, 10))
	for i := range entries {
		entries[i].AdminURL = custURL
		if entries[i].ShopifyOrderID != 0 {
			entries[i].AdminURL = shopifyAdminURL(shop.Domain, "orders/"+strconv.FormatInt(entries[i].ShopifyOrderID, 10))
		}
	}
	return entries, next, nil
}

func validGroup(g string) bool {
	for _, x := range store.TimelineGroups {
		if x == g {
			return true
		}
	}
	return false
}

type journeyJSON struct {
	Kind          string `json:"kind"`
	Enabled       bool   `json:"enabled"`
	DelayMinutes  int    `json:"delay_minutes"`
	DelayEditable bool   `json:"delay_editable"`
}

type journeysJSON struct {
	Journeys         []journeyJSON `json:"journeys"`
	QuietStart       string        `json:"quiet_start"`
	QuietEnd         string        `json:"quiet_end"`
	DailyCap         int           `json:"daily_cap"`
	ThankYouTrigger  string        `json:"thank_you_trigger"`
	RestartFollowUps bool          `json:"restart_follow_ups"`
	// Browse abandonment: views of the product needed and the cooldown
	// per customer (0 when writing: keep the current value).
	BrowseMinViews     int `json:"browse_min_views"`
	BrowseCooldownDays int `json:"browse_cooldown_days"`
}

func journeysOf(st store.Settings) journeysJSON {
	out := journeysJSON{DailyCap: st.Cap(), ThankYouTrigger: st.ThankYouTopic(), RestartFollowUps: st.RestartsFollowUps(),
		BrowseMinViews: st.BrowseMinViews(), BrowseCooldownDays: int(st.BrowseCooldown().Hours() / 24)}
	out.QuietStart, out.QuietEnd = st.Quiet()
	for _, j := range templates.Catalogue() {
		if j.Journey {
			out.Journeys = append(out.Journeys, journeyJSON{Kind: j.Name, Enabled: st.JourneyEnabled(j.Name),
				DelayMinutes: st.JourneyDelayMinutes(j.Name), DelayEditable: j.DelayEditable})
		}
	}
	return out
}

func (a *App) apiGetJourneys(c echo.Context) error {
	return c.JSON(http.StatusOK, journeysOf(currentShop(c).Settings))
}

var hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

func (a *App) apiPutJourneys(c echo.Context) error {
	var in journeysJSON
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON")
	}
	if !hhmm.MatchString(in.QuietStart) || !hhmm.MatchString(in.QuietEnd) {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "quiet hours must be HH:MM")
	}
	if in.DailyCap < 1 || in.DailyCap > 20 {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "daily cap must be between 1 and 20")
	}
	if in.ThankYouTrigger != "orders/create" && in.ThankYouTrigger != "orders/paid" {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "thank_you_trigger must be orders/create or orders/paid")
	}
	if in.BrowseMinViews < 0 || in.BrowseMinViews > 20 {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "browse_min_views must be between 1 and 20")
	}
	if in.BrowseCooldownDays < 0 || in.BrowseCooldownDays > 90 {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "browse_cooldown_days must be between 1 and 90")
	}
	edits := make([]core.JourneyEdit, len(in.Journeys))
	for i, j := range in.Journeys {
		edits[i] = core.JourneyEdit{Kind: j.Kind, Enabled: j.Enabled, DelayMinutes: j.DelayMinutes}
	}
	// Under the settings lock, so settings other forms own (incentive,
	// templates, automations) are kept even when saved at the same moment.
	st, err := a.DB.UpdateShopSettings(c.Request().Context(), currentShop(c).ID, func(st *store.Settings) error {
		if err := core.ApplyJourneys(st, edits); err != nil {
			return err
		}
		st.QuietStart, st.QuietEnd, st.DailyCap, st.ThankYouTrigger = in.QuietStart, in.QuietEnd, in.DailyCap, in.ThankYouTrigger
		restart := in.RestartFollowUps
		st.RestartFollowUps = &restart
		if in.BrowseMinViews > 0 {
			st.Browse.MinViews = in.BrowseMinViews
		}
		if in.BrowseCooldownDays > 0 {
			st.Browse.CooldownDays = in.BrowseCooldownDays
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, journeysOf(st))
}

func (a *App) apiDashboard(c echo.Context) error {
	shop := currentShop(c)
	days, _ := strconv.Atoi(c.QueryParam("days"))
	if days <= 0 || days > 365 {
		days = 30
	}
	loc := shop.Location()
	now := a.Now().In(loc)
	until := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, 1)
	d, err := a.dashboard(c.Request().Context(), shop, until.AddDate(0, 0, -days), until)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}
