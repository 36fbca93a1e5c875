package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// L4: a link token is spent once its customer has linked, and the link
// coupon is only ever shown to the LINE user it was issued to.
func TestLinkTokenSpentAndCouponPrivate(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e := newLinkEnv(t, db, testenv.Redis(t), "")
	ctx := context.Background()
	oldURL, err := e.a.LinkURL(e.s.ID, e.cust.ID)
	mustDo(t, err)
	now := testNow.Add(time.Minute)
	e.a.Now = func() time.Time { return now }
	// The customer links with the token.
	la := e.authorize(t, e.startURL(t, oldURL))
	rec := e.callback(la, la.callback, "")
	coupon, err := db.CustomerCoupon(ctx, e.s.ID, e.cust.ID, store.CampaignLineLink)
	if rec.Code != 200 || err != nil || !strings.Contains(rec.Body.String(), coupon.Code) {
		t.Fatalf("first link: %d %v", rec.Code, err)
	}
	link, err := db.LiveLink(ctx, e.cust.ID)
	mustDo(t, err)
	now = now.Add(time.Minute)
	if _, err := db.Unlink(ctx, link.ID, "test", now); err != nil {
		t.Fatal(err)
	}
	// Someone else opens the same (forwarded) link: refused.
	e.line.SetLoginUser("Uffffffffffffffffffffffffffffffff", "Stranger", true)
	if rec := e.serve(httptest.NewRequest(http.MethodGet, oldURL, nil)); rec.Code == http.StatusFound {
		t.Fatalf("a spent link token started a LINE Login")
	}
	// Even with a fresh link, the coupon issued to the first LINE user is
	// not shown to another one.
	now = now.Add(time.Minute)
	la2 := e.authorize(t, e.start(t, e.cust))
	rec = e.callback(la2, la2.callback, "")
	if rec.Code != 200 {
		t.Fatalf("relink by another LINE user: %d", rec.Code)
	}
	if strings.Contains(rec.Body.String(), coupon.Code) {
		t.Fatal("the first LINE user's coupon was shown to another LINE user")
	}
}

// startURL opens a given link URL and returns the redirect to LINE.
func (e *linkEnv) startURL(t *testing.T, u string) *loginAttempt {
	t.Helper()
	rec := e.serve(httptest.NewRequest(http.MethodGet, u, nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("start: status %d", rec.Code)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	mustDo(t, err)
	return &loginAttempt{authURL: loc, cookie: rec.Result().Cookies()[0]}
}
