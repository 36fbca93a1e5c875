package app

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/secretbox"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	key := secretbox.NewKey()
	prod := func(extra map[string]string) map[string]string {
		m := map[string]string{"TSUNAGU_ENV": "production", "TSUNAGU_BASE_URL": "https://t.example.com", "TSUNAGU_SECRET_KEY": key,
			"TSUNAGU_REDIS_URL": "redis://127.0.0.1:6379/0", "TSUNAGU_DATABASE_URL": "postgres://u@h/db", "SHOPIFY_API_KEY": "k", "SHOPIFY_API_SECRET": "s",
			"TSUNAGU_OPS_TOKEN": "0123456789abcdef0123"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"development defaults", map[string]string{}, ""},
		{"production complete", prod(nil), ""},
		{"production without key", prod(map[string]string{"TSUNAGU_SECRET_KEY": ""}), "TSUNAGU_SECRET_KEY is required"},
		{"production without redis", prod(map[string]string{"TSUNAGU_REDIS_URL": ""}), "TSUNAGU_REDIS_URL is required"},
		{"production http base", prod(map[string]string{"TSUNAGU_BASE_URL": "http://t.example.com"}), "must be https"},
		{"production time scale", prod(map[string]string{"TSUNAGU_TIME_SCALE": "3600"}), "refused in production"},
		{"production without shopify", prod(map[string]string{"SHOPIFY_API_SECRET": ""}), "SHOPIFY_API_KEY and SHOPIFY_API_SECRET"},
		{"short key", map[string]string{"TSUNAGU_SECRET_KEY": "c2hvcnQ="}, "32"},
		{"bad database", map[string]string{"TSUNAGU_DATABASE_URL": "mysql://x"}, "TSUNAGU_DATABASE_URL"},
		{"bad redis", map[string]string{"TSUNAGU_REDIS_URL": "localhost:6379"}, "TSUNAGU_REDIS_URL"},
		{"bad base", map[string]string{"TSUNAGU_BASE_URL": "localhost"}, "TSUNAGU_BASE_URL"},
		{"bad time scale", map[string]string{"TSUNAGU_TIME_SCALE": "fast"}, "TSUNAGU_TIME_SCALE"},
		{"bad concurrency", map[string]string{"TSUNAGU_WORKER_CONCURRENCY": "0"}, "TSUNAGU_WORKER_CONCURRENCY"},
		// A misspelt environment must not quietly run development mode.
		{"env prod", prod(map[string]string{"TSUNAGU_ENV": "prod"}), `TSUNAGU_ENV must be "development" or "production"`},
		{"env Production", prod(map[string]string{"TSUNAGU_ENV": "Production"}), `got "Production"`},
		{"env staging", map[string]string{"TSUNAGU_ENV": "staging"}, "TSUNAGU_ENV"},
		{"production without ops token", prod(map[string]string{"TSUNAGU_OPS_TOKEN": ""}), "TSUNAGU_OPS_TOKEN"},
		{"production short ops token", prod(map[string]string{"TSUNAGU_OPS_TOKEN": "short"}), "TSUNAGU_OPS_TOKEN"},
		{"production without base", prod(map[string]string{"TSUNAGU_BASE_URL": ""}), "TSUNAGU_BASE_URL is required"},
		{"production http LINE", prod(map[string]string{"TSUNAGU_LINE_API_BASE": "http://127.0.0.1:1"}), "TSUNAGU_LINE_API_BASE"},
		{"bad addr", map[string]string{"TSUNAGU_ADDR": "8080"}, "TSUNAGU_ADDR"},
		{"bad log level", map[string]string{"TSUNAGU_LOG_LEVEL": "loud"}, "TSUNAGU_LOG_LEVEL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env["TSUNAGU_DATA_DIR"] == "" {
				tc.env["TSUNAGU_DATA_DIR"] = t.TempDir()
			}
			c, err := LoadConfig(envOf(tc.env))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if len(c.SecretKey) != 32 {
					t.Fatalf("secret key is %d bytes", len(c.SecretKey))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to mention %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestDevKeyIsStable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c1, err := LoadConfig(envOf(map[string]string{"TSUNAGU_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := LoadConfig(envOf(map[string]string{"TSUNAGU_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if string(c1.SecretKey) != string(c2.SecretKey) {
		t.Fatal("development key changed between starts: stored tokens would not decrypt")
	}
	st, err := os.Stat(filepath.Join(dir, "secret.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", st.Mode(), err)
	}
	if !strings.HasPrefix(c1.DatabaseURL, "sqlite://") {
		t.Fatalf("default database = %s", c1.DatabaseURL)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	if got := redactURL("redis://:hunter2@h:6379/0"); strings.Contains(got, "hunter2") {
		t.Fatalf("password leaked: %s", got)
	}
}

// Start-up lists every problem at once, and a refused configuration
// writes nothing (no development key).
func TestLoadConfigReportsAllProblems(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	_, err := LoadConfig(envOf(map[string]string{"TSUNAGU_ENV": "production", "TSUNAGU_DATA_DIR": data,
		"TSUNAGU_TIME_SCALE": "60", "TSUNAGU_WORKER_CONCURRENCY": "x"}))
	var cerr *ConfigError
	if !errors.As(err, &cerr) {
		t.Fatalf("error %v is not a *ConfigError", err)
	}
	want := []string{"TSUNAGU_TIME_SCALE", "TSUNAGU_WORKER_CONCURRENCY", "TSUNAGU_BASE_URL", "TSUNAGU_REDIS_URL",
		"TSUNAGU_SECRET_KEY", "SHOPIFY_API_KEY", "TSUNAGU_OPS_TOKEN"}
	if len(cerr.Problems) != len(want) {
		t.Errorf("%d problems, want %d: %q", len(cerr.Problems), len(want), cerr.Problems)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %s: %v", w, err)
		}
	}
	if _, err := LoadConfig(envOf(map[string]string{"TSUNAGU_DATA_DIR": data, "TSUNAGU_LINE_RATE": "-1"})); err == nil {
		t.Fatal("bad TSUNAGU_LINE_RATE accepted")
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused configuration created %s (%v)", data, err)
	}
}

// Without TSUNAGU_BASE_URL the base URL is the address served.
func TestBaseURLFollowsTheServedAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ addr, want string }{
		{"", "http://localhost:8080"},
		{":9090", "http://localhost:9090"},
		{"0.0.0.0:9090", "http://localhost:9090"},
		{"127.0.0.1:7000", "http://127.0.0.1:7000"},
		{"[::1]:7000", "http://[::1]:7000"},
	} {
		c, err := LoadConfig(envOf(map[string]string{"TSUNAGU_DATA_DIR": t.TempDir(), "TSUNAGU_ADDR": tc.addr}))
		if err != nil {
			t.Fatal(err)
		}
		if c.BaseURL != tc.want {
			t.Errorf("TSUNAGU_ADDR=%q: base %s, want %s", tc.addr, c.BaseURL, tc.want)
		}
	}
	c, err := LoadConfig(envOf(map[string]string{"TSUNAGU_DATA_DIR": t.TempDir(), "TSUNAGU_ADDR": ":9090", "TSUNAGU_BASE_URL": "https://t.example/"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetAddr(":7000"); err != nil || c.BaseURL != "https://t.example" {
		t.Errorf("a set TSUNAGU_BASE_URL moved to %s (%v)", c.BaseURL, err)
	}
}
