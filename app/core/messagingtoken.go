package core

import (
	"errors"
	"fmt"

	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
)

// ErrNoMessagingToken: the LINE channel has no usable Messaging API access
// token (none saved, or the stored value cannot be read).
var ErrNoMessagingToken = errors.New("no LINE Messaging API access token")

// MessagingToken opens the channel's Messaging API access token: every
// sender, sync and settings check asks here. Any error is
// ErrNoMessagingToken; it also wraps secretbox.ErrWrongKey when the
// configured secret key is not the one the token was sealed with, which a
// caller may report as an alert rather than as LINE not being connected.
func MessagingToken(box *secretbox.Box, ch *store.LineChannel) (string, error) {
	token, err := box.Open(ch.MessagingTokenEnc)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: opening the token of LINE channel %d: %w", ErrNoMessagingToken, ch.ID, err)
	case token == "":
		return "", ErrNoMessagingToken
	}
	return token, nil
}
