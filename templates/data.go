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
	LinkURL        string
}

// Order is an order as templates see it.
type Order struct {
	Name       string
	TotalPrice decimal.Decimal
	Currency   string
	Items      []Item
	OrderedAt  time.Time
}

// Item is an order or checkout line.
type Item struct {
	Title    string
	Quantity int
	Price    decimal.Decimal
	ImageURL string
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
}
