package segment_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store/segment"
)

var fuzzNow = time.Date(2026, 3, 15, 3, 0, 0, 0, time.UTC)

// FuzzCompileSegment: whatever the bytes, parsing and compiling never
// panic; what parses also compiles, with one bind argument per placeholder
// and SQL no bigger than the limits allow.
func FuzzCompileSegment(f *testing.F) {
	for _, s := range []string{
		`{"field":"orders_count","op":">=","value":3}`,
		`{"and":[{"builtin":"vip"},{"not":{"field":"tag","op":"=","value":["a","b"]}}]}`,
		`{"or":[{"field":"clicked","op":"=","value":"any","within_days":30},{"field":"received","op":"!=","value":"thank_you"}]}`,
		`{"field":"last_order_date","op":"<=","value":"2026-01-31"}`,
		`{"field":"product_title","op":"not_contains","value":"100%_tea\\"}`,
		`{"field":"viewed_product","op":"in","value":[1,2,3]}`,
		`{"field":"birthday_month","op":"=","value":"current"}`,
		`{"or":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		n, err := segment.Parse(raw)
		if err != nil {
			if !errors.Is(err, segment.ErrInvalid) {
				t.Fatalf("error outside ErrBadSegment: %v", err)
			}
			return
		}
		sql, args, err := segment.Compile(n, fuzzNow, time.UTC)
		if err != nil {
			t.Fatalf("parsed but does not compile: %v", err)
		}
		if got := strings.Count(sql, "?"); got != len(args) {
			t.Fatalf("%d placeholders, %d arguments", got, len(args))
		}
		// The limits bound the output whatever the input: at most
		// MaxSegmentNodes nodes, and values bounded by count, cost and length.
		if len(sql) > 256<<10 || len(args) > 2*segment.MaxNodes+segment.MaxCost {
			t.Fatalf("%d bytes of SQL and %d arguments from %d bytes of input", len(sql), len(args), len(raw))
		}
	})
}
