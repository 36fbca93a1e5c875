package shopify_test

import (
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/shopify"
)

func TestVerifyProxy(t *testing.T) {
	t.Parallel()
	// The example from Shopify's app proxy documentation.
	doc := url.Values{
		"extra": {"1", "2"}, "shop": {"shop-name.myshopify.com"}, "logged_in_customer_id": {"1"},
		"path_prefix": {"/apps/awesome_reviews"}, "timestamp": {"1317327555"},
	}
	if got := shopify.ProxySignature("hush", doc); got != "4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb" {
		t.Fatalf("signature of the documented example = %s", got)
	}
	now := time.Unix(1317327555, 0).Add(time.Minute)
	signed := func(mut func(url.Values)) url.Values {
		q := url.Values{"shop": {"tsunagu-test.myshopify.com"}, "logged_in_customer_id": {"42"},
			"path_prefix": {"/apps/tsunagu"}, "timestamp": {"1317327555"}}
		mut(q)
		q.Set("signature", shopify.ProxySignature("hush", q))
		return q
	}
	for _, tc := range []struct {
		name string
		q    url.Values
		ok   bool
	}{
		{"good", signed(func(url.Values) {}), true},
		{"other secret", func() url.Values {
			q := signed(func(url.Values) {})
			q.Set("signature", shopify.ProxySignature("other", q))
			return q
		}(), false},
		{"tampered customer", func() url.Values { q := signed(func(url.Values) {}); q.Set("logged_in_customer_id", "43"); return q }(), false},
		{"old", signed(func(q url.Values) { q.Set("timestamp", strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)) }), false},
		{"foreign shop", signed(func(q url.Values) { q.Set("shop", "evil.example.com") }), false},
		{"no signature", url.Values{"shop": {"tsunagu-test.myshopify.com"}}, false},
	} {
		if _, ok := shopify.VerifyProxy("hush", tc.q, now); ok != tc.ok {
			t.Errorf("%s: ok = %v", tc.name, ok)
		}
	}
}
