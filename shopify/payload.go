package shopify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Webhook topics Tsunagu subscribes to.
const (
	TopicOrdersCreate         = "orders/create"
	TopicOrdersPaid           = "orders/paid"
	TopicOrdersCancelled      = "orders/cancelled"
	TopicOrdersUpdated        = "orders/updated"
	TopicFulfillmentsCreate   = "fulfillments/create"
	TopicFulfillmentsUpdate   = "fulfillments/update"
	TopicCheckoutsCreate      = "checkouts/create"
	TopicCheckoutsUpdate      = "checkouts/update"
	TopicCustomersCreate      = "customers/create"
	TopicCustomersUpdate      = "customers/update"
	TopicAppUninstalled       = "app/uninstalled"
	TopicCustomersDataRequest = "customers/data_request"
	TopicCustomersRedact      = "customers/redact"
	TopicShopRedact           = "shop/redact"
	TopicCartsCreate          = "carts/create"
	TopicCartsUpdate          = "carts/update"

	// Since API 2025-01 customer payloads carry neither tags nor marketing
	// consent; these topics do (names as Shopify's webhook reference and
	// the X-Shopify-Topic header spell them).
	TopicCustomerTagsAdded   = "customer.tags_added"
	TopicCustomerTagsRemoved = "customer.tags_removed"
	TopicEmailConsentUpdate  = "customers_email_marketing_consent/update"
	TopicSMSConsentUpdate    = "customers_marketing_consent/update"

	// TopicBulkOperationsFinish tells that a bulk operation completed,
	// failed or was cancelled (the history import waits for it).
	TopicBulkOperationsFinish = "bulk_operations/finish"
)

// Topics is every topic registered on install, in a stable order.
var Topics = []string{
	TopicOrdersCreate, TopicOrdersPaid, TopicOrdersCancelled, TopicOrdersUpdated,
	TopicFulfillmentsCreate, TopicFulfillmentsUpdate,
	TopicCheckoutsCreate, TopicCheckoutsUpdate,
	TopicCustomersCreate, TopicCustomersUpdate,
	TopicCustomerTagsAdded, TopicCustomerTagsRemoved,
	TopicEmailConsentUpdate, TopicSMSConsentUpdate,
	TopicBulkOperationsFinish,
	TopicAppUninstalled,
}

// ComplianceTopics are the mandatory GDPR topics; Shopify configures them in
// the app's settings (TOML), not through the subscription API.
var ComplianceTopics = []string{TopicCustomersDataRequest, TopicCustomersRedact, TopicShopRedact}

// Money is an amount as Shopify sends it: a decimal string.
type Money = decimal.Decimal

// Address is a postal address on a customer or an order.
type Address struct {
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	Address1     string `json:"address1"`
	Address2     string `json:"address2"`
	City         string `json:"city"`
	Province     string `json:"province"`
	ProvinceCode string `json:"province_code"`
	Country      string `json:"country"`
	CountryCode  string `json:"country_code"`
	Zip          string `json:"zip"`
	Phone        string `json:"phone"`
	Name         string `json:"name"`
	Company      string `json:"company"`
}

// Customer is the customer resource (customers/create|update, or embedded in an order).
type Customer struct {
	ID               int64       `json:"id"`
	Email            string      `json:"email"`
	FirstName        string      `json:"first_name"`
	LastName         string      `json:"last_name"`
	Phone            string      `json:"phone"`
	Tags             string      `json:"tags"`
	State            string      `json:"state"`
	Currency         string      `json:"currency"`
	Locale           string      `json:"locale"`
	CreatedAt        *time.Time  `json:"created_at"`
	UpdatedAt        *time.Time  `json:"updated_at"`
	DefaultAddress   *Address    `json:"default_address"`
	Addresses        []Address   `json:"addresses"`
	Metafields       []Metafield `json:"metafields"` // only the namespaces the subscription asked for
	EmailMarketing   *Consent    `json:"email_marketing_consent"`
	AcceptsMarketing *bool       `json:"accepts_marketing"`
	SMSMarketing     *Consent    `json:"sms_marketing_consent"`
	Note             string      `json:"note"`
	// present holds the top-level keys the payload carried: a key that is
	// absent says nothing, a key with "" or null says "now empty".
	present           map[string]bool
	VerifiedEmail     bool   `json:"verified_email"`
	OrdersCount       int64  `json:"orders_count"` // older API versions only
	TotalSpent        Money  `json:"total_spent"`  // older API versions only
	LastOrderID       int64  `json:"last_order_id"`
	AdminGraphQLAPIID string `json:"admin_graphql_api_id"`
}

// Consent is Shopify's marketing consent object (email or SMS).
type Consent struct {
	State            string     `json:"state"` // subscribed, not_subscribed, unsubscribed, pending, redacted, invalid
	OptInLevel       string     `json:"opt_in_level"`
	ConsentUpdatedAt *time.Time `json:"consent_updated_at"`
	CollectedFrom    string     `json:"consent_collected_from"` // SMS only
}

// Subscribed reports whether the state allows marketing.
func (c *Consent) Subscribed() bool { return c != nil && strings.EqualFold(c.State, "subscribed") }

func (c *Consent) UnmarshalJSON(b []byte) error {
	type plain Consent
	return decodeLenient(b, (*plain)(c))
}

// Has reports whether the payload carried key at its top level (decoded
// payloads only; a Customer built in code has every key).
func (c Customer) Has(key string) bool {
	if c.present == nil {
		return true
	}
	return c.present[key]
}

// CustomerTags is the customer.tags_added / customer.tags_removed body:
// the tags that changed, not the full list.
type CustomerTags struct {
	CustomerGID string     `json:"customerId"` // gid://shopify/Customer/<id>
	Tags        []string   `json:"tags"`
	OccurredAt  *time.Time `json:"occurredAt"`
}

// CustomerID is the numeric id in CustomerGID.
func (t CustomerTags) CustomerID() (int64, error) {
	typ, id, err := ParseGID(t.CustomerGID)
	if err != nil {
		return 0, err
	}
	if typ != "Customer" {
		return 0, fmt.Errorf("shopify: %q is not a customer", t.CustomerGID)
	}
	return id, nil
}

// EmailConsentUpdate is the customers_email_marketing_consent/update body.
type EmailConsentUpdate struct {
	CustomerID   int64    `json:"customer_id"`
	EmailAddress string   `json:"email_address"`
	Consent      *Consent `json:"email_marketing_consent"`
}

// SMSConsentUpdate is the customers_marketing_consent/update body (SMS).
type SMSConsentUpdate struct {
	ID      int64    `json:"id"`
	Phone   string   `json:"phone"`
	Consent *Consent `json:"sms_marketing_consent"`
}

// BulkOperationFinish is the bulk_operations/finish body.
type BulkOperationFinish struct {
	AdminGraphQLAPIID string     `json:"admin_graphql_api_id"` // gid://shopify/BulkOperation/<id>
	CompletedAt       *time.Time `json:"completed_at"`
	CreatedAt         *time.Time `json:"created_at"`
	ErrorCode         string     `json:"error_code"`
	Status            string     `json:"status"` // completed, failed, canceled...
	Type              string     `json:"type"`   // query or mutation
}

func (f *BulkOperationFinish) UnmarshalJSON(b []byte) error {
	type plain BulkOperationFinish
	return decodeLenient(b, (*plain)(f))
}

func (t *CustomerTags) UnmarshalJSON(b []byte) error {
	type plain CustomerTags
	return decodeLenient(b, (*plain)(t))
}
func (u *EmailConsentUpdate) UnmarshalJSON(b []byte) error {
	type plain EmailConsentUpdate
	return decodeLenient(b, (*plain)(u))
}
func (u *SMSConsentUpdate) UnmarshalJSON(b []byte) error {
	type plain SMSConsentUpdate
	return decodeLenient(b, (*plain)(u))
}

// Name is the customer's display name.
func (c Customer) Name() string {
	return strings.TrimSpace(c.FirstName + " " + c.LastName)
}

// TagList splits Shopify's comma-separated tags.
func (c Customer) TagList() []string { return SplitTags(c.Tags) }

// SplitTags splits a comma-separated tag string, trimming blanks.
func SplitTags(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// LineItem is one line of an order or checkout.
type LineItem struct {
	ID        int64  `json:"id"`
	ProductID int64  `json:"product_id"`
	VariantID int64  `json:"variant_id"`
	Title     string `json:"title"`
	Name      string `json:"name"`
	Vendor    string `json:"vendor"`
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
	Price     Money  `json:"price"`
}

// DiscountCode is a code applied to an order.
type DiscountCode struct {
	Code   string `json:"code"`
	Amount Money  `json:"amount"`
	Type   string `json:"type"`
}

// Order is the order resource as sent by the orders/* webhooks.
type Order struct {
	ID                int64          `json:"id"`
	Name              string         `json:"name"`
	OrderNumber       int64          `json:"order_number"`
	Email             string         `json:"email"`
	Phone             string         `json:"phone"`
	Currency          string         `json:"currency"`
	TotalPrice        Money          `json:"total_price"`
	SubtotalPrice     Money          `json:"subtotal_price"`
	FinancialStatus   string         `json:"financial_status"`
	FulfillmentStatus string         `json:"fulfillment_status"`
	CancelledAt       *time.Time     `json:"cancelled_at"`
	CancelReason      string         `json:"cancel_reason"`
	CreatedAt         *time.Time     `json:"created_at"`
	UpdatedAt         *time.Time     `json:"updated_at"`
	ProcessedAt       *time.Time     `json:"processed_at"`
	CheckoutToken     string         `json:"checkout_token"`
	CartToken         string         `json:"cart_token"`
	OrderStatusURL    string         `json:"order_status_url"`
	CustomerLocale    string         `json:"customer_locale"`
	Tags              string         `json:"tags"`
	Test              bool           `json:"test"`
	ContactEmail      string         `json:"contact_email"`
	AdminGraphQLAPIID string         `json:"admin_graphql_api_id"`
	Customer          *Customer      `json:"customer"`
	LineItems         []LineItem     `json:"line_items"`
	DiscountCodes     []DiscountCode `json:"discount_codes"`
	ShippingAddress   *Address       `json:"shipping_address"`
	BillingAddress    *Address       `json:"billing_address"`
}

// Fulfillment is the fulfillment resource (fulfillments/create|update).
type Fulfillment struct {
	ID                int64      `json:"id"`
	OrderID           int64      `json:"order_id"`
	Name              string     `json:"name"`
	Status            string     `json:"status"`
	ShipmentStatus    string     `json:"shipment_status"`
	TrackingCompany   string     `json:"tracking_company"`
	TrackingNumber    string     `json:"tracking_number"`
	TrackingNumbers   []string   `json:"tracking_numbers"`
	TrackingURL       string     `json:"tracking_url"`
	TrackingURLs      []string   `json:"tracking_urls"`
	Email             string     `json:"email"`
	CreatedAt         *time.Time `json:"created_at"`
	UpdatedAt         *time.Time `json:"updated_at"`
	LineItems         []LineItem `json:"line_items"`
	AdminGraphQLAPIID string     `json:"admin_graphql_api_id"`
}

// Tracking returns the first tracking number and URL, whichever fields carry them.
func (f Fulfillment) Tracking() (number, url string) {
	number, url = f.TrackingNumber, f.TrackingURL
	if number == "" && len(f.TrackingNumbers) > 0 {
		number = f.TrackingNumbers[0]
	}
	if url == "" && len(f.TrackingURLs) > 0 {
		url = f.TrackingURLs[0]
	}
	return number, url
}

// Checkout is the checkout resource (checkouts/create|update).
type Checkout struct {
	ID                   int64      `json:"id"` // absent from recent examples; Token is the key
	Token                string     `json:"token"`
	Name                 string     `json:"name"`
	CartToken            string     `json:"cart_token"`
	Email                string     `json:"email"`
	Phone                string     `json:"phone"`
	Currency             string     `json:"currency"`
	TotalPrice           Money      `json:"total_price"`
	SubtotalPrice        Money      `json:"subtotal_price"`
	AbandonedCheckoutURL string     `json:"abandoned_checkout_url"`
	CompletedAt          *time.Time `json:"completed_at"`
	CreatedAt            *time.Time `json:"created_at"`
	UpdatedAt            *time.Time `json:"updated_at"`
	CustomerLocale       string     `json:"customer_locale"`
	Customer             *Customer  `json:"customer"`
	LineItems            []LineItem `json:"line_items"`
}

// ShopPayload is the shop resource (app/uninstalled).
type ShopPayload struct {
	ID              int64  `json:"id"`
	Name            string `json:"name"`
	Email           string `json:"email"`
	Domain          string `json:"domain"`
	MyshopifyDomain string `json:"myshopify_domain"`
	Currency        string `json:"currency"`
	IANATimezone    string `json:"iana_timezone"`
	PrimaryLocale   string `json:"primary_locale"`
}

// GDPRCustomer identifies a customer in the compliance webhooks.
type GDPRCustomer struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Phone string `json:"phone"`
}

// CustomersDataRequest is the customers/data_request body.
type CustomersDataRequest struct {
	ShopID          int64        `json:"shop_id"`
	ShopDomain      string       `json:"shop_domain"`
	Customer        GDPRCustomer `json:"customer"`
	OrdersRequested []int64      `json:"orders_requested"`
	DataRequest     struct {
		ID int64 `json:"id"`
	} `json:"data_request"`
}

// CustomersRedact is the customers/redact body.
type CustomersRedact struct {
	ShopID         int64        `json:"shop_id"`
	ShopDomain     string       `json:"shop_domain"`
	Customer       GDPRCustomer `json:"customer"`
	OrdersToRedact []int64      `json:"orders_to_redact"`
}

// ShopRedact is the shop/redact body.
type ShopRedact struct {
	ShopID     int64  `json:"shop_id"`
	ShopDomain string `json:"shop_domain"`
}

// Cart is the cart resource (carts/create|update). Cart ids are strings.
type Cart struct {
	ID        string     `json:"id"`
	Token     string     `json:"token"`
	Note      string     `json:"note"`
	CreatedAt *time.Time `json:"created_at"`
	UpdatedAt *time.Time `json:"updated_at"`
	LineItems []LineItem `json:"line_items"`
}

// The payload types decode leniently (see decodeLenient): a webhook must not
// be lost because one scalar came in an unexpected JSON type.

func (c *Customer) UnmarshalJSON(b []byte) error {
	type plain Customer
	if err := decodeLenient(b, (*plain)(c)); err != nil {
		return err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err == nil {
		c.present = make(map[string]bool, len(keys))
		for k := range keys {
			c.present[k] = true
		}
	}
	return nil
}
func (a *Address) UnmarshalJSON(b []byte) error {
	type plain Address
	return decodeLenient(b, (*plain)(a))
}
func (l *LineItem) UnmarshalJSON(b []byte) error {
	type plain LineItem
	return decodeLenient(b, (*plain)(l))
}
func (o *Order) UnmarshalJSON(b []byte) error { type plain Order; return decodeLenient(b, (*plain)(o)) }
func (f *Fulfillment) UnmarshalJSON(b []byte) error {
	type plain Fulfillment
	return decodeLenient(b, (*plain)(f))
}
func (c *Checkout) UnmarshalJSON(b []byte) error {
	type plain Checkout
	return decodeLenient(b, (*plain)(c))
}
func (c *Cart) UnmarshalJSON(b []byte) error { type plain Cart; return decodeLenient(b, (*plain)(c)) }
func (s *ShopPayload) UnmarshalJSON(b []byte) error {
	type plain ShopPayload
	return decodeLenient(b, (*plain)(s))
}
func (r *CustomersDataRequest) UnmarshalJSON(b []byte) error {
	type plain CustomersDataRequest
	return decodeLenient(b, (*plain)(r))
}
func (r *CustomersRedact) UnmarshalJSON(b []byte) error {
	type plain CustomersRedact
	return decodeLenient(b, (*plain)(r))
}
func (r *ShopRedact) UnmarshalJSON(b []byte) error {
	type plain ShopRedact
	return decodeLenient(b, (*plain)(r))
}

// ErrUnknownTopic is returned by DecodeWebhook for a topic without a payload type.
var ErrUnknownTopic = errors.New("shopify: unknown webhook topic")

// DecodeWebhook decodes a webhook body into the payload type of its topic:
// *Order, *Fulfillment, *Checkout, *Cart, *Customer, *CustomerTags,
// *EmailConsentUpdate, *SMSConsentUpdate, *BulkOperationFinish, *ShopPayload,
// *CustomersDataRequest, *CustomersRedact or *ShopRedact.
func DecodeWebhook(topic string, body []byte) (any, error) {
	var v any
	switch topic {
	case TopicOrdersCreate, TopicOrdersPaid, TopicOrdersCancelled, TopicOrdersUpdated:
		v = new(Order)
	case TopicFulfillmentsCreate, TopicFulfillmentsUpdate:
		v = new(Fulfillment)
	case TopicCheckoutsCreate, TopicCheckoutsUpdate:
		v = new(Checkout)
	case TopicCartsCreate, TopicCartsUpdate:
		v = new(Cart)
	case TopicCustomersCreate, TopicCustomersUpdate:
		v = new(Customer)
	case TopicCustomerTagsAdded, TopicCustomerTagsRemoved:
		v = new(CustomerTags)
	case TopicEmailConsentUpdate:
		v = new(EmailConsentUpdate)
	case TopicSMSConsentUpdate:
		v = new(SMSConsentUpdate)
	case TopicBulkOperationsFinish:
		v = new(BulkOperationFinish)
	case TopicAppUninstalled:
		v = new(ShopPayload)
	case TopicCustomersDataRequest:
		v = new(CustomersDataRequest)
	case TopicCustomersRedact:
		v = new(CustomersRedact)
	case TopicShopRedact:
		v = new(ShopRedact)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, topic)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return nil, fmt.Errorf("shopify: decode %s webhook: %w", topic, err)
	}
	return v, nil
}
