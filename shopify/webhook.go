// Package shopify holds everything that speaks Shopify: webhook verification
// and payloads, OAuth install, session tokens and Admin API calls.
package shopify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// Webhook headers Shopify sends with every delivery.
const (
	HeaderHmac        = "X-Shopify-Hmac-Sha256"
	HeaderTopic       = "X-Shopify-Topic"
	HeaderShopDomain  = "X-Shopify-Shop-Domain"
	HeaderWebhookID   = "X-Shopify-Webhook-Id"
	HeaderAPIVersion  = "X-Shopify-API-Version"
	HeaderTriggeredAt = "X-Shopify-Triggered-At"
	HeaderEventID     = "X-Shopify-Event-Id"
)

// VerifyWebhook reports whether signature is the base64 HMAC-SHA256 of body
// keyed with the app's client secret. The comparison is constant time.
func VerifyWebhook(secret string, body []byte, signature string) bool {
	if secret == "" || signature == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return false
	}
	return hmac.Equal(got, SignWebhook(secret, body))
}

// SignWebhook returns the raw HMAC-SHA256 of body; callers base64 it.
func SignWebhook(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// WebhookMeta is what the delivery headers say about a webhook.
type WebhookMeta struct {
	Topic       string
	ShopDomain  string
	WebhookID   string
	APIVersion  string
	TriggeredAt string
	EventID     string
}

// MetaFromHeader reads the delivery headers.
func MetaFromHeader(h http.Header) WebhookMeta {
	return WebhookMeta{
		Topic:       h.Get(HeaderTopic),
		ShopDomain:  h.Get(HeaderShopDomain),
		WebhookID:   h.Get(HeaderWebhookID),
		APIVersion:  h.Get(HeaderAPIVersion),
		TriggeredAt: h.Get(HeaderTriggeredAt),
		EventID:     h.Get(HeaderEventID),
	}
}
