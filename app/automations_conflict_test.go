package app

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// Two staff edit the automations at once: the second save, made against
// what they loaded before the first, is refused with 409 instead of undoing
// the first; after a reload it goes through and both changes stand.
func TestAutomationsStaleWriteRefused(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	shop, _ := seedLinkedCustomer(t, a, 1, uid("a"))
	ctx := context.Background()
	load := func() automationSettings {
		t.Helper()
		rec := adminCall(t, a, http.MethodGet, "/api/automations", nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("get: %d %s", rec.Code, rec.Body)
		}
		return decode[automationSettings](t, rec)
	}
	alice, bob := load(), load()
	if alice.Version == "" || len(alice.Journeys) == 0 {
		t.Fatalf("GET lacks version or journeys: %+v", alice)
	}

	tests := []struct {
		name string
		body func() any
		code int
	}{
		{"no version", func() any { return map[string]any{"automations": map[string]any{"birthday": true}} }, http.StatusUnprocessableEntity},
		{"out of range", func() any {
			b := alice
			b.Automations.WinBackDays = -1
			return b
		}, http.StatusUnprocessableEntity},
		{"alice turns birthday on", func() any {
			b := alice
			b.Automations.Birthday = true
			return b
		}, http.StatusOK},
		{"bob, still on the old version, turns win-back on", func() any {
			b := bob
			b.Automations.WinBack = true
			b.Journeys = nil
			return b
		}, http.StatusConflict},
	}
	for _, tt := range tests {
		rec := adminCall(t, a, http.MethodPut, "/api/automations", tt.body())
		if rec.Code != tt.code {
			t.Errorf("%s: %d %s, want %d", tt.name, rec.Code, rec.Body, tt.code)
		}
		if tt.code == http.StatusConflict && !strings.Contains(rec.Body.String(), "changed by someone else") {
			t.Errorf("%s: the 409 does not say why: %s", tt.name, rec.Body)
		}
	}
	s, _ := a.DB.Shop(ctx, shop.ID)
	if !s.Settings.Automations.Birthday || s.Settings.Automations.WinBack {
		t.Fatalf("after the refused write: %+v (alice's change must stand, bob's must not be half-applied)", s.Settings.Automations)
	}

	// A change elsewhere in the settings (a template) is no conflict.
	if rec := adminCall(t, a, http.MethodPut, "/api/templates/thank_you?lang=ja", map[string]any{"source": ""}); rec.Code != http.StatusOK {
		t.Fatalf("template: %d %s", rec.Code, rec.Body)
	}
	bob = load()
	if rec := adminCall(t, a, http.MethodPut, "/api/templates/thank_you?lang=en", map[string]any{"source": ""}); rec.Code != http.StatusOK {
		t.Fatalf("template: %d %s", rec.Code, rec.Body)
	}
	bob.Automations.WinBack = true
	if rec := adminCall(t, a, http.MethodPut, "/api/automations", bob); rec.Code != http.StatusOK {
		t.Fatalf("bob after reloading: %d %s", rec.Code, rec.Body)
	}
	s, _ = a.DB.Shop(ctx, shop.ID)
	if !s.Settings.Automations.Birthday || !s.Settings.Automations.WinBack {
		t.Errorf("both changes should stand: %+v", s.Settings.Automations)
	}

	// Eight saves against one version at the same moment: one wins, seven are told.
	cur := load()
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := cur
			b.Automations.WinBackDays = 30 + i
			codes <- adminCall(t, a, http.MethodPut, "/api/automations", b).Code
		}()
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[http.StatusOK] != 1 || got[http.StatusConflict] != 7 {
		t.Errorf("concurrent saves: %v, want one 200 and seven 409", got)
	}
}

// A journeys save and an automations save at the same moment keep both:
// each rewrites only its part of the settings, under the settings lock.
func TestSettingsSectionsDoNotUndoEachOther(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	a := newTestApp(t, testenv.Postgres(t), testenv.Redis(t), fake.URL)
	shop, _ := seedLinkedCustomer(t, a, 1, uid("a"))
	for round := range 5 {
		au := decode[automationSettings](t, adminCall(t, a, http.MethodGet, "/api/automations", nil))
		au.Automations.WinBackDays = 40 + round
		au.Journeys = nil
		js := decode[journeysJSON](t, adminCall(t, a, http.MethodGet, "/api/settings/journeys", nil))
		js.DailyCap = 1 + round
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); adminCall(t, a, http.MethodPut, "/api/automations", au) }()
		go func() { defer wg.Done(); adminCall(t, a, http.MethodPut, "/api/settings/journeys", js) }()
		wg.Wait()
		s, err := a.DB.Shop(context.Background(), shop.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.Settings.Automations.WinBackDays != 40+round || s.Settings.DailyCap != 1+round {
			t.Fatalf("round %d: win-back %d, daily cap %d: one save undid the other", round, s.Settings.Automations.WinBackDays, s.Settings.DailyCap)
		}
	}
}
