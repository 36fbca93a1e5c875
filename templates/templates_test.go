package templates_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
	"github.com/tsunagu/tsunagu/templates"
)

func renderer(t *testing.T) *templates.Renderer {
	t.Helper()
	r, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Every default template, in both languages, renders with its sample data to
// messages the fake LINE server accepts under LINE's OpenAPI schema.
func TestDefaultTemplatesAcceptedByLINE(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	fake := linetest.NewServer(t)
	fake.AddToken("tok")
	m := line.NewMessenger(fake.URL, nil)
	for _, kind := range templates.Kinds {
		for _, lang := range []string{"ja", "en"} {
			t.Run(kind+"."+lang, func(t *testing.T) {
				if _, ok := r.Default(kind, lang); !ok {
					t.Fatalf("no default template")
				}
				raw, err := r.Render(kind, lang, "", templates.SampleData(kind, lang))
				if err != nil {
					t.Fatal(err)
				}
				var types []string
				for _, msg := range raw {
					var h struct{ Type string }
					json.Unmarshal(msg, &h)
					types = append(types, h.Type)
				}
				if strings.Join(types, ",") != "text,flex" {
					t.Fatalf("message types %v, want text then flex", types)
				}
				msgs := make([]line.Message, len(raw))
				for i := range raw {
					msgs[i] = line.Message(raw[i])
				}
				if _, err := m.Push(context.Background(), "tok", "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", msgs, line.RetryKey(kind+lang)); err != nil {
					t.Fatalf("LINE refused the message: %v %v", err, fake.Rejected())
				}
			})
		}
	}
}

func TestRenderContent(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	cases := []struct {
		kind, lang string
		want       []string
	}{
		{"thank_you", "ja", []string{"山田 花子 様", "#1001", "¥5,700", "有機ほうじ茶 100g × 2", "¥1,200", "合計", "hojicha.jpg"}},
		{"thank_you", "en", []string{"Hi Hanako Yamada", "#1001", "¥5,700", "Total"}},
		{"shipping", "ja", []string{"ヤマト運輸", "1234-5678-9012", "kuronekoyamato"}},
		{"shipping", "en", []string{"Yamato Transport", "Tracking number: 1234-5678-9012"}},
		{"cart_reminder", "ja", []string{"カート", "checkouts/sample/recover", "美濃焼 湯呑み × 1"}},
		{"cart_reminder_2", "en", []string{"Your cart is still saved", "recover"}},
		{"follow_up_3", "ja", []string{"届きましたか"}},
		{"follow_up_7", "en", []string{"review"}},
		{"follow_up_30", "ja", []string{"LINE-7QK2-M9XD", "2026年12月25日"}},
		{"follow_up_30", "en", []string{"Dec 25, 2026"}},
		{"link_coupon", "ja", []string{"LINE-7QK2-M9XD", "10%OFF", "有効期限: 2026年12月25日"}},
		{"link_coupon", "en", []string{"Code: LINE-7QK2-M9XD", "Dec 25, 2026"}},
		{"birthday", "ja", []string{"お誕生日おめでとうございます", "BIRTHDAY-2026"}},
		{"birthday", "en", []string{"Happy birthday", "BIRTHDAY-2026"}},
		{"win_back", "ja", []string{"お久しぶりです"}},
		{"coupon_expiry", "ja", []string{"LINE-7QK2-M9XD", "2026年12月25日"}},
		{"coupon_expiry", "en", []string{"LINE-7QK2-M9XD", "Dec 25, 2026"}},
	}
	for _, tc := range cases {
		t.Run(tc.kind+"."+tc.lang, func(t *testing.T) {
			raw, err := r.Render(tc.kind, tc.lang, "", templates.SampleData(tc.kind, tc.lang))
			if err != nil {
				t.Fatal(err)
			}
			var all strings.Builder
			for _, m := range raw {
				var v any
				json.Unmarshal(m, &v)
				b, _ := json.Marshal(v) // decode escapes
				all.Write(b)
			}
			s := strings.ReplaceAll(all.String(), `\u0026`, "&")
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("rendered message lacks %q:\n%s", w, s)
				}
			}
		})
	}
}

// Every link in every default template goes through Track.
func TestEveryLinkIsTracked(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	for _, kind := range templates.Kinds {
		d := templates.SampleData(kind, "ja").WithTracker(func(target string) string { return "https://app.example/c/TOKEN" })
		raw, err := r.Render(kind, "ja", "", d)
		if err != nil {
			t.Fatal(err)
		}
		var uris []string
		collectURIs(t, raw, &uris)
		if len(uris) == 0 {
			t.Fatalf("%s: no links", kind)
		}
		for _, u := range uris {
			if u != "https://app.example/c/TOKEN" {
				t.Errorf("%s: untracked link %s", kind, u)
			}
		}
	}
}

func collectURIs(t *testing.T, raw []json.RawMessage, out *[]string) {
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "uri" {
				*out = append(*out, x["uri"].(string))
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	for _, m := range raw {
		var v any
		if err := json.Unmarshal(m, &v); err != nil {
			t.Fatal(err)
		}
		walk(v)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	def, _ := r.Default("thank_you", "ja")
	flex := func(contents string) string {
		return `[{"type":"flex","altText":"x","contents":` + contents + `}]`
	}
	cases := []struct {
		name, kind, src string
		wantErr         string // "" means valid
	}{
		{"default template", "thank_you", def, ""},
		{"simple text", "shipping", `[{"type":"text","text":{{json (printf "%s: %s" .Order.Name .Tracking.Number)}}}]`, ""},
		{"partials usable", "thank_you", `[{"type":"flex","altText":"x","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{{template "orderLines" .}}]}}}]`, ""},
		{"empty", "thank_you", "  ", "empty"},
		{"unknown kind", "birthday_cake", `[{"type":"text","text":"hi"}]`, "unknown message kind"},
		{"parse error", "thank_you", `[{"type":"text","text":{{json .Order.Name}]`, "parsing"},
		{"unknown field", "thank_you", `[{"type":"text","text":{{json .Order.Nme}}}]`, "rendering"},
		{"data the kind never has", "thank_you", `[{"type":"text","text":{{json .Tracking.Number}}}]`, "rendering"},
		{"not JSON", "thank_you", `hello {{.ShopName}}`, "JSON array"},
		{"unquoted string breaks JSON", "thank_you", `[{"type":"text","text":{{.ShopName}}}]`, "JSON array"},
		{"no messages", "thank_you", `[]`, "1 to 5"},
		{"six messages", "thank_you", strings.Repeat(`{"type":"text","text":"a"},`, 5) + `{"type":"text","text":"a"}`, "JSON array"},
		{"empty text", "thank_you", `[{"type":"text","text":" "}]`, "empty text"},
		{"unsupported type", "thank_you", `[{"type":"audio","originalContentUrl":"https://x/a.m4a","duration":1}]`, "not supported"},
		{"flex without altText", "thank_you", `[{"type":"flex","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[]}}}]`, "altText"},
		{"flex without contents", "thank_you", `[{"type":"flex","altText":"x"}]`, "contents"},
		{"flex bad container", "thank_you", flex(`{"type":"box"}`), "bubble or carousel"},
		{"empty bubble", "thank_you", flex(`{"type":"bubble"}`), "no header"},
		{"body not a box", "thank_you", flex(`{"type":"bubble","body":{"type":"text","text":"x"}}`), "must be a box"},
		{"bad layout", "thank_you", flex(`{"type":"bubble","body":{"type":"box","layout":"diagonal","contents":[]}}`), "layout"},
		{"unknown component", "thank_you", flex(`{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"marquee"}]}}`), "unknown component"},
		{"button without label", "thank_you", flex(`{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"button","action":{"type":"uri","uri":"https://x"}}]}}`), "label"},
		{"javascript uri", "thank_you", flex(`{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"button","action":{"type":"uri","label":"go","uri":"javascript:alert(1)"}}]}}`), "must be http"},
		{"http image", "thank_you", flex(`{"type":"bubble","hero":{"type":"image","url":"http://x/a.png"}}`), "https"},
		{"carousel too big", "thank_you", flex(`{"type":"carousel","contents":[` + strings.TrimSuffix(strings.Repeat(`{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[]}},`, 13), ",") + `]}`), "1 to 12"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := r.Validate(tc.kind, "ja", tc.src)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want ok", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

// A merchant override is used instead of the default and in either language.
func TestRenderOverride(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	raw, err := r.Render("thank_you", "en", `[{"type":"text","text":{{json (printf "Merci %s" .Order.Name)}}}]`, templates.SampleData("thank_you", "en"))
	if err != nil || len(raw) != 1 || !strings.Contains(string(raw[0]), "Merci #1001") {
		t.Fatalf("override: %v %s", err, raw)
	}
}

func TestMoney(t *testing.T) {
	t.Parallel()
	cases := []struct {
		amount, cur, want string
	}{
		{"5700", "JPY", "¥5,700"},
		{"1234567.6", "JPY", "¥1,234,568"},
		{"0", "JPY", "¥0"},
		{"980", "", "¥980"},
		{"12.5", "USD", "$12.50"},
		{"1234.5", "EUR", "1,234.50 EUR"},
		{"-1500", "JPY", "¥-1,500"},
	}
	for _, tc := range cases {
		if got := templates.Money(decimal.RequireFromString(tc.amount), tc.cur); got != tc.want {
			t.Errorf("Money(%s, %s) = %q, want %q", tc.amount, tc.cur, got, tc.want)
		}
	}
}

// A birthday message without a merchant coupon says nothing about a coupon.
func TestBirthdayWithoutCoupon(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	d := templates.SampleData("birthday", "ja")
	d.Coupon = nil
	raw, err := r.Render("birthday", "ja", "", d)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range raw {
		if strings.Contains(string(m), "クーポン") {
			t.Errorf("coupon mentioned without a coupon: %s", m)
		}
	}
}
