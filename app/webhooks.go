package app

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/door"
	"github.com/tsunagu/tsunagu/app/store"
)

// MaxWebhookBody is the largest webhook body accepted.
const MaxWebhookBody = door.MaxBody

// shopifyWebhook stores a signed Shopify webhook and acknowledges it. The
// event row is written before the 200, so an acknowledged webhook is never
// lost; processing happens in a job.
func (a *App) shopifyWebhook(c echo.Context) error {
	req := c.Request()
	// The body is done with when this returns: it is stored (a copy goes
	// to the database) or refused, and only the event's id is handed on.
	lent, err := a.bodies.Read(req.Body, req.ContentLength)
	defer a.bodies.Release(lent)
	if err != nil {
		return doorError(err, "X-Shopify-Hmac-Sha256")
	}
	body := lent.B
	d, err := door.Shopify(a.Config.ShopifyAPISecret, req.Header, body, a.Now())
	if err != nil {
		return doorError(err, "X-Shopify-Hmac-Sha256")
	}
	meta := d.WebhookMeta
	ev := &store.Event{
		Source: "shopify", Topic: meta.Topic, ExternalID: core.EventKey(meta.ShopDomain, meta.WebhookID), ShopDomain: meta.ShopDomain,
		Payload: body, ReceivedAt: a.Now(),
	}
	// A body that is not JSON, names another shop than the header, or was
	// triggered too long ago is kept for inspection and never processed.
	refusal := d.Refusal
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
	return c.JSONBlob(http.StatusOK, shopifyAck(ev.ID, !inserted))
}

// shopifyAck is the answer to a stored delivery: byte for byte what
// c.JSON gave for {"ok": true, "event_id": "<id>", "duplicate": …} (keys
// sorted, a final newline), without encoding a map by reflection on every
// delivery.
func shopifyAck(id int64, duplicate bool) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"duplicate":`...)
	b = strconv.AppendBool(b, duplicate)
	b = append(b, `,"event_id":"`...)
	b = strconv.AppendInt(b, id, 10)
	return append(b, "\",\"ok\":true}\n"...)
}

// doorError answers a delivery the door refused: 413 over the size limit,
// 401 for a bad or missing signature (header names it), 400 malformed.
func doorError(err error, header string) error {
	var bad *door.MalformedError
	switch {
	case errors.Is(err, door.ErrTooLarge):
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body over 1 MiB")
	case errors.Is(err, door.ErrSignature):
		return echo.NewHTTPError(http.StatusUnauthorized, "invalid or missing "+header)
	case errors.As(err, &bad):
		return echo.NewHTTPError(http.StatusBadRequest, bad.Reason)
	}
	return echo.NewHTTPError(http.StatusBadRequest, "could not read body")
}
