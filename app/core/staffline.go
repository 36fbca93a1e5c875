package core

import (
	"crypto/rand"
	"strings"
	"time"
)

// A staff member links their own LINE account for test sends by sending a
// one-time code to the shop's official account from LINE. The code is
// random (40 bits), works once and expires, so a customer who guesses at
// codes cannot become a test recipient.
const (
	staffCodePrefix = "TSUNAGU-"
	StaffCodeTTL    = 30 * time.Minute
	staffAlphabet   = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" // no 0/O, 1/I
)

// NewStaffLineCode returns a fresh code such as "TSUNAGU-7KQ2-MX9P".
func NewStaffLineCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	var sb strings.Builder
	sb.WriteString(staffCodePrefix)
	for i, x := range b {
		if i == 4 {
			sb.WriteByte('-')
		}
		sb.WriteByte(staffAlphabet[int(x)%len(staffAlphabet)])
	}
	return sb.String()
}

// StaffLineCodeIn returns the code in a LINE message text, if it is one:
// the whole message, any case, surrounding spaces ignored.
func StaffLineCodeIn(text string) (string, bool) {
	s := strings.ToUpper(strings.TrimSpace(text))
	if len(s) != len(staffCodePrefix)+9 || !strings.HasPrefix(s, staffCodePrefix) || s[len(staffCodePrefix)+4] != '-' {
		return "", false
	}
	for i, r := range s[len(staffCodePrefix):] {
		if i == 4 {
			continue
		}
		if !strings.ContainsRune(staffAlphabet, r) {
			return "", false
		}
	}
	return s, true
}
