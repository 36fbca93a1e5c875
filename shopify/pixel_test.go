package shopify_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

func TestEnsureWebPixel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	settings := map[string]string{"endpoint": "https://tsunagu.example.com/pixel/events", "key": "k1"}
	t.Run("created, then updated in place", func(t *testing.T) {
		t.Parallel()
		fake := shopifytest.NewServer(t)
		_, admin := adminFor(t, fake)
		id, err := admin.EnsureWebPixel(ctx, settings)
		if err != nil || id == "" {
			t.Fatalf("create: %q %v", id, err)
		}
		moved := maps.Clone(settings)
		moved["endpoint"] = "https://new.example.com/pixel/events"
		id2, err := admin.EnsureWebPixel(ctx, moved)
		if err != nil || id2 != id {
			t.Fatalf("second call: %q %v, want the same pixel %q updated", id2, err, id)
		}
		if got, ok := fake.WebPixel(testShop); !ok || !maps.Equal(got, moved) {
			t.Fatalf("pixel settings on Shopify = %v %v, want %v", got, ok, moved)
		}
	})
	t.Run("settings outside the extension's definition are refused", func(t *testing.T) {
		t.Parallel()
		_, admin := adminFor(t, shopifytest.NewServer(t))
		_, err := admin.EnsureWebPixel(ctx, map[string]string{"endpoint": "https://x.example/p", "accountID": "1"})
		var ue *shopify.UserErrors
		if !errors.As(err, &ue) || !ue.HasCode("INVALID_SETTINGS") {
			t.Fatalf("err = %v, want INVALID_SETTINGS", err)
		}
	})
	t.Run("a grant without the pixel scopes is denied", func(t *testing.T) {
		t.Parallel()
		fake := shopifytest.NewServer(t, shopifytest.WithScopes("read_orders,read_customers,write_customers,read_fulfillments,write_discounts"))
		_, admin := adminFor(t, fake)
		_, err := admin.EnsureWebPixel(ctx, settings)
		if err == nil || !strings.Contains(err.Error(), "write_pixels") {
			t.Fatalf("err = %v, want access denied naming write_pixels", err)
		}
		if _, ok := fake.WebPixel(testShop); ok {
			t.Fatal("pixel created without the scopes")
		}
	})
}
