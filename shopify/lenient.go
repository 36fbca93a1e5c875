package shopify

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Shopify's published examples and real deliveries disagree now and then on
// scalar types: numbers sent as strings, strings as numbers, "" for a missing
// time, an id written with an exponent. decodeLenient first tries a plain
// decode; only when that hits a type mismatch does it reshape the document
// after the Go type and decode again, dropping values that cannot be coerced
// rather than failing the whole webhook.
func decodeLenient(b []byte, dst any) error {
	err := json.Unmarshal(b, dst)
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if derr := dec.Decode(&doc); derr != nil {
		return err
	}
	t := reflect.TypeOf(dst).Elem()
	fixed, merr := json.Marshal(coerce(doc, t))
	if merr != nil {
		return err
	}
	reflect.ValueOf(dst).Elem().Set(reflect.Zero(t))
	return json.Unmarshal(fixed, dst)
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	decimalType = reflect.TypeFor[decimal.Decimal]()
)

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05-0700",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02T15:04:05",
	"2006-01-02",
}

// coerce reshapes v (decoded with UseNumber) so that it decodes into t.
// A nil result means "leave the field at its zero value".
func coerce(v any, t reflect.Type) any {
	if v == nil {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case timeType:
		s, ok := v.(string)
		if !ok {
			return nil
		}
		for _, l := range timeLayouts {
			if tm, err := time.Parse(l, strings.TrimSpace(s)); err == nil {
				return tm.Format(time.RFC3339Nano)
			}
		}
		return nil
	case decimalType:
		switch x := v.(type) {
		case json.Number:
			return x
		case string:
			if _, err := decimal.NewFromString(strings.TrimSpace(x)); err == nil {
				return strings.TrimSpace(x)
			}
		}
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		switch x := v.(type) {
		case string:
			return x
		case json.Number:
			return x.String()
		case bool:
			return strconv.FormatBool(x)
		case []any:
			var parts []string
			for _, e := range x {
				if s, ok := coerce(e, t).(string); ok && s != "" {
					parts = append(parts, s)
				}
			}
			return strings.Join(parts, ", ")
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var s string
		switch x := v.(type) {
		case json.Number:
			s = x.String()
		case string:
			s = strings.TrimSpace(x)
		default:
			return nil
		}
		if n, ok := parseInteger(s, t); ok {
			return json.Number(n)
		}
		return nil
	case reflect.Float32, reflect.Float64:
		switch x := v.(type) {
		case json.Number:
			return x
		case string:
			if _, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return json.Number(strings.TrimSpace(x))
			}
		}
		return nil
	case reflect.Bool:
		switch x := v.(type) {
		case bool:
			return x
		case string, json.Number:
			if b, err := strconv.ParseBool(strings.TrimSpace(fmtScalar(x))); err == nil {
				return b
			}
		}
		return nil
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			// A single value where a list is expected.
			if e := coerce(v, t.Elem()); e != nil {
				return []any{e}
			}
			return nil
		}
		out := make([]any, 0, len(arr))
		for _, e := range arr {
			if c := coerce(e, t.Elem()); c != nil {
				out = append(out, c)
			}
		}
		return out
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		fields := jsonFields(t)
		out := make(map[string]any, len(m))
		for k, e := range m {
			ft, ok := fields[strings.ToLower(k)]
			if !ok {
				continue // unknown field: ignored by the decoder anyway
			}
			out[k] = coerce(e, ft)
		}
		return out
	case reflect.Map:
		if _, ok := v.(map[string]any); ok {
			return v
		}
		return nil
	}
	return v
}

func fmtScalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}

// parseInteger accepts "123", "123.0" and "1.23e5" as long as the value is a
// whole number that fits t. It never goes through float64, which would round
// ids above 2^53.
func parseInteger(s string, t reflect.Type) (string, bool) {
	if s == "" {
		return "", false
	}
	f, _, err := big.ParseFloat(s, 10, 256, big.ToNearestEven)
	if err != nil || !f.IsInt() {
		return "", false
	}
	i, _ := f.Int(nil)
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !i.IsUint64() || reflect.Zero(t).OverflowUint(i.Uint64()) {
			return "", false
		}
	default:
		if !i.IsInt64() || reflect.Zero(t).OverflowInt(i.Int64()) {
			return "", false
		}
	}
	return i.String(), true
}

// jsonFields maps the lowercased JSON name of each exported field of struct
// t to its type, the way encoding/json matches keys (case-insensitively).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		out[strings.ToLower(name)] = f.Type
	}
	return out
}
