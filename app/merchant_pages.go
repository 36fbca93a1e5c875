package app

import (
	"fmt"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store/segment"
)

// composerPage is the campaign composer: segment, message with a LINE-like
// preview, coupon, test send, A/B variants, schedule, forecast, confirm.
func (a *App) composerPage(c echo.Context) error {
	ctx := c.Request().Context()
	shop := currentShop(c)
	ss, err := a.DB.Segments(ctx, shop.ID)
	if err != nil {
		return err
	}
	seg, _ := strconv.ParseInt(c.QueryParam("segment"), 10, 64)
	// With several LINE accounts the composer asks which one sends.
	chs, err := a.DB.LineChannels(ctx, shop.ID)
	if err != nil {
		return err
	}
	var accounts []lineAccountView
	if len(chs) > 1 {
		for i := range chs {
			accounts = append(accounts, lineAccountView{ID: chs[i].ID, Label: chs[i].Label(), Primary: chs[i].IsPrimary})
		}
	}
	return a.renderAdmin(c, "campaign_new", "cmp.title", map[string]any{
		"Segments": ss, "Builtins": segment.BuiltinKeys(), "Segment": seg, "Accounts": accounts,
		"ShopURL": "https://" + shop.Domain, "ShopName": firstNonEmptyStr(shop.Name, shop.Domain),
	})
}

// campaignPage is one campaign: progress, results per variant, the A/B
// verdict, and the actions its state allows.
func (a *App) campaignPage(c echo.Context) error {
	camp, err := a.loadCampaign(c)
	if err != nil {
		return err
	}
	rep, ab, err := a.abOf(c, camp)
	if err != nil {
		return err
	}
	p := progressOf(rep.Counts) // counted once, for the report and the progress
	lang := adminLang(c)
	ins, err := a.campaignInsights(c, camp, rep)
	if err != nil {
		return err
	}
	insBy := map[string]unitView{}
	for _, v := range ins {
		insBy[v.Key] = v
	}
	return a.renderAdmin(c, "campaign", "cmp.report", map[string]any{
		"InsightsBy": insBy,
		"C":          camp, "Row": rowOf(*camp, p), "Progress": p, "Report": rep, "AB": ab, "Currency": currentShop(c).Currency, "Insights": ins,
		"ClickVerdict": verdictOf(lang, "cmp.m_clicks", ab.Clicks), "ConvVerdict": verdictOf(lang, "cmp.m_conv", ab.Conversions),
	})
}

// verdict is an A/B statement for the page.
type verdict struct{ Class, Text string }

// verdictOf words an A/B result honestly: no winner is named on too little
// data or on a difference chance explains.
func verdictOf(lang, metric string, r *core.ABResult) verdict {
	if r == nil {
		return verdict{}
	}
	m := tr(lang, metric)
	pct := func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" }
	switch r.Verdict {
	case core.VerdictSignificant:
		return verdict{r.Verdict, fmt.Sprintf(tr(lang, "cmp.v_sig"), m, r.Leader, pct(r.RateA), pct(r.RateB), strconv.FormatFloat(r.P, 'g', 2, 64))}
	case core.VerdictNoDifference:
		return verdict{r.Verdict, fmt.Sprintf(tr(lang, "cmp.v_none"), m, pct(r.RateA), pct(r.RateB), strconv.FormatFloat(r.P, 'f', 2, 64))}
	}
	return verdict{r.Verdict, fmt.Sprintf(tr(lang, "cmp.v_few"), m, core.MinOutcomes)}
}

func firstNonEmptyStr(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
