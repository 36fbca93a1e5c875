// Package secretbox encrypts tokens and channel secrets at rest with AES-256-GCM.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// version prefixes every sealed value so the key or algorithm can rotate later.
const version byte = 1

// ErrWrongKey is a sealed value the key does not open: almost always a
// TSUNAGU_SECRET_KEY other than the one the value was sealed with.
var ErrWrongKey = errors.New("the secret key cannot decrypt stored credentials (TSUNAGU_SECRET_KEY is not the key they were saved with)")

// ErrMalformed is a stored value that is not a sealed value at all.
var ErrMalformed = errors.New("sealed value is malformed")

// Box seals and opens small secrets. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("creating AES cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("creating GCM: %w", err)
	}
	return &Box{aead: aead}, nil
}

// ParseKey decodes a base64 (standard or URL, padded or not) 32-byte key.
func ParseKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != 32 {
				return nil, fmt.Errorf("secret key decodes to %d bytes, want 32", len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("secret key is not valid base64")
}

// NewKey returns a fresh random key, base64 encoded.
func NewKey() string {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.StdEncoding.EncodeToString(k)
}

// Seal encrypts plaintext; an empty plaintext seals to nil so "not set" stays visible.
func (b *Box) Seal(plaintext string) []byte {
	if plaintext == "" {
		return nil
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	out := append([]byte{version}, nonce...)
	return b.aead.Seal(out, nonce, []byte(plaintext), []byte{version})
}

// Open decrypts a value made by Seal.
func (b *Box) Open(sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	ns := b.aead.NonceSize()
	if len(sealed) < 1+ns+b.aead.Overhead() || sealed[0] != version {
		return "", ErrMalformed
	}
	pt, err := b.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte{version})
	if err != nil {
		return "", ErrWrongKey
	}
	return string(pt), nil
}
