package core

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
)

// Pixel ingest bounds.
const (
	PixelMaxBody   = 64 << 10 // bytes per request
	PixelMaxEvents = 50       // events per request
	// PixelMaxAge: events replayed after consent may be old, not older than this.
	PixelMaxAge = 7 * 24 * time.Hour
	// PixelMaxSkew: how far in the future a browser clock may put an event.
	PixelMaxSkew = 10 * time.Minute
)

// PixelBatch is what the web pixel posts (extensions/web-pixel/src/events.ts).
type PixelBatch struct {
	Shop       string `json:"shop"`
	Key        string `json:"key"`
	ClientID   string `json:"client_id"`
	CustomerID string `json:"customer_id"`
	// CustomerToken is the app's proof of CustomerID (PixelCustomerToken),
	// handed to the signed-in shopper's browser through the app proxy.
	CustomerToken string `json:"customer_token"`
	Consent       struct {
		Analytics bool `json:"analytics"`
		Marketing bool `json:"marketing"`
	} `json:"consent"`
	Events []PixelEventIn `json:"events"`
}

// PixelEventIn is one event as the pixel sends it.
type PixelEventIn struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	TS           string   `json:"ts"`
	ProductID    string   `json:"product_id"`
	VariantID    string   `json:"variant_id"`
	Title        string   `json:"title"`
	URL          string   `json:"url"`
	Image        string   `json:"image"`
	Price        *float64 `json:"price"`
	Currency     string   `json:"currency"`
	CollectionID string   `json:"collection_id"`
	Query        string   `json:"query"`
	Quantity     int      `json:"quantity"`
	CheckoutTok  string   `json:"checkout_token"`
}

var pixelNames = map[string]bool{
	store.PixelProductViewed: true, store.PixelCollectionView: true, store.PixelAddedToCart: true,
	store.PixelCheckout: true, store.PixelSearch: true,
}

// ParsePixelBatch decodes and validates a pixel request body; any problem
// is an EINVALID error saying what is wrong.
func ParsePixelBatch(body []byte, now time.Time) (*PixelBatch, []store.PixelEvent, error) {
	var b PixelBatch
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, nil, Errorf(EINVALID, "body is not a JSON pixel batch: %v", err)
	}
	switch {
	case !shopify.ValidShopDomain(b.Shop):
		return nil, nil, Errorf(EINVALID, "shop must be a *.myshopify.com domain")
	case b.Key == "" || len(b.Key) > 128:
		return nil, nil, Errorf(EINVALID, "key is required")
	case len(b.CustomerToken) > 200:
		return nil, nil, Errorf(EINVALID, "customer_token is too long")
	case b.ClientID == "" || len(b.ClientID) > 128:
		return nil, nil, Errorf(EINVALID, "client_id is required (at most 128 characters)")
	case len(b.Events) == 0 || len(b.Events) > PixelMaxEvents:
		return nil, nil, Errorf(EINVALID, "events must hold 1 to %d events", PixelMaxEvents)
	}
	if b.CustomerID != "" {
		if _, err := positiveID(b.CustomerID); err != nil {
			return nil, nil, Errorf(EINVALID, "customer_id must be a numeric Shopify customer id")
		}
	}
	out := make([]store.PixelEvent, 0, len(b.Events))
	for i, e := range b.Events {
		ev, err := pixelEvent(e, now)
		if err != nil {
			return nil, nil, Errorf(EINVALID, "events[%d]: %s", i, err)
		}
		out = append(out, ev)
	}
	return &b, out, nil
}

func pixelEvent(e PixelEventIn, now time.Time) (store.PixelEvent, error) {
	var ev store.PixelEvent
	if e.ID == "" || len(e.ID) > 128 {
		return ev, errors.New("id is required (at most 128 characters)")
	}
	if !pixelNames[e.Name] {
		return ev, fmt.Errorf("unknown event %q", e.Name)
	}
	ts, err := time.Parse(time.RFC3339Nano, e.TS)
	if err != nil {
		return ev, errors.New("ts must be an RFC 3339 time")
	}
	if ts.Before(now.Add(-PixelMaxAge)) || ts.After(now.Add(PixelMaxSkew)) {
		return ev, errors.New("ts is too old or in the future")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"title", e.Title, 255}, {"url", e.URL, 1000}, {"image", e.Image, 1000}, {"currency", e.Currency, 3},
		{"query", e.Query, 255}, {"checkout_token", e.CheckoutTok, 255}} {
		if utf8.RuneCountInString(f.v) > f.max || !utf8.ValidString(f.v) {
			return ev, fmt.Errorf("%s is longer than %d characters", f.name, f.max)
		}
	}
	ev = store.PixelEvent{EventID: e.ID, Name: e.Name, Title: e.Title, URL: e.URL, ImageURL: e.Image,
		Currency: e.Currency, SearchQuery: e.Query, OccurredAt: ts.UTC()}
	if e.Quantity < 0 || e.Quantity > 10000 {
		return ev, errors.New("quantity out of range")
	}
	ev.Quantity = e.Quantity
	for _, f := range []struct {
		name, v string
		dst     *int64
	}{{"product_id", e.ProductID, &ev.ProductID}, {"variant_id", e.VariantID, &ev.VariantID}, {"collection_id", e.CollectionID, &ev.CollectionID}} {
		if f.v == "" {
			continue
		}
		n, err := positiveID(f.v)
		if err != nil {
			return ev, fmt.Errorf("%s must be a numeric id", f.name)
		}
		*f.dst = n
	}
	if e.Price != nil {
		if *e.Price < 0 || *e.Price > 1e12 {
			return ev, errors.New("price out of range")
		}
		ev.Price = decimal.NewFromFloat(*e.Price)
	}
	if (e.Name == store.PixelProductViewed || e.Name == store.PixelAddedToCart) && ev.ProductID == 0 {
		return ev, fmt.Errorf("%s needs product_id", e.Name)
	}
	return ev, nil
}

func positiveID(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("not a positive id")
	}
	return n, nil
}

// Pixel stores storefront events of known customers and wakes the
// browse-abandonment journey.
type Pixel struct {
	DB *store.DB
	// Secret keys PixelKey.
	Secret []byte
	Seen   *SeenRecorder
	Now    func() time.Time

	// shops remembers installed shops by domain for pixelShopTTL: every
	// storefront page view asks, and a lookup is a database round trip.
	shopsOnce sync.Once
	shops     *expirable.LRU[string, pixelShop]
}

type pixelShop struct {
	id     int64
	domain string
}

const pixelShopTTL = 30 * time.Second

// activeShop is the installed shop of domain (cached briefly).
func (p *Pixel) activeShop(ctx context.Context, domain string) (pixelShop, error) {
	p.shopsOnce.Do(func() { p.shops = expirable.NewLRU[string, pixelShop](10000, nil, pixelShopTTL) })
	if s, ok := p.shops.Get(domain); ok {
		return s, nil
	}
	shop, err := p.DB.ShopByDomain(ctx, domain)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !shop.Active()) {
		return pixelShop{}, Errorf(ENOTFOUND, "shop not installed")
	}
	if err != nil {
		return pixelShop{}, err
	}
	s := pixelShop{id: shop.ID, domain: shop.Domain}
	p.shops.Add(domain, s)
	return s, nil
}

// Reasons a pixel batch is accepted but not stored.
const (
	PixelNoConsent       = "no_consent"
	PixelUnknownCustomer = "unknown_customer"
	// PixelUnverified: the batch names a customer without the app's proof.
	// The pixel's customer id comes from the browser; trusting it alone
	// would let anyone put events (and so a browse reminder with a title
	// and image of their choosing) on another customer's account.
	PixelUnverified = "unverified_customer"
)

// PixelTokenTTL is how long a browser's customer proof is good for.
const PixelTokenTTL = 30 * 24 * time.Hour

// PixelCustomerToken proves to the ingest endpoint that this browser's
// shopper is Shopify customer id of shop: the app proxy (which Shopify
// signs with logged_in_customer_id) hands it out, the theme script keeps it
// in a first-party cookie and the pixel sends it back.
func PixelCustomerToken(secret []byte, shop string, customerID int64, exp time.Time) string {
	body := strconv.FormatInt(customerID, 10) + "." + strconv.FormatInt(exp.Unix(), 10)
	return body + "." + pixelTokenMAC(secret, shop, body)
}

func pixelTokenMAC(secret []byte, shop, body string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("pixel-customer:" + strings.ToLower(shop) + ":" + body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// CustomerToken is PixelCustomerToken for a shopper the app proxy vouches for now.
func (p *Pixel) CustomerToken(shop string, customerID int64) string {
	return PixelCustomerToken(p.Secret, shop, customerID, p.Now().Add(PixelTokenTTL))
}

// verifyPixelCustomer reports whether token proves customerID for shop at now.
func verifyPixelCustomer(secret []byte, shop string, customerID int64, token string, now time.Time) bool {
	id, rest, ok := strings.Cut(token, ".")
	if !ok || id != strconv.FormatInt(customerID, 10) {
		return false
	}
	expS, mac, ok := strings.Cut(rest, ".")
	exp, err := strconv.ParseInt(expS, 10, 64)
	if !ok || err != nil || now.Unix() > exp {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(pixelTokenMAC(secret, shop, id+"."+expS)))
}

// IngestResult says what became of a batch.
type IngestResult struct {
	Stored     int    `json:"stored"`
	Duplicates int    `json:"duplicates"`
	Dropped    string `json:"dropped,omitempty"`
	// Trigger is the outbox event that wakes browse abandonment (dispatch it
	// after the call), nil when none was written.
	Trigger *store.Event `json:"-"`
}

// SourcePixel and TopicBrowse name the outbox event that asks the journey
// worker to look at a customer's browsing.
const (
	SourcePixel = "pixel"
	TopicBrowse = "browse"
)

// Ingest checks the shop key and the visitor's consent and stores the
// events of a customer the shop knows (anonymous visitors leave nothing).
// A redelivered event id is stored once. Product views and add-to-carts
// write one outbox event per customer and minute for the journey worker.
func (p *Pixel) Ingest(ctx context.Context, b *PixelBatch, evs []store.PixelEvent) (IngestResult, error) {
	if !hmac.Equal([]byte(b.Key), []byte(PixelKey(p.Secret, b.Shop))) {
		return IngestResult{}, Errorf(EUNAUTHORIZED, "the pixel key does not match the shop")
	}
	shop, err := p.activeShop(ctx, b.Shop)
	if err != nil {
		return IngestResult{}, err
	}
	// The admin shows the pixel as active whatever the visitor allowed.
	if err := p.Seen.Mark(ctx, shop.id, ExtWebPixel, p.Now()); err != nil {
		return IngestResult{}, err
	}
	// Browse abandonment is marketing: it needs both.
	if !b.Consent.Analytics || !b.Consent.Marketing {
		return IngestResult{Dropped: PixelNoConsent}, nil
	}
	if b.CustomerID == "" {
		return IngestResult{Dropped: PixelUnknownCustomer}, nil
	}
	sid, _ := positiveID(b.CustomerID)
	if !verifyPixelCustomer(p.Secret, b.Shop, sid, b.CustomerToken, p.Now()) {
		return IngestResult{Dropped: PixelUnverified}, nil
	}
	custID, err := p.DB.LiveCustomerID(ctx, shop.id, sid)
	if errors.Is(err, store.ErrNotFound) {
		return IngestResult{Dropped: PixelUnknownCustomer}, nil
	}
	if err != nil {
		return IngestResult{}, err
	}
	now := p.Now().UTC()
	for i := range evs {
		evs[i].ShopID, evs[i].CustomerID, evs[i].ReceivedAt = shop.id, custID, now
	}
	payload, _ := json.Marshal(map[string]int64{"customer_id": custID})
	sID := shop.id
	// One wake-up per customer and minute for the journey worker.
	wake := &store.Event{Source: SourcePixel, Topic: TopicBrowse, ShopID: &sID, ShopDomain: shop.domain, Payload: payload,
		ExternalID: fmt.Sprintf("browse/%d/%d/%d", shop.id, custID, now.Unix()/60), ReceivedAt: now}
	stored, woke, err := p.DB.StorePixelEvents(ctx, evs, wake, []string{store.PixelProductViewed, store.PixelAddedToCart})
	if err != nil {
		return IngestResult{}, err
	}
	res := IngestResult{Stored: len(stored), Duplicates: len(evs) - len(stored)}
	if woke {
		res.Trigger = wake
	}
	return res, err
}
