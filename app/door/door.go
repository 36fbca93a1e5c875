// Package door checks an inbound webhook delivery before anything is
// stored: body size, signature, delivery headers and what the signed
// payload says about them. It needs no database, so its fuzz targets build
// in seconds and run for a bounded time in CI (fuzz/). The handlers in app
// look up secrets, store what passes and map the errors to statuses.
package door

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tsunagu/tsunagu/app/jsonscan"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/shopify"
)

// MaxBody is the largest webhook body accepted.
const MaxBody = 1 << 20

// MaxAge is how old a Shopify delivery may be: Shopify retries for 4 hours
// and says deliveries can, rarely, arrive up to a day late. An older body is
// a replay (a captured delivery sent again), not news.
const MaxAge = 48 * time.Hour

var (
	// ErrTooLarge: the body is over MaxBody (413).
	ErrTooLarge = errors.New("body over 1 MiB")
	// ErrSignature: the signature is missing or does not match (401).
	ErrSignature = errors.New("invalid or missing signature")
)

// MalformedError: signed, but the delivery cannot be used (400). Reason is
// safe to show.
type MalformedError struct{ Reason string }

func (e *MalformedError) Error() string { return e.Reason }

// presizeMax bounds the buffer ReadBodySized allocates on a sender's word.
const presizeMax = 64 << 10

// ReadBody reads a body of at most MaxBody bytes.
func ReadBody(r io.Reader) ([]byte, error) {
	return ReadBodySized(r, -1)
}

// ReadBodySized is ReadBody for a body announced as size bytes (a
// request's Content-Length; -1 unknown): the buffer is allocated once at
// that size instead of doubling from 512 bytes (a 15 KB order went through
// six buffers). The size is only a hint: the body read is what counts, and
// the limit holds whatever was announced. At most presizeMax is allocated
// ahead of the bytes arriving, so a sender announcing 1 MiB and sending
// nothing does not get a megabyte held per connection.
func ReadBodySized(r io.Reader, size int64) ([]byte, error) {
	body, err := readInto(nil, r, size)
	if err != nil {
		return nil, err
	}
	return body, nil
}

// readInto is ReadBodySized reading into buf's storage when it is large
// enough. It returns the buffer it used, also with an error, so that a
// pooled one can be given back.
func readInto(buf []byte, r io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > presizeMax {
		size = 512
	}
	// One byte more than announced, so the read that meets EOF does not grow it.
	body := buf[:0]
	if int64(cap(body)) < size+1 {
		body = make([]byte, 0, size+1)
	}
	lr := io.LimitReader(r, MaxBody+1)
	for {
		if len(body) == cap(body) {
			body = append(body, 0)[:len(body)]
		}
		n, err := lr.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return body, fmt.Errorf("reading body: %w", err)
		}
	}
	if len(body) > MaxBody {
		return body, ErrTooLarge
	}
	return body, nil
}

// Bodies lends body buffers to a handler that is done with the body when
// it returns (the Shopify door stores it and answers): a 15 KB order read
// into a new buffer was a fifth of the ingest's allocation, and the garbage
// collector's work grows with it. The zero value is ready; buffers larger
// than presizeMax are not kept.
type Bodies struct{ pool sync.Pool }

// Body is a body read by Bodies.Read: B until Release.
type Body struct{ B []byte }

// Read is ReadBodySized into a lent buffer. The caller must Release the
// Body (also after an error) and not use B afterwards.
func (p *Bodies) Read(r io.Reader, size int64) (*Body, error) {
	b, _ := p.pool.Get().(*Body)
	if b == nil {
		b = &Body{}
	}
	var err error
	b.B, err = readInto(b.B, r, size)
	return b, err
}

// Release gives b's buffer back.
func (p *Bodies) Release(b *Body) {
	if cap(b.B) > presizeMax+1 {
		return
	}
	b.B = b.B[:0]
	p.pool.Put(b)
}

// ShopifyDelivery is a signed Shopify delivery with usable headers.
type ShopifyDelivery struct {
	shopify.WebhookMeta
	// Refusal, when set, says why the delivery is kept for inspection and
	// never processed: the body is not JSON, names another shop than the
	// header, or was triggered more than MaxAge ago.
	Refusal string
}

// Shopify checks a Shopify delivery. Shopify signs the body only: the
// X-Shopify-* headers (shop, topic, id, time) are anyone's words, so what
// the signed body says about them wins.
func Shopify(secret string, h http.Header, body []byte, now time.Time) (ShopifyDelivery, error) {
	if len(body) > MaxBody {
		return ShopifyDelivery{}, ErrTooLarge
	}
	if !shopify.VerifyWebhook(secret, body, h.Get(shopify.HeaderHmac)) {
		return ShopifyDelivery{}, ErrSignature
	}
	d := ShopifyDelivery{WebhookMeta: shopify.MetaFromHeader(h)}
	switch {
	case d.Topic == "":
		return d, &MalformedError{"missing X-Shopify-Topic"}
	case d.WebhookID == "":
		return d, &MalformedError{"missing X-Shopify-Webhook-Id"}
	case !shopify.ValidShopDomain(d.ShopDomain):
		return d, &MalformedError{"missing or invalid X-Shopify-Shop-Domain"}
	case !storable(d.Topic) || !storable(d.WebhookID):
		// Headers are not signed: anyone may replay a signed body under
		// bytes a text column refuses, which would answer 500 forever.
		return d, &MalformedError{"X-Shopify-Topic or X-Shopify-Webhook-Id is not short UTF-8 text"}
	}
	if valid, err := checkJSONAndShop(d.ShopDomain, body); !valid {
		d.Refusal = "malformed JSON"
	} else if err != nil {
		d.Refusal = err.Error()
	} else if err := CheckTime(d.TriggeredAt, now); err != nil {
		d.Refusal = err.Error()
	}
	return d, nil
}

// CheckShop compares the shop the header names with the shop fields of the
// signed payload (shop_domain in the compliance topics, myshopify_domain in
// app/uninstalled). A payload without such a field passes: most topics do
// not carry the shop.
func CheckShop(headerShop string, payload []byte) error {
	_, err := checkJSONAndShop(headerShop, payload)
	return err
}

// checkJSONAndShop is jsonscan.Valid and CheckShop in one pass over the
// payload. The payload is decoded for its shop fields only when a key of
// its top-level object could be one of them (shopKey): an order is 15 KB of
// JSON, and decoding it a second time was a fifth of the ingest's CPU, a
// second scan for the keys a twentieth. FuzzCheckShopShortcut holds this
// equal to the full decode.
func checkJSONAndShop(headerShop string, payload []byte) (valid bool, err error) {
	named := false
	valid = jsonscan.ValidKeys(payload, func(k []byte, escaped bool) {
		named = named || escaped || shopKey(k)
	})
	if !valid || !named {
		// What is not JSON the full decode refuses, and then passes.
		return valid, nil
	}
	return true, checkShopDecoded(headerShop, payload)
}

// checkShopDecoded is CheckShop's full check: decode the two fields.
func checkShopDecoded(headerShop string, payload []byte) error {
	var p struct {
		ShopDomain      string `json:"shop_domain"`
		MyshopifyDomain string `json:"myshopify_domain"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil // not an object: the shape check elsewhere decides
	}
	for _, s := range []string{p.ShopDomain, p.MyshopifyDomain} {
		if s != "" && !strings.EqualFold(strings.TrimSpace(s), headerShop) {
			return fmt.Errorf("the payload is for %q, the header says %s", clip(s), headerShop)
		}
	}
	return nil
}

// shopKey reports whether encoding/json decodes a top-level key written
// as k (no escapes) into shop_domain or myshopify_domain: it takes an exact
// match or one under Unicode simple folding, which is bytes.EqualFold's
// (so "ſhop_domain" counts). Keys in nested objects set neither field.
func shopKey(k []byte) bool {
	return bytes.EqualFold(k, []byte("shop_domain")) || bytes.EqualFold(k, []byte("myshopify_domain"))
}

// CheckTime refuses a delivery whose X-Shopify-Triggered-At is older than
// MaxAge. A missing header passes (older API versions); a malformed one
// does not. A time ahead of ours passes: clocks differ, and refusing it
// would protect nothing the HMAC does not.
func CheckTime(triggeredAt string, now time.Time) error {
	if triggeredAt == "" {
		return nil
	}
	at, err := time.Parse(time.RFC3339Nano, triggeredAt)
	if err != nil {
		return fmt.Errorf("malformed X-Shopify-Triggered-At %q", clip(triggeredAt))
	}
	if at.Before(now.Add(-MaxAge)) {
		return fmt.Errorf("stale delivery: triggered at %s, more than %s ago", at.UTC().Format(time.RFC3339), MaxAge)
	}
	return nil
}

// LINE checks a LINE delivery against the channel's secret and returns its
// events (types the SDK does not know are skipped; LINE's "verify" request
// has none).
func LINE(secret string, body []byte, signature string) ([]line.Event, error) {
	if len(body) > MaxBody {
		return nil, ErrTooLarge
	}
	_, events, err := line.ParseEvents(secret, body, signature)
	if errors.Is(err, line.ErrBadSignature) {
		return nil, ErrSignature
	}
	if err != nil {
		return nil, &MalformedError{"malformed LINE webhook body"}
	}
	for _, ev := range events {
		if !storable(ev.Type) || !storable(ev.WebhookEventID) {
			return nil, &MalformedError{"an event's type or webhookEventId is not short UTF-8 text"}
		}
	}
	return events, nil
}

// MaxText bounds a header or id the door lets through to a text column.
const MaxText = 255

// storable reports whether s fits a text column: valid UTF-8 (PostgreSQL
// refuses anything else, and NUL), at most MaxText bytes.
func storable(s string) bool {
	return len(s) <= MaxText && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// clip shortens s for a message.
func clip(s string) string {
	if len(s) <= MaxText {
		return s
	}
	return strings.ToValidUTF8(s[:MaxText], "") + "…"
}
