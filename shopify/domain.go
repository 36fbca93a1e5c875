package shopify

import (
	"errors"
	"fmt"
	"strings"
)

const shopSuffix = ".myshopify.com"

// ErrBadShop means a shop domain is not a <name>.myshopify.com domain.
var ErrBadShop = errors.New("shopify: invalid shop domain")

// ValidShopDomain reports whether shop is exactly "<name>.myshopify.com" with
// name [a-zA-Z0-9][a-zA-Z0-9-]*. Anything else (other hosts, a scheme, a
// path, a port, a suffix trick like x.myshopify.com.evil.com) is refused:
// the domain ends up in URLs we send tokens to.
func ValidShopDomain(shop string) bool {
	name, ok := strings.CutSuffix(shop, shopSuffix)
	if !ok || name == "" || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' && i > 0:
		default:
			return false
		}
	}
	return true
}

// NormalizeShopDomain turns what a merchant types ("My-Shop",
// " https://my-shop.myshopify.com/ ") into the canonical lowercase domain
// and validates it. A bare name gets the .myshopify.com suffix.
func NormalizeShopDomain(shop string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(shop))
	for _, p := range []string{"https://", "http://"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			s = rest
			break
		}
	}
	s = strings.TrimSuffix(s, "/")
	if s != "" && !strings.Contains(s, ".") && !strings.ContainsAny(s, "/:@?#") {
		s += shopSuffix
	}
	if !ValidShopDomain(s) {
		return "", fmt.Errorf("%w: %q", ErrBadShop, shop)
	}
	return s, nil
}
