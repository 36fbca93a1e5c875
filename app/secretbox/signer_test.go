package secretbox

import (
	"errors"
	"testing"
	"time"
)

func TestSigner(t *testing.T) {
	t.Parallel()
	key, _ := ParseKey(NewKey())
	other, _ := ParseKey(NewKey())
	s, s2 := NewSigner(key), NewSigner(other)
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	tok := s.Sign("link", []byte("shop.myshopify.com|42"), now.Add(time.Hour))
	tamper := []byte(tok)
	tamper[0] ^= 1
	cases := []struct {
		name    string
		signer  *Signer
		purpose string
		token   string
		at      time.Time
		ok      bool
	}{
		{"valid", s, "link", tok, now, true},
		{"expired", s, "link", tok, now.Add(time.Hour), false},
		{"other purpose", s, "session", tok, now, false},
		{"other key", s2, "link", tok, now, false},
		{"tampered", s, "link", string(tamper), now, false},
		{"garbage", s, "link", "abc", now, false},
		{"empty", s, "link", "", now, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.signer.Verify(c.purpose, c.token, c.at)
			if c.ok {
				if err != nil || string(p) != "shop.myshopify.com|42" {
					t.Fatalf("Verify = %q, %v", p, err)
				}
				return
			}
			if !errors.Is(err, ErrBadToken) {
				t.Fatalf("Verify err = %v, want ErrBadToken", err)
			}
		})
	}
}
