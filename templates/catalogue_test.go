package templates

import (
	"io/fs"
	"strings"
	"testing"
)

// The catalogue agrees with itself and with the default templates: every
// kind with templates has both languages and renders with its sample data,
// and no template file belongs to a kind the catalogue does not declare.
func TestCatalogueIsConsistent(t *testing.T) {
	t.Parallel()
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, k := range Catalogue() {
		if k.Name == "" || seen[k.Name] {
			t.Errorf("kind %q is empty or declared twice", k.Name)
		}
		seen[k.Name] = true
		if k.Label[0] == "" || k.Label[1] == "" {
			t.Errorf("%s: a label is missing: %q", k.Name, k.Label)
		}
		if k.Category != Transactional && k.Category != Marketing {
			t.Errorf("%s: category %q", k.Name, k.Category)
		}
		if !k.Journey && (k.OffByDefault || k.DelayEditable || k.DefaultDelayMinutes != 0) {
			t.Errorf("%s: switches and delays are for journeys only", k.Name)
		}
		if k.Template != (k.Sample != nil) {
			t.Errorf("%s: a kind with templates needs sample data, and only such a kind", k.Name)
		}
		if k.Template != r.Has(k.Name) {
			t.Errorf("%s: Template is %v but default templates exist: %v", k.Name, k.Template, r.Has(k.Name))
		}
		for _, lang := range []string{"ja", "en"} {
			if !k.Template {
				continue
			}
			if _, ok := r.Default(k.Name, lang); !ok {
				t.Errorf("%s: no default %s template", k.Name, lang)
			} else if _, err := r.Render(k.Name, lang, "", SampleData(k.Name, lang)); err != nil {
				t.Errorf("%s.%s does not render with its sample data: %v", k.Name, lang, err)
			}
		}
	}
	files, _ := fs.Glob(messageFS, "messages/*.json.tmpl")
	for _, f := range files {
		name, _, _ := strings.Cut(strings.TrimPrefix(f, "messages/"), ".")
		if k, ok := Lookup(name); !ok || !k.Template {
			t.Errorf("%s belongs to no templated kind in the catalogue", f)
		}
	}
	if _, ok := Lookup("no_such_kind"); ok {
		t.Error("Lookup found an undeclared kind")
	}
}
