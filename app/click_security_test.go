package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// sentCampaign creates a campaign with a tracked link, sends it through
// the worker to the fake LINE server and returns the app, the campaign
// and the tracked link as the customer received it (path only).
func sentCampaign(t *testing.T) (*App, store.Campaign, string) {
	t.Helper()
	fake := linetest.NewServer(t)
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), fake.URL)
	seedAudience(t, a, 3)
	rec := adminCall(t, a, http.MethodPost, "/api/campaigns", map[string]any{
		"name": "Sale", "definition": map[string]any{"and": []any{}},
		"messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"セール {{link}}"}`)},
		"link":     "https://shop.example/sale",
	})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	camp := decode[store.Campaign](t, rec)
	ctx := context.Background()
	if _, err := a.DB.TransitionCampaign(ctx, camp.ID, []string{store.CampaignDraft}, store.CampaignScheduled, map[string]any{"scheduled_at": testNow}); err != nil {
		t.Fatal(err)
	}
	w := a.Worker()
	mustDo(t, w.StartCampaign(ctx, camp.ID))
	c, err := a.DB.Campaign(ctx, 0, camp.ID)
	mustDo(t, err)
	for b := 0; b < c.Batches; b++ {
		mustDo(t, w.SendCampaignBatch(ctx, camp.ID, b))
	}
	ms := fake.Multicasts()
	if len(ms) == 0 {
		t.Fatal("the campaign was not sent")
	}
	link := regexp.MustCompile(`/cc/[^"\s\\]+`).FindString(string(ms[0].Messages[0]))
	if link == "" {
		t.Fatalf("no tracked link in %s", ms[0].Messages[0])
	}
	return a, *c, link
}

func campaignClicks(t *testing.T, a *App, campaignID int64) int64 {
	t.Helper()
	var n int64
	mustDo(t, a.DB.WithContext(context.Background()).Model(&store.Activity{}).
		Where("kind = ? AND ref_type = ? AND ref_id = ?", store.ActClick, "campaign", campaignID).Count(&n).Error)
	return n
}

func hit(a *App, path, ip string, cookie *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr = ip + ":40000"
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	return rec
}

// M5: click ids cannot be guessed, and anonymous hits cannot inflate the
// clicks that pick an A/B winner.
func TestCampaignClicksBounded(t *testing.T) {
	t.Parallel()
	a, camp, link := sentCampaign(t)
	legacy := fmt.Sprintf("/cc/%d/A", camp.ID)
	if link == legacy {
		t.Errorf("the tracked link %s is the sequential campaign id", link)
	}

	// A real click counts once; the same browser again does not.
	rec := hit(a, link, "198.51.100.7", nil)
	if rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), "https://shop.example/sale?") {
		t.Fatalf("click: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	var visitor *http.Cookie
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == "tsunagu_v" {
			visitor = ck
		}
	}
	for i := 0; i < 5; i++ {
		hit(a, link, "198.51.100.7", visitor)
	}
	if n := campaignClicks(t, a, camp.ID); n != 1 {
		t.Errorf("one browser clicking 6 times: %d clicks recorded, want 1", n)
	}

	// Sequential URLs already in customers' chats still redirect, but
	// anyone can forge them, so they count nothing.
	for i := 0; i < 5; i++ {
		if rec := hit(a, legacy, fmt.Sprintf("203.0.113.%d", i), nil); rec.Code != http.StatusFound {
			t.Errorf("old link: %d", rec.Code)
		}
	}
	if n := campaignClicks(t, a, camp.ID); n != 1 {
		t.Errorf("forgeable sequential URLs recorded %d clicks, want none", n-1)
	}

	// A script without cookies from one address: bounded, and every hit
	// still redirects.
	for i := 0; i < 100; i++ {
		if rec := hit(a, link, "192.0.2.66", nil); rec.Code != http.StatusFound {
			t.Fatalf("hit %d: %d", i, rec.Code)
		}
	}
	if n := campaignClicks(t, a, camp.ID) - 1; n > 10 {
		t.Errorf("100 cookie-less hits from one address recorded %d clicks, want at most 10", n)
	}
	// Tampered tokens do not redirect.
	if rec := hit(a, link+"x", "192.0.2.67", nil); rec.Code != http.StatusNotFound {
		t.Errorf("tampered link: %d", rec.Code)
	}
}

// M5: destinations are http(s) links, checked when the campaign is saved.
func TestCampaignLinkSchemes(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	seedAdmin(t, a)
	for _, tc := range []struct {
		link   string
		status int
		msg    string
	}{
		{"javascript:alert(document.cookie)", 422, "only http and https"},
		{"data:text/html,<script>alert(1)</script>", 422, "only http and https"},
		{"//evil.example/login", 422, "no scheme"},
		{"shop.example/sale", 422, "no scheme"},
		{"https://shop.example/sale", 201, ""},
	} {
		rec := adminCall(t, a, http.MethodPost, "/api/campaigns", map[string]any{
			"name": "c " + tc.link, "definition": map[string]any{"and": []any{}},
			"messages": []json.RawMessage{json.RawMessage(`{"type":"text","text":"{{link}}"}`)}, "link": tc.link,
		})
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.msg) {
			t.Errorf("link %q: %d %s, want %d mentioning %q", tc.link, rec.Code, rec.Body, tc.status, tc.msg)
		}
	}
}
