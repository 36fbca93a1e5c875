package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/migrations"
)

// ReportOptions are the measurement settings.
type ReportOptions struct {
	// AttributionDays: an order counts as a conversion if placed within this
	// many days after the message was sent.
	AttributionDays int
	// YenPerMessage estimates cost: LINE bills each delivered message (a
	// multicast to 500 people is 500 messages).
	YenPerMessage float64
}

// Metrics are the measured results of one campaign variant or journey kind.
type Metrics struct {
	Key          string  `json:"key"`
	Recipients   int64   `json:"recipients"`
	Sent         int64   `json:"sent"`
	Delivered    int64   `json:"delivered"`
	Skipped      int64   `json:"skipped"`
	Failed       int64   `json:"failed"`
	Cancelled    int64   `json:"cancelled"`
	Clicks       int64   `json:"clicks"`
	UniqueClicks int64   `json:"unique_clicks"`
	Conversions  int64   `json:"conversions"`
	Revenue      float64 `json:"revenue"`
	CostYen      float64 `json:"cost_yen"`
}

func (m *Metrics) add(o Metrics) {
	m.Recipients += o.Recipients
	m.Sent += o.Sent
	m.Delivered += o.Delivered
	m.Skipped += o.Skipped
	m.Failed += o.Failed
	m.Cancelled += o.Cancelled
	m.Clicks += o.Clicks
	m.UniqueClicks += o.UniqueClicks
	m.Conversions += o.Conversions
	m.Revenue += o.Revenue
	m.CostYen += o.CostYen
}

// CampaignReport is a campaign's results, per variant and in total.
type CampaignReport struct {
	CampaignID      int64     `json:"campaign_id"`
	Name            string    `json:"name"`
	Status          string    `json:"status"`
	AttributionDays int       `json:"attribution_days"`
	YenPerMessage   float64   `json:"yen_per_message"`
	Variants        []Metrics `json:"variants"`
	Total           Metrics   `json:"total"`
	// Counts are the recipient counts the report was made from (the
	// campaign page shows its progress from them rather than counting again).
	Counts []RecipientCount `json:"-"`
}

// Best is the variant with the most conversions, then clicks, then name order.
func (r *CampaignReport) Best() string {
	best := ""
	var bm Metrics
	for _, v := range r.Variants {
		if v.Key == "" {
			continue
		}
		if best == "" || v.Conversions > bm.Conversions || v.Conversions == bm.Conversions && v.Clicks > bm.Clicks {
			best, bm = v.Key, v
		}
	}
	return best
}

// plusDays is col + n days in the dialect (n is an int, never user text).
func (db *DB) plusDays(col string, n int) string {
	if db.Dialect == migrations.Postgres {
		return "(" + col + " + INTERVAL '" + strconv.Itoa(n) + " days')"
	}
	return "datetime(" + col + ", '+" + strconv.Itoa(n) + " days')"
}

// CampaignReport measures a campaign. Conversions are orders (not
// cancelled) a sent recipient placed within the attribution window after
// their send — with the campaign's coupon code when it has one. Clicks come
// from the campaign's tracked links; unique clicks count visitor cookies.
func (db *DB) CampaignReport(ctx context.Context, camp *Campaign, opt ReportOptions) (*CampaignReport, error) {
	rep := &CampaignReport{CampaignID: camp.ID, Name: camp.Name, Status: camp.Status, AttributionDays: opt.AttributionDays, YenPerMessage: opt.YenPerMessage}
	byKey := map[string]*Metrics{}
	get := func(k string) *Metrics {
		if m, ok := byKey[k]; ok {
			return m
		}
		m := &Metrics{Key: k}
		byKey[k] = m
		return m
	}
	for _, v := range camp.Variants {
		get(v.Name)
	}
	counts, err := db.CampaignCounts(ctx, camp.ID)
	if err != nil {
		return nil, err
	}
	rep.Counts = counts
	for _, c := range counts {
		m := get(c.Variant)
		m.Recipients += c.N
		switch c.Status {
		case MsgSent:
			m.Sent += c.N
			m.Delivered += c.N // LINE's 200 to a multicast is taken as delivery
		case MsgSkipped:
			m.Skipped += c.N
		case MsgFailed:
			m.Failed += c.N
		case MsgCancelled:
			m.Cancelled += c.N
		}
	}
	var clicks []string
	if err := db.WithContext(ctx).Raw("SELECT data FROM activities WHERE shop_id = ? AND kind = ? AND ref_type = ? AND ref_id = ?",
		camp.ShopID, ActClick, "campaign", camp.ID).Scan(&clicks).Error; err != nil {
		return nil, fmt.Errorf("reading clicks of campaign %d: %w", camp.ID, err)
	}
	visitors := map[string]map[string]bool{}
	for _, d := range clicks {
		var cd struct{ Variant, Visitor string }
		_ = json.Unmarshal([]byte(d), &cd)
		m := get(cd.Variant)
		m.Clicks++
		if visitors[cd.Variant] == nil {
			visitors[cd.Variant] = map[string]bool{}
		}
		if cd.Visitor == "" || !visitors[cd.Variant][cd.Visitor] {
			m.UniqueClicks++
			visitors[cd.Variant][cd.Visitor] = true
		}
	}
	// Only the shop's orders since the campaign's first send can convert:
	// with that bound, as a value the planner sees, the orders are read by
	// (shop_id, ordered_at) rather than every order of every recipient (a
	// 100k-recipient campaign on a shop with 5M orders: docs/BENCHMARKS.md,
	// issue 14). As a subquery the planner could not see it and still walked
	// all the shop's orders. Nothing sent: no conversions.
	var first []time.Time
	if err := db.WithContext(ctx).Raw("SELECT sent_at FROM campaign_recipients WHERE campaign_id = ? AND status = ? AND sent_at IS NOT NULL ORDER BY sent_at LIMIT 1",
		camp.ID, MsgSent).Scan(&first).Error; err != nil {
		return nil, fmt.Errorf("reading the first send of campaign %d: %w", camp.ID, err)
	}
	q := `SELECT r.variant AS variant, COUNT(DISTINCT o.id) AS n, COALESCE(SUM(o.total_price), 0) AS revenue
FROM orders o JOIN campaign_recipients r ON r.customer_id = o.customer_id
WHERE o.shop_id = ? AND o.ordered_at >= ? AND r.campaign_id = ? AND r.status = ? AND o.cancelled_at IS NULL
  AND o.ordered_at >= r.sent_at AND o.ordered_at < ` + db.plusDays("r.sent_at", opt.AttributionDays)
	var since time.Time
	if len(first) > 0 {
		since = first[0].UTC()
	}
	args := []any{camp.ShopID, since, camp.ID, MsgSent}
	if camp.CouponCode != "" {
		q += ` AND (',' || REPLACE(UPPER(o.discount_codes), ' ', '') || ',') LIKE ? ESCAPE '\'`
		args = append(args, "%,"+segment.LikeEscape(upperNoSpace(camp.CouponCode))+",%")
	}
	q += " GROUP BY r.variant"
	var conv []struct {
		Variant string
		N       int64
		Revenue float64
	}
	if len(first) > 0 {
		if err := db.WithContext(ctx).Raw(q, args...).Scan(&conv).Error; err != nil {
			return nil, fmt.Errorf("measuring conversions of campaign %d: %w", camp.ID, err)
		}
	}
	for _, c := range conv {
		m := get(c.Variant)
		m.Conversions, m.Revenue = c.N, c.Revenue
	}
	for _, v := range camp.Variants {
		rep.Variants = append(rep.Variants, *byKey[v.Name])
		delete(byKey, v.Name)
	}
	if m, ok := byKey[""]; ok {
		rep.Variants = append(rep.Variants, *m) // held or never split
	}
	for i := range rep.Variants {
		rep.Variants[i].CostYen = float64(rep.Variants[i].Sent) * opt.YenPerMessage
		rep.Total.add(rep.Variants[i])
	}
	rep.Total.Key = "total"
	return rep, nil
}

func upperNoSpace(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r != ' ' {
			if r >= 'a' && r <= 'z' {
				r -= 'a' - 'A'
			}
			out = append(out, r)
		}
	}
	return string(out)
}

// JourneyReport measures every message kind planned in [from, to): sends,
// clicks on tracked links (activities ref_type "message"), and the orders of
// the period credited to the kind (see Attribute) with their revenue and cost.
func (db *DB) JourneyReport(ctx context.Context, shopID int64, from, to time.Time, opt ReportOptions) ([]Metrics, error) {
	g := db.WithContext(ctx)
	var rows []struct {
		Kind   string
		Status string
		N      int64
	}
	if err := g.Raw(`SELECT kind, status, COUNT(*) AS n FROM messages WHERE shop_id = ? AND created_at >= ? AND created_at < ? GROUP BY kind, status`,
		shopID, from.UTC(), to.UTC()).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("counting messages: %w", err)
	}
	camp, err := db.campaignMessageCounts(ctx, shopID, from, to)
	if err != nil {
		return nil, err
	}
	for _, c := range camp {
		rows = append(rows, struct {
			Kind   string
			Status string
			N      int64
		}{c.Kind, c.Status, c.N})
	}
	byKind := map[string]*Metrics{}
	var order []string
	get := func(k string) *Metrics {
		if m, ok := byKind[k]; ok {
			return m
		}
		byKind[k] = &Metrics{Key: k}
		order = append(order, k)
		return byKind[k]
	}
	for _, r := range rows {
		m := get(r.Kind)
		m.Recipients += r.N
		switch r.Status {
		case MsgSent:
			m.Sent += r.N
			m.Delivered += r.N
		case MsgSkipped:
			m.Skipped += r.N
		case MsgFailed:
			m.Failed += r.N
		case MsgCancelled:
			m.Cancelled += r.N
		}
	}
	var clicks []struct {
		Kind   string
		Total  int64
		Unique int64
	}
	if err := g.Raw(`SELECT m.kind AS kind, COUNT(*) AS total, COUNT(DISTINCT a.customer_id) AS "unique" FROM activities a
JOIN messages m ON m.id = a.ref_id WHERE a.shop_id = ? AND a.kind = ? AND a.ref_type = ? AND m.created_at >= ? AND m.created_at < ?
GROUP BY m.kind`, shopID, ActClick, "message", from.UTC(), to.UTC()).Scan(&clicks).Error; err != nil {
		return nil, fmt.Errorf("counting clicks: %w", err)
	}
	for _, c := range clicks {
		m := get(c.Kind)
		m.Clicks, m.UniqueClicks = c.Total, c.Unique
	}
	// Conversions are credited as on the dashboard: the order used the
	// message's coupon, or followed a click on it within the window.
	at, err := db.Attribute(ctx, shopID, from, to, time.Duration(opt.AttributionDays)*24*time.Hour)
	if err != nil {
		return nil, err
	}
	for kind, n := range at.Orders {
		m := get(kind)
		m.Conversions, m.Revenue = n, at.Revenue[kind].InexactFloat64()
	}
	out := make([]Metrics, 0, len(order))
	for _, k := range order {
		m := byKind[k]
		m.CostYen = float64(m.Sent) * opt.YenPerMessage
		out = append(out, *m)
	}
	return out, nil
}
