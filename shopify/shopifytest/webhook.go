package shopifytest

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/tsunagu/tsunagu/shopify"
)

// Webhook describes one delivery; empty fields get defaults.
type Webhook struct {
	Topic       string
	Shop        string    // default DefaultShop
	WebhookID   string    // default random (the idempotency key)
	EventID     string    // default random
	APIVersion  string    // default shopify.DefaultAPIVersion
	TriggeredAt time.Time // default now
}

// SignWebhook returns every X-Shopify-* header of a delivery of body,
// HMAC-signed with secret, plus Content-Type.
func SignWebhook(secret string, wh Webhook, body []byte) http.Header {
	if wh.Shop == "" {
		wh.Shop = DefaultShop
	}
	if wh.WebhookID == "" {
		wh.WebhookID = uuidish()
	}
	if wh.EventID == "" {
		wh.EventID = uuidish()
	}
	if wh.APIVersion == "" {
		wh.APIVersion = shopify.DefaultAPIVersion
	}
	if wh.TriggeredAt.IsZero() {
		wh.TriggeredAt = time.Now()
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(shopify.HeaderTopic, wh.Topic)
	h.Set(shopify.HeaderShopDomain, wh.Shop)
	h.Set(shopify.HeaderWebhookID, wh.WebhookID)
	h.Set(shopify.HeaderEventID, wh.EventID)
	h.Set(shopify.HeaderAPIVersion, wh.APIVersion)
	h.Set(shopify.HeaderTriggeredAt, wh.TriggeredAt.UTC().Format(time.RFC3339Nano))
	h.Set(shopify.HeaderHmac, base64.StdEncoding.EncodeToString(shopify.SignWebhook(secret, body)))
	return h
}

// NewWebhookRequest builds a signed webhook POST of body to target.
func NewWebhookRequest(target, secret string, wh Webhook, body []byte) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = SignWebhook(secret, wh, body)
	return req, nil
}

func uuidish() string {
	h := randHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
