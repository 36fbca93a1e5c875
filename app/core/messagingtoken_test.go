package core_test

import (
	"errors"
	"testing"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
)

func newBox(t *testing.T) *secretbox.Box {
	t.Helper()
	key, err := secretbox.ParseKey(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// MessagingToken is the one place that says whether a channel's access
// token can be used: saved and readable, else ErrNoMessagingToken, which
// also says when the secret key is the wrong one.
func TestMessagingToken(t *testing.T) {
	t.Parallel()
	box, other := newBox(t), newBox(t)
	for _, tc := range []struct {
		name     string
		sealed   []byte
		want     string
		wrongKey bool
	}{
		{"saved", box.Seal("tok-1"), "tok-1", false},
		{"none saved", nil, "", false},
		{"saved empty", box.Seal(""), "", false},
		{"sealed under another key", other.Seal("tok-1"), "", true},
		{"not a sealed value", []byte("plain"), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := core.MessagingToken(box, &store.LineChannel{ID: 7, MessagingTokenEnc: tc.sealed})
			if got != tc.want || (tc.want == "") != errors.Is(err, core.ErrNoMessagingToken) || errors.Is(err, secretbox.ErrWrongKey) != tc.wrongKey {
				t.Fatalf("MessagingToken = %q, %v; want %q (wrong key %v)", got, err, tc.want, tc.wrongKey)
			}
		})
	}
}
