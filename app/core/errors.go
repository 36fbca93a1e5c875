// Package core is the layer that decides: the domain rules and transactions
// of linking, coupons, journeys, the send gate, campaigns, ingest and token
// lifecycle. HTTP handlers (app) and task handlers (jobs) are thin adapters
// around it. It imports neither Echo nor Asynq (see core_test.go), and its
// errors carry a code that the HTTP layer maps to a status in one place.
package core

import (
	"errors"
	"fmt"
)

// Error codes, in the manner of WTF Dial: each says what kind of failure it
// is, not which transport reports it. app maps them to HTTP statuses once.
const (
	ENOTFOUND     = "not_found"    // the thing does not exist (or is not the caller's)
	ECONFLICT     = "conflict"     // the request clashes with the current state
	EINVALID      = "invalid"      // the input is wrong; Message says what
	EFORBIDDEN    = "forbidden"    // the caller may not do this
	EUNAVAILABLE  = "unavailable"  // a dependency is down or not configured; try later
	ETOOLARGE     = "too_large"    // the input is over a bound
	ERATELIMITED  = "rate_limited" // too many attempts; try later
	EUNAUTHORIZED = "unauthorized" // no or bad credentials
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is a domain error: a code and a message safe to show the user.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is makes errors.Is(err, core.ErrNotFound) match any error of that code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// Errorf returns a domain error with a formatted, user-facing message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinels for errors.Is; they match every Error of their code.
var (
	ErrNotFound = &Error{Code: ENOTFOUND}
	ErrConflict = &Error{Code: ECONFLICT}
	ErrInvalid  = &Error{Code: EINVALID}
)

// ErrorCode returns the code of the first domain error in err's chain,
// EINTERNAL for any other error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of the first domain error in
// err's chain; other errors get a generic text, so internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	if e != nil {
		return e.Code
	}
	return "internal error"
}
