package app

import (
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/secretbox"
)

func TestLineRateConfig(t *testing.T) {
	t.Parallel()
	key := secretbox.NewKey()
	cases := []struct {
		value   string
		want    float64
		wantErr bool
	}{
		{"", 1000, false},
		{"250", 250, false},
		{"0.5", 0.5, false},
		{"0", 0, true},
		{"-3", 0, true},
		{"fast", 0, true},
	}
	for _, tc := range cases {
		c, err := LoadConfig(envOf(map[string]string{"TSUNAGU_SECRET_KEY": key, "TSUNAGU_LINE_RATE": tc.value}))
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), "TSUNAGU_LINE_RATE") {
				t.Errorf("%q: err = %v, want a TSUNAGU_LINE_RATE error", tc.value, err)
			}
			continue
		}
		if err != nil || c.LineRate != tc.want {
			t.Errorf("%q: LineRate = %v, %v; want %v", tc.value, c, err, tc.want)
		}
	}
}
