package app

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := hashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := hashPassword("correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || h == h2 {
		t.Fatalf("hash %q (salted: %v)", h, h != h2)
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		if got := checkPassword(h, pw); got != want {
			t.Errorf("check %q = %v", pw, got)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=99999999,t=1,p=1$AA$AA", dummyHash} {
		if checkPassword(bad, "correct horse battery") {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
}

// login signs in through the form and returns the session cookie.
func login(t *testing.T, a *App, shop, email, pw string) (*httptest.ResponseRecorder, *http.Cookie) {
	t.Helper()
	form := url.Values{"shop": {shop}, "email": {email}, "password": {pw}}
	req := httptest.NewRequest(http.MethodPost, "/admin/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin") // as every current browser sends
	rec := deliver(t, a, req)
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == adminCookie && ck.Value != "" {
			return rec, ck
		}
	}
	return rec, nil
}

func withCookie(method, target string, ck *http.Cookie, body string) *http.Request {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.AddCookie(ck)
	return req
}

func TestStaffAccounts(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		s := seedAdmin(t, a)

		// The merchant (Shopify session) creates accounts.
		for _, tc := range []struct {
			body   map[string]string
			status int
		}{
			{map[string]string{"email": "viewer@support.example", "role": "viewer", "password": "viewer-password-1"}, 201},
			{map[string]string{"email": "Lead@Support.example", "role": "admin", "password": "admin-password-12"}, 201},
			{map[string]string{"email": "viewer@support.example", "password": "another-password"}, 409},
			{map[string]string{"email": "short@support.example", "password": "short"}, 422},
			{map[string]string{"email": "not an email", "password": "long-enough-password"}, 422},
			{map[string]string{"email": "x@support.example", "role": "owner", "password": "long-enough-password"}, 422},
		} {
			if rec := adminDo(t, a, testShop, "POST", "/api/staff", tc.body); rec.Code != tc.status {
				t.Errorf("create %v: %d %s", tc.body, rec.Code, rec.Body)
			}
		}
		list := decode[struct {
			Staff []store.StaffAccount `json:"staff"`
		}](t, adminDo(t, a, testShop, "GET", "/api/staff", nil))
		if len(list.Staff) != 2 || strings.Contains(adminDo(t, a, testShop, "GET", "/api/staff", nil).Body.String(), "argon2") {
			t.Fatalf("staff list %+v (hashes must not leave the server)", list.Staff)
		}
		if got := decode[map[string][]any](t, adminDo(t, a, otherShop, "GET", "/api/staff", nil)); len(got["staff"]) != 0 {
			t.Fatalf("shop B sees shop A's staff: %v", got)
		}

		// Wrong passwords, unknown emails and other shops all fail the same way.
		for _, c := range [][3]string{
			{testShop, "viewer@support.example", "wrong-password!"},
			{testShop, "nobody@support.example", "viewer-password-1"},
			{otherShop, "viewer@support.example", "viewer-password-1"},
		} {
			rec, ck := login(t, a, c[0], c[1], c[2])
			if rec.Code != 401 || ck != nil {
				t.Errorf("login %v: %d, cookie %v", c, rec.Code, ck != nil)
			}
		}

		rec, viewer := login(t, a, testShop, "VIEWER@support.example ", "viewer-password-1")
		if rec.Code != http.StatusSeeOther || viewer == nil {
			t.Fatalf("viewer login: %d %s", rec.Code, rec.Body)
		}
		_, admin := login(t, a, testShop, "lead@support.example", "admin-password-12")
		han := "/api/customers/" + itoa(s.hanako.ID)
		journeys := `{"journeys":[],"quiet_start":"21:00","quiet_end":"09:00","daily_cap":2,"thank_you_trigger":"orders/create"}`
		cases := []struct {
			name   string
			ck     *http.Cookie
			method string
			path   string
			body   string
			status int
		}{
			{"viewer reads timeline", viewer, "GET", han + "/timeline", "", 200},
			{"viewer reads pages", viewer, "GET", "/admin/customers/" + itoa(s.hanako.ID), "", 200},
			{"viewer previews", viewer, "POST", "/api/templates/thank_you/preview", "", 200},
			{"viewer cannot save settings", viewer, "PUT", "/api/settings/journeys", journeys, 403},
			{"viewer cannot save templates", viewer, "PUT", "/api/templates/thank_you", `{"source":""}`, 403},
			{"viewer cannot change other issues' settings", viewer, "PUT", "/api/settings/line", `{}`, 403},
			{"viewer cannot list staff", viewer, "GET", "/api/staff", "", 403},
			{"viewer stays in shop", viewer, "GET", "/api/customers/" + itoa(s.intruder.ID), "", 404},
			{"admin saves settings", admin, "PUT", "/api/settings/journeys", journeys, 200},
			{"admin lists staff", admin, "GET", "/api/staff", "", 200},
		}
		for _, tc := range cases {
			if rec := deliver(t, a, withCookie(tc.method, tc.path, tc.ck, tc.body)); rec.Code != tc.status {
				t.Errorf("%s: %d, want %d: %s", tc.name, rec.Code, tc.status, rec.Body)
			}
		}

		// Disabling the account ends its session at once.
		var viewerID int64
		for _, st := range list.Staff {
			if st.Email == "viewer@support.example" {
				viewerID = st.ID
			}
		}
		if rec := deliver(t, a, withCookie("PATCH", "/api/staff/"+itoa(viewerID), admin, `{"disabled":true}`)); rec.Code != 200 {
			t.Fatalf("disable: %d %s", rec.Code, rec.Body)
		}
		if rec := deliver(t, a, withCookie("GET", han, viewer, "")); rec.Code != 401 {
			t.Errorf("disabled viewer still reads: %d", rec.Code)
		}
		if rec, ck := login(t, a, testShop, "viewer@support.example", "viewer-password-1"); rec.Code != 401 || ck != nil {
			t.Errorf("disabled viewer signs in: %d", rec.Code)
		}
		// Shop B cannot touch shop A's staff.
		if rec := adminDo(t, a, otherShop, "PATCH", "/api/staff/"+itoa(viewerID), map[string]any{"disabled": false}); rec.Code != 404 {
			t.Errorf("cross-shop staff update: %d", rec.Code)
		}
	})
}

func TestCrossSiteWritesRefused(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	seedAdmin(t, a)
	ck := &http.Cookie{Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(testShop+"|1"), testNow.Add(time.Hour))}
	form := "email=evil%40attacker.example&password=attacker-password&role=admin"
	cases := []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"form from another site", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded"}, 403},
		{"foreign Origin", map[string]string{"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"}, 403},
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com", "Content-Type": "application/json"}, 201},
	}
	for _, tc := range cases {
		body := form
		if tc.status == 201 {
			body = `{"email":"ok@support.example","password":"long-enough-password"}`
		}
		req := withCookie("POST", "/api/staff", ck, "")
		req.Body = httptestBody(body)
		req.ContentLength = int64(len(body))
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		if rec := deliver(t, a, req); rec.Code != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.name, rec.Code, tc.status, rec.Body)
		}
	}
	list, _ := a.DB.ListStaff(context.Background(), 1)
	for _, s := range list {
		if s.Email == "evil@attacker.example" {
			t.Fatal("a cross-site form created a staff account")
		}
	}
}

func httptestBody(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
