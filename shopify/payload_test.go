package shopify

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/line/linetest"
)

// fixturesDir is the repository's testdata folder (the same lookup as every
// other package's tests).
func fixturesDir(t *testing.T) string {
	t.Helper()
	return linetest.FixturesDir(t)
}

func TestDecodeWebhookFixtures(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(fixturesDir(t), "shopify", "webhooks")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", dir, err)
	}
	// What each topic must decode into, and a check on values that prove
	// the body really landed in the fields (ids exact, nested objects).
	checks := map[string]func(t *testing.T, v any){
		"orders/": func(t *testing.T, v any) {
			o := v.(*Order)
			if o.ID != 820982911946154500 || o.Name != "#9999" || o.Email != "jon@example.com" {
				t.Errorf("order = %d %q %q", o.ID, o.Name, o.Email)
			}
			if o.Customer == nil || o.Customer.ID != 115310627314723950 || o.Customer.Email != "john@example.com" {
				t.Errorf("customer = %+v", o.Customer)
			}
			if len(o.LineItems) == 0 || o.LineItems[0].ID != 487817672276298560 || o.LineItems[0].Price.String() != "89.99" {
				t.Errorf("line items = %+v", o.LineItems)
			}
			if o.TotalPrice.IsZero() || o.Currency != "USD" || o.OrderStatusURL == "" {
				t.Errorf("totals = %s %q %q", o.TotalPrice, o.Currency, o.OrderStatusURL)
			}
		},
		"fulfillments/": func(t *testing.T, v any) {
			f := v.(*Fulfillment)
			if f.ID != 123456 || f.OrderID != 820982911946154500 {
				t.Errorf("fulfillment ids = %d %d", f.ID, f.OrderID)
			}
			n, u := f.Tracking()
			if n != "1z827wk74630" || !strings.HasPrefix(u, "https://www.ups.com/") || f.TrackingCompany != "UPS" {
				t.Errorf("tracking = %q %q %q", n, u, f.TrackingCompany)
			}
		},
		"checkouts/": func(t *testing.T, v any) {
			c := v.(*Checkout)
			if c.Token != "123123123" || c.Email != "example@email.com" || c.AbandonedCheckoutURL == "" {
				t.Errorf("checkout = %q %q %q", c.Token, c.Email, c.AbandonedCheckoutURL)
			}
			if c.Customer == nil || c.Customer.ID != 603851970716743400 {
				t.Errorf("checkout customer = %+v", c.Customer)
			}
			if !c.TotalPrice.Equal(decimal.RequireFromString("421.88")) || len(c.LineItems) == 0 {
				t.Errorf("checkout total = %s items=%d", c.TotalPrice, len(c.LineItems))
			}
		},
		"carts/": func(t *testing.T, v any) {
			c := v.(*Cart)
			if c.ID != "exampleCartId" || len(c.LineItems) == 0 || c.LineItems[0].ID != 704912205188288500 {
				t.Errorf("cart = %+v", c)
			}
		},
		"customer.tags_": func(t *testing.T, v any) {
			ct := v.(*CustomerTags)
			id, err := ct.CustomerID()
			if err != nil || id != 1 || !reflect.DeepEqual(ct.Tags, []string{"tag1", "tag2"}) || ct.OccurredAt == nil || ct.OccurredAt.Year() != 2005 {
				t.Errorf("tags = %+v (id %d, %v)", ct, id, err)
			}
		},
		"customers_email_marketing_consent/update": func(t *testing.T, v any) {
			u := v.(*EmailConsentUpdate)
			if u.CustomerID != 706405506930370000 || u.EmailAddress != "bob@biller.com" || u.Consent == nil || u.Consent.State != "not_subscribed" || u.Consent.Subscribed() {
				t.Errorf("email consent = %+v %+v", u, u.Consent)
			}
		},
		"customers_marketing_consent/update": func(t *testing.T, v any) {
			u := v.(*SMSConsentUpdate)
			if u.ID != 706405506930370000 || u.Consent == nil || u.Consent.CollectedFrom != "other" || u.Consent.Subscribed() {
				t.Errorf("sms consent = %+v %+v", u, u.Consent)
			}
		},
		"bulk_operations/finish": func(t *testing.T, v any) {
			f := v.(*BulkOperationFinish)
			if f.AdminGraphQLAPIID != "gid://shopify/BulkOperation/147595010" || f.Status != "completed" || f.Type != "query" || f.ErrorCode != "" {
				t.Errorf("bulk finish = %+v", f)
			}
		},
		"customers/create": checkCustomer,
		"customers/update": checkCustomer,
		"app/uninstalled": func(t *testing.T, v any) {
			s := v.(*ShopPayload)
			if s.ID != 548380009 || s.Name != "Super Toys" || s.PrimaryLocale != "en" || s.Currency != "USD" {
				t.Errorf("shop = %+v", s)
			}
		},
		"customers/data_request": func(t *testing.T, v any) {
			r := v.(*CustomersDataRequest)
			if r.ShopID != 954889 || r.Customer.ID != 191167 || r.DataRequest.ID != 9999 || !reflect.DeepEqual(r.OrdersRequested, []int64{299938, 280263, 220458}) {
				t.Errorf("data request = %+v", r)
			}
		},
		"customers/redact": func(t *testing.T, v any) {
			r := v.(*CustomersRedact)
			if r.ShopID != 954889 || r.Customer.Email != "john@example.com" || len(r.OrdersToRedact) != 3 {
				t.Errorf("redact = %+v", r)
			}
		},
		"shop/redact": func(t *testing.T, v any) {
			r := v.(*ShopRedact)
			if r.ShopID != 954889 || r.ShopDomain != "{shop}.myshopify.com" {
				t.Errorf("shop redact = %+v", r)
			}
		},
	}
	for _, f := range files {
		topic := strings.Replace(strings.TrimSuffix(filepath.Base(f), ".json"), "__", "/", 1)
		t.Run(topic, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			v, err := DecodeWebhook(topic, body)
			if err != nil {
				t.Fatalf("DecodeWebhook: %v", err)
			}
			var check func(*testing.T, any)
			for prefix, c := range checks {
				if strings.HasPrefix(topic, prefix) {
					check = c
				}
			}
			if check == nil {
				t.Fatalf("no expectation for topic %s", topic)
			}
			check(t, v)
		})
	}
}

func checkCustomer(t *testing.T, v any) {
	c := v.(*Customer)
	if c.ID != 706405506930370000 || c.Email != "bob@biller.com" || c.Name() != "Bob Biller" {
		t.Errorf("customer = %d %q %q", c.ID, c.Email, c.Name())
	}
	if c.DefaultAddress == nil || c.DefaultAddress.Zip != "K2P 2L8" || c.CreatedAt == nil {
		t.Errorf("customer address/created = %+v %v", c.DefaultAddress, c.CreatedAt)
	}
	// 2025-01+: no tags, no consent in customer payloads; absent is not empty.
	if c.Has("tags") || c.Has("email_marketing_consent") || !c.Has("phone") || !c.Has("email") {
		t.Errorf("present keys wrong: tags=%v consent=%v phone=%v", c.Has("tags"), c.Has("email_marketing_consent"), c.Has("phone"))
	}
}

// The app configuration subscribes to every topic the API registration
// does, and nothing else.
func TestAppTomlSubscribesEveryTopic(t *testing.T) {
	t.Parallel()
	var conf struct {
		Webhooks struct {
			APIVersion    string `toml:"api_version"`
			Subscriptions []struct {
				Topics             []string `toml:"topics"`
				ComplianceTopics   []string `toml:"compliance_topics"`
				URI                string   `toml:"uri"`
				MetafieldNamespace []string `toml:"metafield_namespaces"`
			} `toml:"subscriptions"`
		} `toml:"webhooks"`
	}
	if _, err := toml.DecodeFile(filepath.Join(fixturesDir(t), "..", "shopify.app.toml"), &conf); err != nil {
		t.Fatal(err)
	}
	if conf.Webhooks.APIVersion != DefaultAPIVersion {
		t.Errorf("toml api_version %q, code pins %q", conf.Webhooks.APIVersion, DefaultAPIVersion)
	}
	seen := map[string]int{}
	var compliance []string
	for _, s := range conf.Webhooks.Subscriptions {
		for _, tp := range s.Topics {
			seen[tp]++
			if got, want := s.MetafieldNamespace, WebhookMetafieldNamespaces(tp); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("%s: metafield namespaces %v, want %v", tp, got, want)
			}
		}
		compliance = append(compliance, s.ComplianceTopics...)
	}
	for _, tp := range Topics {
		if seen[tp] != 1 {
			t.Errorf("topic %s subscribed %d times in shopify.app.toml, want once", tp, seen[tp])
		}
		delete(seen, tp)
	}
	if len(seen) > 0 {
		t.Errorf("shopify.app.toml subscribes to topics the code does not know: %v", seen)
	}
	if !reflect.DeepEqual(compliance, ComplianceTopics) {
		t.Errorf("compliance topics %v, want %v", compliance, ComplianceTopics)
	}
}

func TestDecodeWebhookUnknownTopic(t *testing.T) {
	t.Parallel()
	if _, err := DecodeWebhook("products/create", []byte(`{}`)); err == nil {
		t.Fatal("want error for unknown topic")
	}
	if _, err := DecodeWebhook(TopicOrdersCreate, []byte(`{"id":`)); err == nil {
		t.Fatal("want error for broken JSON")
	}
}

// Payload types must survive the variations seen across Shopify's examples
// and real deliveries, and never round 64-bit ids through float64.
func TestOrderLenient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		body  string
		check func(o *Order) bool
	}{
		{"id above 2^53 exact", `{"id": 820982911946154508}`, func(o *Order) bool { return o.ID == 820982911946154508 }},
		{"id as string", `{"id": "820982911946154508", "name": "#1"}`, func(o *Order) bool { return o.ID == 820982911946154508 && o.Name == "#1" }},
		{"id with exponent", `{"id": 8.20982911946154508e17}`, func(o *Order) bool { return o.ID == 820982911946154508 }},
		{"price as number", `{"id": 1, "total_price": 12.5}`, func(o *Order) bool { return o.TotalPrice.String() == "12.5" }},
		{"empty time and null money", `{"id": 2, "cancelled_at": "", "total_price": null, "created_at": "2024-01-02T03:04:05+09:00"}`, func(o *Order) bool {
			return o.ID == 2 && o.CancelledAt == nil && o.TotalPrice.IsZero() && o.CreatedAt != nil && o.CreatedAt.Year() == 2024
		}},
		{"nulls everywhere", `{"id": 3, "customer": null, "line_items": null, "email": null, "test": null, "order_number": null}`, func(o *Order) bool { return o.ID == 3 && o.Customer == nil }},
		{"tags as list", `{"id": 4, "tags": ["vip", "line"]}`, func(o *Order) bool { return o.Tags == "vip, line" }},
		{"number where string expected", `{"id": 5, "shipping_address": {"zip": 1500001, "phone": 5551234}}`, func(o *Order) bool {
			return o.ShippingAddress != nil && o.ShippingAddress.Zip == "1500001" && o.ShippingAddress.Phone == "5551234"
		}},
		{"nested lenient", `{"id": 6, "customer": {"id": "7", "email": "a@b.c"}, "line_items": [{"id": "9", "quantity": "2", "price": 3}]}`, func(o *Order) bool {
			return o.Customer.ID == 7 && o.LineItems[0].ID == 9 && o.LineItems[0].Quantity == 2 && o.LineItems[0].Price.String() == "3"
		}},
		{"unknown fields and objects", `{"id": 8, "brand_new": {"x": [1,2]}, "financial_status": "paid"}`, func(o *Order) bool { return o.ID == 8 && o.FinancialStatus == "paid" }},
		{"uncoercible field dropped", `{"id": 10, "order_number": "abc", "test": "yes"}`, func(o *Order) bool { return o.ID == 10 && o.OrderNumber == 0 }},
		{"overflowing id dropped", `{"id": 99999999999999999999, "name": "#2"}`, func(o *Order) bool { return o.ID == 0 && o.Name == "#2" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := DecodeWebhook(TopicOrdersCreate, []byte(tt.body))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if o := v.(*Order); !tt.check(o) {
				t.Errorf("unexpected order: %+v", o)
			}
		})
	}
}

func TestFulfillmentTrackingFallback(t *testing.T) {
	t.Parallel()
	var f Fulfillment
	if err := f.UnmarshalJSON([]byte(`{"id":1,"tracking_number":null,"tracking_numbers":"ABC","tracking_urls":["https://t/1"]}`)); err != nil {
		t.Fatal(err)
	}
	if n, u := f.Tracking(); n != "ABC" || u != "https://t/1" {
		t.Fatalf("tracking = %q %q", n, u)
	}
}
