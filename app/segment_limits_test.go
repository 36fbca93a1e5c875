package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// Issue 15 M1 at the API: oversized and overly costly segments are refused
// at save with a 400 that names the limit, and a viewer may count only
// cheap segments ad hoc (an admin may count the costly ones).
func TestSegmentLimitsAPI(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
	seedAdmin(t, a)
	orOf := func(n int, leaf func(int) map[string]any) map[string]any {
		list := make([]map[string]any, n)
		for i := range list {
			list[i] = leaf(i)
		}
		return map[string]any{"or": list}
	}
	clicked := func(int) map[string]any { return map[string]any{"field": "clicked", "op": "=", "value": "any"} }
	tag := func(i int) map[string]any {
		return map[string]any{"field": "tag", "op": "=", "value": fmt.Sprint("t", i)}
	}
	for _, tc := range []struct {
		name string
		def  map[string]any
		want string
	}{
		{"OR of 1,000 clicked", orOf(1000, clicked), "too costly"},
		{"OR of 5,000 tags", orOf(5000, tag), "at most 65536"},
		{"OR of 201 linked", orOf(201, func(int) map[string]any { return map[string]any{"field": "linked", "op": "=", "value": true} }), "more than 200 conditions"},
	} {
		for _, target := range []string{"/api/segments", "/api/campaigns"} {
			body := map[string]any{"name": tc.name, "definition": tc.def, "messages": []any{map[string]string{"type": "text", "text": "hi"}}}
			rec := adminDo(t, a, testShop, http.MethodPost, target, body)
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tc.want) {
				t.Errorf("%s to %s: %d %.200s, want 400 naming %q", tc.name, target, rec.Code, rec.Body, tc.want)
			}
		}
	}
	if n := countRows(t, db, &store.Segment{}, "1=1"); n != 0 {
		t.Fatalf("%d segments saved", n)
	}

	acct := &store.StaffAccount{ShopID: mustShop(t, a).ID, Email: "viewer@support.example", Role: store.RoleViewer, PasswordHash: dummyHash}
	if err := db.CreateStaff(context.Background(), acct); err != nil {
		t.Fatal(err)
	}
	viewer := &http.Cookie{Name: adminCookie,
		Value: a.Signer.Sign(adminPurpose, []byte(testShop+"|"+staffPrefix+strconv.FormatInt(acct.ID, 10)), testNow.Add(adminSessionTTL))}
	costly, _ := json.Marshal(map[string]any{"definition": orOf(4, clicked)}) // cost 80
	cheap, _ := json.Marshal(map[string]any{"definition": orOf(2, clicked)})  // cost 40
	for _, tc := range []struct {
		name string
		body []byte
		want int
	}{{"cheap", cheap, http.StatusOK}, {"costly", costly, http.StatusForbidden}} {
		for _, path := range []string{"/api/segments/preview"} {
			if rec := deliver(t, a, withCookie(http.MethodPost, path, viewer, string(tc.body))); rec.Code != tc.want {
				t.Errorf("viewer %s %s: %d %s, want %d", tc.name, path, rec.Code, rec.Body, tc.want)
			}
		}
	}
	var costlyDef map[string]any
	_ = json.Unmarshal(costly, &costlyDef)
	if rec := adminDo(t, a, testShop, http.MethodPost, "/api/segments/preview", costlyDef); rec.Code != http.StatusOK {
		t.Errorf("admin costly preview: %d %s", rec.Code, rec.Body)
	}
}

func mustShop(t *testing.T, a *App) *store.Shop {
	t.Helper()
	s, err := a.DB.ShopByDomain(context.Background(), testShop)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
