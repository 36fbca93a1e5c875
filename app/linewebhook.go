package app

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/door"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
)

// lineWebhook stores each event of a signed LINE webhook (deduplicated on
// webhookEventId, so redeliveries are harmless) and acknowledges; a job
// applies them. The key in the URL names one of the shop's channels, which
// each event records (friends and replies are per channel).
func (a *App) lineWebhook(c echo.Context) error {
	req := c.Request()
	ctx := req.Context()
	body, err := door.ReadBodySized(req.Body, req.ContentLength)
	if err != nil {
		return doorError(err, "X-Line-Signature")
	}
	ch, err := a.DB.LineChannelByWebhookKey(ctx, c.Param("key"))
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "unknown webhook URL")
	}
	if err != nil {
		return err
	}
	secret, err := a.Box.Open(ch.MessagingSecretEnc)
	if errors.Is(err, secretbox.ErrWrongKey) {
		a.logWrongKey(ctx, ch.ShopID, "line.messaging_secret")
	}
	if err != nil || secret == "" {
		// Without the secret nothing can be verified.
		return echo.NewHTTPError(http.StatusUnauthorized, "channel secret not configured")
	}
	events, err := door.LINE(secret, body, req.Header.Get("X-Line-Signature"))
	if err != nil {
		return doorError(err, "X-Line-Signature")
	}
	shopID := ch.ShopID
	var stored, dup int
	for _, ev := range events {
		payload, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		id := ev.WebhookEventID
		if id == "" {
			// Older payloads: the raw event identifies itself.
			sum := sha256.Sum256(ev.Raw)
			id = "sha256:" + hex.EncodeToString(sum[:])
		}
		row := &store.Event{Source: core.SourceLINE, Topic: ev.Type, ExternalID: core.EventKey("shop:"+strconv.FormatInt(shopID, 10), id), ShopID: &shopID,
			LineChannelID: &ch.ID, Payload: payload, ReceivedAt: a.Now()}
		inserted, err := a.DB.InsertEvent(ctx, row)
		if err != nil {
			return err
		}
		if inserted {
			stored++
			a.Dispatcher.Dispatch(row.ID)
		} else {
			dup++
		}
	}
	// The merchant's other tools get the request as LINE sent it (body and
	// signature unchanged): stored for each destination before the answer
	// (the outbox), delivered off the request path. A request that failed
	// here is not forwarded, LINE sends it again.
	if err := a.Forwarder.Forward(ctx, shopID, ch.ID, body, req.Header.Get("X-Line-Signature")); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "stored": strconv.Itoa(stored), "duplicates": strconv.Itoa(dup)})
}
