package app

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
)

// Webhook forwarding (coexistence) and the no-webhook indication: thin
// adapters around core.Forwards.

// NoWebhookAfter is how long a connected channel may go without a LINE
// webhook before the admin shows the no-webhook mode (core's rule).
const NoWebhookAfter = core.NoWebhookAfter

// webhookState says whether LINE's webhook reaches Tsunagu for the channel.
type webhookState struct {
	LastAt *time.Time `json:"last_webhook_at"`
	// NoWebhook: connected, but no webhook for NoWebhookAfter (or ever):
	// the channel's webhook URL is likely another tool's.
	NoWebhook bool `json:"no_webhook"`
}

func (a *App) webhookStateOf(ch *store.LineChannel) webhookState {
	if ch == nil || len(ch.MessagingTokenEnc) == 0 {
		return webhookState{}
	}
	return webhookState{LastAt: ch.LastWebhookAt, NoWebhook: core.NoWebhook(ch, a.Now())}
}

type forwardsJSON struct {
	Destinations []store.WebhookForward `json:"destinations"`
	Max          int                    `json:"max"`
	webhookState
}

func (a *App) apiForwards(c echo.Context) error {
	ctx := c.Request().Context()
	shop := currentShop(c)
	out, err := a.DB.WebhookForwards(ctx, shop.ID)
	if err != nil {
		return err
	}
	ch, err := a.DB.LineChannel(ctx, shop.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return c.JSON(http.StatusOK, forwardsJSON{Destinations: out, Max: core.MaxForwards, webhookState: a.webhookStateOf(ch)})
}

func (a *App) apiNewForward(c echo.Context) error {
	var in struct {
		URL string `json:"url" form:"url"`
	}
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed body")
	}
	w, err := a.Forwards().Add(c.Request().Context(), currentShop(c).ID, in.URL)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, w)
}

func (a *App) apiDeleteForward(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ok, err := a.DB.DeleteWebhookForward(c.Request().Context(), currentShop(c).ID, id)
	if err != nil {
		return err
	}
	if !ok {
		return core.Errorf(core.ENOTFOUND, "forwarding destination %d not found", id)
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *App) formNewForward(c echo.Context) error {
	_, err := a.Forwards().Add(c.Request().Context(), currentShop(c).ID, c.FormValue("url"))
	if ferr := formErr(err); ferr != nil {
		return ferr
	}
	return back(c, "/admin/settings", err, "fwd")
}

func (a *App) formDeleteForward(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if _, err := a.DB.DeleteWebhookForward(c.Request().Context(), currentShop(c).ID, id); err != nil {
		return err
	}
	return back(c, "/admin/settings", nil, "fwd")
}
