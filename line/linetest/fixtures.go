// Package linetest is a fake LINE platform for tests, in the spirit of
// net/http/httptest: a Messaging API that validates every request against
// LINE's own OpenAPI document (../shared/fixtures/line/openapi/messaging-api.yml)
// plus LINE's documented limits, and a LINE Login provider. Production code
// must never import it.
//
//	fake := linetest.NewServer(t)
//	fake.AddToken("tok")                       // else any bearer token passes
//	m := line.NewMessenger(fake.URL, fake.Client())
//	... code under test pushes ...
//	if r := fake.Rejected(); len(r) > 0 { t.Fatalf("LINE would refuse: %v", r) }
//	pushes := fake.Pushes()
//
// One server stands for api.line.me, api-data.line.me and access.line.me:
// use fake.URL for every LINE base URL. Recipients must look like LINE ids
// (U/C/R followed by 32 hex digits), as on LINE.
package linetest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
)

// EnvFixtures overrides where the shared fixtures are.
const EnvFixtures = "TSUNAGU_FIXTURES_DIR"

// FixturesDir returns the absolute path of the shared fixtures directory:
// $TSUNAGU_FIXTURES_DIR, or else shared/fixtures beside the repository
// (../shared/fixtures from the directory holding go.mod) or beside one of
// its parents, so a checkout nested one level deeper still finds them.
func FixturesDir(t testing.TB) string {
	t.Helper()
	if fx := os.Getenv(EnvFixtures); fx != "" {
		if _, err := os.Stat(fx); err != nil {
			t.Fatalf("linetest: %s: %v", EnvFixtures, err)
		}
		return fx
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("linetest: working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("linetest: no go.mod above the working directory")
		}
		dir = parent
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fx := filepath.Join(d, "shared", "fixtures")
		if _, err := os.Stat(fx); err == nil {
			return fx
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	t.Fatalf("linetest: no shared/fixtures beside %s or its parents (set %s)", dir, EnvFixtures)
	return ""
}

// SpecPath returns the path of LINE's Messaging API OpenAPI document.
func SpecPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(FixturesDir(t), "line", "openapi", "messaging-api.yml")
}

// SignWebhook returns the X-Line-Signature LINE would send for body:
// base64 of HMAC-SHA256 over the raw body, keyed by the channel secret.
func SignWebhook(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
