package app

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/store"
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
		_ = w.Write([]string{f(camp.ID), camp.Name, m.Key, f(m.Recipients), f(m.Sent), f(m.Delivered), f(m.Skipped), f(m.Failed),
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

var campaignsPageTmpl = template.Must(template.New("campaigns").Funcs(template.FuncMap{"pct": func(n, total int64) int64 {
	if total == 0 {
		return 0
	}
	return n * 100 / total
}}).Parse(`{{$d := .}}
<h1>{{.T "camp.title"}}</h1>
<section class="card">
  <div class="card-head"><h2>{{.T "camp.segments"}}</h2></div>
  <p class="muted small">{{.T "camp.seg_help"}}</p>
  <form id="seg-form" class="form">
    <label>{{.T "camp.segment"}}
      <select name="segment" id="seg-pick">
        {{range .Segments}}<option value="s:{{.ID}}">{{.Name}}</option>{{end}}
        {{range .Builtins}}<option value="b:{{.}}">{{$d.T (print "seg." .)}}</option>{{end}}
        <option value="json">{{.T "camp.custom"}}</option>
      </select>
    </label>
    <label class="span2">{{.T "camp.definition"}}<textarea name="definition" id="seg-def" rows="3" class="mono" placeholder='{"and":[{"field":"orders_count","op":">=","value":2},{"field":"linked","value":true}]}'></textarea></label>
    <div class="actions"><button class="btn primary" type="submit">{{.T "camp.preview"}}</button></div>
  </form>
  <p class="result" id="seg-result"></p>
  <table class="table" id="seg-sample" hidden><thead><tr><th>{{.T "cust.name"}}</th><th>{{.T "cust.email"}}</th><th class="num">{{.T "cust.orders"}}</th></tr></thead><tbody></tbody></table>
</section>
<section class="card flush">
  <table class="table" id="campaigns">
    <thead><tr><th>{{.T "camp.name"}}</th><th>{{.T "camp.status"}}</th><th>{{.T "camp.progress"}}</th><th class="num">{{.T "camp.sent"}}</th><th class="num">{{.T "camp.skipped"}}</th><th>{{.T "camp.report"}}</th></tr></thead>
    <tbody>
    {{range .Campaigns}}
      <tr><td>{{.Name}}{{if .ScheduledAt}}<div class="muted small">{{$d.T "camp.scheduled"}} {{.ScheduledAt.Format "2006-01-02 15:04"}} UTC</div>{{end}}</td>
      <td><span class="badge st-{{.Status}}">{{.Status}}</span></td>
      <td style="min-width:140px"><div class="progress"><span style="width:{{pct .Done .Total}}%"></span></div><span class="muted small">{{.Done}} / {{.Total}}</span></td>
      <td class="num">{{.Sent}}</td><td class="num">{{.Skipped}}</td>
      <td><a href="/api/campaigns/{{.ID}}/report">JSON</a> · <a href="/api/campaigns/{{.ID}}/report.csv">CSV</a></td></tr>
    {{else}}<tr><td colspan="6" class="empty muted">{{.T "camp.none"}}</td></tr>{{end}}
    </tbody>
  </table>
</section>
<p class="muted small">{{.T "camp.api"}}</p>
<script>
(function () {
  var form = document.getElementById("seg-form"), out = document.getElementById("seg-result"), table = document.getElementById("seg-sample");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var pick = document.getElementById("seg-pick").value, body = {};
    try {
      if (pick.indexOf("s:") === 0) body.segment_id = Number(pick.slice(2));
      else if (pick.indexOf("b:") === 0) body.builtin = pick.slice(2);
      else body.definition = JSON.parse(document.getElementById("seg-def").value || "null");
    } catch (e) { out.className = "result err"; out.textContent = e.message; return; }
    fetch("/api/segments/preview", {method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (d) { return {ok: r.ok, d: d}; }); })
      .then(function (res) {
        if (!res.ok) { out.className = "result err"; out.textContent = res.d.error || "error"; table.hidden = true; return; }
        out.className = "result ok"; out.textContent = {{.T "camp.matches"}}.replace("%d", res.d.count.toLocaleString());
        var tb = table.querySelector("tbody"); tb.textContent = "";
        (res.d.sample || []).forEach(function (m) {
          var tr = document.createElement("tr");
          [m.last_name + " " + m.first_name, m.email, String(m.orders_count)].forEach(function (v, i) {
            var td = document.createElement("td"); td.textContent = v; if (i === 2) td.className = "num"; tr.appendChild(td);
          });
          tb.appendChild(tr);
        });
        table.hidden = !(res.d.sample || []).length;
      });
  });
})();
</script>`))

// campaignRow is a campaign with its progress, for the campaigns page.
type campaignRow struct {
	store.Campaign
	Total, Done, Sent, Skipped int64
}

// campaignsPage lists campaigns with their progress and previews segments;
// creating and sending go through the JSON APIs.
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
		p := progressOf(counts)
		r := campaignRow{Campaign: camp, Total: p.Total, Sent: p.ByStatus[store.MsgSent], Skipped: p.ByStatus[store.MsgSkipped]}
		r.Done = p.Total - p.ByStatus[store.MsgQueued] - p.ByStatus[store.MsgSending] - p.ByStatus[store.RecipientHeld]
		rows = append(rows, r)
	}
	ss, err := a.DB.Segments(ctx, shop.ID)
	if err != nil {
		return err
	}
	lang := adminLang(c)
	var body bytes.Buffer
	if err := campaignsPageTmpl.Execute(&body, campaignsPageData{Lang: lang,
		Campaigns: rows, Segments: ss, Builtins: store.BuiltinSegmentKeys()}); err != nil {
		return fmt.Errorf("rendering the campaigns page: %w", err)
	}
	nav := "campaigns"
	if strings.HasSuffix(c.Path(), "/segments") {
		nav = "segments"
	}
	return a.AdminPage(c, nav, tr(lang, "camp.title"), template.HTML(body.String()))
}

type campaignsPageData struct {
	Lang      string
	Campaigns []campaignRow
	Segments  []store.Segment
	Builtins  []string
}

func (d campaignsPageData) T(key string) string { return tr(d.Lang, key) }

// automationSettings is what GET/PUT /api/automations carry: the scenario
// messages and the measurement settings.
type automationSettings struct {
	Automations     store.Automations `json:"automations"`
	YenPerMessage   float64           `json:"yen_per_message"`
	AttributionDays int               `json:"attribution_days"`
}

func (a *App) getAutomations(c echo.Context) error {
	st := currentShop(c).Settings
	o := st.ReportOptions()
	return c.JSON(http.StatusOK, automationSettings{Automations: st.Automations, YenPerMessage: o.YenPerMessage, AttributionDays: o.AttributionDays})
}

func (a *App) putAutomations(c echo.Context) error {
	var in automationSettings
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	au := in.Automations
	if au.WinBackDays < 0 || au.WinBackDays > 3650 || au.CouponExpiryDays < 0 || au.CouponExpiryDays > 365 ||
		in.YenPerMessage < 0 || in.AttributionDays < 0 || in.AttributionDays > 90 {
		return echo.NewHTTPError(http.StatusBadRequest, "a number is out of range")
	}
	shop := currentShop(c)
	st := shop.Settings
	st.Automations, st.YenPerMessage, st.AttributionDays = au, in.YenPerMessage, in.AttributionDays
	if err := a.DB.SaveShopSettings(c.Request().Context(), shop.ID, st); err != nil {
		return err
	}
	shop.Settings = st
	return a.getAutomations(c)
}
