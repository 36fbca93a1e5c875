package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// The demo's sandbox never runs in production: the configuration refuses
// it, and an app assembled in production mode neither serves /sandbox/ nor
// points LINE or Shopify at it, whatever its Config says.
func TestSandboxRefusedInProduction(t *testing.T) {
	t.Parallel()
	key := secretbox.NewKey()
	prod := map[string]string{"TSUNAGU_ENV": "production", "TSUNAGU_BASE_URL": "https://t.example.com", "TSUNAGU_SECRET_KEY": key,
		"TSUNAGU_REDIS_URL": "redis://127.0.0.1:6379/0", "TSUNAGU_DATABASE_URL": "postgres://u@h/db",
		"TSUNAGU_OPS_TOKEN": "0123456789abcdef0123", "TSUNAGU_SANDBOX": "on"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"production", prod, "refused in production"},
		{"beside a LINE origin", map[string]string{"TSUNAGU_SECRET_KEY": key, "TSUNAGU_SANDBOX": "on", "TSUNAGU_LINE_API_BASE": "http://127.0.0.1:9"}, "unset TSUNAGU_LINE_API_BASE"},
		{"beside a Shopify app", map[string]string{"TSUNAGU_SECRET_KEY": key, "TSUNAGU_SANDBOX": "on", "SHOPIFY_API_KEY": "k"}, "unset SHOPIFY_API_KEY"},
		{"not a switch", map[string]string{"TSUNAGU_SECRET_KEY": key, "TSUNAGU_SANDBOX": "yes please"}, "TSUNAGU_SANDBOX must be on or off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a refusal naming %q", err, tc.want)
			}
		})
	}
	if c, err := ParseConfig(envOf(map[string]string{"TSUNAGU_SECRET_KEY": key, "TSUNAGU_SANDBOX": "on"})); err != nil || c.Sandbox != SandboxBuilt {
		t.Fatalf("development with the sandbox: %+v %v", c, err)
	}

	// Past the configuration (a Config built by hand): production mode
	// still leaves the sandbox out.
	cfg := testConfig("https://api.line.example")
	cfg.Production, cfg.Sandbox = true, true
	a, err := Assemble(cfg, quietLogger(), testenv.SQLite(t), testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	for _, p := range []string{"/sandbox/line/phone", "/sandbox/line/oauth2/v2.1/authorize?response_type=code"} {
		if rec := get(t, a, p); rec.Code != http.StatusNotFound {
			t.Errorf("production answers %s with %d", p, rec.Code)
		}
	}
	if cfg.LineAPIBase != "https://api.line.example" || cfg.ShopifyAPIKey != "test-api-key" || strings.Contains(cfg.ShopifyAdminBase, "sandbox") {
		t.Errorf("production config points at the sandbox: %+v", cfg)
	}
}
