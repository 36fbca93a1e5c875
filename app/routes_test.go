package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// viewerWrites are the only writes a viewer may make, each bounded by
// something other than the role (see the route's ViewerWrite).
var viewerWrites = map[string]bool{
	"POST /api/templates/:kind/preview": true,
	"POST /api/segments/preview":        true,
}

// TestRouteTableRoles walks the route table: every route names a known
// role, staff routes sit under /api or /admin, the writes a viewer may make
// are exactly the listed ones (each saying why), and a signed-in viewer gets
// 403 from every route that needs an admin, before its handler runs.
func TestRouteTableRoles(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
	shop, _ := seedLinkedCustomer(t, a, 1, "")
	ctx := context.Background()
	acct := &store.StaffAccount{ShopID: shop.ID, Email: "viewer@support.example", Role: store.RoleViewer, PasswordHash: dummyHash}
	if err := db.CreateStaff(ctx, acct); err != nil {
		t.Fatal(err)
	}
	viewer := &http.Cookie{Name: adminCookie,
		Value: a.Signer.Sign(adminPurpose, []byte(shop.Domain+"|"+staffPrefix+strconv.FormatInt(acct.ID, 10)), testNow.Add(adminSessionTTL))}

	seen := map[string]bool{}
	for _, r := range a.routeTable() {
		key := r.Method + " " + r.Path
		if seen[key] {
			t.Errorf("%s: listed twice", key)
		}
		seen[key] = true
		staffPath := strings.HasPrefix(r.Path, "/api/") || r.Path == "/admin" || strings.HasPrefix(r.Path, "/admin/")
		switch r.Role {
		case rolePublic, roleOps:
		case roleViewer, roleAdmin:
			if !staffPath {
				t.Errorf("%s: a staff route outside /api and /admin", key)
			}
		default:
			t.Errorf("%s: no known role (%q)", key, r.Role)
		}
		write := isWrite(r.Method) || r.Method == routeAny
		if r.Role == roleViewer && write && (!viewerWrites[key] || r.ViewerWrite == "") {
			t.Errorf("%s: a viewer may write here without being listed and saying why", key)
		}
		if r.Role == roleViewer && !write && r.ViewerWrite != "" {
			t.Errorf("%s: ViewerWrite on a read", key)
		}
	}
	for key := range viewerWrites {
		if !seen[key] {
			t.Errorf("%s: listed as a viewer write but not in the table", key)
		}
	}

	for _, r := range a.routeTable() {
		if r.Role != roleAdmin {
			continue
		}
		key := r.Method + " " + r.Path
		req := httptest.NewRequest(r.Method, concretePath(r.Path), nil)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.AddCookie(viewer)
		if rec := deliver(t, a, req); rec.Code != http.StatusForbidden {
			t.Errorf("viewer %s: %d %s, want 403", key, rec.Code, rec.Body)
		}
	}
	// The viewer is signed in: the reads and the bounded writes answer.
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/segments", ""},
		{http.MethodPost, "/api/templates/thank_you/preview", `{}`},
		{http.MethodPost, "/api/segments/preview", `{"definition":{"field":"linked","op":"=","value":true}}`},
	} {
		if rec := deliver(t, a, withCookie(tc.method, tc.path, viewer, tc.body)); rec.Code != http.StatusOK {
			t.Errorf("viewer %s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
		}
	}
}

// concretePath fills a route's parameters with 1 and its wildcard with x.
func concretePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "1"
		} else if s == "*" {
			parts[i] = "x"
		}
	}
	return strings.Join(parts, "/")
}

func TestRoleAllows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		have, need string
		ok         bool
	}{
		{roleAdmin, roleAdmin, true}, {roleAdmin, roleViewer, true},
		{roleViewer, roleViewer, true}, {roleViewer, roleAdmin, false},
		{"", roleViewer, false}, {roleAdmin, "admn", false}, {"owner", roleViewer, false},
	} {
		if got := core.RoleAllows(tc.have, tc.need); got != tc.ok {
			t.Errorf("RoleAllows(%q, %q) = %v", tc.have, tc.need, got)
		}
	}
}
