package app

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/testenv"
)

// loginFrom signs in through the form from the client address ip.
func loginFrom(t *testing.T, a *App, ip, shop, email, pw string) int {
	t.Helper()
	form := url.Values{"shop": {shop}, "email": {email}, "password": {pw}}
	req := httptest.NewRequest(http.MethodPost, "/admin/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.RemoteAddr = ip + ":50000"
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	return rec.Code
}

func seedStaff(t *testing.T, a *App, email, pw string) {
	t.Helper()
	if rec := adminDo(t, a, testShop, "POST", "/api/staff", map[string]string{"email": email, "password": pw}); rec.Code != 201 {
		t.Fatalf("creating staff: %d %s", rec.Code, rec.Body)
	}
}

// M2: a stranger who knows a staff email cannot lock its owner out; he
// locks out only himself.
func TestSigninStrangerCannotLockOut(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	seedAdmin(t, a)
	seedStaff(t, a, "v@support.example", "viewer-password-1")
	codes := map[int]int{}
	for i := 0; i < 20; i++ {
		codes[loginFrom(t, a, "203.0.113.9", testShop, "v@support.example", "guess-"+fmt.Sprint(i))]++
	}
	if codes[http.StatusUnauthorized] != signinMaxFails || codes[http.StatusTooManyRequests] != 20-signinMaxFails {
		t.Errorf("stranger's 20 guesses: %v, want %d refused passwords then 429s", codes, signinMaxFails)
	}
	// Even the right password from the stranger's address waits.
	if code := loginFrom(t, a, "203.0.113.9", testShop, "v@support.example", "viewer-password-1"); code != http.StatusTooManyRequests {
		t.Errorf("locked pair with the right password: %d, want 429", code)
	}
	// The real user, from her own address, still gets in; a typo first is
	// just a wrong password.
	if code := loginFrom(t, a, "198.51.100.20", testShop, "v@support.example", "viewer-passwrd-1"); code != http.StatusUnauthorized {
		t.Errorf("user's typo: %d, want 401", code)
	}
	if code := loginFrom(t, a, "198.51.100.21", testShop, "v@support.example", "viewer-password-1"); code != http.StatusSeeOther {
		t.Errorf("the real user with the right password: %d, want 303", code)
	}
}

// M2: the limits live in Redis, so a second process sees the failures the
// first one counted, and one client cannot spray many accounts.
func TestSigninLimitsShared(t *testing.T) {
	t.Parallel()
	db, rdb := testenv.SQLite(t), testenv.Redis(t)
	a1 := newTestApp(t, db, rdb, "http://127.0.0.1:1")
	a2 := newTestApp(t, db, rdb, "http://127.0.0.1:1")
	seedAdmin(t, a1)
	seedStaff(t, a1, "v@support.example", "viewer-password-1")
	// The limits are per minute: with real argon2 on a loaded machine, 60
	// attempts outlast the minute and the budget refills. Password checking
	// is not what this test is about.
	for _, a := range []*App{a1, a2} {
		a.signin.check = func(hash, pw string) bool { return pw == "viewer-password-1" }
	}
	for i := 0; i < signinMaxFails; i++ {
		if code := loginFrom(t, a1, "203.0.113.10", testShop, "v@support.example", "wrong-password-x"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d on the first process: %d", i, code)
		}
	}
	if code := loginFrom(t, a2, "203.0.113.10", testShop, "v@support.example", "viewer-password-1"); code != http.StatusTooManyRequests {
		t.Errorf("second process after %d failures on the first: %d, want 429", signinMaxFails, code)
	}
	// One address trying many accounts (half on each process) is stopped.
	limited := false
	for i := 0; i < 2*signinPerClient && !limited; i++ {
		app := []*App{a1, a2}[i%2]
		limited = loginFrom(t, app, "203.0.113.11", testShop, fmt.Sprintf("u%d@support.example", i), "wrong-password-x") == http.StatusTooManyRequests
	}
	if !limited {
		t.Errorf("one address tried %d accounts across two processes without a 429", 2*signinPerClient)
	}
}

// M2: however many attempts arrive at once, at most the cap run argon2
// concurrently; the others wait for a slot.
func TestSigninArgon2Cap(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	seedAdmin(t, a)
	seedStaff(t, a, "v@support.example", "viewer-password-1")
	limit := cap(a.signin.slots)
	var running, most, calls atomic.Int64
	check := a.signin.check
	a.signin.wait = 1 << 62 // nobody gives up: every attempt must run, within the cap
	// 200 queued argon2 runs outlast the 4 s request deadline on a busy
	// machine; the deadline is not what this test is about.
	a.requestTimeout = time.Hour
	a.signin.check = func(hash, pw string) bool {
		n := running.Add(1)
		defer running.Add(-1)
		calls.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		return check(hash, pw)
	}
	const attempts = 200
	var wg sync.WaitGroup
	codes := make([]int, attempts)
	for i := 0; i < attempts; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i] = loginFrom(t, a, fmt.Sprintf("198.18.%d.%d", i/200, i%200+1), testShop, "v@support.example", "wrong-password-x")
		}(i)
	}
	wg.Wait()
	// 401: checked and refused. 503: no slot in time, or (under a heavily
	// loaded test machine) Redis's connection pool ran dry: both refuse
	// without hashing. Nothing else.
	busy := 0
	for i, c := range codes {
		switch c {
		case http.StatusUnauthorized:
		case http.StatusServiceUnavailable:
			busy++
		default:
			t.Errorf("attempt %d: %d, want 401 or 503", i, c)
		}
	}
	if calls.Load() != int64(attempts-busy) || calls.Load() < int64(limit) || most.Load() > int64(limit) {
		t.Errorf("%d checks (%d attempts refused busy), at most %d at once; want at least %d checks, at most %d at once",
			calls.Load(), busy, most.Load(), limit, limit)
	}
}
