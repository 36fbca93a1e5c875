package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/tsunagu/tsunagu/app/store/segment"
)

// FunnelCounts are a segment's customers at each reachability step; every
// step keeps only the customers of the step before.
type FunnelCounts struct {
	InSegment  int64 `json:"in_segment"`
	Linked     int64 `json:"linked"`
	Friend     int64 `json:"friend"`
	NotBlocked int64 `json:"not_blocked"`
	UnderCap   int64 `json:"under_cap"`
}

// SegmentFunnel counts segment n's customers that have a live LINE link,
// are friends of the account, have not blocked it, and have had fewer than
// dailyCap marketing messages (kinds not in exempt) since capDayStart. One
// statement: the segment is evaluated once.
func (db *DB) SegmentFunnel(ctx context.Context, shop *Shop, n segment.Node, now, capDayStart time.Time, dailyCap int, exempt []string) (FunnelCounts, error) {
	where, args, err := segmentWhere(shop, n, now)
	if err != nil {
		return FunnelCounts{}, err
	}
	q := `SELECT COUNT(*) AS in_segment,
  COUNT(l.id) AS linked,
  COALESCE(SUM(CASE WHEN l.friend THEN 1 ELSE 0 END), 0) AS friend,
  COALESCE(SUM(CASE WHEN l.friend AND NOT l.blocked THEN 1 ELSE 0 END), 0) AS not_blocked,
  COALESCE(SUM(CASE WHEN l.friend AND NOT l.blocked AND COALESCE(t.n, 0) < ? THEN 1 ELSE 0 END), 0) AS under_cap
FROM (SELECT c.id FROM customers c WHERE ` + where + ` ` + db.fence() + `) s
LEFT JOIN line_links l ON l.customer_id = s.id AND l.shop_id = ? AND l.unlinked_at IS NULL
LEFT JOIN (SELECT customer_id, COUNT(*) AS n FROM (SELECT m.customer_id FROM messages m
  WHERE m.shop_id = ? AND m.status = ? AND m.sent_at >= ? AND m.kind NOT IN ?
  UNION ALL SELECT r.customer_id FROM campaign_recipients r WHERE ` + shopCampaignsSince("r") + ` AND r.status = ? AND r.sent_at >= ?) sent GROUP BY customer_id) t ON t.customer_id = s.id`
	all := append([]any{dailyCap}, args...)
	all = append(all, shop.ID, shop.ID, MsgSent, capDayStart.UTC(), exempt, shop.ID, capDayStart.UTC(), MsgSent, capDayStart.UTC())
	var out FunnelCounts
	// The server's random_page_cost, not segmentQuery's 1.1: the funnel joins
	// every member to its link and today's sends, and at 1.1 the built-in VIP's
	// funnel (180,000 members of 1M) took 1.5× as long (docs/BENCHMARKS.md, issue 14).
	if err := db.segmentQueryCost(ctx, "", func(g *gorm.DB) error { return g.Raw(q, all...).Scan(&out).Error }); err != nil {
		return out, fmt.Errorf("counting the funnel of a segment: %w", err)
	}
	return out, nil
}

// LastMessageAt is when each message kind was last planned for the shop.
func (db *DB) LastMessageAt(ctx context.Context, shopID int64, kinds []string) (map[string]time.Time, error) {
	var rows []struct {
		Kind string
		At   time.Time
	}
	err := db.WithContext(ctx).Raw("SELECT kind, MAX(created_at) AS at FROM messages WHERE shop_id = ? AND kind IN ? GROUP BY kind", shopID, kinds).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("reading the last message of each kind: %w", err)
	}
	out := map[string]time.Time{}
	for _, r := range rows {
		out[r.Kind] = r.At
	}
	return out, nil
}
