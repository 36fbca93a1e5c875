package door_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/door"
	"github.com/tsunagu/tsunagu/shopify"
)

func TestCheckShop(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, header, payload string
		ok                    bool
	}{
		{"order without shop fields", "a.myshopify.com", `{"id":1}`, true},
		{"redact for the same shop", "a.myshopify.com", `{"shop_id":1,"shop_domain":"A.myshopify.com"}`, true},
		{"redact for another shop", "a.myshopify.com", `{"shop_domain":"b.myshopify.com"}`, false},
		{"uninstall of another shop", "a.myshopify.com", `{"domain":"shop.example","myshopify_domain":"b.myshopify.com"}`, false},
		{"not an object", "a.myshopify.com", `[1]`, true},
	}
	for _, tc := range cases {
		if err := door.CheckShop(tc.header, []byte(tc.payload)); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestCheckTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		at string
		ok bool
	}{
		{"", true},
		{now.Add(-time.Minute).Format(time.RFC3339), true},
		{now.Add(-30 * time.Hour).Format(time.RFC3339Nano), true},
		{now.Add(-72 * time.Hour).Format(time.RFC3339), false},
		{now.Add(time.Hour).Format(time.RFC3339), true},
		{"yesterday", false},
	}
	for _, tc := range cases {
		if err := door.CheckTime(tc.at, now); (err == nil) != tc.ok {
			t.Errorf("%q: %v, want ok=%v", tc.at, err, tc.ok)
		}
	}
}

func TestReadBodySized(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("x"), door.MaxBody+1)
	cases := []struct {
		name string
		body []byte
		size int64
		err  error
	}{
		{"empty", nil, 0, nil},
		{"as announced", []byte(`{"id":1}`), 8, nil},
		{"shorter than announced", []byte(`{}`), 100, nil},
		{"longer than announced", bytes.Repeat([]byte("y"), 5000), 10, nil},
		{"unknown size", bytes.Repeat([]byte("z"), 3000), -1, nil},
		{"exactly the limit", big[:door.MaxBody], door.MaxBody, nil},
		{"over the limit, announced small", big, 10, door.ErrTooLarge},
		{"over the limit, announced right", big, int64(len(big)), door.ErrTooLarge},
	}
	for _, tc := range cases {
		got, err := door.ReadBodySized(bytes.NewReader(tc.body), tc.size)
		if !errors.Is(err, tc.err) || tc.err == nil && !bytes.Equal(got, tc.body) {
			t.Errorf("%s: %d bytes, %v; want %d bytes, %v", tc.name, len(got), err, len(tc.body), tc.err)
		}
	}
	// Through lent buffers, each case after every other (a long body's
	// bytes must not show through a shorter one read into its buffer).
	var bodies door.Bodies
	for _, before := range cases {
		for _, tc := range cases {
			for _, c := range []struct {
				body []byte
				size int64
				err  error
			}{{before.body, before.size, before.err}, {tc.body, tc.size, tc.err}} {
				b, err := bodies.Read(bytes.NewReader(c.body), c.size)
				if !errors.Is(err, c.err) || c.err == nil && !bytes.Equal(b.B, c.body) {
					t.Fatalf("%s after %s, lent: %d bytes, %v; want %d bytes, %v", tc.name, before.name, len(b.B), err, len(c.body), c.err)
				}
				bodies.Release(b)
			}
		}
	}
}

// BenchmarkShopifyDoor: the door's checks of one signed orders/create
// delivery (Shopify's 15 KB sample): signature, headers, JSON, shop, age.
func BenchmarkShopifyDoor(b *testing.B) {
	body := fixtures(b, "shopify/webhooks")["orders__create"]
	h := http.Header{}
	h.Set(shopify.HeaderHmac, base64.StdEncoding.EncodeToString(shopify.SignWebhook(secret, body)))
	h.Set(shopify.HeaderTopic, "orders/create")
	h.Set(shopify.HeaderShopDomain, shop)
	h.Set(shopify.HeaderWebhookID, "bench-1")
	h.Set(shopify.HeaderTriggeredAt, now.Add(-time.Minute).Format(time.RFC3339Nano))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if d, err := door.Shopify(secret, h, body, now); err != nil || d.Refusal != "" {
			b.Fatal(err, d.Refusal)
		}
	}
}
