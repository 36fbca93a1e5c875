package app

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/jobs"
)

// click records a click on a link in a message and redirects to its target
// with UTM parameters. The token is signed, so only links Tsunagu wrote
// redirect; a click is recorded at most once per request and never blocks
// the redirect.
func (a *App) click(c echo.Context) error {
	ctx := c.Request().Context()
	cl, err := jobs.ParseClickToken(a.Signer, c.Param("token"), a.Now())
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "this link is invalid or has expired")
	}
	if m, err := a.DB.Message(ctx, cl.MessageID); err == nil {
		act := &store.Activity{
			ShopID: m.ShopID, CustomerID: m.CustomerID, Kind: store.ActClick, RefType: "message", RefID: m.ID,
			Summary: fmt.Sprintf("clicked a link in %s", m.Kind), Data: clickData(cl.Target), OccurredAt: a.Now(),
		}
		if err := a.DB.AddActivity(ctx, act); err != nil {
			a.Log.Warn("click not recorded", "message_id", m.ID, "err", err)
		}
	} else {
		a.Log.Info("click on a link of a deleted message", "message_id", cl.MessageID)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	return c.Redirect(http.StatusFound, jobs.WithUTM(cl.Target, cl.Kind))
}

func clickData(target string) string {
	b, _ := json.Marshal(map[string]string{"url": target})
	return string(b)
}
