package shopify

import (
	"strings"
	"time"
)

// Metafield is a metafield included in a webhook payload (the subscription
// names the namespaces it wants; see WebhookMetafieldNamespaces).
type Metafield struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	Value     string `json:"value"`
	Type      string `json:"type"`
}

func (m *Metafield) UnmarshalJSON(b []byte) error {
	type plain Metafield
	return decodeLenient(b, (*plain)(m))
}

// BirthdayMetafields are the customer metafields read as a birthday, first
// match wins: Shopify's standard definition (facts.birth_date) and the
// names merchants commonly give a custom one.
var BirthdayMetafields = [][2]string{{"facts", "birth_date"}, {"custom", "birthday"}, {"custom", "birth_date"}, {"custom", "date_of_birth"}}

// WebhookMetafieldNamespaces are the metafield namespaces each topic's
// subscription asks Shopify to include in the payload.
func WebhookMetafieldNamespaces(topic string) []string {
	if topic == TopicCustomersCreate || topic == TopicCustomersUpdate {
		return []string{"facts", "custom"}
	}
	return nil
}

// Birthday returns the customer's birthday from a metafield as YYYY-MM-DD
// (or --MM-DD when the year is unknown), or "" when there is none.
func (c Customer) Birthday() string {
	for _, want := range BirthdayMetafields {
		for _, m := range c.Metafields {
			if m.Namespace == want[0] && m.Key == want[1] {
				if b := NormalizeBirthday(m.Value); b != "" {
					return b
				}
			}
		}
	}
	return ""
}

// NormalizeBirthday accepts 1990-04-01, 1990/04/01, 1990-04-01T00:00:00Z,
// 04-01 and --04-01 and returns YYYY-MM-DD or --MM-DD; anything else is "".
func NormalizeBirthday(v string) string {
	v = strings.TrimSpace(strings.ReplaceAll(v, "/", "-"))
	if len(v) > 10 && v[10] == 'T' {
		v = v[:10]
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t.Format("2006-01-02")
	}
	md := strings.TrimPrefix(v, "--")
	if t, err := time.Parse("01-02", md); err == nil && len(md) == 5 {
		return "--" + t.Format("01-02")
	}
	return ""
}

// Region is the customer's province code (or name) from the default
// address, else from the first address that has one.
func (c Customer) Region() (region, country string) {
	addrs := c.Addresses
	if c.DefaultAddress != nil {
		addrs = append([]Address{*c.DefaultAddress}, addrs...)
	}
	for _, a := range addrs {
		if r := firstNonEmpty(a.ProvinceCode, a.Province); r != "" || a.CountryCode != "" {
			return r, a.CountryCode
		}
	}
	return "", ""
}

// AcceptsEmailMarketing reads email_marketing_consent (current API versions)
// or accepts_marketing (older ones); ok is false when neither is present.
func (c Customer) AcceptsEmailMarketing() (accepts, ok bool) {
	switch {
	case c.EmailMarketing != nil:
		return c.EmailMarketing.State == "subscribed", true
	case c.AcceptsMarketing != nil:
		return *c.AcceptsMarketing, true
	}
	return false, false
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
