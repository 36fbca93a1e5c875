package app

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
)

// MaxWebhookBody is the largest webhook body accepted.
const MaxWebhookBody = 1 << 20

// shopifyWebhook stores a signed Shopify webhook and acknowledges it. The
// event row is written before the 200, so an acknowledged webhook is never
// lost; processing happens in a job.
func (a *App) shopifyWebhook(c echo.Context) error {
	req := c.Request()
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxWebhookBody+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "could not read body")
	}
	if len(body) > MaxWebhookBody {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body over 1 MiB")
	}
	if !shopify.VerifyWebhook(a.Config.ShopifyAPISecret, body, req.Header.Get(shopify.HeaderHmac)) {
		return echo.NewHTTPError(http.StatusUnauthorized, "invalid or missing X-Shopify-Hmac-Sha256")
	}
	meta := shopify.MetaFromHeader(req.Header)
	switch {
	case meta.Topic == "":
		return echo.NewHTTPError(http.StatusBadRequest, "missing X-Shopify-Topic")
	case meta.WebhookID == "":
		return echo.NewHTTPError(http.StatusBadRequest, "missing X-Shopify-Webhook-Id")
	case !shopify.ValidShopDomain(meta.ShopDomain):
		return echo.NewHTTPError(http.StatusBadRequest, "missing or invalid X-Shopify-Shop-Domain")
	}
	ev := &store.Event{
		Source: "shopify", Topic: meta.Topic, ExternalID: core.EventKey(meta.ShopDomain, meta.WebhookID), ShopDomain: meta.ShopDomain,
		Payload: body, ReceivedAt: a.Now(),
	}
	// A body that is not JSON, names another shop than the header, or was
	// triggered too long ago is kept for inspection and never processed.
	refusal := ""
	if !json.Valid(body) {
		refusal = "malformed JSON"
	} else if err := core.CheckWebhookShop(meta.ShopDomain, body); err != nil {
		refusal = core.ErrorMessage(err)
	} else if err := core.CheckWebhookTime(meta.TriggeredAt, a.Now()); err != nil {
		refusal = core.ErrorMessage(err)
	}
	if refusal != "" {
		now := a.Now()
		ev.Status, ev.Error, ev.ProcessedAt = store.EventInvalid, refusal, &now
	}
	inserted, err := a.DB.InsertEvent(req.Context(), ev)
	if err != nil {
		return err
	}
	if refusal == "malformed JSON" {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON body (stored for inspection)")
	}
	if refusal != "" {
		return echo.NewHTTPError(http.StatusBadRequest, refusal+" (stored for inspection)")
	}
	if inserted {
		a.Dispatcher.Dispatch(ev.ID)
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "event_id": strconv.FormatInt(ev.ID, 10), "duplicate": !inserted})
}
