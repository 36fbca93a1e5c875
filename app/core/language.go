package core

import "strings"

// MessageLang picks the language of a message from the best signal there
// is: the customer's own locale, else the language of the order or checkout
// they shopped in, else the shop's primary locale. Tsunagu writes Japanese
// and English; anything else that is not Japanese gets English, which a
// buyer who shopped in French reads more likely than Japanese.
func MessageLang(customerLocale, shoppedLocale, shopLocale string) string {
	for _, l := range []string{customerLocale, shoppedLocale, shopLocale} {
		l = strings.ToLower(strings.TrimSpace(l))
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "ja") {
			return "ja"
		}
		return "en"
	}
	return "ja"
}
