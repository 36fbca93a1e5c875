package app

import (
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
			"TSUNAGU_REDIS_URL": "redis://127.0.0.1:6379/0", "TSUNAGU_DATABASE_URL": "postgres://u@h/db", "SHOPIFY_API_KEY": "k", "SHOPIFY_API_SECRET": "s"}
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
