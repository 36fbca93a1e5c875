package app

import (
	"net/http"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// L3: signing out ends the session on the server, and a new password ends
// the account's other sessions.
func TestSessionsRevocable(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		seedAdmin(t, a)
		rec := adminDo(t, a, testShop, "POST", "/api/staff", map[string]string{"email": "lead@support.example", "role": "admin", "password": "admin-password-12"})
		if rec.Code != 201 {
			t.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
		id := decode[store.StaffAccount](t, rec).ID
		signIn := func() *http.Cookie {
			t.Helper()
			rec, ck := login(t, a, testShop, "lead@support.example", "admin-password-12")
			if ck == nil {
				t.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
			}
			return ck
		}
		works := func(ck *http.Cookie) int {
			return deliver(t, a, withCookie("GET", "/api/staff", ck, "")).Code
		}
		laptop, phone, tablet := signIn(), signIn(), signIn()
		for _, ck := range []*http.Cookie{laptop, phone, tablet} {
			if code := works(ck); code != 200 {
				t.Fatalf("fresh session: %d", code)
			}
		}

		// Signing out on the laptop: a copy of its cookie is dead.
		out := withCookie("POST", "/admin/logout", laptop, "")
		out.Header.Set("Sec-Fetch-Site", "same-origin")
		if rec := deliver(t, a, out); rec.Code != http.StatusSeeOther {
			t.Fatalf("logout: %d %s", rec.Code, rec.Body)
		}
		if code := works(laptop); code != http.StatusUnauthorized {
			t.Errorf("cookie after logout: %d, want 401", code)
		}
		if code := works(phone); code != 200 {
			t.Errorf("another device after logout: %d, want 200", code)
		}

		// A new password set from the phone: the tablet is signed out, the
		// phone carries on with the cookie it was given.
		rec = deliver(t, a, withCookie("PATCH", "/api/staff/"+itoa(id), phone, `{"password":"a-brand-new-password"}`))
		if rec.Code != 200 {
			t.Fatalf("password change: %d %s", rec.Code, rec.Body)
		}
		var renewed *http.Cookie
		for _, ck := range rec.Result().Cookies() {
			if ck.Name == adminCookie {
				renewed = ck
			}
		}
		if code := works(tablet); code != http.StatusUnauthorized {
			t.Errorf("other session after a password change: %d, want 401", code)
		}
		if renewed == nil || works(renewed) != 200 {
			t.Errorf("the session that changed the password lost its cookie")
		}

		// Shopify staff's cookie sessions are revocable too.
		shopify := adminCookieFor(a, testShop+"|staff-1")
		out = withCookie("POST", "/admin/logout", shopify, "")
		out.Header.Set("Sec-Fetch-Site", "same-origin")
		deliver(t, a, out)
		if code := deliver(t, a, withCookie("GET", "/api/staff", shopify, "")).Code; code != http.StatusUnauthorized {
			t.Errorf("Shopify staff cookie after logout: %d, want 401", code)
		}
	})
}

func adminCookieFor(a *App, payload string) *http.Cookie {
	return &http.Cookie{Name: adminCookie, Value: a.Signer.Sign(adminPurpose, []byte(payload), testNow.Add(time.Hour))}
}
