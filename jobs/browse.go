package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/templates"
)

// Browse abandonment: a linked customer viewed a product (or added it to the
// cart) and did not check out within X hours → one LINE message with that
// product. The web pixel's ingest writes an outbox event (source "pixel")
// at most once a minute per customer; this plans or postpones the message.

// Reasons a browse-abandonment message is not sent.
const (
	ReasonCheckedOut   = "checked_out_after_browsing"
	ReasonFewViews     = "too_few_views"
	ReasonActivityGone = "storefront_activity_erased"
)

// browseLookback is how far back browsing counts towards one message.
const browseLookback = 7 * 24 * time.Hour

var browseNames = []string{store.PixelProductViewed, store.PixelAddedToCart}

func (w *Worker) processPixel(ctx context.Context, ev *store.Event) ([]*store.Message, error) {
	if ev.Topic != core.TopicBrowse {
		return nil, errIgnore{"no handler for pixel topic " + ev.Topic}
	}
	var p struct {
		CustomerID int64 `json:"customer_id"`
	}
	if err := decode(ev.Payload, &p); err != nil {
		return nil, err
	}
	shop, err := w.DB.ShopByDomain(ctx, ev.ShopDomain)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errIgnore{"shop gone"}
	}
	if err != nil {
		return nil, err
	}
	switch {
	case !shop.Active():
		return nil, errIgnore{"shop not installed"}
	case !shop.Settings.JourneyEnabled(KindBrowse):
		return nil, errIgnore{"browse abandonment is off"}
	}
	cust, err := w.DB.Customer(ctx, shop.ID, p.CustomerID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && cust.RedactedAt != nil) {
		return nil, errIgnore{"customer erased"}
	}
	if err != nil {
		return nil, err
	}
	// Only linked customers can be reminded; planning a skipped message for
	// every browsing minute of everyone else would bury the real reasons.
	if _, err := w.DB.LiveLink(ctx, cust.ID); errors.Is(err, store.ErrNotFound) {
		return nil, errIgnore{"customer not linked"}
	} else if err != nil {
		return nil, err
	}
	now := w.now()
	recent, err := w.DB.LatestPixelEvent(ctx, cust.ID, browseNames, now.Add(-browseLookback))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errIgnore{"no recent browsing"}
	}
	if err != nil {
		return nil, err
	}
	// The product: the last one added to the cart, else the last one viewed.
	product := recent
	if added, err := w.DB.LatestPixelEvent(ctx, cust.ID, []string{store.PixelAddedToCart}, now.Add(-browseLookback)); err == nil {
		product = added
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	at := recent.OccurredAt.Add(w.delay(shop, KindBrowse))
	if at.Before(now) {
		at = now
	}
	last, err := w.DB.LastMessageOfKind(ctx, cust.ID, KindBrowse)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	case last.Status == store.MsgQueued:
		// Still waiting: count X from the latest activity, show the latest product.
		if last.ScheduledFor.Before(at) || last.RefID != product.ID {
			moved, err := w.DB.TransitionMessage(ctx, last.ID, []string{store.MsgQueued}, store.MsgQueued,
				map[string]any{"scheduled_for": maxTime(at, last.ScheduledFor).UTC(), "ref_id": product.ID})
			if err != nil || !moved {
				return nil, err
			}
			last.ScheduledFor, last.RefID = maxTime(at, last.ScheduledFor).UTC(), product.ID
			return []*store.Message{last}, nil
		}
		return nil, nil
	case last.Status == store.MsgSending:
		return nil, errIgnore{"a browse-abandonment message is being sent"}
	case last.Status == store.MsgSent && last.SentAt != nil && now.Sub(*last.SentAt) < shop.Settings.BrowseCooldown():
		return nil, errIgnore{"cooldown"}
	case last.Status == store.MsgSent && last.SentAt != nil && !recent.OccurredAt.After(*last.SentAt):
		return nil, errIgnore{"no browsing since the last message"}
	}
	// One message at a time per customer: the key counts the customer's
	// earlier browse messages, so concurrent triggers plan the same row.
	n, err := w.DB.CountMessagesOfKind(ctx, cust.ID, KindBrowse)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s/s%d/c%d/n%d", KindBrowse, shop.ID, cust.ID, n)
	m, err := w.plan(ctx, w.DB, shop, cust, KindBrowse, "pixel_event", product.ID, key, at)
	if err != nil || m == nil {
		return nil, err
	}
	return []*store.Message{m}, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// browseStillTrue re-checks a browse-abandonment message at send time.
func (w *Worker) browseStillTrue(ctx context.Context, shop *store.Shop, m *store.Message) (string, error) {
	pe, err := w.DB.PixelEvent(ctx, shop.ID, m.RefID)
	if errors.Is(err, store.ErrNotFound) {
		return ReasonActivityGone, nil
	}
	if err != nil {
		return "", err
	}
	bought, err := w.DB.BoughtOrCheckedOutSince(ctx, shop.ID, pe.CustomerID, pe.OccurredAt)
	if err != nil || bought {
		return ReasonCheckedOut, err
	}
	since := pe.OccurredAt.Add(-browseLookback)
	added, err := w.DB.CountPixelEvents(ctx, pe.CustomerID, store.PixelAddedToCart, pe.ProductID, since)
	if err != nil {
		return "", err
	}
	if added == 0 {
		views, err := w.DB.CountPixelEvents(ctx, pe.CustomerID, store.PixelProductViewed, pe.ProductID, since)
		if err != nil {
			return "", err
		}
		if views < int64(shop.Settings.BrowseMinViews()) {
			return ReasonFewViews, nil
		}
	}
	return "", nil
}

// browseData is the product a browse-abandonment message shows.
func (w *Worker) browseData(ctx context.Context, shop *store.Shop, m *store.Message, d *templates.Data) error {
	pe, err := w.DB.PixelEvent(ctx, shop.ID, m.RefID)
	if err != nil {
		return err
	}
	// Only a path on the shop's own storefront: the URL came from a browser.
	u := d.ShopURL
	if strings.HasPrefix(pe.URL, "/") && !strings.HasPrefix(pe.URL, "//") && !strings.Contains(pe.URL, "\\") {
		u = d.ShopURL + pe.URL
	}
	d.Product = &templates.Product{Title: firstNonEmpty(pe.Title, d.ShopName), URL: u, ImageURL: pe.ImageURL, Price: pe.Price,
		Currency: firstNonEmpty(pe.Currency, shop.Currency)}
	return nil
}
