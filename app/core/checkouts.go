package core

import (
	"strings"
	"time"
)

// Cart reminders: an order must stop the reminder for the cart it came
// from, even when the order carries no checkout or cart token (Shopify's
// own orders/create example has neither).

// CheckoutOrderWindow is how long before a checkout was first seen an order
// of the same customer may have been stored and still be "the order for
// that cart" (webhooks arrive out of order).
const CheckoutOrderWindow = time.Hour

// ReasonRecentOrder is recorded on a cart reminder skipped because the
// customer ordered since, but not clearly this cart: a reminder after an
// order is worse than none.
const ReasonRecentOrder = "recent_order"

// CheckoutMatch says how an order of the checkout's customer, placed in the
// window, relates to the checkout.
type CheckoutMatch int

// Matches.
const (
	NoMatch      CheckoutMatch = iota
	MatchUnsure                // same customer, same time, other items
	MatchOrdered               // same customer, same time, a shared item
)

// MatchCheckoutOrder compares the items of a checkout and an order of the
// same customer in the window, by normalised title.
func MatchCheckoutOrder(checkoutTitles, orderTitles []string) CheckoutMatch {
	seen := make(map[string]bool, len(checkoutTitles))
	for _, t := range checkoutTitles {
		if k := normTitle(t); k != "" {
			seen[k] = true
		}
	}
	for _, t := range orderTitles {
		if seen[normTitle(t)] {
			return MatchOrdered
		}
	}
	return MatchUnsure
}

func normTitle(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
