package app

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// The demo shop is what a newcomer sees first: it must open in the admin
// with customers, a timeline and dashboard numbers, and never be seeded twice.
func TestSeedDemo(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		shop, err := SeedDemo(ctx, db, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := SeedDemo(ctx, db, testNow); err == nil {
			t.Fatal("second seed accepted")
		}
		hits, _, err := db.SearchCustomers(ctx, shop.ID, "山田", 0, 10)
		if err != nil || len(hits) != 1 {
			t.Fatalf("search 山田: %+v %v", hits, err)
		}
		var skipped int64
		db.G.Model(&store.Message{}).Where("shop_id = ? AND status = ? AND reason = ?", shop.ID, store.MsgSkipped, "blocked").Count(&skipped)
		if skipped == 0 {
			t.Error("no message skipped for the blocked customer")
		}

		link, err := AdminURL(a.Config, DemoShop, testNow, 0)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(link)
		rec := get(t, a, u.RequestURI())
		ck := cookieNamed(rec, adminCookie)
		if ck == nil {
			t.Fatalf("admin-url did not start a session: %d %s", rec.Code, rec.Body)
		}
		for _, path := range []string{"/admin", "/admin/customers?q=hanako", "/admin/customers/" + itoa(hits[0].ID)} {
			page := get(t, a, path, ck)
			if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), DemoShop) {
				t.Fatalf("%s: %d", path, page.Code)
			}
		}
		if page := get(t, a, "/admin/customers/"+itoa(hits[0].ID), ck); !strings.Contains(page.Body.String(), "#1001") {
			t.Errorf("timeline lacks the first order")
		}
	})
}
