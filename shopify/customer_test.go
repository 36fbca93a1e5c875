package shopify_test

import (
	"testing"

	"github.com/tsunagu/tsunagu/shopify"
)

func TestNormalizeBirthday(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"1990-04-01": "1990-04-01", "1990/4/1": "", "1990/04/01": "1990-04-01", "1990-04-01T00:00:00Z": "1990-04-01",
		"04-01": "--04-01", "--02-29": "--02-29", "1990-02-30": "", "13-01": "", "": "", "someday": "",
	} {
		if got := shopify.NormalizeBirthday(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}
