package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// AttributionWindow is how long after a click an order counts for the message.
const AttributionWindow = 7 * 24 * time.Hour

// JourneyStats is one message kind's numbers over a dashboard window.
type JourneyStats struct {
	Kind      string           `json:"kind"`
	Planned   int64            `json:"planned"`
	Queued    int64            `json:"queued"`
	Sent      int64            `json:"sent"`
	Failed    int64            `json:"failed"`
	Cancelled int64            `json:"cancelled"`
	Skipped   int64            `json:"skipped"`
	SkippedBy map[string]int64 `json:"skipped_by_reason"`
	Clicks    int64            `json:"clicks"`
	Orders    int64            `json:"orders"`
	Revenue   decimal.Decimal  `json:"revenue"`
}

// DayCount is the linked customers on one day (shop time zone).
type DayCount struct {
	Day     string `json:"day"`
	Linked  int64  `json:"linked"`
	Unlinks int64  `json:"unlinked"`
	Total   int64  `json:"total"`
}

// Dashboard is a shop's journey and linking numbers for a window.
type Dashboard struct {
	Since       time.Time      `json:"since"`
	Until       time.Time      `json:"until"`
	Journeys    []JourneyStats `json:"journeys"`
	LinkedNow   int64          `json:"linked_now"`
	Customers   int64          `json:"customers"`
	LinkedDaily []DayCount     `json:"linked_daily"`
}

// DashboardStats computes the dashboard for messages planned in [since,
// until). An order is attributed to a message kind when it used a coupon
// Tsunagu issued (the coupon's campaign), else when the customer clicked a
// message of that kind within AttributionWindow before ordering (last click
// wins). Each order counts once.
func (db *DB) DashboardStats(ctx context.Context, shopID int64, since, until time.Time, loc *time.Location) (*Dashboard, error) {
	since, until = since.UTC(), until.UTC()
	d := &Dashboard{Since: since, Until: until}
	stats := map[string]*JourneyStats{}
	get := func(k string) *JourneyStats {
		if s, ok := stats[k]; ok {
			return s
		}
		s := &JourneyStats{Kind: k, SkippedBy: map[string]int64{}}
		stats[k] = s
		return s
	}

	var rows []struct {
		Kind, Status, Reason string
		N                    int64
	}
	if err := db.WithContext(ctx).Raw(`SELECT kind, status, reason, COUNT(*) AS n FROM messages WHERE shop_id = ? AND created_at >= ? AND created_at < ?
		GROUP BY kind, status, reason`, shopID, since, until).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("counting messages: %w", err)
	}
	camp, err := db.campaignMessageCounts(ctx, shopID, since, until)
	if err != nil {
		return nil, err
	}
	for _, c := range camp {
		rows = append(rows, struct {
			Kind, Status, Reason string
			N                    int64
		}{c.Kind, c.Status, c.Reason, c.N})
	}
	for _, r := range rows {
		s := get(r.Kind)
		s.Planned += r.N
		switch r.Status {
		case MsgQueued, MsgSending:
			s.Queued += r.N
		case MsgSent:
			s.Sent += r.N
		case MsgFailed:
			s.Failed += r.N
		case MsgCancelled:
			s.Cancelled += r.N
		case MsgSkipped:
			s.Skipped += r.N
			reason := r.Reason
			if i := strings.Index(reason, ":"); i > 0 {
				reason = reason[:i] // "template_error: …" groups as template_error
			}
			s.SkippedBy[reason] += r.N
		}
	}

	at, err := db.Attribute(ctx, shopID, since, until, AttributionWindow)
	if err != nil {
		return nil, err
	}
	for kind, n := range at.Clicks {
		get(kind).Clicks = n
	}
	for kind, n := range at.Orders {
		js := get(kind)
		js.Orders, js.Revenue = n, at.Revenue[kind]
	}
	for _, s := range stats {
		d.Journeys = append(d.Journeys, *s)
	}
	sort.Slice(d.Journeys, func(i, j int) bool { return d.Journeys[i].Kind < d.Journeys[j].Kind })

	if err := db.WithContext(ctx).Model(&Customer{}).Where("shop_id = ?", shopID).Count(&d.Customers).Error; err != nil {
		return nil, fmt.Errorf("counting customers: %w", err)
	}
	if err := db.WithContext(ctx).Model(&LineLink{}).Where("shop_id = ? AND unlinked_at IS NULL", shopID).Count(&d.LinkedNow).Error; err != nil {
		return nil, fmt.Errorf("counting links: %w", err)
	}
	var links []LineLink
	if err := db.WithContext(ctx).Select("linked_at, unlinked_at").Where("shop_id = ? AND (linked_at >= ? OR unlinked_at >= ?)", shopID, since, since).
		Find(&links).Error; err != nil {
		return nil, fmt.Errorf("loading links: %w", err)
	}
	days := map[string]*DayCount{}
	var order []string
	for t := since.In(loc); t.Before(until); t = t.AddDate(0, 0, 1) {
		k := t.Format("2006-01-02")
		if _, ok := days[k]; !ok {
			days[k] = &DayCount{Day: k}
			order = append(order, k)
		}
	}
	// Walk back from the live total to the total before the window.
	total := d.LinkedNow
	for _, l := range links {
		if !l.LinkedAt.Before(since) {
			total--
			if dc, ok := days[l.LinkedAt.In(loc).Format("2006-01-02")]; ok {
				dc.Linked++
			}
		}
		if l.UnlinkedAt != nil && !l.UnlinkedAt.Before(since) {
			total++
			if dc, ok := days[l.UnlinkedAt.In(loc).Format("2006-01-02")]; ok {
				dc.Unlinks++
			}
		}
	}
	for _, k := range order {
		dc := days[k]
		total += dc.Linked - dc.Unlinks
		dc.Total = total
		d.LinkedDaily = append(d.LinkedDaily, *dc)
	}
	return d, nil
}

// CouponMessageKind maps a coupon's campaign to the message kind that
// delivered it: the link incentive is link_coupon; journey coupons carry
// their kind as campaign; anything else is a campaign.
func CouponMessageKind(campaign string) string {
	switch {
	case campaign == "link" || campaign == "link_coupon" || strings.HasPrefix(campaign, "link"):
		return "link_coupon"
	case campaign == "birthday" || campaign == "win_back" || campaign == "coupon_expiry" || strings.HasPrefix(campaign, "follow_up") ||
		strings.HasPrefix(campaign, "cart_reminder") || campaign == "thank_you":
		return campaign
	}
	return "campaign"
}

// Attribution is what messages earned in a window, by message kind: clicks
// on their tracked links, and the orders (and revenue) credited to them.
type Attribution struct {
	Clicks  map[string]int64
	Orders  map[string]int64
	Revenue map[string]decimal.Decimal
}

// Attribute credits the shop's orders placed in [since, until) to message
// kinds. An order that used a coupon Tsunagu issued goes to that coupon's
// kind; otherwise to the kind of the customer's last click on a message
// within window before the order. Each order counts once. Clicks are those
// made in [since, until).
func (db *DB) Attribute(ctx context.Context, shopID int64, since, until time.Time, window time.Duration) (*Attribution, error) {
	since, until = since.UTC(), until.UTC()
	at := &Attribution{Clicks: map[string]int64{}, Orders: map[string]int64{}, Revenue: map[string]decimal.Decimal{}}
	// Clicks in the window, and in the attribution window before it.
	var clicks []struct {
		CustomerID *int64
		OccurredAt time.Time
		Kind       string
	}
	if err := db.WithContext(ctx).Raw(`SELECT a.customer_id, a.occurred_at, m.kind FROM activities a JOIN messages m ON m.id = a.ref_id AND m.shop_id = a.shop_id
		WHERE a.shop_id = ? AND a.kind = ? AND a.ref_type = 'message' AND a.occurred_at >= ? AND a.occurred_at < ?`,
		shopID, ActClick, since.Add(-window), until).Scan(&clicks).Error; err != nil {
		return nil, fmt.Errorf("loading clicks: %w", err)
	}
	type click struct {
		at   time.Time
		kind string
	}
	byCustomer := map[int64][]click{}
	for _, c := range clicks {
		if !c.OccurredAt.Before(since) {
			at.Clicks[c.Kind]++
		}
		if c.CustomerID != nil {
			byCustomer[*c.CustomerID] = append(byCustomer[*c.CustomerID], click{c.OccurredAt, c.Kind})
		}
	}

	var orders []Order
	// Only orders that can be attributed: with a discount code, or by a customer who clicked.
	if err := db.WithContext(ctx).Select("id, customer_id, total_price, discount_codes, ordered_at").
		Where("shop_id = ? AND ordered_at >= ? AND ordered_at < ? AND cancelled_at IS NULL", shopID, since, until).
		Where("discount_codes <> '' OR customer_id IN (SELECT customer_id FROM activities WHERE shop_id = ? AND kind = ? AND ref_type = 'message' AND occurred_at >= ? AND occurred_at < ?)",
			shopID, ActClick, since.Add(-window), until).
		Find(&orders).Error; err != nil {
		return nil, fmt.Errorf("loading orders: %w", err)
	}
	var codes []string
	for _, o := range orders {
		for _, c := range strings.Split(o.DiscountCodes, ",") {
			if c = strings.TrimSpace(c); c != "" {
				codes = append(codes, c)
			}
		}
	}
	couponKind := map[string]string{}
	for i := 0; i < len(codes); i += 500 {
		var cs []Coupon
		if err := db.WithContext(ctx).Select("code, campaign").Where("shop_id = ? AND code IN ?", shopID, codes[i:min(i+500, len(codes))]).
			Find(&cs).Error; err != nil {
			return nil, fmt.Errorf("loading coupons: %w", err)
		}
		for _, c := range cs {
			couponKind[strings.ToUpper(c.Code)] = CouponMessageKind(c.Campaign)
		}
	}
	for _, o := range orders {
		kind := ""
		for _, c := range strings.Split(o.DiscountCodes, ",") {
			if k, ok := couponKind[strings.ToUpper(strings.TrimSpace(c))]; ok {
				kind = k
				break
			}
		}
		if kind == "" && o.CustomerID != nil {
			var last time.Time
			for _, c := range byCustomer[*o.CustomerID] {
				if !c.at.After(o.OrderedAt) && o.OrderedAt.Sub(c.at) <= window && c.at.After(last) {
					last, kind = c.at, c.kind
				}
			}
		}
		if kind != "" {
			at.Orders[kind]++
			at.Revenue[kind] = at.Revenue[kind].Add(o.TotalPrice)
		}
	}
	return at, nil
}
