// Package linetest is a fake LINE platform for tests, in the spirit of
// net/http/httptest: a Messaging API that validates every request against
// LINE's own OpenAPI document (testdata/line/openapi/messaging-api.yml)
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

// FixturesDir returns the absolute path of the repository's testdata folder
// (testdata/ beside go.mod), which holds LINE's and Shopify's published
// payloads and specifications (see testdata/SOURCES.md).
func FixturesDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("linetest: working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("linetest: no go.mod above the working directory")
		}
		dir = parent
	}
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
