package templates_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/templates"
)

// The attacks from the security review, and their near neighbours: each is
// refused with an over-budget error, at save (Validate) as at send (Render).
func TestTemplateBudget(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	kib := strings.Repeat("x", 1024)
	doubling := `{{define "d0"}}xxxxxxxx{{end}}`
	for i := 1; i <= 25; i++ {
		doubling += `{{define "d` + strconv.Itoa(i) + `"}}{{template "d` + strconv.Itoa(i-1) + `"}}{{template "d` + strconv.Itoa(i-1) + `"}}{{end}}`
	}
	text := func(body string) string { return `[{"type":"text","text":"` + body + `"}]` }
	cases := []struct{ name, src, want string }{
		{"range over a huge literal", text(`{{range 10000000}}{{end}}`), "loops at most"},
		{"range over a variable", text(`{{$n := 10000000}}{{range $n}}{{end}}`), "loops at most"},
		{"big output", text(`{{range 100}}` + kib + kib + kib + `{{end}}`), "output is over"},
		{"doubling define chain", doubling + text(`{{template "d25"}}`), "steps"},
		{"nested loops", text(`{{range 100}}{{range 100}}{{range 100}}a{{end}}{{end}}{{end}}`), "steps"},
		{"nested data loops", text(`{{range .Order.Items}}{{range $.Order.Items}}{{range $.Order.Items}}a{{end}}{{end}}{{end}}`), "steps"},
		{"recursion", `{{define "r"}}{{template "r" .}}{{end}}` + text(`{{template "r" .}}`), "calls itself"},
		{"printf width", text(`{{printf "%0999999999d" 1}}`), "printf width"},
		{"printf star", text(`{{printf "%*d" 5 1}}`), "printf width"},
		{"huge source", text(strings.Repeat("a", templates.MaxSourceBytes)), "limit is"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := r.Validate("thank_you", "en", tc.src)
			if err == nil || !strings.Contains(err.Error(), "execution budget") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an execution-budget error containing %q", err, tc.want)
			}
		})
	}
}

// A template that is within budget for the sample order but not for a real
// one (a loop over a quantity) fails at send time with a budget error; an
// order with more lines than a loop may visit renders its first ones.
func TestTemplateBudgetAtSend(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	src := `[{"type":"text","text":"{{range .Order.Items}}{{range .Quantity}}*{{end}}{{end}}"}]`
	if err := r.Validate("thank_you", "en", src); err != nil {
		t.Fatalf("Validate = %v, want ok (the sample order is small)", err)
	}
	d := templates.SampleData("thank_you", "en")
	d.Order.Items = []templates.Item{{Title: "tea", Quantity: 5000, Price: decimal.NewFromInt(1)}}
	if _, err := r.Render("thank_you", "en", src, d); err == nil || !strings.Contains(err.Error(), "execution budget") {
		t.Fatalf("Render = %v, want an execution-budget error", err)
	}
	d.Order.Items = make([]templates.Item, 500)
	for i := range d.Order.Items {
		d.Order.Items[i] = templates.Item{Title: "t", Quantity: 1}
	}
	raw, err := r.Render("thank_you", "en", src, d)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw[0]), "*"); n != templates.MaxRangeItems {
		t.Fatalf("rendered %d lines, want the first %d", n, templates.MaxRangeItems)
	}
}
