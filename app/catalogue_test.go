package app

import (
	"slices"
	"testing"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/templates"
)

// The journeys screen, the template editor, the labels and the daily cap all
// list what the catalogue declares, with its defaults.
func TestAdminFollowsTheCatalogue(t *testing.T) {
	t.Parallel()
	r, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	var journeys, withTemplates, exempt []string
	for _, k := range templates.Catalogue() {
		if k.Journey {
			journeys = append(journeys, k.Name)
		}
		if k.Template {
			withTemplates = append(withTemplates, k.Name)
		}
		if k.Category == templates.Transactional {
			exempt = append(exempt, k.Name)
		}
		for _, lang := range []string{"ja", "en"} {
			if got := tr(lang, "msg."+k.Name); got != k.LabelIn(lang) || got == "" {
				t.Errorf("label of %s in %s: %q", k.Name, lang, got)
			}
			if got := bundle(lang, "msg.")["msg."+k.Name]; got != k.LabelIn(lang) {
				t.Errorf("script bundle label of %s in %s: %q", k.Name, lang, got)
			}
		}
	}

	js := journeysOf(store.Settings{})
	var listed []string
	for _, j := range js.Journeys {
		k, _ := templates.Lookup(j.Kind)
		listed = append(listed, j.Kind)
		if j.Enabled == k.OffByDefault || j.DelayMinutes != k.DefaultDelayMinutes || j.DelayEditable != k.DelayEditable {
			t.Errorf("journey %s: %+v, catalogue %+v", j.Kind, j, k)
		}
	}
	if !slices.Equal(listed, journeys) {
		t.Errorf("journeys screen lists %v, catalogue %v", listed, journeys)
	}

	a := &App{Templates: r}
	listed = nil
	for _, tj := range a.templatesOf(store.Settings{}, 0) {
		if tj.Lang == "ja" {
			listed = append(listed, tj.Kind)
		}
		if tj.Source == "" {
			t.Errorf("template %s.%s has no default source", tj.Kind, tj.Lang)
		}
	}
	if !slices.Equal(listed, withTemplates) {
		t.Errorf("template editor lists %v, catalogue %v", listed, withTemplates)
	}
	if !slices.Equal(core.CapExemptKinds, exempt) || len(exempt) == 0 {
		t.Errorf("cap exempts %v, catalogue's transactional kinds are %v", core.CapExemptKinds, exempt)
	}
}
