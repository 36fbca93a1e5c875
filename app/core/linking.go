package core

import "time"

// LinkTokenUsable reports whether an ID-linking token issued at issuedAt may
// still start a link: once its customer has linked (after the token was
// made) the token is spent, so a forwarded or leaked link cannot tie a
// stranger's LINE account to the customer after an unlink. Tokens carry
// whole seconds, so a link in the token's own second counts as before it.
func LinkTokenUsable(issuedAt time.Time, lastLinkedAt *time.Time) bool {
	return lastLinkedAt == nil || !lastLinkedAt.Truncate(time.Second).After(issuedAt)
}

// CouponVisibleTo reports whether the link coupon, issued once per customer
// with the customer's first link, may be shown to lineUserID: only to the
// LINE user it was issued to.
func CouponVisibleTo(firstLineUserID, lineUserID string) bool {
	return firstLineUserID != "" && firstLineUserID == lineUserID
}
