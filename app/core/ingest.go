package core

import (
	"reflect"
	"strings"
	"unicode/utf8"
)

// Ingest rules: what an inbound payload may hold before it is stored.
// Shopify's data is typed by people; a NUL byte, broken UTF-8 or a 6,000
// character name must be stored cleanly, not retried until it is dropped.

// Bounds on stored text and rows.
const (
	// MaxTextRunes bounds any one text field of an inbound payload.
	MaxTextRunes = 4096
	// MaxOrderItems bounds the line items stored per order. The order's
	// totals come from Shopify, so they stay right beyond it.
	MaxOrderItems = 10000
	// DisplayNameRunes is how much of a name a message shows.
	DisplayNameRunes = 40
)

// CleanText makes s storable: NUL bytes (PostgreSQL refuses them in text)
// are dropped, invalid UTF-8 becomes U+FFFD, and it is cut to max runes
// (max <= 0: MaxTextRunes).
func CleanText(s string, max int) string {
	if max <= 0 {
		max = MaxTextRunes
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) > max && utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return s
}

// CleanStrings applies CleanText to every string reachable from v (a
// pointer to a decoded payload): struct fields, slices, maps' values and
// pointers. It changes v in place.
func CleanStrings(v any) {
	cleanValue(reflect.ValueOf(v), 0)
}

func cleanValue(v reflect.Value, depth int) {
	if depth > 32 {
		return // payloads are shallow; this only guards against cycles
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			cleanValue(v.Elem(), depth+1)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				cleanValue(v.Field(i), depth+1)
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // raw bytes, not text
		}
		for i := 0; i < v.Len(); i++ {
			cleanValue(v.Index(i), depth+1)
		}
	case reflect.Map:
		if v.Type().Elem().Kind() != reflect.String {
			for _, k := range v.MapKeys() {
				cleanValue(v.MapIndex(k), depth+1)
			}
			return
		}
		for _, k := range v.MapKeys() {
			s := v.MapIndex(k).String()
			if c := CleanText(s, 0); c != s {
				v.SetMapIndex(k, reflect.ValueOf(c).Convert(v.Type().Elem()))
			}
		}
	case reflect.String:
		if s := v.String(); v.CanSet() {
			if c := CleanText(s, 0); c != s {
				v.SetString(c)
			}
		}
	}
}

// DisplayName shortens a name for a message: names are shown, not
// validated, so an overlong one is cut (with an ellipsis) rather than
// making the message fail LINE's length limits.
func DisplayName(s string) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= DisplayNameRunes {
		return s
	}
	return strings.TrimSpace(string([]rune(s)[:DisplayNameRunes-1])) + "…"
}
