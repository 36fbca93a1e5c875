package core_test

import (
	"testing"

	"github.com/tsunagu/tsunagu/app/core"
)

func TestCSVCell(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Winter sale":                    "Winter sale",
		`=HYPERLINK("https://evil","x")`: `'=HYPERLINK("https://evil","x")`,
		"+81 3":                          "'+81 3",
		"-1+1":                           "'-1+1",
		"@SUM(A1)":                       "'@SUM(A1)",
		"\t=1":                           "'\t=1",
		"":                               "",
		"a=1":                            "a=1",
	} {
		if got := core.CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}
