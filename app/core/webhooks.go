package core

import (
	"encoding/json"
	"strings"
	"time"
)

// Rules for accepting an inbound webhook. Shopify signs the body only: the
// X-Shopify-* headers (shop, topic, id, time) are anyone's words, so what the
// signed body says about them wins.

// WebhookMaxAge is how old a Shopify delivery may be: Shopify retries for 4
// hours and says deliveries can, rarely, arrive up to a day late. An older
// body is a replay (a captured delivery sent again), not news.
const WebhookMaxAge = 48 * time.Hour

// CheckWebhookShop compares the shop the header names with the shop fields
// of the signed payload (shop_domain in the compliance topics,
// myshopify_domain in app/uninstalled). A payload without such a field
// passes: most topics do not carry the shop.
func CheckWebhookShop(headerShop string, payload []byte) error {
	var p struct {
		ShopDomain      string `json:"shop_domain"`
		MyshopifyDomain string `json:"myshopify_domain"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil // not an object: the shape check elsewhere decides
	}
	for _, s := range []string{p.ShopDomain, p.MyshopifyDomain} {
		if s != "" && !strings.EqualFold(strings.TrimSpace(s), headerShop) {
			return Errorf(EINVALID, "the payload is for %s, the header says %s", s, headerShop)
		}
	}
	return nil
}

// CheckWebhookTime refuses a delivery whose X-Shopify-Triggered-At is older
// than WebhookMaxAge. A missing header passes (older API versions); a
// malformed one does not. A time ahead of ours passes: clocks differ, and
// refusing it would protect nothing the HMAC does not.
func CheckWebhookTime(triggeredAt string, now time.Time) error {
	if triggeredAt == "" {
		return nil
	}
	at, err := time.Parse(time.RFC3339Nano, triggeredAt)
	if err != nil {
		return Errorf(EINVALID, "malformed X-Shopify-Triggered-At %q", triggeredAt)
	}
	if at.Before(now.Add(-WebhookMaxAge)) {
		return Errorf(EINVALID, "stale delivery: triggered at %s, more than %s ago", at.UTC().Format(time.RFC3339), WebhookMaxAge)
	}
	return nil
}

// EventKey is the idempotency key of an inbound event: the sender's id
// within one shop (or channel). Two shops' deliveries never collide, so
// one shop cannot make another's events look like duplicates.
func EventKey(scope, id string) string {
	return scope + "|" + id
}
