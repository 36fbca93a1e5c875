package shopify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ProxySignature is the signature Shopify adds to app proxy requests: the
// hex HMAC-SHA256, keyed by the app's API secret, of every query parameter
// but "signature" sorted by name, each as "name=value" (several values
// joined by commas), concatenated with no separator.
func ProxySignature(secret string, q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	m := hmac.New(sha256.New, []byte(secret))
	for _, k := range keys {
		m.Write([]byte(k + "=" + strings.Join(q[k], ",")))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// ProxyMaxAge is how old an app proxy request's timestamp may be.
const ProxyMaxAge = 5 * time.Minute

// VerifyProxy checks an app proxy request's signature (constant time), its
// shop domain and that its timestamp is recent. It returns the shop.
func VerifyProxy(secret string, q url.Values, now time.Time) (shop string, ok bool) {
	got, err := hex.DecodeString(q.Get("signature"))
	if secret == "" || err != nil || len(got) != sha256.Size {
		return "", false
	}
	want, _ := hex.DecodeString(ProxySignature(secret, q))
	if !hmac.Equal(got, want) {
		return "", false
	}
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		return "", false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > ProxyMaxAge || d < -ProxyMaxAge {
		return "", false
	}
	shop = q.Get("shop")
	if !ValidShopDomain(shop) {
		return "", false
	}
	return shop, true
}
