package secretbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrBadToken is returned for a token that is malformed, forged, expired or
// was signed for another purpose.
var ErrBadToken = errors.New("invalid or expired token")

// Signer issues short URL-safe tokens that carry a payload, an expiry and a
// purpose (so a link token can never be replayed as a session cookie).
// They are signed, not encrypted: put nothing secret in the payload.
type Signer struct {
	key []byte
}

// NewSigner derives the signing key from the master key, so the encryption
// key itself is never used for HMAC.
func NewSigner(master []byte) *Signer {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("tsunagu signer v1"))
	return &Signer{key: m.Sum(nil)}
}

func (s *Signer) mac(purpose, body string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(body))
	return m.Sum(nil)
}

// Sign returns "<payload>.<expiry>.<mac>" for payload, valid until exp.
func (s *Signer) Sign(purpose string, payload []byte, exp time.Time) string {
	body := base64.RawURLEncoding.EncodeToString(payload) + "." + strconv.FormatInt(exp.Unix(), 36)
	return body + "." + base64.RawURLEncoding.EncodeToString(s.mac(purpose, body))
}

// Verify checks a token for purpose at now and returns its payload.
func (s *Signer) Verify(purpose, token string, now time.Time) ([]byte, error) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return nil, ErrBadToken
	}
	body, sig := token[:i], token[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(purpose, body)) {
		return nil, ErrBadToken
	}
	p, e, ok := strings.Cut(body, ".")
	if !ok {
		return nil, ErrBadToken
	}
	exp, err := strconv.ParseInt(e, 36, 64)
	if err != nil || now.Unix() >= exp {
		return nil, ErrBadToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil, ErrBadToken
	}
	return payload, nil
}
