package app

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/templates"
)

// autoRow is one automation or journey on the automations page: its switch,
// timing, and what it did in the last 30 days.
type autoRow struct {
	Kind     string
	Enabled  bool
	Sent     int64
	Skipped  int64
	Last     *time.Time
	Editable bool
	Days     int
	Hours    int
	// Opens is LINE's count of people who opened the kind's messages (its
	// aggregation unit, over LINE's last read period).
	Opens string
}

func (a *App) automationsPage(c echo.Context) error {
	ctx := c.Request().Context()
	shop := currentShop(c)
	now := a.Now()
	kinds := append([]string{core.KindBirthday, core.KindWinBack, core.KindCouponExpiry}, templates.KindNames(templates.Kind.IsJourney)...)
	rep, err := a.DB.JourneyReport(ctx, shop.ID, now.AddDate(0, 0, -30), now.Add(time.Second), a.reportOptions(shop))
	if err != nil {
		return err
	}
	byKind := map[string]store.Metrics{}
	for _, m := range rep {
		byKind[m.Key] = m
	}
	last, err := a.DB.LastMessageAt(ctx, shop.ID, kinds)
	if err != nil {
		return err
	}
	loc := shop.Location()
	units, err := a.DB.KindUnits(ctx, shop.ID)
	if err != nil {
		return err
	}
	unitOf := map[string]*store.LineUnit{}
	for i := range units {
		unitOf[units[i].Kind] = &units[i]
	}
	lang := adminLang(c)
	row := func(kind string, on bool) autoRow {
		r := autoRow{Kind: kind, Enabled: on, Sent: byKind[kind].Sent, Skipped: byKind[kind].Skipped}
		if u := unitOf[kind]; u != nil {
			r.Opens = lineCount(lang, u, u.UniqueImpression)
		} else {
			r.Opens = tr(lang, "ins.not_read")
		}
		if t, ok := last[kind]; ok {
			t = t.In(loc)
			r.Last = &t
		}
		return r
	}
	au := shop.Settings.Automations
	autos := []autoRow{row(core.KindBirthday, au.Birthday), row(core.KindWinBack, au.WinBack), row(core.KindCouponExpiry, au.CouponExpiry)}
	var journeys []autoRow
	for _, j := range journeysOf(shop.Settings).Journeys {
		r := row(j.Kind, j.Enabled)
		r.Editable, r.Days, r.Hours = j.DelayEditable, j.DelayMinutes/(24*60), j.DelayMinutes%(24*60)/60
		journeys = append(journeys, r)
	}
	winBack, expiry := au.WinBackDays, au.CouponExpiryDays
	if winBack <= 0 {
		winBack = core.DefaultWinBackDays
	}
	if expiry <= 0 {
		expiry = core.DefaultCouponExpiryDays
	}
	var ran []int
	if n, err := strconv.Atoi(c.QueryParam("ran")); err == nil && n >= 0 {
		ran = []int{n}
	}
	return a.renderAdmin(c, "automations", "auto.title", map[string]any{
		"Ran": ran, "Autos": autos, "Journeys": journeys, "A": au, "WinBackDays": winBack, "ExpiryDays": expiry,
		// What the page shows, with its version: the save is made against it.
		"Loaded": automationsOf(shop.Settings),
	})
}

// runAutomations plans this shop's automation messages now, as the hourly
// sweep would (the messages' keys keep each one to once).
func (a *App) runAutomations(c echo.Context) error {
	ctx := c.Request().Context()
	shop, err := a.DB.Shop(ctx, currentShop(c).ID)
	if err != nil {
		return err
	}
	n, err := a.Worker().PlanAutomations(ctx, shop, a.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"planned": n})
}
