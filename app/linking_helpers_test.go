package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

const (
	testLoginChannel = "1650000001"
	testLoginSecret  = "login-channel-secret-0123456789ab"
	testMsgSecret    = "messaging-channel-secret-0123456"
	testWebhookKey   = "wk-link-test"
	testLineUser     = "U1234567890abcdef1234567890abcdef"
)

// linkEnv is an app wired to a fake LINE and a fake Shopify, with one
// installed shop (incentive on), its channels and one customer.
type linkEnv struct {
	clock *testClock
	a     *App
	line  *linetest.Server
	shop  *shopifytest.Server
	s     *store.Shop
	cust  *store.Customer
}

func newLinkEnv(t testing.TB, db *store.DB, redisOpt asynq.RedisConnOpt, baseURL string, shopOpts ...shopifytest.Option) *linkEnv {
	t.Helper()
	tc := &testClock{now: testNow}
	clock := tc.Now
	fl := linetest.NewServer(t, linetest.WithClock(clock))
	fl.AddLoginChannel(testLoginChannel, testLoginSecret)
	fl.AddToken(testLINEToken)
	fl.SetLoginUser(testLineUser, "Taro Line", true)
	fs := shopifytest.NewServer(t, append([]shopifytest.Option{shopifytest.WithShop(testShop), shopifytest.WithClock(clock)}, shopOpts...)...)
	cfg := testConfig(fl.URL)
	cfg.ShopifyAPIKey, cfg.ShopifyAPISecret, cfg.ShopifyAdminBase = fs.APIKey, fs.APISecret, fs.AdminBase()
	if baseURL != "" {
		cfg.BaseURL = baseURL
	}
	a, err := Assemble(cfg, quietLogger(), db, redisOpt)
	if err != nil {
		t.Fatal(err)
	}
	a.Now = clock
	a.requestTimeout = testRequestDeadline
	t.Cleanup(a.Close)
	ctx := context.Background()
	now := testNow
	shop := &store.Shop{Domain: testShop, Name: "つなぐ商店", InstalledAt: &now, AccessTokenEnc: a.Box.Seal(fs.IssueToken(testShop))}
	shop.Settings.Incentive = store.Incentive{Enabled: true, Kind: "percentage", Value: 10, ValidDays: 30, Title: "LINE連携特典 10%OFF"}
	if err := db.CreateShop(ctx, shop); err != nil {
		t.Fatal(err)
	}
	ch := &store.LineChannel{ShopID: shop.ID, WebhookKey: testWebhookKey, MessagingChannelID: "2000000001",
		MessagingSecretEnc: a.Box.Seal(testMsgSecret), MessagingTokenEnc: a.Box.Seal(testLINEToken),
		LoginChannelID: testLoginChannel, LoginSecretEnc: a.Box.Seal(testLoginSecret)}
	if err := db.SaveLineChannel(ctx, ch); err != nil {
		t.Fatal(err)
	}
	return &linkEnv{clock: tc, a: a, line: fl, shop: fs, s: shop, cust: addCustomer(t, db, shop.ID, 7001)}
}

func addCustomer(t testing.TB, db *store.DB, shopID, shopifyID int64) *store.Customer {
	t.Helper()
	c := &store.Customer{ShopID: shopID, ShopifyID: shopifyID, FirstName: "Hanako", LastName: "Yamada", Email: "hanako@example.com"}
	if err := db.UpsertCustomer(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// loginAttempt is a started LINE Login: the callback request the browser
// would make after LINE redirects back, with the binding cookie.
type loginAttempt struct {
	authURL  *url.URL
	cookie   *http.Cookie
	callback url.Values
}

func (e *linkEnv) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.a.Handler().ServeHTTP(rec, req)
	return rec
}

// start opens the link URL of cust and returns the redirect to LINE.
func (e *linkEnv) start(t testing.TB, cust *store.Customer) *loginAttempt {
	t.Helper()
	u, err := e.a.LinkURL(e.s.ID, cust.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec := e.serve(httptest.NewRequest(http.MethodGet, u, nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("start: status %d %s", rec.Code, rec.Body)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("start set %d cookies", len(cookies))
	}
	return &loginAttempt{authURL: loc, cookie: cookies[0]}
}

// authorize plays LINE's consent screen (the fake redirects straight back).
func (e *linkEnv) authorize(t testing.TB, la *loginAttempt) *loginAttempt {
	t.Helper()
	hc := e.line.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := hc.Get(la.authURL.String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d; rejected %v", res.StatusCode, e.line.Rejected())
	}
	back, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(back.Path, linkCallbackPath) {
		t.Fatalf("LINE redirected to %s", back)
	}
	la.callback = back.Query()
	return la
}

func (e *linkEnv) callback(la *loginAttempt, q url.Values, lang string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, linkCallbackPath+"?"+q.Encode(), nil)
	if la.cookie != nil {
		req.AddCookie(la.cookie)
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	return e.serve(req)
}

func countRows(t *testing.T, db *store.DB, model any, where string, args ...any) int64 {
	t.Helper()
	var n int64
	q := db.G.Model(model)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// processPending runs the event jobs that are waiting, as a worker would.
func (e *linkEnv) processPending(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	w := e.a.Worker()
	for range 5 {
		ids, err := e.a.DB.PendingEventIDs(ctx, e.a.Now().Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) == 0 {
			return
		}
		for _, id := range ids {
			if err := w.ProcessEvent(ctx, id); err != nil {
				t.Fatalf("processing event %d: %v", id, err)
			}
		}
	}
}

// sendQueued sends every queued message, as the send worker would.
func (e *linkEnv) sendQueued(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var ms []store.Message
	if err := e.a.DB.G.Where("status = ?", store.MsgQueued).Find(&ms).Error; err != nil {
		t.Fatal(err)
	}
	w := e.a.Worker()
	for _, m := range ms {
		if err := w.SendMessage(ctx, m.ID); err != nil {
			t.Fatalf("sending message %d: %v", m.ID, err)
		}
	}
}

type lineLoginT = line.Login

func newLineLogin() *line.Login { return line.NewLogin(nil) }
