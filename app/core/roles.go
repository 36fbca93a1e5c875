package core

import "github.com/tsunagu/tsunagu/app/store"

// Staff roles, least first. A viewer reads; an admin also changes settings,
// sends and manages staff. Shopify staff, who manage the app, are admins.
const (
	RoleViewer = store.RoleViewer
	RoleAdmin  = store.RoleAdmin
)

var roleRank = map[string]int{RoleViewer: 1, RoleAdmin: 2}

// RoleAllows reports whether a caller with role have may do what needs
// role need. An unknown role allows nothing; an unknown need is refused to
// everyone, so a typo in a route table locks a route rather than opening it.
func RoleAllows(have, need string) bool {
	h, n := roleRank[have], roleRank[need]
	return h > 0 && n > 0 && h >= n
}
