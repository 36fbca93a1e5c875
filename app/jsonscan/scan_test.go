package jsonscan_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/jsonscan"
)

func TestSkipSpace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in       string
		from, at int
	}{
		{"", 0, 0},
		{"x", 0, 0},
		{" \t\r\nx", 0, 4},
		{"   ", 1, 3},
		{"\v1", 0, 0}, // vertical tab and form feed are not JSON white space
		{"\f1", 0, 0},
		{"\u00a01", 0, 0},
		{"a  b", 1, 3},
	} {
		if got := jsonscan.SkipSpace([]byte(tc.in), tc.from); got != tc.at {
			t.Errorf("SkipSpace(%q, %d) = %d, want %d", tc.in, tc.from, got, tc.at)
		}
	}
}

func TestEndString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		end     int
		escaped bool
	}{
		{`""`, 2, false},
		{`"abc"`, 5, false},
		{`"abc",1`, 5, false},
		{`"日本"`, 8, false},
		{"\"\xff\xfe\"", 4, false}, // bytes are not checked as UTF-8
		{"\"\x7f\"", 3, false},
		{`"a\"b"`, 6, true},
		{`"\\"`, 4, true},
		{`"\/\b\f\n\r\t"`, 14, true},
		{`"\u00e9"`, 8, true},
		{`"\uABCD"x`, 8, true},
		{`"\ud800"`, 8, true}, // a lone surrogate is valid JSON
		{`"`, -1, false},
		{`"abc`, -1, false},
		{`"\"`, -1, false},
		{`"\`, -1, false},
		{`"\a"`, -1, false},
		{`"\x41"`, -1, false},
		{`"\u00g9"`, -1, false},
		{`"\u00e"`, -1, false},
		{`"\u00e`, -1, false},
		{`"\u"`, -1, false},
		{"\"\x00\"", -1, false},
		{"\"\x1f\"", -1, false},
		{"\"\t\"", -1, false},
		{"\"\n\"", -1, false},
	} {
		end, escaped := jsonscan.EndString([]byte(tc.in), 0)
		if end != tc.end || escaped != tc.escaped {
			t.Errorf("EndString(%q) = %d, %v, want %d, %v", tc.in, end, escaped, tc.end, tc.escaped)
		}
	}
	// From the middle of a slice.
	if end, _ := jsonscan.EndString([]byte(`{"key":1}`), 1); end != 6 {
		t.Errorf("EndString at 1 = %d, want 6", end)
	}
}

func TestEndNumber(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in  string
		end int
	}{
		{"0", 1}, {"-0", 2}, {"7", 1}, {"123", 3}, {"-123", 4},
		{"1.5", 3}, {"0.25", 4}, {"1e5", 3}, {"1E+5", 4}, {"1e-05", 5}, {"-1.5E+3", 7},
		{"01", 1}, {"-01", 2}, {"1,", 1}, {"1]", 1}, {"12 ", 2}, {"1.5.5", 3}, {"1e5e5", 3},
		{"", -1}, {"-", -1}, {"+1", -1}, {".1", -1}, {"1.", -1}, {"1.e1", -1}, {"1e", -1}, {"1e+", -1}, {"-a", -1}, {"x", -1},
		{"NaN", -1}, {"Infinity", -1},
	} {
		if got := jsonscan.EndNumber([]byte(tc.in), 0); got != tc.end {
			t.Errorf("EndNumber(%q) = %d, want %d", tc.in, got, tc.end)
		}
	}
	// At the end of the input there is no number (and no panic).
	if got := jsonscan.EndNumber([]byte("[1"), 2); got != -1 {
		t.Errorf("EndNumber at len = %d, want -1", got)
	}
}

func TestEndLiteral(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, lit string
		from    int
		end     int
	}{
		{"true", "true", 0, 4},
		{"false", "false", 0, 5},
		{"null", "null", 0, 4},
		{"[null]", "null", 1, 5},
		{"nullx", "null", 0, 4}, // what follows is the caller's
		{"nul", "null", 0, -1},
		{"tru", "true", 0, -1},
		{"True", "true", 0, -1},
		{"fals", "false", 0, -1},
		{"", "null", 0, -1},
		{"null", "null", 4, -1},
	} {
		if got := jsonscan.EndLiteral([]byte(tc.in), tc.from, tc.lit); got != tc.end {
			t.Errorf("EndLiteral(%q, %d, %q) = %d, want %d", tc.in, tc.from, tc.lit, got, tc.end)
		}
	}
}

// EndString passes plain bytes eight at a time: every byte that ends a run
// (or looks near one: high-bit twins of the quote, the backslash and 0x20)
// at every offset of strings around a word's length, against encoding/json.
func TestEndStringWordAtATime(t *testing.T) {
	t.Parallel()
	stops := []string{`"`, `\`, `\n`, `\u00e9`, `\x`, "\x00", "\x1f", "\x20", "\x21", "\x5b", "\x5d", "\x7f",
		"\x80", "\x9f", "\xa0", "\xa2", "\xdc", "\xff", "é"}
	for n := range 20 {
		for k := range n + 1 {
			for _, stop := range stops {
				s := `"` + strings.Repeat("a", k) + stop + strings.Repeat("b", n-k) + `"`
				// A quote inside ends the string early; the rest is another token.
				want := len(s)
				if !json.Valid([]byte(s)) {
					want = -1
				}
				if stop == `"` {
					want = 1 + k + 1
				}
				if end, _ := jsonscan.EndString([]byte(s), 0); end != want {
					t.Fatalf("EndString(%q) = %d, want %d", s, end, want)
				}
			}
		}
	}
}
