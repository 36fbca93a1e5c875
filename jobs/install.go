package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
)

// applyCustomer upserts a customer from customers/create|update: the
// profile fields the payload carries (an absent key leaves the stored value
// alone), region and, when the merchant keeps one in a metafield, the
// birthday. Tags and consent come from their own topics since API 2025-01;
// a payload of an older version that still carries them is applied with
// the same ordering rules. A redacted customer is never refilled.
func (w *Worker) applyCustomer(ctx context.Context, shop *store.Shop, c *shopify.Customer) error {
	if c.ID <= 0 {
		return fmt.Errorf("%w: customer without id", errInvalidPayload)
	}
	p := store.CustomerProfile{ShopID: shop.ID, ShopifyID: c.ID}
	field := func(key, v string) *string {
		if !c.Has(key) {
			return nil
		}
		v = strings.TrimSpace(v)
		return &v
	}
	p.Email, p.FirstName, p.LastName = field("email", c.Email), field("first_name", c.FirstName), field("last_name", c.LastName)
	p.Phone, p.Locale = field("phone", c.Phone), field("locale", c.Locale)
	if c.Has("default_address") || c.Has("addresses") {
		r, ctry := c.Region()
		p.Region, p.Country = &r, &ctry
	}
	var updatedAt *time.Time
	if c.UpdatedAt != nil {
		t := c.UpdatedAt.UTC()
		updatedAt = &t
	}
	return w.DB.Tx(ctx, func(tx *store.DB) error {
		// Shopify does not promise order: an older update must not undo a newer one.
		old, err := tx.CustomerByShopifyID(ctx, shop.ID, c.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil && old.ShopifyUpdatedAt != nil && updatedAt != nil && updatedAt.Before(*old.ShopifyUpdatedAt) {
			return errIgnore{"older than the customer already stored"}
		}
		sc, err := tx.UpsertCustomerProfile(ctx, p)
		if err != nil {
			return err
		}
		at := w.now()
		if updatedAt != nil {
			at = *updatedAt
		}
		if c.Has("tags") { // API versions before 2025-01 only
			if err := tx.SetCustomerTags(ctx, sc.ID, c.TagList(), at); err != nil {
				return err
			}
		}
		if accepts, ok := c.AcceptsEmailMarketing(); ok { // likewise
			state := "not_subscribed"
			if accepts {
				state = "subscribed"
			}
			when := at
			if c.EmailMarketing != nil && c.EmailMarketing.ConsentUpdatedAt != nil {
				when = *c.EmailMarketing.ConsentUpdatedAt
			}
			if err := tx.SetMarketingConsent(ctx, sc.ID, store.ConsentEmail, state, when); err != nil && !errors.Is(err, store.ErrStaleConsent) {
				return err
			}
		}
		// Only a present metafield sets the birthday: order payloads carry none.
		return tx.SetCustomerFromWebhook(ctx, sc.ID, c.Birthday(), updatedAt)
	})
}

// withLiveCustomer runs fn in a transaction on the shop's customer with
// Shopify id (created bare if new), unless that customer was redacted.
func (w *Worker) withLiveCustomer(ctx context.Context, shop *store.Shop, id int64, fn func(tx *store.DB, c *store.Customer) error) error {
	return w.DB.Tx(ctx, func(tx *store.DB) error {
		c, err := tx.UpsertCustomerProfile(ctx, store.CustomerProfile{ShopID: shop.ID, ShopifyID: id})
		if err != nil {
			return err
		}
		if c.RedactedAt != nil {
			return errIgnore{"customer redacted"}
		}
		return fn(tx, c)
	})
}

// applyCustomerTags applies customer.tags_added / customer.tags_removed:
// the listed tags change at occurredAt; per tag the latest change wins,
// so deliveries may come in any order and twice.
func (w *Worker) applyCustomerTags(ctx context.Context, shop *store.Shop, ev *store.Event, add bool) error {
	var p shopify.CustomerTags
	if err := decode(ev.Payload, &p); err != nil {
		return err
	}
	id, err := p.CustomerID()
	if err != nil || id <= 0 {
		return fmt.Errorf("%w: customerId %q", errInvalidPayload, p.CustomerGID)
	}
	at := ev.ReceivedAt
	if p.OccurredAt != nil {
		at = *p.OccurredAt
	}
	return w.withLiveCustomer(ctx, shop, id, func(tx *store.DB, c *store.Customer) error {
		changed, err := tx.ApplyCustomerTags(ctx, c.ID, p.Tags, add, at)
		if err == nil && !changed {
			return errIgnore{"no tag changed (a redelivery, or older than the stored change)"}
		}
		return err
	})
}

// applyConsent applies customers_email_marketing_consent/update and
// customers_marketing_consent/update (SMS): the state at its
// consent_updated_at (else when the delivery arrived); an older update
// than the stored one changes nothing.
func (w *Worker) applyConsent(ctx context.Context, shop *store.Shop, ev *store.Event) error {
	var (
		id      int64
		channel string
		consent *shopify.Consent
	)
	switch ev.Topic {
	case shopify.TopicEmailConsentUpdate:
		var p shopify.EmailConsentUpdate
		if err := decode(ev.Payload, &p); err != nil {
			return err
		}
		id, channel, consent = p.CustomerID, store.ConsentEmail, p.Consent
	default:
		var p shopify.SMSConsentUpdate
		if err := decode(ev.Payload, &p); err != nil {
			return err
		}
		id, channel, consent = p.ID, store.ConsentSMS, p.Consent
	}
	if id <= 0 || consent == nil {
		return fmt.Errorf("%w: consent update without customer id or consent", errInvalidPayload)
	}
	at := ev.ReceivedAt
	if consent.ConsentUpdatedAt != nil {
		at = *consent.ConsentUpdatedAt
	}
	return w.withLiveCustomer(ctx, shop, id, func(tx *store.DB, c *store.Customer) error {
		err := tx.SetMarketingConsent(ctx, c.ID, channel, consent.State, at)
		if errors.Is(err, store.ErrStaleConsent) {
			return errIgnore{err.Error()}
		}
		return err
	})
}

// shopUninstalled handles app/uninstalled: the token is dropped, queued
// messages are skipped and the send gate refuses any later one; the data
// stays until shop/redact, so a reinstall picks up where it left off.
func (w *Worker) shopUninstalled(ctx context.Context, shop *store.Shop, ev *store.Event) error {
	if shop.InstalledAt != nil && shop.InstalledAt.After(ev.ReceivedAt) {
		return errIgnore{"reinstalled after this uninstall"}
	}
	if shop.UninstalledAt != nil {
		return errIgnore{"already uninstalled"}
	}
	if err := w.DB.MarkShopUninstalled(ctx, shop.ID, w.now()); err != nil {
		return fmt.Errorf("marking shop %s uninstalled: %w", shop.Domain, err)
	}
	n, err := w.DB.SkipQueuedMessages(ctx, shop.ID, ReasonShopUninstalled)
	if err != nil {
		return err
	}
	w.log().InfoContext(ctx, "shop uninstalled", "shop", shop.Domain, "messages_skipped", n)
	return nil
}

// customersDataRequest handles customers/data_request: everything held on
// the customer is gathered into one JSON document, recorded on the
// customer's timeline (activity gdpr_data_request) for the merchant to send.
func (w *Worker) customersDataRequest(ctx context.Context, shop *store.Shop, ev *store.Event) error {
	var req shopify.CustomersDataRequest
	if err := decode(ev.Payload, &req); err != nil {
		return err
	}
	act := &store.Activity{ShopID: shop.ID, Kind: store.ActGDPRDataRequest, RefType: "event", RefID: ev.ID, OccurredAt: w.now()}
	doc := map[string]any{
		"data_request_id": req.DataRequest.ID, "shopify_customer_id": req.Customer.ID,
		"orders_requested": req.OrdersRequested, "generated_at": w.now(),
	}
	cust, err := w.DB.CustomerByShopifyID(ctx, shop.ID, req.Customer.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		doc["data"] = nil
		act.Summary = fmt.Sprintf("Data request %d: Tsunagu holds no data on this customer", req.DataRequest.ID)
	case err != nil:
		return err
	default:
		x, err := w.DB.ExportCustomer(ctx, shop.ID, cust.ID)
		if err != nil {
			return err
		}
		// Guest orders named in the request that are not linked to the customer.
		for _, id := range req.OrdersRequested {
			if slices.ContainsFunc(x.Orders, func(o store.Order) bool { return o.ShopifyID == id }) {
				continue
			}
			if o, err := w.DB.OrderByShopifyID(ctx, shop.ID, id); err == nil {
				x.Orders = append(x.Orders, *o)
			}
		}
		doc["data"] = x
		act.CustomerID = &cust.ID
		act.Summary = fmt.Sprintf("Data request %d: export of %d orders, %d messages, %d LINE links, %d coupons, %d activities",
			req.DataRequest.ID, len(x.Orders), len(x.Messages), len(x.LineLinks), len(x.Coupons), len(x.Activities))
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encoding data export: %w", err)
	}
	act.Data = string(b)
	return w.DB.AddActivity(ctx, act)
}

// customersRedact handles customers/redact: the customer's personal data,
// LINE link and message contents are erased, stored webhook bodies naming
// them are scrubbed, and anonymous rows stay so counts remain right.
func (w *Worker) customersRedact(ctx context.Context, shop *store.Shop, ev *store.Event) error {
	var req shopify.CustomersRedact
	if err := decode(ev.Payload, &req); err != nil {
		return err
	}
	now := w.now()
	match := eventMatch{customerID: req.Customer.ID, orders: map[int64]bool{}}
	for _, id := range req.OrdersToRedact {
		match.orders[id] = true
	}
	if req.Customer.Email != "" {
		match.emails = append(match.emails, strings.ToLower(req.Customer.Email))
	}
	act := &store.Activity{ShopID: shop.ID, Kind: store.ActGDPRRedact, RefType: "event", RefID: ev.ID, OccurredAt: now}
	res := store.RedactResult{}
	cust, err := w.DB.CustomerByShopifyID(ctx, shop.ID, req.Customer.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		cust = nil
	case err != nil:
		return err
	}
	if cust != nil {
		x, err := w.DB.ExportCustomer(ctx, shop.ID, cust.ID)
		if err != nil {
			return err
		}
		if cust.Email != "" {
			match.emails = append(match.emails, strings.ToLower(cust.Email))
		}
		for _, o := range x.Orders {
			match.orders[o.ShopifyID] = true
		}
		if res, err = w.DB.RedactCustomer(ctx, shop.ID, cust.ID, ReasonRedacted, now); err != nil {
			return err
		}
		act.CustomerID = &cust.ID
	}
	guest, err := w.DB.RedactOrdersByShopifyID(ctx, shop.ID, req.OrdersToRedact, now)
	if err != nil {
		return err
	}
	scrubbed, err := w.scrubEvents(ctx, shop, match)
	if err != nil {
		return err
	}
	// The record keeps counts only: no name, email or LINE id.
	b, _ := json.Marshal(map[string]any{"redacted": res, "orders_named": len(req.OrdersToRedact), "orders_updated": guest, "events_scrubbed": scrubbed})
	act.Summary = "Customer data erased on request (customers/redact)"
	act.Data = string(b)
	return w.DB.AddActivity(ctx, act)
}

// eventMatch says which stored webhook bodies are about one customer.
type eventMatch struct {
	customerID int64
	emails     []string
	orders     map[int64]bool
}

// about reports whether a webhook body names the customer: by customer id,
// email, or one of their orders.
func (m eventMatch) about(topic string, payload []byte) bool {
	var p struct {
		ID       json.Number `json:"id"`
		OrderID  json.Number `json:"order_id"`
		Email    string      `json:"email"`
		Customer *struct {
			ID    json.Number `json:"id"`
			Email string      `json:"email"`
		} `json:"customer"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return false
	}
	num := func(n json.Number) int64 { v, _ := n.Int64(); return v }
	if p.Customer != nil && (num(p.Customer.ID) == m.customerID || m.hasEmail(p.Customer.Email)) {
		return true
	}
	if m.hasEmail(p.Email) {
		return true
	}
	switch {
	case strings.HasPrefix(topic, "customers/"):
		return num(p.ID) == m.customerID
	case strings.HasPrefix(topic, "orders/"):
		return m.orders[num(p.ID)]
	case strings.HasPrefix(topic, "fulfillments/"):
		return m.orders[num(p.OrderID)]
	}
	return false
}

func (m eventMatch) hasEmail(e string) bool {
	return e != "" && slices.Contains(m.emails, strings.ToLower(strings.TrimSpace(e)))
}

// scrubEvents replaces the stored bodies of the shop's webhooks that name
// the customer; the rows stay (they are the idempotency keys).
func (w *Worker) scrubEvents(ctx context.Context, shop *store.Shop, m eventMatch) (int, error) {
	n := 0
	redacted, _ := json.Marshal(map[string]any{"redacted": true, "customer": map[string]int64{"id": m.customerID}})
	for after := int64(0); ; {
		evs, err := w.DB.ShopEvents(ctx, shop.ID, shop.Domain, after, 500)
		if err != nil {
			return n, err
		}
		for _, e := range evs {
			after = e.ID
			if e.Source != "shopify" || !m.about(e.Topic, e.Payload) {
				continue
			}
			if err := w.DB.ScrubEventPayload(ctx, e.ID, redacted); err != nil {
				return n, err
			}
			n++
		}
		if len(evs) < 500 {
			return n, nil
		}
	}
}

// shopRedact handles shop/redact, which Shopify sends 48 hours after an
// uninstall: every row of the shop is deleted. A shop that is installed
// again is left alone (the request no longer applies).
func (w *Worker) shopRedact(ctx context.Context, shop *store.Shop, ev *store.Event) error {
	if shop.UninstalledAt == nil {
		return errIgnore{"shop is installed; shop/redact applies only after an uninstall"}
	}
	if err := w.DB.DeleteShopData(ctx, shop.ID, shop.Domain, ev.ID); err != nil {
		return err
	}
	w.log().InfoContext(ctx, "shop data erased", "shop", shop.Domain)
	return nil
}
