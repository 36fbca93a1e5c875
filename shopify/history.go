package shopify

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// The history import's bulk queries (Admin GraphQL 2026-10 field names).
// A bulk query takes at most five connections, nested at most two levels;
// pagination arguments are not needed (Shopify walks every page).

// HistoryOrdersQuery is the bulk query of the shop's orders created since
// (nil: all), with their line items, which come as child lines: it must
// run grouped (RunBulkQuery group=true) for StreamBulk to join them.
func HistoryOrdersQuery(since *time.Time) string {
	return `{ orders` + sinceFilter(since) + ` { edges { node {
  id name email createdAt updatedAt cancelledAt customerLocale statusPageUrl discountCodes
  displayFinancialStatus displayFulfillmentStatus currencyCode
  totalPriceSet { shopMoney { amount } } subtotalPriceSet { shopMoney { amount } }
  customer { id }
  lineItems { edges { node { id title name quantity vendor sku product { id } variant { id } originalUnitPriceSet { shopMoney { amount } } } } }
} } } }`
}

// HistoryCustomersQuery is the bulk query of the shop's customers (all of
// them: a customer's tags and consent matter whenever they signed up), with
// the birthday metafields (BirthdayMetafields) as aliases.
func HistoryCustomersQuery() string {
	var mf strings.Builder
	for i, m := range BirthdayMetafields {
		fmt.Fprintf(&mf, " %s: metafield(namespace: %q, key: %q) { value }", birthdayAlias(i), m[0], m[1])
	}
	return `{ customers { edges { node {
  id firstName lastName locale tags createdAt updatedAt
  defaultEmailAddress { emailAddress marketingState marketingUpdatedAt }
  defaultPhoneNumber { phoneNumber marketingState marketingUpdatedAt }
  defaultAddress { province provinceCode countryCodeV2 }` + mf.String() + `
} } } }`
}

func sinceFilter(since *time.Time) string {
	if since == nil {
		return ""
	}
	return fmt.Sprintf(`(query: "created_at:>='%s'")`, since.UTC().Format(time.RFC3339))
}

type shopMoney struct {
	ShopMoney struct {
		Amount decimal.Decimal `json:"amount"`
	} `json:"shopMoney"`
}

type gidRef struct {
	ID string `json:"id"`
}

// BulkOrder is an order line of HistoryOrdersQuery's result.
type BulkOrder struct {
	ID                string     `json:"id"`
	Name              string     `json:"name"`
	Email             string     `json:"email"`
	CreatedAt         time.Time  `json:"createdAt"`
	UpdatedAt         *time.Time `json:"updatedAt"`
	CancelledAt       *time.Time `json:"cancelledAt"`
	CustomerLocale    string     `json:"customerLocale"`
	StatusPageURL     string     `json:"statusPageUrl"`
	DiscountCodes     []string   `json:"discountCodes"`
	FinancialStatus   string     `json:"displayFinancialStatus"`
	FulfillmentStatus string     `json:"displayFulfillmentStatus"`
	Currency          string     `json:"currencyCode"`
	TotalPrice        shopMoney  `json:"totalPriceSet"`
	SubtotalPrice     shopMoney  `json:"subtotalPriceSet"`
	Customer          *gidRef    `json:"customer"`
}

// BulkLineItem is a line item line (child of an order).
type BulkLineItem struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Name      string    `json:"name"`
	Quantity  int       `json:"quantity"`
	Vendor    string    `json:"vendor"`
	SKU       string    `json:"sku"`
	Product   *gidRef   `json:"product"`
	Variant   *gidRef   `json:"variant"`
	UnitPrice shopMoney `json:"originalUnitPriceSet"`
}

// HistoryOrder is a decoded order of the history with its line items.
type HistoryOrder struct {
	ID, CustomerID                   int64
	Name, Email, Currency, Locale    string
	StatusURL, DiscountCodes         string
	FinancialStatus, FulfillmentStat string // as the webhooks spell them: paid, refunded...
	TotalPrice, SubtotalPrice        decimal.Decimal
	CreatedAt                        time.Time
	UpdatedAt, CancelledAt           *time.Time
	Items                            []HistoryItem
}

// HistoryItem is one line item of a HistoryOrder.
type HistoryItem struct {
	ID, ProductID, VariantID int64
	Title, Vendor, SKU       string
	Quantity                 int
	Price                    decimal.Decimal
}

// DecodeHistoryOrder decodes an order and its line items from a bulk
// result object.
func DecodeHistoryOrder(o BulkObject) (HistoryOrder, error) {
	b, err := decodeBulkOrder(o.Line)
	if err != nil {
		return HistoryOrder{}, fmt.Errorf("shopify: bulk order %s: %w", o.ID, err)
	}
	id, err := gidOf(b.ID, "Order")
	if err != nil {
		return HistoryOrder{}, err
	}
	h := HistoryOrder{ID: id, Name: b.Name, Email: b.Email, Currency: b.Currency, Locale: b.CustomerLocale,
		StatusURL: b.StatusPageURL, DiscountCodes: strings.Join(b.DiscountCodes, ","),
		FinancialStatus: strings.ToLower(b.FinancialStatus), FulfillmentStat: strings.ToLower(b.FulfillmentStatus),
		TotalPrice: b.TotalPrice.ShopMoney.Amount, SubtotalPrice: b.SubtotalPrice.ShopMoney.Amount,
		CreatedAt: b.CreatedAt.UTC(), UpdatedAt: b.UpdatedAt, CancelledAt: b.CancelledAt}
	if b.Customer != nil && b.Customer.ID != "" {
		if h.CustomerID, err = gidOf(b.Customer.ID, "Customer"); err != nil {
			return HistoryOrder{}, err
		}
	}
	h.Items = make([]HistoryItem, 0, len(o.Children))
	for _, c := range o.Children {
		li, err := decodeBulkLineItem(c)
		if err != nil {
			return HistoryOrder{}, fmt.Errorf("shopify: line item of bulk order %s: %w", o.ID, err)
		}
		if !strings.HasPrefix(li.ID, "gid://shopify/LineItem/") {
			continue // another connection's child: not queried today
		}
		it := HistoryItem{Title: li.Title, Vendor: li.Vendor, SKU: li.SKU, Quantity: li.Quantity, Price: li.UnitPrice.ShopMoney.Amount}
		if it.Title == "" {
			it.Title = li.Name
		}
		it.ID, _ = gidOf(li.ID, "LineItem")
		if li.Product != nil {
			it.ProductID, _ = gidOf(li.Product.ID, "Product")
		}
		if li.Variant != nil {
			it.VariantID, _ = gidOf(li.Variant.ID, "ProductVariant")
		}
		h.Items = append(h.Items, it)
	}
	return h, nil
}

type bulkConsent struct {
	State     string     `json:"marketingState"`
	UpdatedAt *time.Time `json:"marketingUpdatedAt"`
}

type bulkEmail struct {
	Address string `json:"emailAddress"`
	bulkConsent
}

type bulkPhone struct {
	Number string `json:"phoneNumber"`
	bulkConsent
}

type bulkAddress struct {
	Province     string `json:"province"`
	ProvinceCode string `json:"provinceCode"`
	CountryCode  string `json:"countryCodeV2"`
}

type bulkCustomer struct {
	ID        string       `json:"id"`
	FirstName string       `json:"firstName"`
	LastName  string       `json:"lastName"`
	Locale    string       `json:"locale"`
	Tags      []string     `json:"tags"`
	UpdatedAt time.Time    `json:"updatedAt"`
	Email     *bulkEmail   `json:"defaultEmailAddress"`
	Phone     *bulkPhone   `json:"defaultPhoneNumber"`
	Address   *bulkAddress `json:"defaultAddress"`
}

// HistoryCustomer is a decoded customer of the history.
type HistoryCustomer struct {
	ID                                                         int64
	Email, FirstName, LastName, Phone, Locale, Region, Country string
	Tags                                                       []string
	// EmailConsent, SMSConsent: marketing states lower-cased as the
	// consent topics spell them (subscribed, unsubscribed...), "" if absent.
	EmailConsent, SMSConsent     string
	EmailConsentAt, SMSConsentAt *time.Time
	Birthday                     string // NormalizeBirthday's form
	UpdatedAt                    time.Time
}

// DecodeHistoryCustomer decodes a customer line of HistoryCustomersQuery.
func DecodeHistoryCustomer(o BulkObject) (HistoryCustomer, error) {
	b, birthdays, err := decodeBulkCustomer(o.Line)
	if err != nil {
		return HistoryCustomer{}, fmt.Errorf("shopify: bulk customer %s: %w", o.ID, err)
	}
	return historyCustomer(b, birthdays)
}

// historyCustomer is the customer a decoded line and its birthday alias
// values (birthdayValues) describe.
func historyCustomer(b bulkCustomer, birthdays []string) (HistoryCustomer, error) {
	id, err := gidOf(b.ID, "Customer")
	if err != nil {
		return HistoryCustomer{}, err
	}
	h := HistoryCustomer{ID: id, FirstName: b.FirstName, LastName: b.LastName, Locale: b.Locale, Tags: b.Tags, UpdatedAt: b.UpdatedAt.UTC()}
	if b.Email != nil {
		h.Email, h.EmailConsent, h.EmailConsentAt = b.Email.Address, strings.ToLower(b.Email.State), b.Email.UpdatedAt
	}
	if b.Phone != nil {
		h.Phone, h.SMSConsent, h.SMSConsentAt = b.Phone.Number, strings.ToLower(b.Phone.State), b.Phone.UpdatedAt
	}
	if a := b.Address; a != nil {
		h.Region, h.Country = a.ProvinceCode, a.CountryCode
		if h.Region == "" {
			h.Region = a.Province
		}
	}
	// The birthday metafields come as aliases bd0, bd1...: first match wins.
	for _, v := range birthdays {
		if bd := NormalizeBirthday(v); bd != "" {
			h.Birthday = bd
			break
		}
	}
	return h, nil
}

// birthdayValues are the values of the birthday metafield aliases
// (bd0, bd1... of HistoryCustomersQuery) a customer line holds, in
// BirthdayMetafields' order: those that are objects; null ones and those
// of another shape are left out.
func birthdayValues(line []byte) []string {
	var mfs map[string]json.RawMessage
	if err := json.Unmarshal(line, &mfs); err != nil {
		return nil
	}
	var out []string
	for i := range BirthdayMetafields {
		var m *struct {
			Value string `json:"value"`
		}
		if raw, ok := mfs[birthdayAlias(i)]; ok && json.Unmarshal(raw, &m) == nil && m != nil {
			out = append(out, m.Value)
		}
	}
	return out
}

// birthdayAlias is the alias of BirthdayMetafields[i] in
// HistoryCustomersQuery.
func birthdayAlias(i int) string { return "bd" + strconv.Itoa(i) }

func gidOf(gid, want string) (int64, error) {
	typ, id, err := ParseGID(gid)
	if err != nil {
		return 0, err
	}
	if typ != want {
		return 0, fmt.Errorf("shopify: %q is not a %s", gid, want)
	}
	return id, nil
}
