package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
)

// dashboardTTL is how long a shop's dashboard numbers are reused: on a very
// large shop they take a second or more to compute (docs/bench/issue6.md),
// and they do not need to be fresher than this.
const dashboardTTL = time.Minute

type dashCache struct {
	mu      sync.Mutex
	entries map[string]dashEntry
}

type dashEntry struct {
	at time.Time
	d  *store.Dashboard
	m  store.MonthSends
}

// dashboard returns the shop's dashboard for [since, until), cached per
// shop and window for dashboardTTL.
func (a *App) dashboard(ctx context.Context, shop *store.Shop, since, until time.Time) (*store.Dashboard, error) {
	key := fmt.Sprintf("%d|%d|%d", shop.ID, since.Unix(), until.Unix())
	now := time.Now()
	a.dashCache.mu.Lock()
	if a.dashCache.entries == nil {
		a.dashCache.entries = map[string]dashEntry{}
	}
	e, ok := a.dashCache.entries[key]
	a.dashCache.mu.Unlock()
	if ok && now.Sub(e.at) < dashboardTTL {
		return e.d, nil
	}
	d, err := a.DB.DashboardStats(ctx, shop.ID, since, until, shop.Location())
	if err != nil {
		return nil, err
	}
	a.dashCache.mu.Lock()
	for k, old := range a.dashCache.entries {
		if now.Sub(old.at) >= dashboardTTL {
			delete(a.dashCache.entries, k)
		}
	}
	a.dashCache.entries[key] = dashEntry{at: now, d: d}
	a.dashCache.mu.Unlock()
	return d, nil
}

// monthSends returns the shop's counts for the month [start, end), cached
// like the dashboard: on a shop with large campaigns they count many rows.
func (a *App) monthSends(ctx context.Context, shopID int64, start, end time.Time) (store.MonthSends, error) {
	key := fmt.Sprintf("month|%d|%d", shopID, start.Unix())
	now := time.Now()
	a.dashCache.mu.Lock()
	e, ok := a.dashCache.entries[key]
	a.dashCache.mu.Unlock()
	if ok && now.Sub(e.at) < dashboardTTL {
		return e.m, nil
	}
	m, err := a.DB.MonthSends(ctx, shopID, start, end)
	if err != nil {
		return store.MonthSends{}, err
	}
	a.dashCache.mu.Lock()
	if a.dashCache.entries == nil {
		a.dashCache.entries = map[string]dashEntry{}
	}
	a.dashCache.entries[key] = dashEntry{at: now, m: m}
	a.dashCache.mu.Unlock()
	return m, nil
}
