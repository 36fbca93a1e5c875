package jobs

import (
	"context"
	"fmt"
	"strings"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
)

// Message kinds.
const (
	KindThankYou = "thank_you"
)

func transactional(kind string) bool {
	for _, k := range transactionalKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// upsertCustomer stores the customer embedded in an order or checkout. The
// copy is partial and can be older than what customers/update, the tags
// and consent topics or the history import stored, so it only fills
// profile fields that are still empty and never touches tags or consent
// (which 2025-01+ payloads do not carry anyway): missing is not empty.
func (w *Worker) upsertCustomer(ctx context.Context, db *store.DB, shop *store.Shop, c *shopify.Customer) (*store.Customer, error) {
	if c == nil || c.ID <= 0 {
		return nil, nil
	}
	p := store.CustomerProfile{ShopID: shop.ID, ShopifyID: c.ID, FillOnly: true}
	nonEmpty := func(s string) *string {
		if s = strings.TrimSpace(s); s == "" {
			return nil
		}
		return &s
	}
	p.Email, p.FirstName, p.LastName = nonEmpty(c.Email), nonEmpty(c.FirstName), nonEmpty(c.LastName)
	p.Phone, p.Locale = nonEmpty(c.Phone), nonEmpty(c.Locale)
	if a := c.DefaultAddress; a != nil {
		p.Region, p.Country = nonEmpty(firstNonEmpty(a.ProvinceCode, a.Province)), nonEmpty(a.CountryCode)
	}
	return db.UpsertCustomerProfile(ctx, p)
}

// applyOrder stores the order and its customer and plans what the order triggers.
func (w *Worker) applyOrder(ctx context.Context, shop *store.Shop, topic string, o *shopify.Order) ([]*store.Message, error) {
	if o.ID <= 0 {
		return nil, fmt.Errorf("%w: order without a valid id (%d)", errInvalidPayload, o.ID)
	}
	var planned []*store.Message
	err := w.DB.Tx(ctx, func(tx *store.DB) error {
		cust, err := w.upsertCustomer(ctx, tx, shop, o.Customer)
		if err != nil {
			return err
		}
		so := &store.Order{
			ShopID: shop.ID, ShopifyID: o.ID, Name: o.Name, Email: o.Email, Currency: o.Currency,
			TotalPrice: o.TotalPrice, SubtotalPrice: o.SubtotalPrice, FinancialStatus: o.FinancialStatus,
			FulfillmentStatus: o.FulfillmentStatus, CheckoutToken: o.CheckoutToken, CartToken: o.CartToken,
			OrderStatusURL: o.OrderStatusURL, CancelledAt: o.CancelledAt, OrderedAt: w.now(), ShopifyUpdatedAt: o.UpdatedAt,
			Locale: o.CustomerLocale,
			// When Tsunagu first stored it, on the worker's clock: the cart
			// reminder's no-token match compares it with checkouts'.
			CreatedAt: w.now(),
		}
		if o.CreatedAt != nil {
			so.OrderedAt = o.CreatedAt.UTC()
		}
		if so.CancelledAt != nil {
			t := so.CancelledAt.UTC()
			so.CancelledAt = &t
		}
		var codes []string
		for _, d := range o.DiscountCodes {
			codes = append(codes, d.Code)
		}
		so.DiscountCodes = strings.Join(codes, ",")
		lineItems := o.LineItems
		if len(lineItems) > core.MaxOrderItems {
			lineItems = lineItems[:core.MaxOrderItems]
		}
		so.Items = make([]store.OrderItem, 0, len(lineItems))
		for _, li := range lineItems {
			so.Items = append(so.Items, store.OrderItem{ShopifyID: li.ID, ProductID: li.ProductID, VariantID: li.VariantID,
				Title: firstNonEmpty(li.Title, li.Name), Vendor: li.Vendor, SKU: li.SKU, Quantity: li.Quantity, Price: li.Price})
		}
		if cust != nil {
			so.CustomerID = &cust.ID
		}
		// A delivery older than the stored order changes nothing, and what
		// follows works from the stored (newer) truth: a late orders/create
		// after a refund finds the order void and plans no thank-you.
		if _, err := tx.UpsertOrderIfNewer(ctx, so); err != nil {
			return err
		}
		journeys, err := w.afterOrder(ctx, tx, shop, cust, topic, so)
		if err != nil {
			return err
		}
		planned = append(planned, journeys...)
		if cust == nil {
			return nil
		}
		if err := tx.RefreshCustomerStats(ctx, cust.ID); err != nil {
			return err
		}
		if topic == shop.Settings.ThankYouTopic() && !so.Void() {
			m, err := w.plan(ctx, tx, shop, cust, KindThankYou, "order", so.ID, thankYouKey(shop.ID, so.ShopifyID, cust.ID), w.now())
			if err != nil {
				return err
			}
			if m != nil {
				planned = append(planned, m)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return planned, nil
}

func thankYouKey(shopID, shopifyOrderID, customerID int64) string {
	return fmt.Sprintf("%s/s%d/o%d/c%d", KindThankYou, shopID, shopifyOrderID, customerID)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
