package core

import (
	"context"
	"fmt"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
)

// FunnelCounter counts a segment's customers at each reachability step in
// one pass (store.DB does it in SQL).
type FunnelCounter interface {
	SegmentFunnel(ctx context.Context, shop *store.Shop, n segment.Node, now, capDayStart time.Time, dailyCap int, exempt []string) (store.FunnelCounts, error)
}

// Funnel steps, in order: each keeps only the customers of the one before.
const (
	StepInSegment = "in_segment"
	StepLinked    = "linked"
	StepFriend    = "friend"
	StepNotBlock  = "not_blocked"
	StepUnderCap  = "under_cap"
	StepNotQuiet  = "outside_quiet_hours"
)

// FunnelStep is one step: how many remain and how many this step lost.
type FunnelStep struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
	Lost  int64  `json:"lost"`
}

// Funnel is who in a segment a message sent now would reach, and where the
// others drop out. Quiet hours hold messages back rather than drop them, so
// during quiet hours the last step is zero and QuietUntil says when the
// held messages go out.
type Funnel struct {
	Steps      []FunnelStep `json:"steps"`
	Reachable  int64        `json:"reachable"`
	QuietNow   bool         `json:"quiet_now"`
	QuietUntil *time.Time   `json:"quiet_until,omitempty"`
	// ReachableLater is who gets it once quiet hours end.
	ReachableLater int64 `json:"reachable_later"`
	DailyCap       int   `json:"daily_cap"`
}

// InSegment is the segment's size (the first step).
func (f *Funnel) InSegment() int64 {
	if len(f.Steps) == 0 {
		return 0
	}
	return f.Steps[0].Count
}

// SegmentFunnel computes shop's reachability funnel for segment n at now,
// with the same rules the senders apply: a live link, friend of the
// account, not blocked, under the daily cap for marketing messages in the
// shop's time zone, and outside quiet hours.
func SegmentFunnel(ctx context.Context, db FunnelCounter, shop *store.Shop, n segment.Node, now time.Time) (*Funnel, error) {
	dayStart, _ := CapDay(now, shop.Location())
	capN := shop.Settings.Cap()
	c, err := db.SegmentFunnel(ctx, shop, n, now, dayStart, capN, CapExemptKinds)
	if err != nil {
		return nil, fmt.Errorf("counting the reachability funnel: %w", err)
	}
	start, end := shop.Settings.Quiet()
	until, quiet := QuietUntil(now, shop.Location(), start, end)
	return buildFunnel(c, capN, quiet, until), nil
}

func buildFunnel(c store.FunnelCounts, dailyCap int, quiet bool, until time.Time) *Funnel {
	outside := c.UnderCap
	if quiet {
		outside = 0
	}
	counts := []struct {
		key string
		n   int64
	}{
		{StepInSegment, c.InSegment}, {StepLinked, c.Linked}, {StepFriend, c.Friend},
		{StepNotBlock, c.NotBlocked}, {StepUnderCap, c.UnderCap}, {StepNotQuiet, outside},
	}
	f := &Funnel{Reachable: outside, QuietNow: quiet, ReachableLater: c.UnderCap, DailyCap: dailyCap}
	prev := c.InSegment
	for _, s := range counts {
		f.Steps = append(f.Steps, FunnelStep{Key: s.key, Count: s.n, Lost: prev - s.n})
		prev = s.n
	}
	if quiet {
		u := until
		f.QuietUntil = &u
	}
	return f
}
