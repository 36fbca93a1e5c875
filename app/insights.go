package app

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/store"
)

// LINE's counts on the admin pages (issue 16): opens and clicks LINE
// reports per aggregation unit, beside the clicks Tsunagu's own redirect
// counted. A count LINE withholds (null under its privacy threshold of 20
// users) is shown as "fewer than 20", never as 0; a unit not read yet says
// so.

// lineCount words one of LINE's counts for the page.
func lineCount(lang string, u *store.LineUnit, n *int64) string {
	switch {
	case u == nil || u.ReadAt == nil:
		return tr(lang, "ins.not_read")
	case n == nil:
		return tr(lang, "ins.under20")
	}
	return strconv.FormatInt(*n, 10)
}

// unitView is one campaign variant's (or journey kind's) LINE counts.
type unitView struct {
	Key        string
	Unit       string
	Opens      string
	LineClicks string
	OurClicks  int64
	Sent       int64
	ReadAt     *time.Time
	Error      string
	URLs       []urlClicksView
}

type urlClicksView struct {
	URL         string
	Clicks      string
	UniqueClick string
}

func unitViewOf(lang string, u *store.LineUnit, loc *time.Location) unitView {
	v := unitView{Opens: lineCount(lang, u, nil), LineClicks: lineCount(lang, u, nil)}
	if u == nil {
		return v
	}
	v.Unit, v.Error = u.Unit, u.ReadError
	v.Opens, v.LineClicks = lineCount(lang, u, u.UniqueImpression), lineCount(lang, u, u.UniqueClick)
	if u.ReadAt != nil {
		t := u.ReadAt.In(loc)
		v.ReadAt = &t
	}
	for _, c := range u.Clicks {
		v.URLs = append(v.URLs, urlClicksView{URL: c.URL, Clicks: lineCount(lang, u, c.Click), UniqueClick: lineCount(lang, u, c.UniqueClick)})
	}
	return v
}

// campaignInsights is the campaign page's "from LINE" table: one row per
// variant sent, with our own redirect's unique clicks beside LINE's.
func (a *App) campaignInsights(c echo.Context, camp *store.Campaign, rep *store.CampaignReport) ([]unitView, error) {
	shop := currentShop(c)
	units, err := a.DB.CampaignUnits(c.Request().Context(), shop.ID, camp.ID)
	if err != nil {
		return nil, err
	}
	lang, loc := adminLang(c), shop.Location()
	byVariant := map[string]*store.LineUnit{}
	for i := range units {
		byVariant[units[i].Variant] = &units[i]
	}
	var out []unitView
	for _, m := range rep.Variants {
		if m.Key == "" {
			continue
		}
		v := unitViewOf(lang, byVariant[m.Key], loc)
		v.Key, v.OurClicks, v.Sent = m.Key, m.UniqueClicks, m.Sent
		out = append(out, v)
	}
	return out, nil
}

// refreshInsights asks for a read of the shop's LINE statistics now (a
// schedules row, so it survives a Redis loss) and goes back to the page.
func (a *App) refreshInsights(c echo.Context) error {
	if err := a.requestInsightRead(c.Request().Context(), currentShop(c).ID); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"status": "requested"})
}
