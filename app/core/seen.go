package core

import (
	"context"
	"sync"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
)

// SeenRecorder records that an extension rendered for a shop, writing at
// most once a minute per shop and extension from this process: the admin
// needs "seen in the last 7 days", not a write per storefront request.
type SeenRecorder struct {
	DB   *store.DB
	mu   sync.Mutex
	last map[seenKey]time.Time
}

type seenKey struct {
	shop int64
	ext  string
}

const seenEvery = time.Minute

// Mark records the sighting unless one was written in the last minute.
func (r *SeenRecorder) Mark(ctx context.Context, shopID int64, ext string, now time.Time) error {
	k := seenKey{shopID, ext}
	r.mu.Lock()
	if r.last == nil {
		r.last = make(map[seenKey]time.Time)
	}
	if t, ok := r.last[k]; ok && now.Sub(t) < seenEvery && !now.Before(t) {
		r.mu.Unlock()
		return nil
	}
	r.last[k] = now
	if len(r.last) > 100000 { // bounded: forget everything rather than grow
		clear(r.last)
		r.last[k] = now
	}
	r.mu.Unlock()
	return r.DB.MarkExtensionSeen(ctx, shopID, ext, now)
}
