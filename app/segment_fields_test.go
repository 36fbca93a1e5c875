package app

import (
	"testing"

	"github.com/tsunagu/tsunagu/app/store/segment"
)

// The segment builder lists the fields of store's table; each needs its
// label in both languages.
func TestBuilderFieldsHaveLabels(t *testing.T) {
	t.Parallel()
	for _, f := range segment.BuilderFields() {
		l, ok := merchantText["field."+f.Key]
		if !ok || l[0] == "" || l[1] == "" {
			t.Errorf("segment field %s has no Japanese and English label (field.%s in merchant_i18n.go)", f.Key, f.Key)
		}
	}
}
