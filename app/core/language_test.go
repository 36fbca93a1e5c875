package core

import "testing"

func TestMessageLang(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                    string
		customer, shopped, shop string
		want                    string
	}{
		{"nothing known", "", "", "", "ja"},
		{"customer locale wins", "ja", "en", "en", "ja"},
		{"english customer", "en-US", "ja", "ja", "en"},
		{"order locale when the customer has none", "", "en", "ja", "en"},
		{"japanese order in an english shop", "", "ja-JP", "en", "ja"},
		{"shop locale last", "", "", "en", "en"},
		{"other languages read english", "", "fr", "ja", "en"},
		{"blank is no signal", "  ", "EN", "ja", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MessageLang(tt.customer, tt.shopped, tt.shop); got != tt.want {
				t.Errorf("MessageLang(%q, %q, %q) = %q, want %q", tt.customer, tt.shopped, tt.shop, got, tt.want)
			}
		})
	}
}
