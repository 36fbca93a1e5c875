package app

import (
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/templates"
)

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (a *App) reportOptions(shop *store.Shop) store.ReportOptions {
	return shop.Settings.ReportOptions()
}

func (a *App) campaignReport(c echo.Context) error {
	camp, err := a.loadCampaign(c)
	if err != nil {
		return err
	}
	rep, err := a.DB.CampaignReport(c.Request().Context(), camp, a.reportOptions(currentShop(c)))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// campaignReportCSV exports the report: one row per variant and a total.
func (a *App) campaignReportCSV(c echo.Context) error {
	camp, err := a.loadCampaign(c)
	if err != nil {
		return err
	}
	rep, err := a.DB.CampaignReport(c.Request().Context(), camp, a.reportOptions(currentShop(c)))
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="campaign-%d.csv"`, camp.ID))
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"campaign_id", "campaign", "variant", "recipients", "sent", "delivered", "skipped", "failed", "cancelled",
		"clicks", "unique_clicks", "conversions", "revenue", "cost_yen", "attribution_days"})
	row := func(m store.Metrics) {
		f := func(n int64) string { return strconv.FormatInt(n, 10) }
		_ = w.Write([]string{f(camp.ID), core.CSVCell(camp.Name), core.CSVCell(m.Key), f(m.Recipients), f(m.Sent), f(m.Delivered), f(m.Skipped), f(m.Failed),
			f(m.Cancelled), f(m.Clicks), f(m.UniqueClicks), f(m.Conversions), strconv.FormatFloat(m.Revenue, 'f', 2, 64),
			strconv.FormatFloat(m.CostYen, 'f', 2, 64), strconv.Itoa(rep.AttributionDays)})
	}
	for _, v := range rep.Variants {
		row(v)
	}
	row(rep.Total)
	w.Flush()
	return w.Error()
}

// journeyReport measures each message kind over ?days= (default 30).
func (a *App) journeyReport(c echo.Context) error {
	days, _ := strconv.Atoi(c.QueryParam("days"))
	if days <= 0 || days > 366 {
		days = 30
	}
	to := a.Now()
	from := to.AddDate(0, 0, -days)
	shop := currentShop(c)
	ms, err := a.DB.JourneyReport(c.Request().Context(), shop.ID, from, to.Add(time.Second), a.reportOptions(shop))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"from": from, "to": to, "kinds": ms})
}

// campaignRow is a campaign with its progress, for the campaigns page.
type campaignRow struct {
	store.Campaign
	Total, Done, Sent, Skipped int64
}

// campaignsPage lists campaigns with their progress; each opens its report,
// and "new campaign" opens the composer.
func (a *App) campaignsPage(c echo.Context) error {
	shop := currentShop(c)
	ctx := c.Request().Context()
	cs, err := a.DB.Campaigns(ctx, shop.ID)
	if err != nil {
		return err
	}
	if len(cs) > 50 {
		cs = cs[:50]
	}
	rows := make([]campaignRow, 0, len(cs))
	for _, camp := range cs {
		counts, err := a.DB.CampaignCounts(ctx, camp.ID)
		if err != nil {
			return err
		}
		rows = append(rows, rowOf(camp, progressOf(counts)))
	}
	return a.renderAdmin(c, "campaigns", "camp.title", map[string]any{"Campaigns": rows})
}

func rowOf(camp store.Campaign, p Progress) campaignRow {
	r := campaignRow{Campaign: camp, Total: p.Total, Sent: p.ByStatus[store.MsgSent], Skipped: p.ByStatus[store.MsgSkipped]}
	r.Done = p.Total - p.ByStatus[store.MsgQueued] - p.ByStatus[store.MsgSending] - p.ByStatus[store.RecipientHeld]
	return r
}

// automationSettings is what GET/PUT /api/automations carry: the scenario
// messages, the measurement settings, the journeys' switches and delays, and
// the version of all of it. A PUT must send the version its editor loaded;
// if someone changed these settings since, it is refused with 409.
type automationSettings struct {
	Automations     store.Automations  `json:"automations"`
	YenPerMessage   float64            `json:"yen_per_message"`
	AttributionDays int                `json:"attribution_days"`
	Journeys        []core.JourneyEdit `json:"journeys"`
	Version         string             `json:"version"`
}

func automationsOf(st store.Settings) automationSettings {
	o := st.ReportOptions()
	out := automationSettings{Automations: st.Automations, YenPerMessage: o.YenPerMessage, AttributionDays: o.AttributionDays,
		Version: core.AutomationsVersion(st)}
	for _, k := range templates.KindNames(templates.Kind.IsJourney) {
		out.Journeys = append(out.Journeys, core.JourneyEdit{Kind: k, Enabled: st.JourneyEnabled(k), DelayMinutes: st.JourneyDelayMinutes(k)})
	}
	return out
}

func (a *App) getAutomations(c echo.Context) error {
	return c.JSON(http.StatusOK, automationsOf(currentShop(c).Settings))
}

// putAutomations saves the automations page; journeys left out of the body
// stay as they are.
func (a *App) putAutomations(c echo.Context) error {
	var in automationSettings
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	shop := currentShop(c)
	st, err := core.SaveAutomations(c.Request().Context(), a.DB, shop.ID, core.AutomationEdit{
		Automations: in.Automations, YenPerMessage: in.YenPerMessage, AttributionDays: in.AttributionDays,
		Journeys: in.Journeys, Version: in.Version,
	})
	if err != nil {
		return err
	}
	shop.Settings = st
	return c.JSON(http.StatusOK, automationsOf(st))
}
