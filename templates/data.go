package templates

import (
	"time"

	"github.com/shopspring/decimal"
)

// Data is everything a message template may use. Merchants' templates are
// written against these names, so renaming one breaks saved templates.
type Data struct {
	Lang           string
	ShopName       string
	ShopURL        string
	CustomerName   string
	Order          *Order
	OrderStatusURL string
	Tracking       *Tracking
	Checkout       *Checkout
	Coupon         *Coupon
	// Product is the product a browse-abandonment message is about.
	Product *Product
	LinkURL string
	// Kind is the message kind being rendered (thank_you, shipping, ...).
	Kind string

	tracker func(target string) string
}

// WithTracker returns d whose Track wraps links with fn (click tracking).
func (d Data) WithTracker(fn func(target string) string) Data {
	d.tracker = fn
	return d
}

// Track returns the click-tracked form of target: templates write
// {{json (.Track .OrderStatusURL)}} so every link is counted. Without a
// tracker (previews, validation) it returns target unchanged.
func (d Data) Track(target string) string {
	if d.tracker == nil || target == "" {
		return target
	}
	return d.tracker(target)
}

// Order is an order as templates see it.
type Order struct {
	Name          string
	TotalPrice    decimal.Decimal
	SubtotalPrice decimal.Decimal
	Currency      string
	Items         []Item
	OrderedAt     time.Time
}

// Item is an order or checkout line.
type Item struct {
	Title    string
	Quantity int
	Price    decimal.Decimal
	ImageURL string
}

// Product is a product the customer looked at on the storefront.
type Product struct {
	Title    string
	URL      string
	ImageURL string
	Price    decimal.Decimal
	Currency string
}

// Tracking is a shipment's tracking information.
type Tracking struct {
	Company string
	Number  string
	URL     string
}

// Checkout is an abandoned checkout.
type Checkout struct {
	URL        string
	TotalPrice decimal.Decimal
	Currency   string
	Items      []Item
}

// Coupon is a discount code given to the customer.
type Coupon struct {
	Code      string
	Title     string
	ExpiresAt time.Time
	// Value is the discount for display: "10%OFF", "¥500 OFF".
	Value string
}
