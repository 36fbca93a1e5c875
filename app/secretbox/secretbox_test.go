package secretbox

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key, err := ParseKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	box, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, in string }{
		{"token", "shpat_0123456789abcdef"},
		{"unicode", "チャネルシークレット"},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sealed := box.Seal(tc.in)
			if tc.in != "" && bytes.Contains(sealed, []byte(tc.in)) {
				t.Fatal("sealed value contains the plaintext")
			}
			got, err := box.Open(sealed)
			if err != nil || got != tc.in {
				t.Fatalf("Open = %q, %v; want %q", got, err, tc.in)
			}
		})
	}
	a, b := box.Seal("same"), box.Seal("same")
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	k1, _ := ParseKey(NewKey())
	k2, _ := ParseKey(NewKey())
	b1, _ := New(k1)
	b2, _ := New(k2)
	sealed := b1.Seal("secret")
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	for name, in := range map[string][]byte{"other key": nil, "tampered": tampered, "short": {1, 2, 3}, "bad version": append([]byte{9}, sealed[1:]...)} {
		t.Run(name, func(t *testing.T) {
			box, val := b1, in
			if name == "other key" {
				box, val = b2, sealed
			}
			_, err := box.Open(val)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			// A wrong key is told apart from a damaged value.
			if wrongKey := errors.Is(err, ErrWrongKey); wrongKey != (name == "other key" || name == "tampered") {
				t.Fatalf("Open: %v; ErrWrongKey = %v", err, wrongKey)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{NewKey(), true},
		{"c2hvcnQ=", false},
		{"not base64!!", false},
	} {
		if _, err := ParseKey(tc.in); (err == nil) != tc.ok {
			t.Errorf("ParseKey(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}
