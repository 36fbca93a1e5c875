package app

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tsunagu/tsunagu/app/testenv"
)

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A TSUNAGU_SECRET_KEY other than the one the credentials were saved with
// is said so — in the JSON log (naming shop and field, never the value), on
// the settings API and page, and at start-up — instead of reading as "LINE
// not configured".
func TestWrongSecretKeyIsReported(t *testing.T) {
	t.Parallel()
	db := testenv.SQLite(t)
	redisOpt := testenv.Redis(t)
	e := newLinkEnv(t, db, redisOpt, "")
	ctx := context.Background()

	// The right key: nothing to report.
	if n, err := e.a.CheckSecretKey(ctx); err != nil || n != 0 {
		t.Fatalf("right key: %d shops reported, %v", n, err)
	}
	if got := decodeJSON(t, e.admin(http.MethodGet, "/api/settings/line", nil)); got["secret_key_error"] != nil || got["login_ready"] != true {
		t.Fatalf("right key: %v", got)
	}

	// The same database under another key.
	var logs syncBuffer
	cfg := *e.a.Config
	cfg.SecretKey = testConfig("").SecretKey
	b, err := Assemble(&cfg, slog.New(slog.NewJSONHandler(&logs, nil)), db, redisOpt)
	if err != nil {
		t.Fatal(err)
	}
	b.Now = e.a.Now
	t.Cleanup(b.Close)
	wrong := *e
	wrong.a = b

	if n, err := b.CheckSecretKey(ctx); err != nil || n != 1 {
		t.Errorf("start-up check: %d shops reported, %v; want 1", n, err)
	}
	got := decodeJSON(t, wrong.admin(http.MethodGet, "/api/settings/line", nil))
	if msg, _ := got["secret_key_error"].(string); !strings.Contains(msg, "cannot decrypt stored credentials") {
		t.Errorf("settings API: %v", got)
	}
	page := wrong.admin(http.MethodGet, "/admin/settings", nil)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `id="secret-key-error"`) {
		t.Errorf("settings page %d does not say the key cannot decrypt", page.Code)
	}
	// The link page still answers 503, and the log says why.
	link, err := b.LinkURL(e.s.ID, e.cust.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec := wrong.serve(httptest.NewRequest(http.MethodGet, strings.TrimPrefix(link, b.Config.BaseURL), nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("link page: %d", rec.Code)
	}
	out := logs.String()
	for _, want := range []string{`"msg":"the secret key cannot decrypt stored credentials"`, `"field":"line.login_secret"`, `"alert":"secret_key_mismatch"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{testLoginSecret, testMsgSecret, testLINEToken} {
		if strings.Contains(out, secret) {
			t.Fatal("a secret is in the log")
		}
	}
}
