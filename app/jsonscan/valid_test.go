package jsonscan_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/jsonscan"
)

// validCases are edge cases of the JSON grammar; the answer expected is
// encoding/json's Valid.
var validCases = []string{
	``, ` `, `{}`, `[]`, ` {} `, "\t[\r\n]\n", `{`, `}`, `[`, `]`, `{]`, `[}`, `{}}`, `[]]`, `{}{}`, `[][]`, `1 2`,
	`null`, `nul`, `nulll`, `true`, `tru`, `false`, `falsey`, `True`, `NaN`,
	`0`, `-0`, `-`, `01`, `-01`, `1.`, `.1`, `1.0`, `1e`, `1e+`, `1e+5`, `1E-05`, `1.5e3`, `-1.5E+3`, `+1`, `0x1`, `1.e1`, `[1,]`, `[,1]`, `[1 2]`,
	`""`, `"`, `"a`, `"\"`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\a"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`, `"\u00e"`, `"\u"`, `"\ud800"`,
	"\"\x00\"", "\"\x1f\"", "\"\x7f\"", "\"\xff\xfe\"", "\"é\"", "\xef\xbb\xbf{}", "\"\t\"",
	`{"a":1}`, `{"a" : 1 , "b" : [ ] }`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,"a":1}`, `{1:1}`, `{"a":1 "b":2}`, `{"a"::1}`,
	`[{"a":[{"b":{}}]}]`, `[[[]]]`, `[[[]]`, `{"a":{"b":{"c":[1,2,{"d":null}]}}}`,
}

func TestValidJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	cases := append([]string{}, validCases...)
	// Nesting at encoding/json's limit and one past it, empty innermost or not.
	for _, n := range []int{9999, 10000, 10001} {
		cases = append(cases, strings.Repeat("[", n)+strings.Repeat("]", n),
			strings.Repeat(`{"a":`, n-1)+"[1]"+strings.Repeat("}", n-1))
	}
	for _, s := range cases {
		if got, want := jsonscan.Valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("Valid(%.60q) = %v, encoding/json says %v", s, got, want)
		}
	}
	// Every prefix and single-byte change of Shopify's own payloads.
	rng := rand.New(rand.NewPCG(16, 7))
	alphabet := []byte("{}[]:,\"\\/ \t\n0123456789-+.eEutrfalsn\x00\x1f\x7f\xff")
	for name, body := range fixtures(t, "shopify/webhooks") {
		for n := range len(body) + 1 {
			if got, want := jsonscan.Valid(body[:n]), json.Valid(body[:n]); got != want {
				t.Fatalf("%s cut at %d: Valid = %v, encoding/json says %v", name, n, got, want)
			}
		}
		b := make([]byte, len(body))
		for range 2000 {
			copy(b, body)
			b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
			if got, want := jsonscan.Valid(b), json.Valid(b); got != want {
				t.Fatalf("%s changed: Valid(%q) = %v, encoding/json says %v", name, b, got, want)
			}
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range validCases {
		f.Add([]byte(s))
	}
	for _, body := range fixtures(f, "shopify/webhooks") {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := jsonscan.Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	body := fixtures(b, "shopify/webhooks")["orders__create.json"]
	for _, bc := range []struct {
		name  string
		valid func([]byte) bool
	}{{"encoding/json", json.Valid}, {"jsonscan", jsonscan.Valid}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if !bc.valid(body) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// fixtures returns the payloads under testdata/<dir> at the repository's
// root (Shopify's published examples) by file name.
func fixtures(f testing.TB, dir string) map[string][]byte {
	f.Helper()
	out := map[string][]byte{}
	paths, _ := filepath.Glob(filepath.Join("..", "..", "testdata", dir, "*.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	if len(out) == 0 {
		f.Fatalf("no fixtures in testdata/%s", dir)
	}
	return out
}

// TestValidKeysTopLevel: ValidKeys reports the keys of the top-level object
// only, raw and in order, each with whether it holds an escape; its answer
// is Valid's.
func TestValidKeysTopLevel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		keys []string
	}{
		{`{"a":1,"b_c":{"d":{"e":2}},"f":[{"g":3}]," h ":null}`, []string{"a", "b_c", "f", " h "}},
		{` { "x" : "y" , "z\u005f" : { } } `, []string{"x", `z\u005f*`}},
		{`{}`, nil},
		{`[{"a":1}]`, nil},
		{`"a"`, nil},
		{`{"a":{"b":1},"c":2}`, []string{"a", "c"}},
	} {
		var keys []string
		ok := jsonscan.ValidKeys([]byte(tc.in), func(k []byte, escaped bool) {
			s := string(k)
			if escaped {
				s += "*"
			}
			keys = append(keys, s)
		})
		if !ok || strings.Join(keys, "|") != strings.Join(tc.keys, "|") {
			t.Errorf("ValidKeys(%s) = %v, keys %q; want true, %q", tc.in, ok, keys, tc.keys)
		}
	}
	for _, s := range validCases {
		if got, want := jsonscan.ValidKeys([]byte(s), func([]byte, bool) {}), json.Valid([]byte(s)); got != want {
			t.Errorf("ValidKeys(%.60q) = %v, encoding/json says %v", s, got, want)
		}
	}
}
