package app

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
)

// Failed messages and dead-lettered events (issue 18): listed for support,
// re-sent and replayed by admins, each action audited.

const failuresListLimit = 200

func (a *App) recovery() *core.Recovery { return &core.Recovery{DB: a.DB, Now: a.Now} }

// actor names the person behind an admin request for the audit log.
func (a *App) actor(c echo.Context) (string, error) {
	name, _, err := a.currentStaff(c)
	if err != nil {
		return "", err
	}
	if id, _ := c.Get(ctxStaff).(string); id != "" && id != name {
		name += " [" + id + "]"
	}
	return name, nil
}

type failedMessageJSON struct {
	ID         int64     `json:"id"`
	Kind       string    `json:"kind"`
	CustomerID *int64    `json:"customer_id"`
	Reason     string    `json:"reason"`
	Attempts   int       `json:"attempts"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Resend says how a re-send now would go: "same_key" (LINE dedupes it)
	// or "new_message".
	Resend string `json:"resend"`
}

type deadEventJSON struct {
	ID         int64      `json:"id"`
	Topic      string     `json:"topic"`
	Status     string     `json:"status"`
	Reason     string     `json:"reason"`
	Attempts   int        `json:"attempts"`
	ReceivedAt time.Time  `json:"received_at"`
	DeadAt     *time.Time `json:"dead_at"`
	Summary    string     `json:"summary"`
}

func (a *App) failedMessages(ctx context.Context, shopID int64) ([]failedMessageJSON, error) {
	ms, err := a.DB.FailedMessages(ctx, shopID, failuresListLimit)
	if err != nil {
		return nil, err
	}
	now := a.Now()
	out := make([]failedMessageJSON, 0, len(ms))
	for _, m := range ms {
		how := "new_message"
		if core.ResendKeepsKey(&m, now) {
			how = "same_key"
		}
		out = append(out, failedMessageJSON{ID: m.ID, Kind: m.Kind, CustomerID: m.CustomerID, Reason: m.Reason,
			Attempts: m.Attempts, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, Resend: how})
	}
	return out, nil
}

func (a *App) deadEvents(ctx context.Context, shop *store.Shop) ([]deadEventJSON, error) {
	es, err := a.DB.DeadEvents(ctx, shop.Domain, failuresListLimit)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	payloads, err := a.DB.DeadEventPayloads(ctx, shop.Domain, ids)
	if err != nil {
		return nil, err
	}
	out := make([]deadEventJSON, 0, len(es))
	for _, e := range es {
		out = append(out, deadEventJSON{ID: e.ID, Topic: e.Topic, Status: e.Status, Reason: e.Error, Attempts: e.Attempts,
			ReceivedAt: e.ReceivedAt, DeadAt: e.ProcessedAt, Summary: core.EventSummary(payloads[e.ID])})
	}
	return out, nil
}

func (a *App) apiFailedMessages(c echo.Context) error {
	ms, err := a.failedMessages(c.Request().Context(), currentShop(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"messages": ms})
}

// resend re-sends a failed message and hands it to the queue (if Redis is
// down the relay does, the row being queued).
func (a *App) resend(c echo.Context) (*core.Resent, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	actor, err := a.actor(c)
	if err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	r, err := a.recovery().Resend(ctx, currentShop(c).ID, id, actor)
	if err != nil {
		return nil, err
	}
	if err := a.Queue.EnqueueMessage(ctx, r.Message); err != nil {
		a.Log.Warn("re-sent message left for the relay", "message_id", r.Message.ID, "err", err)
	}
	return r, nil
}

func (a *App) apiResendMessage(c echo.Context) error {
	r, err := a.resend(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"id": r.Message.ID, "status": r.Message.Status, "same_key": r.SameKey})
}

func (a *App) apiDeadEvents(c echo.Context) error {
	es, err := a.deadEvents(c.Request().Context(), currentShop(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"events": es})
}

func (a *App) replay(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	actor, err := a.actor(c)
	if err != nil {
		return err
	}
	if err := a.recovery().Replay(c.Request().Context(), currentShop(c), id, actor); err != nil {
		return err
	}
	a.Dispatcher.Dispatch(id)
	return nil
}

func (a *App) replayAll(c echo.Context) ([]int64, error) {
	actor, err := a.actor(c)
	if err != nil {
		return nil, err
	}
	ids, err := a.recovery().ReplayAll(c.Request().Context(), currentShop(c), actor, failuresListLimit)
	for _, id := range ids {
		a.Dispatcher.Dispatch(id)
	}
	return ids, err
}

func (a *App) apiReplayEvent(c echo.Context) error {
	if err := a.replay(c); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"id": c.Param("id"), "status": store.EventReceived})
}

func (a *App) apiReplayAll(c echo.Context) error {
	ids, err := a.replayAll(c)
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []int64{}
	}
	return c.JSON(http.StatusOK, map[string]any{"replayed": ids})
}

func (a *App) apiAuditLog(c echo.Context) error {
	es, err := a.DB.AuditLog(c.Request().Context(), currentShop(c).ID, failuresListLimit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": es})
}

var failuresTmpl = template.Must(template.New("failures").Funcs(template.FuncMap{
	"ts": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"id": func(n int64) string { return strconv.FormatInt(n, 10) },
}).Parse(`
{{if .Notice}}<p class="notice" role="status">{{.Notice}}</p>{{end}}
<h2>Failed messages</h2>
{{if .Messages}}<table id="failed-messages">
<tr><th>#</th><th>kind</th><th>customer</th><th>reason</th><th>attempts</th><th>failed</th><th></th></tr>
{{range .Messages}}<tr data-message="{{.ID}}"><td>{{.ID}}</td><td>{{.Kind}}</td>
<td>{{with .CustomerID}}<a href="/admin/customers/{{id .}}">{{id .}}</a>{{end}}</td>
<td>{{.Reason}}</td><td>{{.Attempts}}</td><td>{{ts .UpdatedAt}}</td>
<td>{{if $.CanAct}}<form method="post" action="/admin/failures/messages/{{.ID}}/resend"><button type="submit">Re-send{{if eq .Resend "same_key"}} (same retry key){{else}} (as a new message){{end}}</button></form>{{end}}</td></tr>
{{end}}</table>{{else}}<p>No failed messages.</p>{{end}}
<h2>Dead-lettered events</h2>
{{if .Events}}{{if .CanAct}}<form method="post" action="/admin/failures/events/replay"><button type="submit" id="replay-all">Replay all</button></form>{{end}}
<table id="dead-events">
<tr><th>#</th><th>topic</th><th>reason</th><th>payload</th><th>attempts</th><th>received</th><th></th></tr>
{{range .Events}}<tr data-event="{{.ID}}"><td>{{.ID}}</td><td>{{.Topic}}</td><td>{{.Reason}}</td><td>{{.Summary}}</td><td>{{.Attempts}}</td><td>{{ts .ReceivedAt}}</td>
<td>{{if $.CanAct}}<form method="post" action="/admin/failures/events/{{.ID}}/replay"><button type="submit">Replay</button></form>{{end}}</td></tr>
{{end}}</table>{{else}}<p>No dead-lettered events.</p>{{end}}
<h2>Recent operator actions</h2>
{{if .Audit}}<table id="audit-log"><tr><th>when</th><th>who</th><th>what</th><th>detail</th></tr>
{{range .Audit}}<tr><td>{{ts .CreatedAt}}</td><td>{{.Actor}}</td><td>{{.Action}} {{.RefType}} {{.RefID}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>{{else}}<p>None yet.</p>{{end}}
`))

// pageFailures lists failed messages, dead-lettered events and the audit
// log; admins get the re-send and replay buttons.
func (a *App) pageFailures(c echo.Context) error {
	ctx := c.Request().Context()
	shop := currentShop(c)
	ms, err := a.failedMessages(ctx, shop.ID)
	if err != nil {
		return err
	}
	es, err := a.deadEvents(ctx, shop)
	if err != nil {
		return err
	}
	audit, err := a.DB.AuditLog(ctx, shop.ID, 50)
	if err != nil {
		return err
	}
	_, canAct, err := a.currentStaff(c)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := failuresTmpl.Execute(&buf, map[string]any{
		"Messages": ms, "Events": es, "Audit": audit, "CanAct": canAct, "Notice": c.QueryParam("notice"),
	}); err != nil {
		return err
	}
	return a.AdminPage(c, "failures", "Failures", template.HTML(buf.String()))
}

func (a *App) formResend(c echo.Context) error {
	_, err := a.resend(c)
	if ferr := formErr(err); ferr != nil {
		return ferr
	}
	return back(c, "/admin/failures", err, "ok")
}

func (a *App) formReplay(c echo.Context) error {
	err := a.replay(c)
	if ferr := formErr(err); ferr != nil {
		return ferr
	}
	return back(c, "/admin/failures", err, "ok")
}

func (a *App) formReplayAll(c echo.Context) error {
	_, err := a.replayAll(c)
	if ferr := formErr(err); ferr != nil {
		return ferr
	}
	return back(c, "/admin/failures", err, "ok")
}
