package door_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tsunagu/tsunagu/app/door"
	"github.com/tsunagu/tsunagu/shopify"
)

// The door takes anything from the internet. Whatever arrives, it must not
// panic; it refuses oversize bodies (413), bad signatures (401) and
// unusable headers (400) in that order; and whatever it lets through can be
// stored: short UTF-8 text without NUL in every text column. Plain `go test`
// runs the seeds (here and under testdata/fuzz/); fuzz/ fuzzes them for a
// bounded time in CI; docs/SECURITY.md says how to fuzz longer.

const (
	secret = "shpss_fuzz"
	shop   = "fuzz.myshopify.com"
)

var now = time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)

// Signature modes of a fuzzed delivery.
const (
	sigGood uint8 = iota
	sigNone
	sigOtherBody
	sigModes
)

// fixtures returns the published payloads under testdata/<dir> of the
// repository (Shopify's and LINE's own examples).
func fixtures(f testing.TB, dir string) map[string][]byte {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", dir, "*.json"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no fixtures in testdata/%s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".json")] = b
	}
	return out
}

func storable(s string) bool {
	return len(s) <= door.MaxText && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func FuzzShopifyDoor(f *testing.F) {
	for name, body := range fixtures(f, "shopify/webhooks") {
		topic := strings.ReplaceAll(name, "__", "/")
		f.Add(body, topic, shop, "w1", now.Format(time.RFC3339), sigGood)
		f.Add(body, topic, shop, "w1", "", sigOtherBody)
	}
	f.Add([]byte(`{"shop_domain":"other\u0000.myshopify.com"}`), "shop/redact", shop, "w2", "", sigGood)
	f.Add([]byte(`{"myshopify_domain":"FUZZ.myshopify.com "}`), "app/uninstalled", shop, "w3", "", sigGood)
	f.Add([]byte(`not json`), "orders/create", shop, "w4", "", sigGood)
	f.Add([]byte(`{}`), "orders/\xff", shop, "w5", "", sigGood)
	f.Add([]byte(`{}`), "orders/create", "evil.example", "w6", "", sigGood)
	f.Add([]byte(`{}`), "orders/create", shop, "w7", "2026-11-01T00:00:00Z", sigGood)
	f.Add([]byte(`{}`), "orders/create", shop, "w8", "yesterday", sigNone)
	f.Fuzz(func(t *testing.T, body []byte, topic, shopDomain, webhookID, triggeredAt string, sig uint8) {
		sig %= sigModes
		h := http.Header{}
		h.Set(shopify.HeaderTopic, topic)
		h.Set(shopify.HeaderShopDomain, shopDomain)
		h.Set(shopify.HeaderWebhookID, webhookID)
		h.Set(shopify.HeaderTriggeredAt, triggeredAt)
		switch sig {
		case sigGood:
			h.Set(shopify.HeaderHmac, base64.StdEncoding.EncodeToString(shopify.SignWebhook(secret, body)))
		case sigOtherBody:
			h.Set(shopify.HeaderHmac, base64.StdEncoding.EncodeToString(shopify.SignWebhook(secret, append(body, ' '))))
		}
		read, err := door.ReadBody(bytes.NewReader(body))
		if len(body) > door.MaxBody {
			if !errors.Is(err, door.ErrTooLarge) {
				t.Fatalf("%d bytes read: %v", len(body), err)
			}
			return
		}
		if err != nil || !bytes.Equal(read, body) {
			t.Fatalf("ReadBody: %v", err)
		}
		// The announced size is a hint only: right, short, long or unknown.
		for _, size := range []int64{int64(len(body)), int64(len(body) / 2), int64(len(body)) + 100, -1, door.MaxBody + 1} {
			if sized, err := door.ReadBodySized(bytes.NewReader(body), size); err != nil || !bytes.Equal(sized, body) {
				t.Fatalf("ReadBodySized(%d bytes announced as %d): %v", len(body), size, err)
			}
		}
		d, err := door.Shopify(secret, h, body, now)
		var bad *door.MalformedError
		switch {
		case sig != sigGood:
			if !errors.Is(err, door.ErrSignature) {
				t.Fatalf("signature mode %d: %v, want ErrSignature", sig, err)
			}
			return
		case errors.As(err, &bad):
			if topic != "" && webhookID != "" && shopify.ValidShopDomain(shopDomain) && storable(topic) && storable(webhookID) {
				t.Fatalf("usable headers refused: %v", err)
			}
			return
		case err != nil:
			t.Fatalf("signed delivery: %v", err)
		}
		if !storable(d.Topic) || !storable(d.WebhookID) || !utf8.ValidString(d.Refusal) || strings.ContainsRune(d.Refusal, 0) || len(d.Refusal) > 4*door.MaxText {
			t.Fatalf("not storable: topic %q id %q refusal %q", d.Topic, d.WebhookID, d.Refusal)
		}
		if d.Refusal == "" && (!json.Valid(body) || door.CheckShop(d.ShopDomain, body) != nil || door.CheckTime(triggeredAt, now) != nil) {
			t.Fatalf("accepted for processing: %q", body)
		}
	})
}

func lineSign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func FuzzLineDoor(f *testing.F) {
	for _, body := range fixtures(f, "line/webhooks") {
		f.Add(body, sigGood)
		f.Add(body, sigOtherBody)
	}
	f.Add([]byte(`{"destination":"U1","events":[{"type":"message","webhookEventId":"01H","message":{"type":"text","text":"x"}}]}`), sigGood)
	f.Add([]byte(`{"events":[{"type":"follow\u0000","webhookEventId":"\ud800"}]}`), sigGood)
	f.Add([]byte(`{"events":[null]}`), sigGood)
	f.Add([]byte(`{"events":{}}`), sigGood)
	f.Add([]byte(`not json`), sigGood)
	f.Add([]byte(`{"events":[]}`), sigNone)
	f.Fuzz(func(t *testing.T, body []byte, sig uint8) {
		sig %= sigModes
		signature := ""
		switch sig {
		case sigGood:
			signature = lineSign(secret, body)
		case sigOtherBody:
			signature = lineSign(secret, append(body, ' '))
		}
		events, err := door.LINE(secret, body, signature)
		var bad *door.MalformedError
		switch {
		case len(body) > door.MaxBody:
			if !errors.Is(err, door.ErrTooLarge) {
				t.Fatalf("%d bytes: %v", len(body), err)
			}
			return
		case sig != sigGood:
			if !errors.Is(err, door.ErrSignature) {
				t.Fatalf("signature mode %d: %v, want ErrSignature", sig, err)
			}
			return
		case errors.As(err, &bad):
			return
		case err != nil:
			t.Fatalf("signed delivery: %v", err)
		}
		for _, ev := range events {
			if !storable(ev.Type) || !storable(ev.WebhookEventID) {
				t.Fatalf("not storable: type %q id %q", ev.Type, ev.WebhookEventID)
			}
			// The handler stores each event as JSON.
			if _, err := json.Marshal(ev); err != nil {
				t.Fatalf("event does not marshal: %v", err)
			}
		}
	})
}

// FuzzCheckShopShortcut: CheckShop skips decoding a payload none of whose
// top-level keys can be a shop field (shopKey, escapes counted as maybe);
// for any payload and header it must answer exactly as the full decode does.
func FuzzCheckShopShortcut(f *testing.F) {
	for _, body := range fixtures(f, "shopify/webhooks") {
		f.Add(body, shop)
	}
	for _, s := range []string{
		`{"shop_domain":"other.myshopify.com"}`,
		`{"SHOP_DOMAIN":"other.myshopify.com"}`,
		`{"Shop_Domain":"other.myshopify.com"}`,
		`{"myshopify_DOMAIN":"other.myshopify.com"}`,
		`{"shop\u005fdomain":"other.myshopify.com"}`,
		`{"\u0073hop_domain":"other.myshopify.com"}`,
		`{"ſhop_domain":"other.myshopify.com"}`,
		`{"myſhopify_domain":"other.myshopify.com"}`,
		`{"shop_domain ":"other.myshopify.com"}`,
		`{"shop_domain":"other.myshopify.com","shop_domain":"fuzz.myshopify.com"}`,
		`{"a":{"shop_domain":"other.myshopify.com"}}`,
		`{"shop_domain":1}`,
		`{"shop_domain":"other.myshopify.com"`,
		`[{"shop_domain":"other.myshopify.com"}]`,
		`"_domain"`,
		`{"x_domain":"_DOMAIN"}`,
	} {
		f.Add([]byte(s), shop)
	}
	f.Fuzz(func(t *testing.T, payload []byte, header string) {
		got, want := door.CheckShop(header, payload), door.CheckShopDecoded(header, payload)
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Fatalf("CheckShop(%q, %q) = %v, the full decode says %v", header, payload, got, want)
		}
	})
}
