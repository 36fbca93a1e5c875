package app

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

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
		shop, err := SeedDemo(ctx, db, a.Config.SecretKey, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := SeedDemo(ctx, db, a.Config.SecretKey, testNow); err == nil {
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

// The demo timelines read like a support person's story: believable order
// and spacing, fulfilment before the shipping notice, unfollow before
// "blocked", clicks that name their message, everything in the last 30
// days (so the dashboard is not flat), English shoppers in English.
func TestDemoTellsAStory(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) { demoStory(t, db) })
}

func demoStory(t *testing.T, db *store.DB) {
	ctx := context.Background()
	shop, err := SeedDemo(ctx, db, testConfig("").SecretKey, testNow)
	if err != nil {
		t.Fatal(err)
	}
	japanese := func(s string) bool {
		for _, r := range s {
			if unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Han) {
				return true
			}
		}
		return false
	}
	linkDays := map[string]bool{}
	var sawBlocked, sawClick, sawShipping, sawEnglish bool
	for i, dc := range demoCustomers {
		c, err := db.CustomerByShopifyID(ctx, shop.ID, int64(7000+i))
		if err != nil {
			t.Fatal(err)
		}
		entries, _, err := db.Timeline(ctx, shop.ID, c.ID, nil, nil, 500)
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(entries) // oldest first, as the story goes
		lang := c.Locale        // the language the customer shops in
		if lang == "" {
			lang = "ja"
		}
		orderAt := map[int64]time.Time{}
		fulfilledAt := map[int64]time.Time{} // fulfillment id → when
		messageAt := map[int64]time.Time{}   // message id → when sent
		var unfollowAt time.Time
		for _, e := range entries {
			if e.At.Before(testNow.AddDate(0, 0, -30)) || e.At.After(testNow) {
				t.Errorf("%s: %s %s at %s is outside the last 30 days", dc.first, e.Group, e.Kind, e.At)
			}
			switch {
			case e.Kind == "order":
				orderAt[e.ID] = e.At
			case e.Kind == "fulfillment":
				fulfilledAt[e.ID] = e.At
			case e.Kind == "linked":
				linkDays[e.At.Format(time.DateOnly)] = true
			case e.Kind == store.ActUnfollow:
				unfollowAt = e.At
			case e.Group == store.TLMessages:
				m, err := db.Message(ctx, e.ID)
				if err != nil {
					t.Fatal(err)
				}
				if m.SentAt != nil {
					messageAt[m.ID] = *m.SentAt
				}
				if m.RefType == "order" {
					o, ok := orderAt[m.RefID]
					if !ok {
						t.Errorf("%s: %s before its order", dc.first, m.Kind)
					}
					if m.CreatedAt.Truncate(time.Minute).Equal(o.Truncate(time.Minute)) {
						t.Errorf("%s: %s shares its order's minute %s", dc.first, m.Kind, o.Format(time.TimeOnly))
					}
				}
				if m.Kind == "shipping" {
					sawShipping = true
					f, ok := fulfilledAt[m.RefID]
					if m.RefType != "fulfillment" || !ok || !f.Before(m.CreatedAt) {
						t.Errorf("%s: shipping notice %d without an earlier fulfilment (%s %d)", dc.first, m.ID, m.RefType, m.RefID)
					}
				}
				if m.Reason == "blocked" {
					sawBlocked = true
					if unfollowAt.IsZero() || !unfollowAt.Before(m.CreatedAt) {
						t.Errorf("%s: a message is skipped as blocked before any unfollow", dc.first)
					}
				}
				if m.Status == store.MsgSent {
					if japanese(m.Content) != (lang == "ja") {
						t.Errorf("%s (%s) got %s", dc.first, lang, m.Content)
					}
					sawEnglish = sawEnglish || lang == "en"
				}
			case e.Kind == store.ActClick:
				sawClick = true
				ref, _ := e.Details["ref_id"].(int64)
				m, err := db.Message(ctx, ref)
				if e.Details["ref_type"] != "message" || err != nil || !strings.Contains(e.Summary, m.Kind) {
					t.Errorf("%s: click %q does not name its message (%v, %v)", dc.first, e.Summary, e.Details, err)
				} else if sent, ok := messageAt[m.ID]; !ok || !sent.Before(e.At) {
					t.Errorf("%s: click on message %d before it was sent", dc.first, m.ID)
				}
			}
		}
		if len(orderAt) == 0 {
			t.Errorf("%s has no orders", dc.first)
		}
	}
	if !sawBlocked || !sawClick || !sawShipping || !sawEnglish {
		t.Errorf("story lacks a part: blocked %v, click %v, shipping %v, English %v", sawBlocked, sawClick, sawShipping, sawEnglish)
	}
	if len(linkDays) < 4 {
		t.Errorf("links on %d days of the last 30: the dashboard chart is flat", len(linkDays))
	}
}
