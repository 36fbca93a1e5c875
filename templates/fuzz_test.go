package templates_test

import (
	"testing"

	"github.com/tsunagu/tsunagu/templates"
)

// FuzzRender feeds arbitrary template sources to the renderer: it must
// never panic, and whatever it accepts stays within the output budget. The
// seeds (testdata/fuzz/FuzzRender) are the review's attacks and the default
// templates; plain `go test` runs them, `go test -fuzz FuzzRender` explores.
func FuzzRender(f *testing.F) {
	r, err := templates.New()
	if err != nil {
		f.Fatal(err)
	}
	for _, k := range templates.KindNames(func(k templates.Kind) bool { return k.Template }) {
		src, _ := r.Default(k, "en")
		f.Add(k, src)
	}
	f.Fuzz(func(t *testing.T, kind, src string) {
		if !r.Has(kind) {
			kind = "thank_you"
		}
		raw, err := r.Render(kind, "en", src, templates.SampleData(kind, "en"))
		if err != nil {
			return // refused: a parse, render or budget error
		}
		n := 0
		for _, m := range raw {
			n += len(m)
		}
		if n > templates.MaxOutputBytes {
			t.Fatalf("accepted %d bytes of output", n)
		}
	})
}
