package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/line/linetest"
)

func (e *linkEnv) admin(method, path string, body any) *httptest.ResponseRecorder {
	var rd *bytes.Reader
	if s, ok := body.(string); ok {
		rd = bytes.NewReader([]byte(s))
	} else {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: adminCookie, Value: e.a.Signer.Sign(adminPurpose, []byte(testShop+"|staff-1"), testNow.Add(adminSessionTTL))})
	return e.serve(req)
}

func decodeJSON(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %s", rec.Body)
	}
	return m
}

func TestLineSettingsAPI(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e := newLinkEnv(t, db, testenv.Redis(t), "")
	ctx := context.Background()
	// A fresh shop without channels.
	db.G.Exec("DELETE FROM line_channels")

	if rec := e.serve(httptest.NewRequest(http.MethodGet, "/api/settings/line", nil)); rec.Code != 401 {
		t.Fatalf("no session: %d", rec.Code)
	}
	rec := e.admin(http.MethodGet, "/api/settings/line", nil)
	if got := decodeJSON(t, rec); rec.Code != 200 || got["callback_url"] != e.a.Config.BaseURL+"/link/callback" || got["login_ready"] != false {
		t.Fatalf("empty settings: %d %v", rec.Code, got)
	}

	for _, tc := range []struct {
		name string
		body any
	}{
		{"letters in channel id", map[string]string{"login_channel_id": "abc"}},
		{"masked secret sent back", map[string]string{"login_channel_id": "1650000001", "login_channel_secret": "••••abcd"}},
		{"secret with spaces", map[string]string{"messaging_access_token": "a b"}},
	} {
		if rec := e.admin(http.MethodPut, "/api/settings/line", tc.body); rec.Code != 422 {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
		}
	}
	if rec := e.admin(http.MethodPut, "/api/settings/line", "{"); rec.Code != 400 {
		t.Errorf("malformed JSON: %d", rec.Code)
	}

	rec = e.admin(http.MethodPut, "/api/settings/line", map[string]string{
		"login_channel_id": testLoginChannel, "login_channel_secret": testLoginSecret,
		"messaging_channel_id": "2000000001", "messaging_channel_secret": testMsgSecret, "messaging_access_token": testLINEToken,
	})
	got := decodeJSON(t, rec)
	if rec.Code != 200 || got["login_ready"] != true || got["messaging_ready"] != true {
		t.Fatalf("save: %d %v", rec.Code, got)
	}
	if strings.Contains(rec.Body.String(), testLoginSecret) || strings.Contains(rec.Body.String(), testLINEToken) || strings.Contains(rec.Body.String(), testMsgSecret) {
		t.Fatalf("a secret came back: %s", rec.Body)
	}
	if got["login_channel_secret"] != "••••"+testLoginSecret[len(testLoginSecret)-4:] {
		t.Errorf("masked secret %v", got["login_channel_secret"])
	}
	wh, _ := got["webhook_url"].(string)
	key := strings.TrimPrefix(wh, e.a.Config.BaseURL+"/webhooks/line/")
	if key == wh || len(key) < 20 {
		t.Fatalf("webhook url %q", wh)
	}
	ch, err := db.LineChannel(ctx, e.s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ch.LoginSecretEnc, []byte(testLoginSecret)) || bytes.Contains(ch.MessagingTokenEnc, []byte(testLINEToken)) {
		t.Fatal("secrets stored in the clear")
	}
	if s, _ := e.a.Box.Open(ch.MessagingTokenEnc); s != testLINEToken {
		t.Fatalf("stored token opens to %q", s)
	}

	// Saving again without secrets keeps them and the webhook key.
	rec = e.admin(http.MethodPut, "/api/settings/line", map[string]string{"login_channel_id": testLoginChannel, "messaging_channel_id": "2000000001"})
	if got := decodeJSON(t, rec); got["webhook_url"] != wh || got["messaging_ready"] != true {
		t.Fatalf("resave: %v", got)
	}

	// Test connection: LINE's bot info is stored and shown.
	e.line.SetBotInfo(linetest.BotInfo{UserID: "U00000000000000000000000000000009", BasicID: "@tsunagu-shop", DisplayName: "つなぐ商店"})
	rec = e.admin(http.MethodPost, "/api/settings/line/test", nil)
	if got := decodeJSON(t, rec); rec.Code != 200 || got["bot_name"] != "つなぐ商店" || got["bot_basic_id"] != "@tsunagu-shop" {
		t.Fatalf("test: %d %v", rec.Code, got)
	}
	if got := decodeJSON(t, e.admin(http.MethodGet, "/api/settings/line", nil)); got["bot_name"] != "つなぐ商店" {
		t.Errorf("bot name not kept: %v", got)
	}
	// A token LINE does not know: LINE's answer comes back.
	e.admin(http.MethodPut, "/api/settings/line", map[string]string{"messaging_access_token": "revoked-token"})
	rec = e.admin(http.MethodPost, "/api/settings/line/test", nil)
	if got := decodeJSON(t, rec); rec.Code != http.StatusBadGateway || got["ok"] != false || !strings.Contains(got["error"].(string), "401") {
		t.Fatalf("bad token test: %d %v", rec.Code, got)
	}
}

func TestIncentiveSettingsAPI(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	e := newLinkEnv(t, db, testenv.Redis(t), "")
	for _, tc := range []struct {
		name   string
		body   any
		status int
	}{
		{"percentage", store.Incentive{Enabled: true, Kind: "percentage", Value: 15, ValidDays: 14, Title: "15%OFF"}, 200},
		{"fixed with minimum", store.Incentive{Enabled: true, Kind: "fixed", Value: 500, MinimumSubtotal: 3000, ValidDays: 30, Title: "500円OFF"}, 200},
		{"off, empty", store.Incentive{}, 200},
		{"percentage over 100", store.Incentive{Enabled: true, Kind: "percentage", Value: 120, ValidDays: 30, Title: "x"}, 422},
		{"zero value", store.Incentive{Enabled: true, Kind: "fixed", Value: 0, ValidDays: 30, Title: "x"}, 422},
		{"unknown kind", store.Incentive{Enabled: true, Kind: "free_shipping", Value: 1, ValidDays: 30, Title: "x"}, 422},
		{"no validity", store.Incentive{Enabled: true, Kind: "percentage", Value: 10, Title: "x"}, 422},
		{"validity too long", store.Incentive{Enabled: true, Kind: "percentage", Value: 10, ValidDays: 400, Title: "x"}, 422},
		{"negative minimum", store.Incentive{Enabled: true, Kind: "percentage", Value: 10, ValidDays: 30, MinimumSubtotal: -1, Title: "x"}, 422},
		{"no title", store.Incentive{Enabled: true, Kind: "percentage", Value: 10, ValidDays: 30}, 422},
		{"malformed", "{", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := db.Shop(context.Background(), e.s.ID)
			rec := e.admin(http.MethodPut, "/api/settings/incentive", tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			after, _ := db.Shop(context.Background(), e.s.ID)
			if tc.status != 200 {
				if after.Settings.Incentive != before.Settings.Incentive {
					t.Fatal("refused settings were saved")
				}
				return
			}
			if after.Settings.Incentive != tc.body.(store.Incentive) {
				t.Fatalf("saved %+v", after.Settings.Incentive)
			}
			var got store.Incentive
			json.Unmarshal(e.admin(http.MethodGet, "/api/settings/incentive", nil).Body.Bytes(), &got)
			if got != tc.body.(store.Incentive) {
				t.Fatalf("GET %+v", got)
			}
		})
	}
}
