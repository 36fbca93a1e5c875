package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/templates"
)

// Journey message kinds (thank_you is KindThankYou).
const (
	KindShipping      = "shipping"
	KindCartReminder  = "cart_reminder"
	KindCartReminder2 = "cart_reminder_2"
	KindFollowUp3     = "follow_up_3"
	KindFollowUp7     = "follow_up_7"
	KindFollowUp30    = "follow_up_30"
	KindBrowse        = "browse_abandonment"
)

// Reasons a journey message is cancelled or skipped.
const (
	ReasonOrderPlaced = "order_placed"
	// ReasonOrderAtShopify: Shopify lists an order of the customer since
	// the cart that Tsunagu has not stored (its webhook late or lost).
	ReasonOrderAtShopify       = "order_at_shopify"
	ReasonNewerOrder           = "restarted_by_newer_order"
	ReasonFulfillmentCancelled = "fulfillment_cancelled"
)

var (
	followUpKinds = []string{KindFollowUp3, KindFollowUp7, KindFollowUp30}
	cartKinds     = []string{KindCartReminder, KindCartReminder2}
)

// delay is a journey's configured delay, scaled for demos and tests.
func (w *Worker) delay(shop *store.Shop, kind string) time.Duration {
	return w.scaled(time.Duration(shop.Settings.JourneyDelayMinutes(kind)) * time.Minute)
}

// Dedupe keys: kind, shop, the Shopify object and the customer. They never
// depend on time or on the event, so every delivery of the same fact maps
// to the same message.

// FollowUpKey is the dedupe key of a follow-up of an order.
func FollowUpKey(kind string, shopID, shopifyOrderID, customerID int64) string {
	return fmt.Sprintf("%s/s%d/o%d/c%d", kind, shopID, shopifyOrderID, customerID)
}

// CartReminderKey is the dedupe key of a cart reminder for a checkout token.
func CartReminderKey(kind string, shopID int64, checkoutToken string, customerID int64) string {
	return fmt.Sprintf("%s/s%d/k%s/c%d", kind, shopID, keyPart(checkoutToken), customerID)
}

// ShippingKey is the dedupe key of the shipping notice for one fulfillment
// and tracking number (a changed number is a new notice).
func ShippingKey(shopID, shopifyFulfillmentID int64, trackingNumber, trackingURL string, customerID int64) string {
	t := trackingNumber
	if t == "" {
		t = "url:" + trackingURL
	}
	return fmt.Sprintf("%s/s%d/f%d/t%s/c%d", KindShipping, shopID, shopifyFulfillmentID, keyPart(t), customerID)
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// keyPart keeps simple ids readable and hashes anything else.
func keyPart(s string) string {
	if plainKey.MatchString(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h" + hex.EncodeToString(sum[:12])
}

// afterOrder runs inside applyOrder's transaction once the order is stored:
// it closes the order's checkouts (cancelling their cart reminders), cancels
// follow-ups of a void order, and plans the day-3/7/30 follow-ups. cust may be nil.
func (w *Worker) afterOrder(ctx context.Context, tx *store.DB, shop *store.Shop, cust *store.Customer, topic string, o *store.Order) ([]*store.Message, error) {
	ids, err := tx.CompleteCheckouts(ctx, shop.ID, o.CheckoutToken, o.CartToken, o.ID, w.now())
	if err != nil {
		return nil, err
	}
	if cust != nil {
		// No token (Shopify's own example has none): match the customer's
		// open carts of the last week by their items.
		more, err := w.checkoutsByItems(ctx, tx, shop, cust, o)
		if err != nil {
			return nil, err
		}
		ids = append(ids, more...)
	}
	for _, id := range ids {
		if _, err := tx.CancelMessages(ctx, shop.ID, "checkout", id, cartKinds, ReasonOrderPlaced); err != nil {
			return nil, err
		}
	}
	if o.Void() {
		_, err := tx.CancelMessages(ctx, shop.ID, "order", o.ID, append([]string{KindThankYou}, followUpKinds...), ReasonOrderVoid)
		return nil, err
	}
	if cust == nil || (topic != shopify.TopicOrdersCreate && topic != shopify.TopicOrdersPaid) {
		return nil, nil
	}
	if shop.Settings.RestartsFollowUps() {
		if _, err := tx.CancelOlderOrderMessages(ctx, o, followUpKinds, ReasonNewerOrder); err != nil {
			return nil, err
		}
	}
	var planned []*store.Message
	now := w.now()
	for _, kind := range followUpKinds {
		m, err := w.plan(ctx, tx, shop, cust, kind, "order", o.ID, FollowUpKey(kind, shop.ID, o.ShopifyID, cust.ID), now.Add(w.delay(shop, kind)))
		if err != nil {
			return nil, err
		}
		if m != nil {
			planned = append(planned, m)
		}
	}
	if first, err := tx.FirstOrderID(ctx, shop.ID, cust.ID); err != nil {
		return nil, err
	} else if first == o.ID {
		steps, err := w.StartScenarios(ctx, tx, shop, core.TriggerFirstOrder, nil, cust, o.OrderedAt)
		if err != nil {
			return nil, err
		}
		planned = append(planned, steps...)
	}
	return planned, nil
}

// checkoutsByItems completes the customer's open checkouts that share an
// item with order o and returns their ids.
func (w *Worker) checkoutsByItems(ctx context.Context, tx *store.DB, shop *store.Shop, cust *store.Customer, o *store.Order) ([]int64, error) {
	open, err := tx.OpenCheckoutsOfCustomer(ctx, shop.ID, cust.ID, o.CreatedAt.Add(-7*24*time.Hour))
	if err != nil || len(open) == 0 {
		return nil, err
	}
	var ids []int64
	for _, c := range open {
		if core.MatchCheckoutOrder(checkoutTitles(&c), orderTitles(o)) != core.MatchOrdered {
			continue
		}
		if err := tx.CompleteCheckout(ctx, c.ID, o.ID, w.now()); err != nil {
			return nil, err
		}
		ids = append(ids, c.ID)
	}
	return ids, nil
}

func checkoutTitles(c *store.Checkout) []string {
	out := make([]string, len(c.Items))
	for i, it := range c.Items {
		out[i] = it.Title
	}
	return out
}

func orderTitles(o *store.Order) []string {
	out := make([]string, len(o.Items))
	for i, it := range o.Items {
		out[i] = it.Title
	}
	return out
}

// applyFulfillment stores a fulfillment and plans its shipping notice when
// it carries tracking.
func (w *Worker) applyFulfillment(ctx context.Context, shop *store.Shop, f *shopify.Fulfillment) ([]*store.Message, error) {
	if f.ID == 0 || f.OrderID == 0 {
		return nil, fmt.Errorf("%w: fulfillment without id or order id", errInvalidPayload)
	}
	o, err := w.DB.OrderByShopifyID(ctx, shop.ID, f.OrderID)
	if errors.Is(err, store.ErrNotFound) {
		// The orders/create event may still be on its way: retry later.
		return nil, fmt.Errorf("fulfillment %d: order %d not stored yet: %w", f.ID, f.OrderID, err)
	}
	if err != nil {
		return nil, err
	}
	number, trackURL := f.Tracking()
	var planned []*store.Message
	err = w.DB.Tx(ctx, func(tx *store.DB) error {
		sf := &store.Fulfillment{
			ShopID: shop.ID, ShopifyID: f.ID, OrderID: &o.ID, ShopifyOrderID: f.OrderID, Status: f.Status,
			ShipmentStatus: f.ShipmentStatus, TrackingCompany: f.TrackingCompany, TrackingNumber: number, TrackingURL: trackURL,
		}
		if err := tx.UpsertFulfillment(ctx, sf); err != nil {
			return err
		}
		if (number == "" && trackURL == "") || o.CustomerID == nil || o.Void() || fulfillmentVoid(sf.Status) {
			return nil
		}
		cust, err := tx.Customer(ctx, shop.ID, *o.CustomerID)
		if err != nil {
			return err
		}
		m, err := w.plan(ctx, tx, shop, cust, KindShipping, "fulfillment", sf.ID,
			ShippingKey(shop.ID, f.ID, number, trackURL, cust.ID), w.now())
		if m != nil {
			planned = append(planned, m)
		}
		return err
	})
	return planned, err
}

func fulfillmentVoid(status string) bool {
	return status == "cancelled" || status == "failure" || status == "error"
}

// applyCheckout stores a checkout and, for a known customer with no order
// yet, plans the cart reminder(s).
func (w *Worker) applyCheckout(ctx context.Context, shop *store.Shop, c *shopify.Checkout) ([]*store.Message, error) {
	if c.Token == "" {
		return nil, fmt.Errorf("%w: checkout without token", errInvalidPayload)
	}
	var planned []*store.Message
	err := w.DB.Tx(ctx, func(tx *store.DB) error {
		cust, err := w.upsertCustomer(ctx, tx, shop, c.Customer)
		if err != nil {
			return err
		}
		sc := &store.Checkout{
			ShopID: shop.ID, Token: c.Token, CartToken: c.CartToken, Email: c.Email, Currency: c.Currency,
			TotalPrice: c.TotalPrice, AbandonedURL: c.AbandonedCheckoutURL, CompletedAt: c.CompletedAt, Locale: c.CustomerLocale,
			Items:     make([]store.CheckoutItem, 0, len(c.LineItems)),
			CreatedAt: w.now(), // first seen (kept on later updates), on the worker's clock
		}
		for _, li := range c.LineItems {
			sc.Items = append(sc.Items, store.CheckoutItem{Title: firstNonEmpty(li.Title, li.Name), Quantity: li.Quantity, Price: li.Price})
		}
		if cust != nil {
			sc.CustomerID = &cust.ID
		}
		if err := tx.UpsertCheckout(ctx, sc); err != nil {
			return err
		}
		if cust == nil || sc.CompletedAt != nil || sc.OrderID != nil || sc.AbandonedURL == "" {
			return nil
		}
		if o, err := tx.OrderForCheckout(ctx, shop.ID, sc.Token, sc.CartToken); err == nil {
			_, err := tx.CompleteCheckouts(ctx, shop.ID, sc.Token, sc.CartToken, o.ID, w.now())
			return err
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := w.now()
		for _, kind := range cartKinds {
			if k, _ := templates.Lookup(kind); k.OffByDefault && !shop.Settings.JourneyEnabled(kind) {
				continue // opt-in journeys leave no trace until switched on
			}
			key, at := CartReminderKey(kind, shop.ID, sc.Token, cust.ID), now.Add(w.delay(shop, kind))
			m, err := w.plan(ctx, tx, shop, cust, kind, "checkout", sc.ID, key, at)
			if err == nil && m == nil {
				m, err = w.postpone(ctx, tx, key, at)
			}
			if err != nil {
				return err
			}
			if m != nil {
				planned = append(planned, m)
			}
		}
		return nil
	})
	return planned, err
}

// postpone moves a still-queued message to at when that is later: a cart
// reminder counts from the shopper's last checkout activity. It returns the
// message to enqueue (its new time gets a task of its own), or nil.
func (w *Worker) postpone(ctx context.Context, tx *store.DB, key string, at time.Time) (*store.Message, error) {
	m, err := tx.MessageByKey(ctx, key)
	if err != nil || m.Status != store.MsgQueued || !m.ScheduledFor.Before(at) {
		return nil, err
	}
	expires := core.MessageDeadline(m.Kind, at).UTC()
	moved, err := tx.TransitionMessage(ctx, m.ID, []string{store.MsgQueued}, store.MsgQueued, map[string]any{"scheduled_for": at.UTC(), "expires_at": expires})
	if err != nil || !moved {
		return nil, err
	}
	m.ScheduledFor, m.ExpiresAt = at.UTC(), &expires
	return m, nil
}

// journeyStillTrue re-checks, at send time, the facts a journey message
// depends on; it returns the reason to skip it, or "".
func (w *Worker) journeyStillTrue(ctx context.Context, shop *store.Shop, m *store.Message) (string, error) {
	switch m.RefType {
	case "order":
		o, err := w.DB.Order(ctx, shop.ID, m.RefID)
		if errors.Is(err, store.ErrNotFound) {
			return ReasonOrderVoid, nil
		}
		if err != nil {
			return "", err
		}
		if o.Void() {
			return ReasonOrderVoid, nil
		}
		if isFollowUp(m.Kind) && shop.Settings.RestartsFollowUps() {
			newer, err := w.DB.NewerOrderExists(ctx, o)
			if err != nil || newer {
				return ReasonNewerOrder, err
			}
		}
	case "checkout":
		c, err := w.DB.Checkout(ctx, shop.ID, m.RefID)
		if errors.Is(err, store.ErrNotFound) {
			return ReasonOrderPlaced, nil
		}
		if err != nil {
			return "", err
		}
		if c.CompletedAt != nil || c.OrderID != nil {
			return ReasonOrderPlaced, nil
		}
		if _, err := w.DB.OrderForCheckout(ctx, shop.ID, c.Token, c.CartToken); err == nil {
			return ReasonOrderPlaced, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		if c.CustomerID != nil {
			// An order without tokens: the same customer ordering around or
			// after this cart. A shared item settles it; otherwise unsure,
			// and a reminder after an order is worse than none.
			orders, err := w.DB.CustomerOrdersSince(ctx, shop.ID, *c.CustomerID, c.CreatedAt.Add(-core.CheckoutOrderWindow))
			if err != nil {
				return "", err
			}
			reason := ""
			for i := range orders {
				switch core.MatchCheckoutOrder(checkoutTitles(c), orderTitles(&orders[i])) {
				case core.MatchOrdered:
					return ReasonOrderPlaced, nil
				case core.MatchUnsure:
					reason = core.ReasonRecentOrder
				}
			}
			if reason != "" {
				return reason, nil
			}
		}
		// Nothing stored matches the cart, but an order webhook may be late
		// or lost: ask Shopify before sending.
		return w.orderAtShopify(ctx, shop, c)
	case "pixel_event":
		return w.browseStillTrue(ctx, shop, m)
	case "fulfillment":
		f, err := w.DB.Fulfillment(ctx, shop.ID, m.RefID)
		if errors.Is(err, store.ErrNotFound) {
			return ReasonFulfillmentCancelled, nil
		}
		if err != nil {
			return "", err
		}
		if fulfillmentVoid(f.Status) {
			return ReasonFulfillmentCancelled, nil
		}
		if f.OrderID != nil {
			o, err := w.DB.Order(ctx, shop.ID, *f.OrderID)
			if err == nil && o.Void() {
				return ReasonOrderVoid, nil
			}
		}
	}
	return "", nil
}

func isFollowUp(kind string) bool {
	return kind == KindFollowUp3 || kind == KindFollowUp7 || kind == KindFollowUp30
}

// journeyData adds what a journey message shows beyond the order: the
// tracking of a fulfillment, the abandoned checkout, and tracked links.
func (w *Worker) journeyData(ctx context.Context, shop *store.Shop, m *store.Message, d *templates.Data) error {
	d.Kind = m.Kind
	switch m.RefType {
	case "fulfillment":
		f, err := w.DB.Fulfillment(ctx, shop.ID, m.RefID)
		if err != nil {
			return err
		}
		d.Tracking = &templates.Tracking{Company: f.TrackingCompany, Number: f.TrackingNumber, URL: f.TrackingURL}
		if f.OrderID != nil {
			o, err := w.DB.Order(ctx, shop.ID, *f.OrderID)
			if err != nil {
				return err
			}
			d.Order, d.OrderStatusURL = templateOrder(o), firstNonEmpty(o.OrderStatusURL, d.ShopURL)
		}
	case "pixel_event":
		if err := w.browseData(ctx, shop, m, d); err != nil {
			return err
		}
	case "checkout":
		c, err := w.DB.Checkout(ctx, shop.ID, m.RefID)
		if err != nil {
			return err
		}
		d.Checkout = &templates.Checkout{URL: c.AbandonedURL, TotalPrice: c.TotalPrice, Currency: firstNonEmpty(c.Currency, shop.Currency)}
		for _, it := range c.Items {
			d.Checkout.Items = append(d.Checkout.Items, templates.Item{Title: it.Title, Quantity: it.Quantity, Price: it.Price, ImageURL: it.ImageURL})
		}
	}
	if m.Kind == KindFollowUp30 && m.CustomerID != nil {
		// The reorder nudge reminds of a coupon the customer still holds.
		c, err := w.DB.ActiveCoupon(ctx, *m.CustomerID, w.now())
		switch {
		case err == nil && c.ExpiresAt != nil:
			d.Coupon = &templates.Coupon{Code: c.Code, ExpiresAt: *c.ExpiresAt}
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	if m.Kind == KindBirthday {
		if code := shop.Settings.Automations.BirthdayCoupon; code != "" {
			d.Coupon = &templates.Coupon{Code: code}
		} else {
			d.Coupon = nil
		}
	}
	*d = d.WithTracker(func(target string) string { return w.trackedURL(m, target) })
	return nil
}

func templateOrder(o *store.Order) *templates.Order {
	t := &templates.Order{Name: o.Name, TotalPrice: o.TotalPrice, SubtotalPrice: o.SubtotalPrice, Currency: o.Currency, OrderedAt: o.OrderedAt}
	for _, it := range o.Items {
		t.Items = append(t.Items, templates.Item{Title: it.Title, Quantity: it.Quantity, Price: it.Price})
	}
	return t
}

func (w *Worker) trackedURL(m *store.Message, target string) string {
	if w.Signer == nil || w.BaseURL == "" {
		return core.WithUTM(target, m.Kind)
	}
	return w.BaseURL + "/c/" + core.ClickToken(w.Signer, core.Click{MessageID: m.ID, Kind: m.Kind, Target: target}, w.now())
}

// RetryDelay is the Asynq retry delay: LINE's Retry-After when it gave one,
// otherwise exponential backoff (2s, 4s, 8s, … capped at 10 min), each with
// up to 50% random jitter so a burst of failures does not retry in lockstep.
func RetryDelay(n int, err error, _ *asynq.Task) time.Duration {
	base := retryBackoff(n)
	if d, ok := retryAfter(err); ok && d > base {
		base = d
	}
	return base + time.Duration(rand.Int64N(int64(base)/2+1))
}

func retryBackoff(n int) time.Duration {
	if n > 9 {
		n = 9
	}
	if n < 0 {
		n = 0
	}
	d := time.Duration(2<<n) * time.Second
	return min(d, 10*time.Minute)
}

// orderAtShopify asks Shopify's Admin API for orders of the checkout's
// customer since the cart began (less the matching window) and returns
// ReasonOrderAtShopify if there is one that is not cancelled. Without
// Shopify credentials, a customer or a usable token it cannot ask, and the
// reminder goes as before; a failed call is retried (the reminder waits).
func (w *Worker) orderAtShopify(ctx context.Context, shop *store.Shop, c *store.Checkout) (string, error) {
	if c.CustomerID == nil || w.Shopify == nil {
		return "", nil
	}
	cust, err := w.DB.Customer(ctx, shop.ID, *c.CustomerID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if cust.ShopifyID <= 0 {
		return "", nil
	}
	ad, err := w.shopAdmin(shop)
	var wait errWaitReauth
	if errors.As(err, &wait) {
		w.log().InfoContext(ctx, "cart reminder not re-checked with Shopify: the shop must authorise again", "shop_id", shop.ID)
		return "", nil
	}
	if err != nil || ad == nil {
		return "", err
	}
	orders, err := ad.CustomerOrdersSince(ctx, cust.ShopifyID, c.CreatedAt.Add(-core.CheckoutOrderWindow))
	if err != nil {
		return "", fmt.Errorf("re-checking checkout %d with Shopify: %w", c.ID, err)
	}
	for _, o := range orders {
		if o.CancelledAt == nil {
			return ReasonOrderAtShopify, nil
		}
	}
	return "", nil
}
