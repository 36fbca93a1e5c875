package core_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/secretbox"
)

func TestClickToken(t *testing.T) {
	t.Parallel()
	key, _ := secretbox.ParseKey(secretbox.NewKey())
	s := secretbox.NewSigner(key)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tok := core.ClickToken(s, core.Click{MessageID: 42, Kind: "shipping", Target: "https://track.example/?n=1"}, t0)
	cases := []struct {
		name  string
		token string
		at    time.Time
		ok    bool
	}{
		{"valid", tok, t0.Add(time.Hour), true},
		{"expired", tok, t0.Add(core.ClickTTL + time.Second), false},
		{"tampered", strings.Replace(tok, tok[2:4], "zz", 1), t0, false},
		{"other purpose", s.Sign("session", []byte(`{"m":42,"u":"https://evil.example"}`), t0.Add(time.Hour)), t0, false},
		{"garbage", "nope", t0, false},
	}
	for _, tc := range cases {
		c, err := core.ParseClickToken(s, tc.token, tc.at)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if tc.ok && (c.MessageID != 42 || c.Target != "https://track.example/?n=1") {
			t.Errorf("%s: %+v", tc.name, c)
		}
	}
}

func TestWithUTM(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, kind, want string }{
		{"https://shop.example/p", "follow_up_30", "https://shop.example/p?utm_campaign=follow_up_30&utm_medium=message&utm_source=line"},
		{"https://shop.example/p?a=1&utm_source=mail", "shipping", "https://shop.example/p?a=1&utm_campaign=shipping&utm_medium=message&utm_source=mail"},
		{"tel:0312345678", "shipping", "tel:0312345678"},
	}
	for _, tc := range cases {
		if got := core.WithUTM(tc.in, tc.kind); got != tc.want {
			t.Errorf("WithUTM(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
