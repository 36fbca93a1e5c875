package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

// historyShop generates a shop's history in the bulk JSONL shape of
// shopify.HistoryOrdersQuery / HistoryCustomersQuery: customer i (of n) is
// a VIP (5 recent orders) when i%4 == 0, dormant (1 order two years ago)
// when i%4 == 1, at risk (2 orders 100 days ago) when i%4 == 2, and has
// no order when i%4 == 3; every 10th order of a VIP is a guest order.
type historyShop struct {
	customers int
	now       time.Time
}

func (h historyShop) ordersOf(i int) (n int, age time.Duration) {
	switch i % 4 {
	case 0:
		return 5, 10 * 24 * time.Hour
	case 1:
		return 1, 2 * 365 * 24 * time.Hour
	case 2:
		return 2, 100 * 24 * time.Hour
	}
	return 0, 0
}

// counts: customers, orders (with customer), line items, VIPs, dormant.
func (h historyShop) counts() (customers, orders, items, vip, dormant int) {
	for i := 1; i <= h.customers; i++ {
		n, _ := h.ordersOf(i)
		orders += n
		items += 2 * n
		switch i % 4 {
		case 0:
			vip++
		case 1:
			dormant++
		}
	}
	return h.customers, orders, items, vip, dormant
}

func (h historyShop) result(w io.Writer, shop, query string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	if strings.Contains(query, "customers {") {
		for i := 1; i <= h.customers; i++ {
			tags := `["tea"]`
			if i%4 == 0 {
				tags = `["tea","vip"]`
			}
			if _, err := fmt.Fprintf(bw, `{"id":"gid://shopify/Customer/%d","firstName":"Hanako%d","lastName":"Yamada","locale":"ja","tags":%s,"createdAt":"2020-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","defaultEmailAddress":{"emailAddress":"c%d@example.com","marketingState":"SUBSCRIBED","marketingUpdatedAt":"2025-01-01T00:00:00Z"},"defaultPhoneNumber":null,"defaultAddress":{"province":"Tokyo","provinceCode":"JP-13","countryCodeV2":"JP"},"bd0":{"value":"1990-04-%02d"},"bd1":null,"bd2":null,"bd3":null}`+"\n",
				10000+i, i, tags, i, i%28+1); err != nil {
				return err
			}
		}
		return nil
	}
	oid := 0
	for i := 1; i <= h.customers; i++ {
		n, age := h.ordersOf(i)
		for k := 0; k < n; k++ {
			oid++
			created := h.now.Add(-age - time.Duration(k)*time.Hour).UTC().Format(time.RFC3339)
			gid := fmt.Sprintf("gid://shopify/Order/%d", 50000+oid)
			if _, err := fmt.Fprintf(bw, `{"id":%q,"name":"#%d","email":"c%d@example.com","createdAt":%q,"updatedAt":%q,"cancelledAt":null,"customerLocale":"ja","statusPageUrl":"https://%s/status","discountCodes":[],"displayFinancialStatus":"PAID","displayFulfillmentStatus":"FULFILLED","currencyCode":"JPY","totalPriceSet":{"shopMoney":{"amount":"3000.0"}},"subtotalPriceSet":{"shopMoney":{"amount":"3000.0"}},"customer":{"id":"gid://shopify/Customer/%d"}}`+"\n",
				gid, 1000+oid, i, created, created, shop, 10000+i); err != nil {
				return err
			}
			for j := 1; j <= 2; j++ {
				if _, err := fmt.Fprintf(bw, `{"id":"gid://shopify/LineItem/%d","title":"Tea %d","name":"Tea %d","quantity":1,"vendor":"Kyoto Tea","sku":"T%d","product":{"id":"gid://shopify/Product/%d"},"variant":{"id":"gid://shopify/ProductVariant/%d"},"originalUnitPriceSet":{"shopMoney":{"amount":"1500.0"}},"__parentId":%q}`+"\n",
					oid*10+j, j, j, j, 700+j, 800+j, gid); err != nil {
					return err
				}
			}
			if i%4 == 0 && k == 0 { // a guest order beside
				oid++
				if _, err := fmt.Fprintf(bw, `{"id":"gid://shopify/Order/%d","name":"#%d","email":"","createdAt":%q,"updatedAt":%q,"displayFinancialStatus":"PAID","currencyCode":"JPY","totalPriceSet":{"shopMoney":{"amount":"100.0"}},"subtotalPriceSet":{"shopMoney":{"amount":"100.0"}},"customer":null}`+"\n",
					50000+oid, 1000+oid, created, created); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func guestOrders(customers int) int { return customers / 4 }

func newHistoryEnv(t *testing.T, db *store.DB, hs historyShop) *linkEnv {
	t.Helper()
	return newLinkEnv(t, db, testenv.Redis(t), "", shopifytest.WithBulkResult(hs.result))
}

// stepHistory runs the history schedule's step until the import ends.
func stepHistory(t *testing.T, e *linkEnv) {
	t.Helper()
	for i := 0; ; i++ {
		if i > 6 {
			t.Fatal("history import never ended")
		}
		ended, err := e.a.Worker().HistoryStep(context.Background(), e.s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ended {
			return
		}
	}
}

func histRows(t *testing.T, db *store.DB, table, where string, args ...any) int64 {
	t.Helper()
	var n int64
	q := db.G.Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func checkHistory(t *testing.T, e *linkEnv, hs historyShop, when string) {
	t.Helper()
	ctx := context.Background()
	db := e.a.DB
	nc, no, ni, vip, dormant := hs.counts()
	// The linkEnv's own customer (7001) is not in the history.
	if got := histRows(t, db, "customers", "shop_id = ? AND shopify_id <> 7001", e.s.ID); got != int64(nc) {
		t.Errorf("%s: %d customers, want %d", when, got, nc)
	}
	if got := histRows(t, db, "orders", "shop_id = ?", e.s.ID); got != int64(no+guestOrders(hs.customers)) {
		t.Errorf("%s: %d orders, want %d", when, got, no+guestOrders(hs.customers))
	}
	if got := histRows(t, db, "order_items", ""); got != int64(ni) {
		t.Errorf("%s: %d items, want %d", when, got, ni)
	}
	shop := e.reloadShop(t)
	for key, want := range map[string]int{"vip": vip, "dormant": dormant} {
		n, _ := segment.Builtin(key)
		got, err := db.CountSegment(ctx, shop, n, testNow)
		if err != nil || got != int64(want) {
			t.Errorf("%s: segment %s = %d (%v), want %d", when, key, got, err, want)
		}
	}
	tag, err := segment.Parse([]byte(`{"field":"tag","op":"=","value":"vip"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := db.CountSegment(ctx, shop, tag, testNow); got != int64(vip) {
		t.Errorf("%s: tag vip = %d, want %d", when, got, vip)
	}
	// History sends nothing and plans nothing.
	if got := histRows(t, db, "messages", ""); got != 0 {
		t.Errorf("%s: %d messages planned by history", when, got)
	}
}

// Install starts the import; the bulk_operations/finish webhook makes the
// step due at once; customers and orders land in the webhooks' tables,
// segments count them, nothing is planned, and a rerun changes nothing.
func TestHistoryImportOnInstall(t *testing.T) {
	t.Parallel()
	hs := historyShop{customers: 100, now: testNow}
	if v := os.Getenv("TSUNAGU_TEST_HISTORY_CUSTOMERS"); v != "" { // the 100k-customer shop, by hand
		fmt.Sscan(v, &hs.customers)
	}
	db := testenv.Postgres(t)
	e := newHistoryEnv(t, db, hs)
	ctx := context.Background()
	e.installByCallback(t)
	imps, err := db.HistoryImports(ctx, e.s.ID)
	if err != nil || len(imps) != 2 || imps[0].Status != store.HistoryPending {
		t.Fatalf("imports after install: %+v %v", imps, err)
	}
	// First step: both bulk queries start (2 of the 5 a shop may run).
	if ended, err := e.a.Worker().HistoryStep(ctx, e.s.ID); err != nil || ended {
		t.Fatalf("first step: %v %v", ended, err)
	}
	queries, grouped := e.shop.BulkQueries(testShop)
	if len(queries) != 2 {
		t.Fatalf("bulk queries %v", queries)
	}
	for i, q := range queries {
		if strings.Contains(q, "lineItems") != grouped[i] {
			t.Errorf("query %d grouped=%v: the orders query needs grouped output", i, grouped[i])
		}
	}
	// Shopify finishes and says so.
	ids := e.shop.CompleteBulkOperations()
	for i, id := range ids {
		body, ok := e.shop.FinishWebhook(id)
		if !ok {
			t.Fatal("no finish webhook")
		}
		if rec := deliver(t, e.a, webhookRequest(shopify.TopicBulkOperationsFinish, fmt.Sprintf("bulk-%d", i), body, e.shop.APISecret)); rec.Code != 200 {
			t.Fatalf("finish webhook: %d", rec.Code)
		}
	}
	e.processDue(t)
	due, err := db.DueSchedules(ctx, e.clock.Now())
	if err != nil || len(due) != 1 || due[0].Name != jobs.HistorySchedule(e.s.ID) {
		t.Fatalf("due schedules after the finish webhook: %+v %v", due, err)
	}
	if err := e.a.Worker().RunScheduled(ctx, due[0].Name, due[0].NextAt); err != nil {
		t.Fatal(err)
	}
	if due, _ := db.DueSchedules(ctx, e.clock.Now().Add(time.Hour)); len(due) != 0 {
		t.Errorf("the history schedule outlived the import: %+v", due)
	}
	imps, _ = db.HistoryImports(ctx, e.s.ID)
	for _, h := range imps {
		if h.Status != store.HistoryDone || h.RowsDone != h.RowsTotal || h.RowsTotal == 0 {
			t.Errorf("import %+v", h)
		}
	}
	checkHistory(t, e, hs, "import")
	c, err := db.CustomerByShopifyID(ctx, e.s.ID, 10004)
	if err != nil || c.Email != "c4@example.com" || c.Region != "JP-13" || c.Birthday != "1990-04-05" || !c.AcceptsMarketing || c.Locale != "ja" {
		t.Errorf("customer 4 = %+v %v", c, err)
	}
	// A rerun (Settings' button) is a no-op on the data.
	if _, err := e.a.startHistory(ctx, e.s.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.startHistory(ctx, e.s.ID, nil); err == nil {
		t.Error("a second start while one runs was accepted")
	}
	stepHistory(t, e)
	checkHistory(t, e, hs, "rerun")
}

// failingReader fails after n bytes, as a dropped download or a killed
// worker would end the stream.
type failingReader struct {
	r io.Reader
	n int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// A crash mid-file resumes after the last committed batch: nothing is
// written twice and the counts come out exact.
func TestHistoryImportResumesAfterCrash(t *testing.T) {
	t.Parallel()
	hs := historyShop{customers: 80, now: testNow}
	db := testenv.Postgres(t)
	e := newHistoryEnv(t, db, hs)
	ctx := context.Background()
	if _, err := e.a.startHistory(ctx, e.s.ID, nil); err != nil {
		t.Fatal(err)
	}
	w := e.a.Worker()
	if _, err := w.HistoryStep(ctx, e.s.ID); err != nil {
		t.Fatal(err)
	}
	e.shop.CompleteBulkOperations()
	imps, _ := db.HistoryImports(ctx, e.s.ID)
	var orders store.HistoryImport
	for _, h := range imps {
		if h.Kind == store.HistoryOrders {
			orders = h
		}
	}
	// Move it to importing as the step would, then crash part-way.
	if ok, err := db.MoveHistoryImport(ctx, orders.ID, store.HistoryRunning, map[string]any{"status": store.HistoryImporting}, testNow); !ok || err != nil {
		t.Fatal(ok, err)
	}
	orders.Status = store.HistoryImporting
	var file strings.Builder
	if err := hs.result(&file, testShop, shopify.HistoryOrdersQuery(nil)); err != nil {
		t.Fatal(err)
	}
	h := e.a.History()
	h.Batch = 20
	crash := &failingReader{r: strings.NewReader(file.String()), n: file.Len() / 2}
	if err := h.Import(ctx, e.s.ID, &orders, crash); err == nil {
		t.Fatal("the crash was not reported")
	}
	imps, _ = db.HistoryImports(ctx, e.s.ID)
	for _, x := range imps {
		if x.Kind == store.HistoryOrders && (x.RowsDone == 0 || x.RowsDone%20 != 0) {
			t.Fatalf("cursor after the crash: %+v", x)
		}
	}
	half := histRows(t, db, "orders", "")
	if half == 0 {
		t.Fatal("nothing committed before the crash")
	}
	// The poll finds it importing and resumes from the cursor.
	stepHistory(t, e)
	checkHistory(t, e, hs, "resumed")
}

// A webhook newer than the history copy wins, whichever lands first, and
// the newer tag change from customer.tags_removed is not undone.
func TestHistoryImportKeepsNewerWebhooks(t *testing.T) {
	t.Parallel()
	hs := historyShop{customers: 20, now: testNow}
	db := testenv.Postgres(t)
	e := newHistoryEnv(t, db, hs)
	ctx := context.Background()
	// Order 50004 (customer 10004's first) was updated after the export:
	// refunded; customer 10004 lost "vip" after it.
	order := fmt.Sprintf(`{"id":50004,"name":"#1004","created_at":%q,"updated_at":%q,"financial_status":"refunded","currency":"JPY","total_price":"3000","customer":{"id":10004},"line_items":[{"id":1,"title":"Tea 1","quantity":1,"price":"1500"}]}`,
		testNow.Add(-10*24*time.Hour).Format(time.RFC3339), testNow.Add(-time.Hour).Format(time.RFC3339))
	tags := fmt.Sprintf(`{"customerId":"gid://shopify/Customer/10004","tags":["vip"],"occurredAt":%q}`, testNow.Add(-time.Hour).Format(time.RFC3339))
	for i, wh := range []struct{ topic, body string }{{shopify.TopicOrdersUpdated, order}, {shopify.TopicCustomerTagsRemoved, tags}} {
		if rec := deliver(t, e.a, webhookRequest(wh.topic, fmt.Sprintf("live-%d", i), []byte(wh.body), e.shop.APISecret)); rec.Code != 200 {
			t.Fatalf("%s: %d %s", wh.topic, rec.Code, rec.Body)
		}
	}
	e.processDue(t)
	if _, err := e.a.startHistory(ctx, e.s.ID, nil); err != nil {
		t.Fatal(err)
	}
	stepHistory(t, e)
	o, err := db.OrderByShopifyID(ctx, e.s.ID, 50004)
	if err != nil || o.FinancialStatus != "refunded" || len(o.Items) != 1 {
		t.Fatalf("webhook order overwritten by history: %+v %v", o, err)
	}
	c, _ := db.CustomerByShopifyID(ctx, e.s.ID, 10004)
	if c.Tags != "tea" || c.OrdersCount != 4 {
		t.Fatalf("customer 10004: tags %q, %d orders", c.Tags, c.OrdersCount)
	}
	if got := histRows(t, db, "messages", ""); got != 0 {
		t.Errorf("%d messages planned", got)
	}
}

// Settings shows the progress to every role; only admins get the start
// button and may start (the span reaches the bulk query).
func TestHistorySettingsRoles(t *testing.T) {
	t.Parallel()
	hs := historyShop{customers: 8, now: testNow}
	db := testenv.Postgres(t)
	e := newHistoryEnv(t, db, hs)
	a := e.a
	page := adminDo(t, a, testShop, "GET", "/admin/settings", nil)
	if page.Code != 200 || !strings.Contains(page.Body.String(), `id="history-start"`) || !strings.Contains(page.Body.String(), "過去の注文と顧客の取り込み") {
		t.Fatalf("admin settings: %d", page.Code)
	}
	if rec := adminDo(t, a, testShop, "POST", "/api/settings/history", map[string]string{"since": "2025-13-01"}); rec.Code != 400 && rec.Code != 422 {
		t.Errorf("bad since: %d %s", rec.Code, rec.Body)
	}
	rec := adminDo(t, a, testShop, "POST", "/api/settings/history", map[string]string{"since": "2025-01-01"})
	if rec.Code != 202 {
		t.Fatalf("start: %d %s", rec.Code, rec.Body)
	}
	if rec := adminDo(t, a, testShop, "POST", "/api/settings/history", map[string]string{}); rec.Code != 409 {
		t.Errorf("second start: %d %s", rec.Code, rec.Body)
	}
	stepHistory(t, e)
	queries, _ := e.shop.BulkQueries(testShop)
	if !strings.Contains(strings.Join(queries, "\n"), `orders(query: "created_at:>='2025-01-01T00:00:00Z'")`) {
		t.Errorf("the span did not reach the orders query: %q", queries)
	}
	if rec := adminDo(t, a, testShop, "POST", "/api/staff", map[string]string{"email": "viewer@support.example", "role": "viewer", "password": "viewer-password-1"}); rec.Code != 201 {
		t.Fatalf("staff: %d", rec.Code)
	}
	_, viewer := login(t, a, testShop, "viewer@support.example", "viewer-password-1")
	if viewer == nil {
		t.Fatal("viewer login")
	}
	vp := deliver(t, a, withCookie("GET", "/admin/settings", viewer, ""))
	body := vp.Body.String()
	if vp.Code != 200 || strings.Contains(body, `id="history-start"`) || !strings.Contains(body, `class="history-row" data-kind="orders"`) {
		t.Errorf("viewer settings: %d start button or no progress", vp.Code)
	}
	got := decode[struct {
		Imports []historyJSON `json:"imports"`
	}](t, deliver(t, a, withCookie("GET", "/api/settings/history", viewer, "")))
	if len(got.Imports) != 2 || got.Imports[0].Status != store.HistoryDone || got.Imports[0].Total != int64(hs.customers) {
		t.Errorf("viewer progress: %+v", got.Imports)
	}
	if rec := deliver(t, a, withCookie("POST", "/api/settings/history", viewer, `{}`)); rec.Code != 403 {
		t.Errorf("viewer start: %d", rec.Code)
	}
}
