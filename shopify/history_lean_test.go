package shopify

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Lines of HistoryOrdersQuery's result as Shopify writes them, then lines
// that only encoding/json should read (or refuse).
var leanOrderLines = []string{
	`{"id":"gid://shopify/Order/5","name":"#1005","email":"a@example.com","createdAt":"2021-03-04T05:06:07Z","updatedAt":"2021-03-05T00:00:00Z","cancelledAt":null,"customerLocale":"en","statusPageUrl":"https://s.myshopify.com/1/orders/abc/authenticate?key=x","discountCodes":["A","B"],"displayFinancialStatus":"PARTIALLY_REFUNDED","displayFulfillmentStatus":"FULFILLED","currencyCode":"JPY","totalPriceSet":{"shopMoney":{"amount":"3300.0"}},"subtotalPriceSet":{"shopMoney":{"amount":"3000.0"}},"customer":{"id":"gid://shopify/Customer/9"}}`,
	`{"id":"gid://shopify/Order/6","name":"#1006","email":null,"createdAt":"2021-03-04T05:06:07+09:00","updatedAt":null,"cancelledAt":"2021-03-06T00:00:00.123Z","customerLocale":null,"statusPageUrl":null,"discountCodes":[],"displayFinancialStatus":"PAID","displayFulfillmentStatus":"UNFULFILLED","currencyCode":"USD","totalPriceSet":{"shopMoney":{"amount":"12.5"}},"subtotalPriceSet":null,"customer":null}`,
	` { "id" : "gid://shopify/Order/7" , "name" : "#日本茶" , "discountCodes" : null , "totalPriceSet" : { "shopMoney" : { "amount" : 12.50 , "currencyCode" : "JPY" } } , "extra" : [ 1 , -2.5e3 , true , false , null , { "a" : [ ] } ] } `,
	`{"id":"gid://shopify/Order/8","name":"a\"b\\c\u00e9\n","email":"x\/y@example.com","discountCodes":["\u004c\u0049NE","ok"],"customer":{"id":"gid://shopify/Customer/1","email":"z"}}`,
	"{\"id\":\"gid://shopify/Order/9\",\"name\":\"\xff bad utf-8\",\"x\":\"\xfe\"}",
	`{"id":"gid://shopify/Order/10","totalPriceSet":{"shopMoney":null},"subtotalPriceSet":{},"customer":{}}`,
	`{"id":"gid://shopify/Order/11","totalPriceSet":{"shopMoney":{"amount":null}}}`,
	`{}`,
	// For encoding/json to decide.
	`{"ID":"gid://shopify/Order/12"}`,
	`{"id":"gid://shopify/Order/13","Name":"folded"}`,
	`{"id":"gid://shopify/Order/14","name":"first","name":"second"}`,
	`{"id":"gid://shopify/Order/15","customer":{"id":"a"},"customer":{"id":"b"}}`,
	`{"id":"gid://shopify/Order/16","createdAt":"2021-13-01T00:00:00Z"}`,
	`{"id":"gid://shopify/Order/17","createdAt":20210101}`,
	`{"id":"gid://shopify/Order/18","totalPriceSet":{"shopMoney":{"amount":"x"}}}`,
	`{"id":"gid://shopify/Order/19","name":7}`,
	`{"id":"gid://shopify/Order/20","discountCodes":"A"}`,
	`{"id":"gid://shopify/Order/21","discountCodes":["A",null,"B"]}`,
	`{"id":"gid://shopify/Order/22","n\u0061me":"escaped key"}`,
	`{"id":"gid://shopify/Order/23","ſtatusPageUrl":"long s"}`,
	`{"id":"gid://shopify/Order/24","x":01}`,
	`{"id":"gid://shopify/Order/25","x":1.}`,
	`{"id":"gid://shopify/Order/26","x":"\x"}`,
	`{"id":"gid://shopify/Order/27","x":[1,]}`,
	`{"id":"gid://shopify/Order/28",}`,
	`{"id":"gid://shopify/Order/29"} x`,
	`{"id":"gid://shopify/Order/30"`,
	`[]`,
	`null`,
	"{\"id\":\"tab\tinside\"}",
	`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
}

var leanItemLines = []string{
	`{"id":"gid://shopify/LineItem/77","title":"Sencha","name":"Sencha - 100g","quantity":2,"vendor":"Kyoto Tea","sku":"S1","product":{"id":"gid://shopify/Product/3"},"variant":{"id":"gid://shopify/ProductVariant/4"},"originalUnitPriceSet":{"shopMoney":{"amount":"1500.0"}},"__parentId":"gid://shopify/Order/5"}`,
	`{"id":"gid://shopify/LineItem/78","title":null,"name":"Gift","quantity":0,"vendor":null,"sku":null,"product":null,"variant":null,"originalUnitPriceSet":{"shopMoney":{"amount":"0.0"}},"__parentId":"gid://shopify/Order/5"}`,
	`{"id":"gid://shopify/LineItem/79","quantity":-3,"__parentId":"gid://shopify/Order/5"}`,
	`{"id":"gid://shopify/LineItem/80","quantity":1.5}`,
	`{"id":"gid://shopify/LineItem/81","quantity":1e2}`,
	`{"id":"gid://shopify/LineItem/82","quantity":"2"}`,
	`{"id":"gid://shopify/LineItem/83","quantity":99999999999999999999}`,
	`{"id":"gid://shopify/LineItem/84","quantity":null,"Quantity":4}`,
	`{"id":"gid://shopify/Product/85","title":"another connection's child","__parentId":"gid://shopify/Order/5"}`,
}

// generatedOrderLines is lines of n orders and their items in the shape
// the import's benchmark and large-shop test generate.
func generatedOrderLines(n int) (orders, items []string) {
	for i := 1; i <= n; i++ {
		gid := fmt.Sprintf("gid://shopify/Order/%d", i)
		at := fmt.Sprintf("2021-01-%02dT%02d:%02d:00Z", 1+i%28, i%24, i%60)
		orders = append(orders, fmt.Sprintf(`{"id":%q,"name":"#%d","email":"c%d@example.com","createdAt":%q,"updatedAt":%q,"cancelledAt":null,"customerLocale":"ja","statusPageUrl":"https://bench.myshopify.com/status/%d","discountCodes":["LINE10"],"displayFinancialStatus":"PAID","displayFulfillmentStatus":"FULFILLED","currencyCode":"JPY","totalPriceSet":{"shopMoney":{"amount":"%d.%d"}},"subtotalPriceSet":{"shopMoney":{"amount":"3000.0"}},"customer":{"id":"gid://shopify/Customer/%d"}}`,
			gid, 1000+i, i/5, at, at, i, i*7, i%10, 1+i/5))
		for j := 1; j <= 2; j++ {
			items = append(items, fmt.Sprintf(`{"id":"gid://shopify/LineItem/%d","title":"Tea %d","name":"Tea %d","quantity":%d,"vendor":"Kyoto Tea","sku":"T%d","product":{"id":"gid://shopify/Product/%d"},"variant":{"id":"gid://shopify/ProductVariant/%d"},"originalUnitPriceSet":{"shopMoney":{"amount":"1500.0"}},"__parentId":%q}`,
				i*10+j, j, j, j, j, 700+j, 800+j, gid))
		}
	}
	return orders, items
}

// The lean decode gives what encoding/json gives whenever it reads a line,
// and reads every line of the real shape (else it would save nothing).
func TestLeanDecodeMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	orders, items := generatedOrderLines(500)
	for _, l := range append(orders, leanOrderLines...) {
		checkLeanOrder(t, []byte(l))
	}
	for _, l := range append(items, leanItemLines...) {
		checkLeanItem(t, []byte(l))
	}
	for _, l := range append(orders, leanOrderLines[:8]...) {
		if !new(BulkOrder).decodeLean([]byte(l)) {
			t.Errorf("lean decode gave up on %s", l)
		}
	}
	for _, l := range append(items, leanItemLines[:3]...) {
		if !new(BulkLineItem).decodeLean([]byte(l)) {
			t.Errorf("lean decode gave up on %s", l)
		}
	}
	// And DecodeHistoryOrder's result is unchanged: every line through
	// encoding/json alone gives the same order.
	for i, l := range orders {
		o := BulkObject{ID: fmt.Sprintf("gid://shopify/Order/%d", i+1), Line: []byte(l), Children: []json.RawMessage{[]byte(items[2*i]), []byte(items[2*i+1])}}
		got, err := DecodeHistoryOrder(o)
		if err != nil {
			t.Fatal(err)
		}
		want := historyOrderByEncodingJSON(t, o)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n lean %+v\n json %+v", l, got, want)
		}
	}
}

func historyOrderByEncodingJSON(t *testing.T, o BulkObject) HistoryOrder {
	var b BulkOrder
	if err := json.Unmarshal(o.Line, &b); err != nil {
		t.Fatal(err)
	}
	id, _ := gidOf(b.ID, "Order")
	h := HistoryOrder{ID: id, Name: b.Name, Email: b.Email, Currency: b.Currency, Locale: b.CustomerLocale,
		StatusURL: b.StatusPageURL, DiscountCodes: strings.Join(b.DiscountCodes, ","),
		FinancialStatus: strings.ToLower(b.FinancialStatus), FulfillmentStat: strings.ToLower(b.FulfillmentStatus),
		TotalPrice: b.TotalPrice.ShopMoney.Amount, SubtotalPrice: b.SubtotalPrice.ShopMoney.Amount,
		CreatedAt: b.CreatedAt.UTC(), UpdatedAt: b.UpdatedAt, CancelledAt: b.CancelledAt}
	h.CustomerID, _ = gidOf(b.Customer.ID, "Customer")
	h.Items = []HistoryItem{}
	for _, c := range o.Children {
		var li BulkLineItem
		if err := json.Unmarshal(c, &li); err != nil {
			t.Fatal(err)
		}
		it := HistoryItem{Title: li.Title, Vendor: li.Vendor, SKU: li.SKU, Quantity: li.Quantity, Price: li.UnitPrice.ShopMoney.Amount}
		it.ID, _ = gidOf(li.ID, "LineItem")
		it.ProductID, _ = gidOf(li.Product.ID, "Product")
		it.VariantID, _ = gidOf(li.Variant.ID, "ProductVariant")
		h.Items = append(h.Items, it)
	}
	return h
}

func FuzzLeanDecode(f *testing.F) {
	for _, l := range leanOrderLines {
		f.Add([]byte(l))
	}
	for _, l := range leanItemLines {
		f.Add([]byte(l))
	}
	for _, l := range leanCustomerLines {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkLeanOrder(t, line)
		checkLeanItem(t, line)
		checkLeanCustomer(t, line)
	})
}

func checkLeanOrder(t *testing.T, line []byte) {
	var want BulkOrder
	wantErr := json.Unmarshal(line, &want)
	var got BulkOrder
	if got.decodeLean(line) && (wantErr != nil || !reflect.DeepEqual(got, want)) {
		t.Fatalf("%q:\n lean %+v\n json %+v %v", line, got, want, wantErr)
	}
	got, err := decodeBulkOrder(line)
	if (err == nil) != (wantErr == nil) || err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: decodeBulkOrder %+v %v, encoding/json %+v %v", line, got, err, want, wantErr)
	}
}

func checkLeanItem(t *testing.T, line []byte) {
	var want BulkLineItem
	wantErr := json.Unmarshal(line, &want)
	var got BulkLineItem
	if got.decodeLean(line) && (wantErr != nil || !reflect.DeepEqual(got, want)) {
		t.Fatalf("%q:\n lean %+v\n json %+v %v", line, got, want, wantErr)
	}
	got, err := decodeBulkLineItem(line)
	if (err == nil) != (wantErr == nil) || err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: decodeBulkLineItem %+v %v, encoding/json %+v %v", line, got, err, want, wantErr)
	}
}

// BenchmarkDecodeHistoryOrder: one order with two line items, lean (as the
// import decodes) and by encoding/json alone.
func BenchmarkDecodeHistoryOrder(b *testing.B) {
	orders, items := generatedOrderLines(1)
	o := BulkObject{ID: "gid://shopify/Order/1", Line: []byte(orders[0]), Children: []json.RawMessage{[]byte(items[0]), []byte(items[1])}}
	b.Run("lean", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeHistoryOrder(o); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		t := &testing.T{}
		for b.Loop() {
			historyOrderByEncodingJSON(t, o)
		}
	})
}

// Lines of HistoryCustomersQuery's result as Shopify writes them, then
// lines that only encoding/json should read (or refuse).
var leanCustomerLines = []string{
	`{"id":"gid://shopify/Customer/9","firstName":"Hanako","lastName":"Yamada","locale":"ja","tags":["vip","line"],"createdAt":"2020-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","defaultEmailAddress":{"emailAddress":"h@example.com","marketingState":"SUBSCRIBED","marketingUpdatedAt":"2025-05-01T00:00:00Z"},"defaultPhoneNumber":{"phoneNumber":"+81312345678","marketingState":"NOT_SUBSCRIBED","marketingUpdatedAt":null},"defaultAddress":{"province":"Tokyo","provinceCode":"JP-13","countryCodeV2":"JP"},"bd0":null,"bd1":{"value":"1990/04/01"},"bd2":null,"bd3":null}`,
	`{"id":"gid://shopify/Customer/10","firstName":null,"lastName":null,"locale":"en","tags":[],"updatedAt":"2026-01-01T00:00:00+09:00","defaultEmailAddress":null,"defaultPhoneNumber":null,"defaultAddress":null,"bd0":{"value":null},"bd3":{"value":"2000-02-29","type":"date"}}`,
	` { "id" : "gid://shopify/Customer/11" , "tags" : null , "defaultAddress" : { "province" : "大阪" , "provinceCode" : null , "countryCodeV2" : "JP" } , "bd9" : { "value" : "x" } , "extra" : [ 1 , { "a" : [ ] } ] } `,
	`{"id":"gid://shopify/Customer/12","firstName":"a\"b\u00e9","tags":["\u004c\u0049NE",null],"defaultEmailAddress":{},"bd0":{}}`,
	`{}`,
	// For encoding/json to decide.
	`{"ID":"gid://shopify/Customer/13"}`,
	`{"id":"gid://shopify/Customer/14","FirstName":"folded"}`,
	`{"id":"gid://shopify/Customer/15","locale":"ja","locale":"en"}`,
	`{"id":"gid://shopify/Customer/16","defaultEmailAddress":{"emailAddress":"a"},"defaultEmailAddress":{"marketingState":"SUBSCRIBED"}}`,
	`{"id":"gid://shopify/Customer/17","defaultEmailAddress":{"MarketingState":"SUBSCRIBED"}}`,
	`{"id":"gid://shopify/Customer/18","defaultPhoneNumber":{"marketingUpdatedAt":"yesterday"}}`,
	`{"id":"gid://shopify/Customer/19","updatedAt":20260101}`,
	`{"id":"gid://shopify/Customer/20","tags":"vip"}`,
	`{"id":"gid://shopify/Customer/21","defaultAddress":"Tokyo"}`,
	`{"id":"gid://shopify/Customer/22","bd0":{"value":"1990-04-01"},"bd0":{"value":"1991-05-02"}}`,
	`{"id":"gid://shopify/Customer/23","bd0":{"value":19900401},"bd1":{"value":"1990-04-01"}}`,
	`{"id":"gid://shopify/Customer/24","bd0":"1990-04-01","bd1":{"Value":"1991-05-02"}}`,
	`{"id":"gid://shopify/Customer/25","b\u00640":{"value":"1990-04-01"}}`,
	`{"id":"gid://shopify/Customer/26","bd1":{"value":"1990-04-01","value":"1991-05-02"}}`,
	`{"id":"gid://shopify/Customer/27",}`,
	`[]`,
}

// generatedCustomerLines is n customer lines in the shape the large-shop
// test generates.
func generatedCustomerLines(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		tags := `[]`
		if i%3 == 0 {
			tags = `["vip","line"]`
		}
		out = append(out, fmt.Sprintf(`{"id":"gid://shopify/Customer/%d","firstName":"Hanako%d","lastName":"Yamada","locale":"ja","tags":%s,"createdAt":"2020-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","defaultEmailAddress":{"emailAddress":"c%d@example.com","marketingState":"SUBSCRIBED","marketingUpdatedAt":"2025-01-01T00:00:00Z"},"defaultPhoneNumber":null,"defaultAddress":{"province":"Tokyo","provinceCode":"JP-13","countryCodeV2":"JP"},"bd0":{"value":"1990-04-%02d"},"bd1":null,"bd2":null,"bd3":null}`,
			i, i, tags, i, 1+i%28))
	}
	return out
}

// The customers' lean decode gives what encoding/json gives (the struct
// and the birthday aliases' values) whenever it reads a line, and reads
// every line of the real shape.
func TestLeanDecodeCustomerMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	lines := generatedCustomerLines(300)
	for _, l := range append(lines, leanCustomerLines...) {
		checkLeanCustomer(t, []byte(l))
	}
	for _, l := range append(lines, leanCustomerLines[:5]...) {
		if _, ok := new(bulkCustomer).decodeLean([]byte(l)); !ok {
			t.Errorf("lean decode gave up on %s", l)
		}
	}
	// A line that sends the decode to encoding/json gives the same customer.
	for _, l := range append(lines[:20], leanCustomerLines[5:]...) {
		o := BulkObject{ID: "gid://shopify/Customer/1", Line: []byte(l)}
		got, gotErr := DecodeHistoryCustomer(o)
		want, wantErr := historyCustomerByEncodingJSON(o)
		if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n lean %+v %v\n json %+v %v", l, got, gotErr, want, wantErr)
		}
	}
}

// historyCustomerByEncodingJSON is DecodeHistoryCustomer as it was before
// the lean decode: encoding/json for the struct and for the aliases, then
// the same conversion.
func historyCustomerByEncodingJSON(o BulkObject) (HistoryCustomer, error) {
	var b bulkCustomer
	if err := json.Unmarshal(o.Line, &b); err != nil {
		return HistoryCustomer{}, err
	}
	return historyCustomer(b, birthdayValues(o.Line))
}

func checkLeanCustomer(t *testing.T, line []byte) {
	var want bulkCustomer
	wantErr := json.Unmarshal(line, &want)
	wantBDs := birthdayValues(line)
	var got bulkCustomer
	if bds, ok := got.decodeLean(line); ok && (wantErr != nil || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(bds, wantBDs)) {
		t.Fatalf("%q:\n lean %+v %q\n json %+v %q %v", line, got, bds, want, wantBDs, wantErr)
	}
	got, bds, err := decodeBulkCustomer(line)
	if (err == nil) != (wantErr == nil) || err == nil && (!reflect.DeepEqual(got, want) || !reflect.DeepEqual(bds, wantBDs)) {
		t.Fatalf("%q: decodeBulkCustomer %+v %q %v, encoding/json %+v %q %v", line, got, bds, err, want, wantBDs, wantErr)
	}
}

// BenchmarkDecodeHistoryCustomer: one customer line of the large-shop
// test's shape, lean (as the import decodes) and by encoding/json alone.
func BenchmarkDecodeHistoryCustomer(b *testing.B) {
	o := BulkObject{ID: "gid://shopify/Customer/3", Line: []byte(generatedCustomerLines(3)[2])}
	b.Run("lean", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeHistoryCustomer(o); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := historyCustomerByEncodingJSON(o); err != nil {
				b.Fatal(err)
			}
		}
	})
}
