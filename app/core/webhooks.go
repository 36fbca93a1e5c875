package core

// What the door checks before a webhook is stored (signature, headers,
// the payload's shop and age) is in package door.

// EventKey is the idempotency key of an inbound event: the sender's id
// within one shop (or channel). Two shops' deliveries never collide, so
// one shop cannot make another's events look like duplicates.
func EventKey(scope, id string) string {
	return scope + "|" + id
}
