// Package templates holds the embedded message templates (LINE message JSON,
// Japanese and English) and renders them with order and customer data.
//
// A message template is Go text/template source that renders to a JSON array
// of LINE message objects. Strings are inserted with the json function, which
// quotes and escapes them, so data can never break the JSON.
package templates

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"text/template"

	"github.com/shopspring/decimal"
)

//go:embed messages/*.json.tmpl messages/partials.tmpl
var messageFS embed.FS

// Renderer renders message templates. It is safe for concurrent use.
type Renderer struct {
	defaults map[string]*template.Template // "kind.lang"
}

// New parses the embedded default templates.
func New() (*Renderer, error) {
	names, err := fs.Glob(messageFS, "messages/*.json.tmpl")
	if err != nil {
		return nil, err
	}
	r := &Renderer{defaults: map[string]*template.Template{}}
	for _, n := range names {
		src, err := messageFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		key := strings.TrimSuffix(strings.TrimPrefix(n, "messages/"), ".json.tmpl")
		t, err := parse(key, string(src))
		if err != nil {
			return nil, fmt.Errorf("parsing default template %s: %w", key, err)
		}
		r.defaults[key] = t
	}
	return r, nil
}

// Default returns the source of the default template for kind and lang.
func (r *Renderer) Default(kind, lang string) (string, bool) {
	b, err := messageFS.ReadFile("messages/" + kind + "." + lang + ".json.tmpl")
	return string(b), err == nil
}

// Has reports whether a default template exists for kind in some language.
func (r *Renderer) Has(kind string) bool {
	_, ja := r.defaults[kind+".ja"]
	_, en := r.defaults[kind+".en"]
	return ja || en
}

// Render renders kind in lang (falling back to Japanese), or override when it
// is not empty, and returns the LINE message objects.
func (r *Renderer) Render(kind, lang, override string, data any) ([]json.RawMessage, error) {
	var t *template.Template
	if override != "" {
		var err error
		if t, err = parse(kind, override); err != nil {
			return nil, fmt.Errorf("parsing %s template: %w", kind, err)
		}
	} else {
		t = r.defaults[kind+"."+lang]
		if t == nil {
			t = r.defaults[kind+".ja"]
		}
		if t == nil {
			return nil, fmt.Errorf("no template for %s", kind)
		}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("rendering %s template: %w", kind, err)
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &msgs); err != nil {
		return nil, fmt.Errorf("%s template did not render a JSON array of messages: %w", kind, err)
	}
	if len(msgs) == 0 || len(msgs) > 5 {
		return nil, fmt.Errorf("%s template rendered %d messages; LINE takes 1 to 5", kind, len(msgs))
	}
	for i, m := range msgs {
		if err := checkMessage(m); err != nil {
			return nil, fmt.Errorf("%s template message %d: %w", kind, i+1, err)
		}
	}
	return msgs, nil
}

func parse(name, src string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(partials)
	if err != nil {
		return nil, fmt.Errorf("parsing shared template parts: %w", err)
	}
	return t.Parse(src)
}

// partials are the {{define}} blocks shared by every message template.
var partials = func() string {
	b, err := messageFS.ReadFile("messages/partials.tmpl")
	if err != nil {
		panic(err) // embedded at build time
	}
	return string(b)
}()

var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"money": Money,
	"first": func(n int, items []Item) []Item {
		if len(items) > n {
			return items[:n]
		}
		return items
	},
	"firstImage": func(items []Item) string {
		for _, it := range items {
			if strings.HasPrefix(it.ImageURL, "https://") {
				return it.ImageURL
			}
		}
		return ""
	},
	"hasPrefix": strings.HasPrefix,
	"date":      FormatDate,
	"label":     label,
	"default": func(def, v string) string {
		if strings.TrimSpace(v) == "" {
			return def
		}
		return v
	},
}

// Money formats an amount for display: ¥1,234 for JPY (no decimals), and the
// currency code with two decimals otherwise.
func Money(amount decimal.Decimal, currency string) string {
	switch strings.ToUpper(currency) {
	case "JPY", "":
		return "¥" + group(amount.Round(0).StringFixed(0))
	case "USD":
		return "$" + group(amount.StringFixed(2))
	default:
		return group(amount.StringFixed(2)) + " " + strings.ToUpper(currency)
	}
}

func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

// ErrEmpty is returned by Validate for a blank template.
var ErrEmpty = errors.New("template is empty")

// Validate parses src and renders it with SampleData(kind, lang), checking
// the LINE message shapes (Flex included), so a broken template is refused
// when the merchant saves it, never at send time.
func (r *Renderer) Validate(kind, lang, src string) error {
	if strings.TrimSpace(src) == "" {
		return ErrEmpty
	}
	if !r.Has(kind) {
		return fmt.Errorf("unknown message kind %q", kind)
	}
	_, err := r.Render(kind, lang, src, SampleData(kind, lang))
	return err
}
