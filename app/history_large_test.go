package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

// largeShop is the generated shop: customers 100001..100000+n, 5
// orders each (the 5th of every 10th customer cancelled), 2 line items per
// order, every 4th customer tagged "vip". Halfway through the orders
// file, the download pauses (half is closed) until resume is closed: the
// test delivers webhooks there, in the middle of the import.
type largeShop struct {
	customers    int
	now          time.Time
	half, resume chan struct{}
	once         sync.Once
}

func (l *largeShop) orders() int { return 5 * l.customers }

// webhookOrders are the orders updated by webhook mid-import (refunded,
// one item): one in the half already streamed, one in the half to come.
func (l *largeShop) webhookOrders() [2]int { return [2]int{l.orders()/4 + 2, 3*l.orders()/4 + 2} }

func (l *largeShop) result(w io.Writer, shop, query string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	if strings.Contains(query, "customers {") {
		for i := 1; i <= l.customers; i++ {
			tags := `["tea"]`
			if i%4 == 0 {
				tags = `["tea","vip"]`
			}
			if _, err := fmt.Fprintf(bw, `{"id":"gid://shopify/Customer/%d","firstName":"Hanako%d","lastName":"Yamada","locale":"ja","tags":%s,"createdAt":"2020-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","defaultEmailAddress":{"emailAddress":"c%d@example.com","marketingState":"SUBSCRIBED","marketingUpdatedAt":"2025-01-01T00:00:00Z"},"defaultPhoneNumber":null,"defaultAddress":{"province":"Tokyo","provinceCode":"JP-13","countryCodeV2":"JP"},"bd0":{"value":"1990-04-%02d"},"bd1":null,"bd2":null,"bd3":null}`+"\n",
				100000+i, i, tags, i, i%28+1); err != nil {
				return err
			}
		}
		return nil
	}
	_, download := w.(http.ResponseWriter) // not the fake's count of the file
	for oid := 1; oid <= l.orders(); oid++ {
		i, k := (oid-1)/5+1, (oid-1)%5
		if download && oid == l.orders()/2 {
			if err := bw.Flush(); err != nil {
				return err
			}
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			l.once.Do(func() { close(l.half); <-l.resume })
		}
		created := l.now.Add(-time.Duration(1+i%400)*24*time.Hour - time.Duration(k)*time.Hour).UTC().Format(time.RFC3339)
		cancelled := "null"
		if i%10 == 0 && k == 4 {
			cancelled = fmt.Sprintf("%q", created)
		}
		gid := fmt.Sprintf("gid://shopify/Order/%d", 1_000_000+oid)
		if _, err := fmt.Fprintf(bw, `{"id":%q,"name":"#%d","email":"c%d@example.com","createdAt":%q,"updatedAt":%q,"cancelledAt":%s,"customerLocale":"ja","statusPageUrl":"https://%s/status","discountCodes":[],"displayFinancialStatus":"PAID","displayFulfillmentStatus":"FULFILLED","currencyCode":"JPY","totalPriceSet":{"shopMoney":{"amount":"3000.0"}},"subtotalPriceSet":{"shopMoney":{"amount":"3000.0"}},"customer":{"id":"gid://shopify/Customer/%d"}}`+"\n",
			gid, 1000+oid, i, created, created, cancelled, shop, 100000+i); err != nil {
			return err
		}
		for j := 1; j <= 2; j++ {
			if _, err := fmt.Fprintf(bw, `{"id":"gid://shopify/LineItem/%d","title":"Tea %d","name":"Tea %d","quantity":1,"vendor":"Kyoto Tea","sku":"T%d","product":{"id":"gid://shopify/Product/%d"},"variant":{"id":"gid://shopify/ProductVariant/%d"},"originalUnitPriceSet":{"shopMoney":{"amount":"1500.0"}},"__parentId":%q}`+"\n",
				oid*10+j, j, j, j, 700+j, 800+j, gid); err != nil {
				return err
			}
		}
	}
	return nil
}

// largeShopCounts: customers, orders, items and the orders the customers'
// stats count (not cancelled, not refunded), after the webhooks.
func (l *largeShop) counts() (customers, orders, items, live int) {
	orders = l.orders()
	items = 2*orders - 2 // each webhook order has one item
	live = orders - l.customers/10 - 2
	return l.customers, orders, items, live
}

// The "Must show": a generated shop (100k customers, 500k orders
// with TSUNAGU_HISTORY_SCALE=full; 600 and 3,000 by default) imported
// through the fake's bulk operations, with webhooks newer than the bulk
// copies delivered before and during the import: counts exact, stats and
// tags right, the webhooks' data kept, no message planned, and a rerun
// that writes nothing.
func TestHistoryImportLargeShop(t *testing.T) {
	t.Parallel()
	l := &largeShop{customers: 600, now: testNow, half: make(chan struct{}), resume: make(chan struct{})}
	if os.Getenv("TSUNAGU_HISTORY_SCALE") == "full" {
		l.customers = 100_000
	}
	var resumeOnce sync.Once
	resume := func() { resumeOnce.Do(func() { close(l.resume) }) }
	t.Cleanup(resume)
	db := testenv.Postgres(t)
	e := newLinkEnv(t, db, testenv.Redis(t), "", shopifytest.WithBulkResult(l.result))
	ctx := context.Background()
	started := time.Now()
	live := testNow.Add(-time.Hour).Format(time.RFC3339)
	send := func(id, topic, body string) {
		t.Helper()
		if rec := deliver(t, e.a, webhookRequest(topic, id, []byte(body), e.shop.APISecret)); rec.Code != 200 {
			t.Fatalf("%s: %d %s", topic, rec.Code, rec.Body)
		}
		e.processDue(t)
	}
	// Before the import: VIP customer 4 loses "vip" (newer than the copy).
	send("tags-before", shopify.TopicCustomerTagsRemoved, fmt.Sprintf(`{"customerId":"gid://shopify/Customer/100004","tags":["vip"],"occurredAt":%q}`, live))

	if _, err := e.a.startHistory(ctx, e.s.ID, nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 8; i++ {
			ended, err := e.a.Worker().HistoryStep(ctx, e.s.ID)
			if err != nil || ended {
				done <- err
				return
			}
			e.shop.CompleteBulkOperations()
		}
		done <- fmt.Errorf("the history import never ended")
	}()
	select {
	case <-l.half:
	case err := <-done:
		t.Fatalf("the import ended before the middle of its orders: %v", err)
	}
	// Mid-import: two orders refunded (one already streamed, one to come)
	// and VIP customer 8 loses "vip".
	for n, oid := range l.webhookOrders() {
		i := (oid-1)/5 + 1
		send(fmt.Sprintf("order-%d", n), shopify.TopicOrdersUpdated, fmt.Sprintf(`{"id":%d,"name":"#%d","created_at":%q,"updated_at":%q,"financial_status":"refunded","currency":"JPY","total_price":"3000","customer":{"id":%d},"line_items":[{"id":1,"title":"Webhook tea","quantity":1,"price":"1500"}]}`,
			1_000_000+oid, 1000+oid, testNow.Add(-48*time.Hour).Format(time.RFC3339), live, 100000+i))
	}
	send("tags-during", shopify.TopicCustomerTagsRemoved, fmt.Sprintf(`{"customerId":"gid://shopify/Customer/100008","tags":["vip"],"occurredAt":%q}`, live))
	resume()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d customers, %d orders imported in %v", l.customers, l.orders(), time.Since(started).Round(time.Millisecond))

	check := func(when string) {
		t.Helper()
		nc, no, ni, nlive := l.counts()
		if got := histRows(t, db, "customers", "shop_id = ? AND shopify_id > 100000", e.s.ID); got != int64(nc) {
			t.Errorf("%s: %d customers, want %d", when, got, nc)
		}
		if got := histRows(t, db, "orders", "shop_id = ?", e.s.ID); got != int64(no) {
			t.Errorf("%s: %d orders, want %d", when, got, no)
		}
		if got := histRows(t, db, "order_items", ""); got != int64(ni) {
			t.Errorf("%s: %d items, want %d", when, got, ni)
		}
		var stats struct{ N, Spent int64 }
		if err := db.G.Raw("SELECT COALESCE(SUM(orders_count), 0) AS n, CAST(COALESCE(SUM(total_spent), 0) AS BIGINT) AS spent FROM customers WHERE shop_id = ?", e.s.ID).Scan(&stats).Error; err != nil {
			t.Fatal(err)
		}
		if stats.N != int64(nlive) || stats.Spent != 3000*int64(nlive) {
			t.Errorf("%s: stats count %d orders, %d spent; want %d, %d", when, stats.N, stats.Spent, nlive, 3000*nlive)
		}
		if got := histRows(t, db, "customers", "shop_id = ? AND tags = ?", e.s.ID, "tea, vip"); got != int64(nc/4-2) {
			t.Errorf("%s: %d VIP-tagged, want %d", when, got, nc/4-2)
		}
		for _, oid := range l.webhookOrders() {
			o, err := db.OrderByShopifyID(ctx, e.s.ID, int64(1_000_000+oid))
			if err != nil || o.FinancialStatus != "refunded" || len(o.Items) != 1 || o.Items[0].Title != "Webhook tea" {
				t.Errorf("%s: webhook order %d overwritten by the older bulk copy: %+v %v", when, oid, o, err)
			}
		}
		if got := histRows(t, db, "messages", ""); got != 0 {
			t.Errorf("%s: history planned %d messages", when, got)
		}
		imps, err := db.HistoryImports(ctx, e.s.ID)
		if err != nil || len(imps) != 2 {
			t.Fatalf("imports: %+v %v", imps, err)
		}
		for _, h := range imps {
			if h.Status != store.HistoryDone || h.RowsDone != h.RowsTotal || h.RowsTotal == 0 {
				t.Errorf("%s: import %+v", when, h)
			}
			if when == "rerun" && h.RowsWritten != 0 {
				t.Errorf("rerun wrote %d %s", h.RowsWritten, h.Kind)
			}
		}
	}
	check("import")

	// A rerun (Settings' button) reads the whole history again and writes nothing.
	if _, err := e.a.startHistory(ctx, e.s.ID, nil); err != nil {
		t.Fatal(err)
	}
	stepHistory(t, e)
	check("rerun")
}
