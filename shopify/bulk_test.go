package shopify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

const ordersBulkQuery = `{ orders { edges { node { id name createdAt updatedAt customer { id } lineItems { edges { node { id title quantity } } } } } } }`

// genOrders writes n orders of the real bulk shape: each order line, then
// its line items as separate lines with __parentId.
func genOrders(n, items int) shopifytest.BulkResult {
	return func(w io.Writer, shop, query string) error {
		for i := 1; i <= n; i++ {
			oid := fmt.Sprintf("gid://shopify/Order/%d", 5000+i)
			if _, err := fmt.Fprintf(w, `{"id":%q,"name":"#%d","createdAt":"2021-01-01T00:00:00Z","updatedAt":"2021-01-02T00:00:00Z","customer":{"id":"gid://shopify/Customer/%d"}}`+"\n", oid, i, 100+i%7); err != nil {
				return err
			}
			for j := 1; j <= items; j++ {
				if _, err := fmt.Fprintf(w, `{"id":"gid://shopify/LineItem/%d","title":"Tea %d","quantity":%d,"__parentId":%q}`+"\n", i*100+j, j, j, oid); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

func TestBulkQueryPollDownloadStream(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t, shopifytest.WithBulkResult(genOrders(250, 3)))
	app, admin := adminFor(t, fake)
	ctx := context.Background()
	id, err := admin.RunBulkQuery(ctx, ordersBulkQuery, true)
	if err != nil {
		t.Fatal(err)
	}
	// Up to five bulk operations per shop at once (API 2026-01+).
	for i := 2; i <= 6; i++ {
		_, err := admin.RunBulkQuery(ctx, ordersBulkQuery, true)
		if (i <= shopifytest.MaxConcurrentBulkOps) != (err == nil) {
			t.Fatalf("bulk query %d: %v", i, err)
		}
		if err != nil && !strings.Contains(err.Error(), "limit reached") {
			t.Fatalf("bulk query %d: %v", i, err)
		}
	}
	var op shopify.BulkOperation
	for polls := 0; !op.Done(); polls++ {
		if polls > 5 {
			t.Fatalf("never finished: %+v", op)
		}
		if op, err = admin.BulkOperation(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if op.Status != shopify.BulkCompleted || op.URL == "" {
		t.Fatalf("op = %+v", op)
	}
	body, err := app.OpenBulkResult(ctx, op.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	orders, items := 0, 0
	err = shopify.StreamBulk(body, func(o shopify.BulkObject) error {
		orders++
		var ord struct{ Name string }
		if err := json.Unmarshal(o.Line, &ord); err != nil {
			return err
		}
		if len(o.Children) != 3 {
			return fmt.Errorf("order %s has %d items", o.ID, len(o.Children))
		}
		items += len(o.Children)
		return nil
	})
	if err != nil || orders != 250 || items != 750 {
		t.Fatalf("streamed %d orders, %d items: %v", orders, items, err)
	}
}

func TestStreamBulkRefusesOrphanChild(t *testing.T) {
	t.Parallel()
	in := `{"id":"gid://shopify/Order/1"}
{"id":"gid://shopify/LineItem/1","__parentId":"gid://shopify/Order/1"}
{"id":"gid://shopify/Order/2"}
{"id":"gid://shopify/LineItem/2","__parentId":"gid://shopify/Order/1"}
`
	var got []string
	err := shopify.StreamBulk(strings.NewReader(in), func(o shopify.BulkObject) error { got = append(got, o.ID); return nil })
	if err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("err = %v", err)
	}
	if len(got) != 1 || got[0] != "gid://shopify/Order/1" {
		t.Errorf("delivered %v before the error", got)
	}
}

// Since 2026-01 a bulk query is ungrouped unless it asks: child lines come
// after all the roots, and StreamBulk refuses rather than guess.
func TestUngroupedBulkResultIsRefused(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t, shopifytest.WithBulkResult(genOrders(3, 2)))
	app, admin := adminFor(t, fake)
	ctx := context.Background()
	id, err := admin.RunBulkQuery(ctx, ordersBulkQuery, false)
	if err != nil {
		t.Fatal(err)
	}
	fake.CompleteBulkOperations()
	op, err := admin.BulkOperation(ctx, id)
	if err != nil || op.RootCount != "3" || op.ObjectCount != "9" {
		t.Fatalf("op = %+v %v", op, err)
	}
	body, err := app.OpenBulkResult(ctx, op.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	err = shopify.StreamBulk(body, func(shopify.BulkObject) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "does not follow its parent") {
		t.Fatalf("ungrouped result: %v", err)
	}
}

func TestDecodeHistoryLines(t *testing.T) {
	t.Parallel()
	order := shopify.BulkObject{ID: "gid://shopify/Order/5", Line: []byte(`{"id":"gid://shopify/Order/5","name":"#1005","email":"a@example.com","createdAt":"2021-03-04T05:06:07Z","updatedAt":"2021-03-05T00:00:00Z","cancelledAt":null,"customerLocale":"en","discountCodes":["A","B"],"displayFinancialStatus":"PARTIALLY_REFUNDED","displayFulfillmentStatus":"FULFILLED","currencyCode":"JPY","totalPriceSet":{"shopMoney":{"amount":"3300.0"}},"subtotalPriceSet":{"shopMoney":{"amount":"3000.0"}},"customer":{"id":"gid://shopify/Customer/9"}}`),
		Children: []json.RawMessage{json.RawMessage(`{"id":"gid://shopify/LineItem/77","title":"Sencha","quantity":2,"vendor":"Kyoto Tea","sku":"S1","product":{"id":"gid://shopify/Product/3"},"variant":{"id":"gid://shopify/ProductVariant/4"},"originalUnitPriceSet":{"shopMoney":{"amount":"1500.0"}},"__parentId":"gid://shopify/Order/5"}`)}}
	o, err := shopify.DecodeHistoryOrder(order)
	if err != nil || o.ID != 5 || o.CustomerID != 9 || o.FinancialStatus != "partially_refunded" || o.Locale != "en" || o.DiscountCodes != "A,B" ||
		o.TotalPrice.String() != "3300" || len(o.Items) != 1 || o.Items[0].ProductID != 3 || o.Items[0].VariantID != 4 || o.Items[0].Quantity != 2 {
		t.Fatalf("order = %+v %v", o, err)
	}
	cust := shopify.BulkObject{ID: "gid://shopify/Customer/9", Line: []byte(`{"id":"gid://shopify/Customer/9","firstName":"Hanako","lastName":"Yamada","locale":"ja","tags":["vip"],"updatedAt":"2026-01-01T00:00:00Z","defaultEmailAddress":{"emailAddress":"h@example.com","marketingState":"SUBSCRIBED","marketingUpdatedAt":"2025-05-01T00:00:00Z"},"defaultPhoneNumber":{"phoneNumber":"+81312345678","marketingState":"NOT_SUBSCRIBED","marketingUpdatedAt":null},"defaultAddress":{"province":"Tokyo","provinceCode":"JP-13","countryCodeV2":"JP"},"bd0":null,"bd1":{"value":"1990/04/01"}}`)}
	c, err := shopify.DecodeHistoryCustomer(cust)
	if err != nil || c.ID != 9 || c.Email != "h@example.com" || c.EmailConsent != "subscribed" || c.EmailConsentAt == nil || c.SMSConsent != "not_subscribed" ||
		c.Phone != "+81312345678" || c.Region != "JP-13" || c.Country != "JP" || c.Birthday != "1990-04-01" || len(c.Tags) != 1 {
		t.Fatalf("customer = %+v %v", c, err)
	}
	for _, q := range []string{shopify.HistoryOrdersQuery(nil), shopify.HistoryCustomersQuery()} {
		if strings.Count(q, "{") != strings.Count(q, "}") || strings.Count(q, "edges") > 5 {
			t.Errorf("query %q", q)
		}
	}
}
