package shopify

import (
	"errors"
	"testing"
)

func TestValidShopDomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		shop string
		want bool
	}{
		{"shop.myshopify.com", true},
		{"my-shop-2.myshopify.com", true},
		{"A1.myshopify.com", true},
		{"", false},
		{".myshopify.com", false},
		{"-shop.myshopify.com", false},
		{"evil.com", false},
		{"shop.myshopify.com.evil.com", false},
		{"shop.myshopify.com/admin", false},
		{"https://shop.myshopify.com", false},
		{"shop.myshopify.com:443", false},
		{"sub.shop.myshopify.com", false},
		{"shop_x.myshopify.com", false},
		{"shop.myshopify.com.", false},
		{"shop.MYSHOPIFY.com", false},
		{"shop%2eevil.myshopify.com", false},
		{"user@shop.myshopify.com", false},
		{"shop.myshopify.com?x=1", false},
		{" shop.myshopify.com", false},
		{"shopmyshopify.com", false},
	}
	for _, tt := range tests {
		if got := ValidShopDomain(tt.shop); got != tt.want {
			t.Errorf("ValidShopDomain(%q) = %v, want %v", tt.shop, got, tt.want)
		}
	}
}

func TestNormalizeShopDomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"shop.myshopify.com", "shop.myshopify.com", true},
		{"  Shop.MyShopify.COM ", "shop.myshopify.com", true},
		{"https://my-shop.myshopify.com/", "my-shop.myshopify.com", true},
		{"my-shop", "my-shop.myshopify.com", true},
		{"evil.com", "", false},
		{"shop.myshopify.com.evil.com", "", false},
		{"https://shop.myshopify.com/admin", "", false},
		{"shop.myshopify.com:8080", "", false},
		{"javascript:alert(1)", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeShopDomain(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeShopDomain(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadShop) {
			t.Errorf("error %v is not ErrBadShop", err)
		}
	}
}
