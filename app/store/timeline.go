package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/migrations"
)

// CustomerHit is one search result.
type CustomerHit struct {
	Customer
	LineDisplayName string `json:"line_display_name"`
	LineLinked      bool   `json:"line_linked"`
	LineBlocked     bool   `json:"line_blocked"`
}

// prefixCond is a WHERE fragment matching rows whose expr starts with p,
// compared bytewise so that the text_pattern indexes of migration 0005 serve
// it on PostgreSQL under any collation (and SQLite's BINARY order).
func (db *DB) prefixCond(expr, p string) (string, []any) {
	// U+10FFFF sorts after every character bytewise in UTF-8.
	if db.Dialect == migrations.Postgres {
		return expr + " ~>=~ lower(?) AND " + expr + " ~<~ (lower(?) || ?)", []any{p, p, "\U0010FFFF"}
	}
	return expr + " >= lower(?) AND " + expr + " < (lower(?) || ?)", []any{p, p, "\U0010FFFF"}
}

// searchBranch is one indexed way of finding customers for a query.
type searchBranch struct {
	sql  string // SELECT customer ids; must take (shopID, before) as the first args
	args []any
}

// SearchCustomers finds a shop's customers by email, name, phone, order name
// (#1001), Shopify customer id or LINE display name, newest first. before is
// the keyset cursor (the last id of the previous page; 0 for the first).
// Each way of matching is its own indexed query; their ids are merged here,
// because one OR across tables would defeat the indexes.
func (db *DB) SearchCustomers(ctx context.Context, shopID int64, q string, before int64, limit int) ([]CustomerHit, int64, error) {
	q = strings.TrimSpace(q)
	if limit <= 0 || limit > 100 {
		limit = 25
	}
	if before <= 0 {
		before = 1 << 62
	}
	var branches []searchBranch
	cust := func(where string, args ...any) {
		branches = append(branches, searchBranch{"SELECT id FROM customers WHERE shop_id = ? AND id < ? AND " + where + " ORDER BY id DESC LIMIT ?", args})
	}
	prefix := func(expr, p string) {
		w, a := db.prefixCond(expr, p)
		cust(w, a...)
	}
	switch {
	case q == "":
		cust("1 = 1")
	case strings.Contains(q, "@"):
		prefix("lower(email)", q)
	case strings.HasPrefix(q, "#"):
		branches = append(branches, searchBranch{"SELECT customer_id FROM orders WHERE shop_id = ? AND customer_id < ? AND name = ? ORDER BY customer_id DESC LIMIT ?", []any{q}})
	case isPhoneOrNumber(q):
		digits := onlyDigits(q)
		branches = append(branches, searchBranch{"SELECT customer_id FROM orders WHERE shop_id = ? AND customer_id < ? AND name IN ? ORDER BY customer_id DESC LIMIT ?", []any{[]string{"#" + digits, digits}}})
		if n, err := strconv.ParseInt(digits, 10, 64); err == nil {
			cust("shopify_id = ?", n)
		}
		if len(digits) >= 6 {
			for _, v := range phoneVariants(q, digits) {
				w, a := db.prefixCond("phone", v)
				cust(w, a...)
			}
		}
	default:
		prefix("lower(email)", q)
		prefix("lower(last_name)", q)
		prefix("lower(first_name)", q)
		prefix("lower(last_name || first_name)", strings.Join(strings.Fields(q), ""))
		if f := strings.Fields(q); len(f) == 2 {
			w1, a1 := db.prefixCond("lower(last_name)", f[0])
			w2, a2 := db.prefixCond("lower(first_name)", f[1])
			cust(w1+" AND "+w2, append(a1, a2...)...)
			w1, a1 = db.prefixCond("lower(first_name)", f[0])
			w2, a2 = db.prefixCond("lower(last_name)", f[1])
			cust(w1+" AND "+w2, append(a1, a2...)...)
		}
		w, a := db.prefixCond("lower(display_name)", q)
		branches = append(branches, searchBranch{"SELECT customer_id FROM line_links WHERE shop_id = ? AND customer_id < ? AND " + w + " ORDER BY customer_id DESC LIMIT ?", a})
	}
	seen := map[int64]bool{}
	var ids []int64
	for _, b := range branches {
		var got []int64
		args := append([]any{shopID, before}, b.args...)
		args = append(args, limit+1)
		if err := db.WithContext(ctx).Raw(b.sql, args...).Scan(&got).Error; err != nil {
			return nil, 0, fmt.Errorf("searching customers: %w", err)
		}
		for _, id := range got {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] })
	var next int64
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	if len(ids) == 0 {
		return []CustomerHit{}, 0, nil
	}
	var cs []Customer
	if err := db.WithContext(ctx).Where("shop_id = ? AND id IN ?", shopID, ids).Order("id DESC").Find(&cs).Error; err != nil {
		return nil, 0, fmt.Errorf("loading found customers: %w", err)
	}
	var links []LineLink
	if err := db.WithContext(ctx).Where("shop_id = ? AND customer_id IN ? AND unlinked_at IS NULL", shopID, ids).Find(&links).Error; err != nil {
		return nil, 0, fmt.Errorf("loading LINE links of found customers: %w", err)
	}
	byCust := map[int64]LineLink{}
	for _, l := range links {
		byCust[l.CustomerID] = l
	}
	hits := make([]CustomerHit, len(cs))
	for i, c := range cs {
		hits[i] = CustomerHit{Customer: c}
		if l, ok := byCust[c.ID]; ok {
			hits[i].LineDisplayName, hits[i].LineLinked, hits[i].LineBlocked = l.DisplayName, true, l.Blocked
		}
	}
	return hits, next, nil
}

func isPhoneOrNumber(q string) bool {
	digits := 0
	for _, r := range q {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' || r == '-' || r == ' ' || r == '(' || r == ')':
		default:
			return false
		}
	}
	return digits > 0
}

func onlyDigits(q string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) && r < 128 {
			return r
		}
		return -1
	}, q)
}

// phoneVariants are the stored forms a typed phone number may have: Shopify
// keeps E.164 (+819012345678) while Japanese staff type 090-1234-5678.
func phoneVariants(q, digits string) []string {
	vs := []string{"+" + digits}
	if strings.HasPrefix(digits, "0") {
		vs = append(vs, "+81"+digits[1:])
	}
	if !strings.HasPrefix(strings.TrimSpace(q), "+") {
		vs = append(vs, digits)
	}
	return vs
}

// Timeline entry groups, the filters on the customer page.
const (
	TLOrders       = "orders"
	TLFulfillments = "fulfillments"
	TLCheckouts    = "checkouts"
	TLLinks        = "links"
	TLCoupons      = "coupons"
	TLMessages     = "messages"
	TLInbound      = "inbound"
	TLFollows      = "follows"
	TLClicks       = "clicks"
	TLGDPR         = "gdpr"
	TLBrowsing     = "browsing"
	TLOther        = "other"
)

// TimelineGroups lists every filter group in display order.
var TimelineGroups = []string{TLOrders, TLFulfillments, TLCheckouts, TLLinks, TLCoupons, TLMessages, TLInbound, TLFollows, TLClicks, TLBrowsing, TLGDPR, TLOther}

// Sources of timeline rows; the rank breaks ties between equal times.
const (
	srcOrder = iota + 1
	srcFulfillment
	srcCheckout
	srcLink
	srcCoupon
	srcMessage
	srcActivity
	srcBrowse
	srcCampaignMessage
)

// TimelineEntry is one thing that happened to a customer.
type TimelineEntry struct {
	At             time.Time       `json:"at"`
	Group          string          `json:"group"`
	Kind           string          `json:"kind"`
	ID             int64           `json:"id"`
	Status         string          `json:"status,omitempty"`
	Reason         string          `json:"reason,omitempty"`
	Summary        string          `json:"summary,omitempty"`
	Content        string          `json:"content,omitempty"`
	OrderName      string          `json:"order_name,omitempty"`
	ShopifyOrderID int64           `json:"shopify_order_id,omitempty"`
	Amount         decimal.Decimal `json:"amount,omitzero"`
	Currency       string          `json:"currency,omitempty"`
	URL            string          `json:"url,omitempty"`
	Details        map[string]any  `json:"details,omitempty"`
	AdminURL       string          `json:"admin_url,omitempty"`

	src int
}

// TimelineCursor is the position after the last entry of a page.
type TimelineCursor struct {
	At  time.Time
	Src int
	ID  int64
}

// String encodes the cursor for a URL.
func (c TimelineCursor) String() string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d.%d.%d", c.At.UnixMicro(), c.Src, c.ID))
}

// ParseTimelineCursor decodes a cursor; "" is the first page.
func ParseTimelineCursor(s string) (*TimelineCursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("bad cursor")
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 {
		return nil, errors.New("bad cursor")
	}
	var n [3]int64
	for i, p := range parts {
		if n[i], err = strconv.ParseInt(p, 10, 64); err != nil {
			return nil, errors.New("bad cursor")
		}
	}
	return &TimelineCursor{At: time.UnixMicro(n[0]).UTC(), Src: int(n[1]), ID: n[2]}, nil
}

// before reports whether e sorts after the cursor (newest first).
func (c *TimelineCursor) before(e *TimelineEntry) bool {
	if c == nil {
		return true
	}
	at := e.At.Truncate(time.Microsecond)
	if !at.Equal(c.At) {
		return at.Before(c.At)
	}
	if e.src != c.Src {
		return e.src < c.Src
	}
	return e.ID < c.ID
}

// bound is the SQL keyset condition for rows of source src (time column
// col, id column idCol) that come after the cursor. Times compare as ranges
// of one microsecond, the cursor's precision, so it holds on PostgreSQL
// (microseconds) and SQLite (nanoseconds in text) alike.
func (c *TimelineCursor) bound(col, idCol string, src int) (string, []any) {
	if c == nil {
		return "1 = 1", nil
	}
	lo, hi := c.At, c.At.Add(time.Microsecond)
	switch {
	case src < c.Src: // equal times of this source sort after the cursor
		return col + " < ?", []any{hi}
	case src > c.Src:
		return col + " < ?", []any{lo}
	}
	return "(" + col + " < ? OR (" + col + " >= ? AND " + col + " < ? AND " + idCol + " < ?))", []any{lo, lo, hi, c.ID}
}

var activityGroups = map[string]string{
	ActLinked: TLLinks, ActUnlinked: TLLinks, ActFollow: TLFollows, ActUnfollow: TLFollows,
	ActLineMessageIn: TLInbound, ActClick: TLClicks, ActCouponIssued: TLCoupons,
	ActGDPRDataRequest: TLGDPR, ActGDPRRedact: TLGDPR, "gdpr_shop_redact": TLGDPR,
}

// ActivityGroup is the timeline group of an activity kind.
func ActivityGroup(kind string) string {
	if g, ok := activityGroups[kind]; ok {
		return g
	}
	if strings.HasPrefix(kind, "gdpr") {
		return TLGDPR
	}
	return TLOther
}

// Timeline returns a page of a customer's history, newest first, merged from
// orders, fulfillments, checkouts, LINE links, coupons, messages and
// activities. groups filters (empty: all). The customer must belong to the
// shop, else ErrNotFound. Each source is read with its own indexed query of
// at most limit+1 rows past the cursor, so a page costs a handful of index scans.
func (db *DB) Timeline(ctx context.Context, shopID, customerID int64, cur *TimelineCursor, groups []string, limit int) ([]TimelineEntry, *TimelineCursor, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	if _, err := db.Customer(ctx, shopID, customerID); err != nil {
		return nil, nil, err
	}
	want := func(g string) bool {
		if len(groups) == 0 {
			return true
		}
		for _, x := range groups {
			if x == g {
				return true
			}
		}
		return false
	}
	n := limit + 1
	g := func() *DB { return &DB{G: db.WithContext(ctx), Dialect: db.Dialect} }
	var out []TimelineEntry
	// A source that returned all n rows may have older rows unread; nothing
	// older than its last row may be on this page (the horizon).
	var horizon *TimelineEntry
	saturated := func(rows int, at time.Time, src int, id int64) {
		if rows < n {
			return
		}
		e := TimelineEntry{At: at, src: src, ID: id}
		if horizon == nil || newer(e, *horizon) {
			horizon = &e
		}
	}
	add := func(e TimelineEntry) {
		if cur.before(&e) {
			out = append(out, e)
		}
	}
	orderNames := map[int64]Order{}

	if want(TLOrders) {
		var ords []Order
		w, a := cur.bound("ordered_at", "id", srcOrder)
		if err := g().G.Where("shop_id = ? AND customer_id = ? AND "+w, append([]any{shopID, customerID}, a...)...).
			Order("ordered_at DESC, id DESC").Limit(n).Find(&ords).Error; err != nil {
			return nil, nil, fmt.Errorf("loading timeline orders: %w", err)
		}
		if len(ords) > 0 {
			l := ords[len(ords)-1]
			saturated(len(ords), l.OrderedAt, srcOrder, l.ID)
		}
		for _, o := range ords {
			status := o.FinancialStatus
			d := map[string]any{"fulfillment_status": o.FulfillmentStatus}
			if o.CancelledAt != nil {
				status, d["cancelled_at"] = "cancelled", o.CancelledAt
			}
			if o.DiscountCodes != "" {
				d["discount_codes"] = o.DiscountCodes
			}
			add(TimelineEntry{At: o.OrderedAt, Group: TLOrders, Kind: "order", ID: o.ID, Status: status, OrderName: o.Name,
				ShopifyOrderID: o.ShopifyID, Amount: o.TotalPrice, Currency: o.Currency, URL: o.OrderStatusURL, Details: d, src: srcOrder})
		}
	}
	if want(TLFulfillments) {
		type frow struct {
			Fulfillment
			OrderName      string
			OrderShopifyID int64
		}
		var fs []frow
		w, a := cur.bound("f.created_at", "f.id", srcFulfillment)
		err := g().G.Table("fulfillments f").Select("f.*, o.name AS order_name, o.shopify_id AS order_shopify_id").
			Joins("JOIN orders o ON o.id = f.order_id").
			Where("o.shop_id = ? AND o.customer_id = ? AND f.shop_id = ? AND "+w, append([]any{shopID, customerID, shopID}, a...)...).
			Order("f.created_at DESC, f.id DESC").Limit(n).Scan(&fs).Error
		if err != nil {
			return nil, nil, fmt.Errorf("loading timeline fulfillments: %w", err)
		}
		if len(fs) > 0 {
			l := fs[len(fs)-1]
			saturated(len(fs), l.CreatedAt, srcFulfillment, l.ID)
		}
		for _, f := range fs {
			d := map[string]any{}
			for k, v := range map[string]string{"tracking_company": f.TrackingCompany, "tracking_number": f.TrackingNumber, "shipment_status": f.ShipmentStatus} {
				if v != "" {
					d[k] = v
				}
			}
			add(TimelineEntry{At: f.CreatedAt, Group: TLFulfillments, Kind: "fulfillment", ID: f.ID, Status: f.Status, OrderName: f.OrderName,
				ShopifyOrderID: f.OrderShopifyID, URL: f.TrackingURL, Details: d, src: srcFulfillment})
		}
	}
	if want(TLCheckouts) {
		var cs []Checkout
		w, a := cur.bound("created_at", "id", srcCheckout)
		if err := g().G.Where("shop_id = ? AND customer_id = ? AND "+w, append([]any{shopID, customerID}, a...)...).
			Order("created_at DESC, id DESC").Limit(n).Find(&cs).Error; err != nil {
			return nil, nil, fmt.Errorf("loading timeline checkouts: %w", err)
		}
		if len(cs) > 0 {
			l := cs[len(cs)-1]
			saturated(len(cs), l.CreatedAt, srcCheckout, l.ID)
		}
		for _, c := range cs {
			status := "abandoned"
			if c.CompletedAt != nil || c.OrderID != nil {
				status = "completed"
			}
			add(TimelineEntry{At: c.CreatedAt, Group: TLCheckouts, Kind: "checkout", ID: c.ID, Status: status,
				Amount: c.TotalPrice, Currency: c.Currency, URL: c.AbandonedURL, src: srcCheckout})
		}
	}
	// Links and coupons are a few rows per customer: read them whole.
	if want(TLLinks) {
		var ls []LineLink
		if err := g().G.Where("shop_id = ? AND customer_id = ?", shopID, customerID).Find(&ls).Error; err != nil {
			return nil, nil, fmt.Errorf("loading timeline links: %w", err)
		}
		for _, l := range ls {
			d := map[string]any{"friend": l.Friend, "blocked": l.Blocked}
			add(TimelineEntry{At: l.LinkedAt, Group: TLLinks, Kind: "linked", ID: l.ID, Summary: l.DisplayName, Details: d, src: srcLink})
			if l.UnlinkedAt != nil {
				add(TimelineEntry{At: *l.UnlinkedAt, Group: TLLinks, Kind: "unlinked", ID: l.ID, Summary: l.DisplayName, Reason: l.UnlinkReason, src: srcLink})
			}
		}
	}
	if want(TLCoupons) {
		var cs []Coupon
		if err := g().G.Where("shop_id = ? AND customer_id = ?", shopID, customerID).Find(&cs).Error; err != nil {
			return nil, nil, fmt.Errorf("loading timeline coupons: %w", err)
		}
		for _, c := range cs {
			d := map[string]any{"campaign": c.Campaign}
			if c.ExpiresAt != nil {
				d["expires_at"] = c.ExpiresAt
			}
			at := c.CreatedAt
			if c.IssuedAt != nil {
				at = *c.IssuedAt
			}
			add(TimelineEntry{At: at, Group: TLCoupons, Kind: "coupon_issued", ID: c.ID, Status: c.Status, Summary: c.Code, Details: d, src: srcCoupon})
			if c.RedeemedAt != nil {
				e := TimelineEntry{At: *c.RedeemedAt, Group: TLCoupons, Kind: "coupon_redeemed", ID: c.ID, Summary: c.Code, src: srcCoupon}
				if c.RedeemedOrderID != nil {
					if o, err := db.Order(ctx, shopID, *c.RedeemedOrderID); err == nil {
						e.OrderName, e.ShopifyOrderID = o.Name, o.ShopifyID
						orderNames[o.ID] = *o
					}
				}
				add(e)
			}
		}
	}
	if want(TLMessages) {
		var ms []Message
		w, a := cur.bound("created_at", "id", srcMessage)
		if err := g().G.Where("shop_id = ? AND customer_id = ? AND "+w, append([]any{shopID, customerID}, a...)...).
			Order("created_at DESC, id DESC").Limit(n).Find(&ms).Error; err != nil {
			return nil, nil, fmt.Errorf("loading timeline messages: %w", err)
		}
		if len(ms) > 0 {
			l := ms[len(ms)-1]
			saturated(len(ms), l.CreatedAt, srcMessage, l.ID)
		}
		for _, m := range ms {
			d := map[string]any{"scheduled_for": m.ScheduledFor, "attempts": m.Attempts}
			if m.SentAt != nil {
				d["sent_at"] = m.SentAt
			}
			if m.LineRequestID != "" {
				d["line_request_id"] = m.LineRequestID
			}
			e := TimelineEntry{At: m.CreatedAt, Group: TLMessages, Kind: m.Kind, ID: m.ID, Status: m.Status, Reason: m.Reason,
				Content: m.Content, Details: d, src: srcMessage}
			if m.RefType == "order" && m.RefID != 0 {
				d["order_id"] = m.RefID
			}
			add(e)
		}
	}
	if want(TLMessages) {
		// Campaign messages are their recipient rows, settled at updated_at.
		var rs []struct {
			CampaignRecipient
			CampaignName string
		}
		w, a := cur.bound("r.updated_at", "r.id", srcCampaignMessage)
		if err := g().G.Raw("SELECT r.*, k.name AS campaign_name FROM campaign_recipients r JOIN campaigns k ON k.id = r.campaign_id WHERE r.shop_id = ? AND r.customer_id = ? AND "+
			settledCampaignMessages+" AND "+w+" ORDER BY r.updated_at DESC, r.id DESC LIMIT ?", append(append([]any{shopID, customerID}, a...), n)...).
			Scan(&rs).Error; err != nil {
			return nil, nil, fmt.Errorf("loading timeline campaign messages: %w", err)
		}
		if len(rs) > 0 {
			l := rs[len(rs)-1]
			saturated(len(rs), l.UpdatedAt, srcCampaignMessage, l.ID)
		}
		for _, r := range rs {
			d := map[string]any{"campaign_id": r.CampaignID, "campaign": r.CampaignName, "variant": r.Variant}
			if r.SentAt != nil {
				d["sent_at"] = r.SentAt
			}
			if r.LineRequestID != "" {
				d["line_request_id"] = r.LineRequestID
			}
			add(TimelineEntry{At: r.UpdatedAt, Group: TLMessages, Kind: CampaignMessageKind, ID: r.ID, Status: r.Status, Reason: r.Reason,
				Summary: r.CampaignName, Details: d, src: srcCampaignMessage})
		}
	}
	// linked/unlinked/coupon_issued come from their own tables above.
	if want(TLInbound) || want(TLFollows) || want(TLClicks) || want(TLGDPR) || want(TLOther) {
		var as []Activity
		w, a := cur.bound("occurred_at", "id", srcActivity)
		q := g().G.Where("shop_id = ? AND customer_id = ? AND kind NOT IN ? AND "+w,
			append([]any{shopID, customerID, []string{ActLinked, ActUnlinked, ActCouponIssued}}, a...)...)
		if len(groups) > 0 {
			var known, wanted []string
			for k, grp := range activityGroups {
				known = append(known, k)
				if want(grp) {
					wanted = append(wanted, k)
				}
			}
			conds, args := []string{"kind IN ?"}, []any{append(wanted, "")}
			if want(TLGDPR) {
				conds = append(conds, "kind LIKE 'gdpr%'")
			}
			if want(TLOther) {
				conds, args = append(conds, "(kind NOT IN ? AND kind NOT LIKE 'gdpr%')"), append(args, known)
			}
			q = q.Where("("+strings.Join(conds, " OR ")+")", args...)
		}
		if err := q.Order("occurred_at DESC, id DESC").Limit(n).Find(&as).Error; err != nil {
			return nil, nil, fmt.Errorf("loading timeline activities: %w", err)
		}
		if len(as) > 0 {
			l := as[len(as)-1]
			saturated(len(as), l.OccurredAt, srcActivity, l.ID)
		}
		for _, act := range as {
			grp := ActivityGroup(act.Kind)
			if !want(grp) {
				continue
			}
			e := TimelineEntry{At: act.OccurredAt, Group: grp, Kind: act.Kind, ID: act.ID, Summary: act.Summary, src: srcActivity}
			if act.Data != "" && act.Data != "{}" {
				e.Details = map[string]any{"data": act.Data}
			}
			if act.RefType != "" {
				if e.Details == nil {
					e.Details = map[string]any{}
				}
				e.Details["ref_type"], e.Details["ref_id"] = act.RefType, act.RefID
			}
			add(e)
		}
	}
	if want(TLBrowsing) {
		// Storefront activity from the web pixel.
		var evs []PixelEvent
		w, a := cur.bound("occurred_at", "id", srcBrowse)
		if err := g().G.Where("customer_id = ? AND shop_id = ? AND "+w, append([]any{customerID, shopID}, a...)...).
			Order("occurred_at DESC, id DESC").Limit(n).Find(&evs).Error; err != nil {
			return nil, nil, fmt.Errorf("loading timeline browsing: %w", err)
		}
		if len(evs) > 0 {
			l := evs[len(evs)-1]
			saturated(len(evs), l.OccurredAt, srcBrowse, l.ID)
		}
		for _, pe := range evs {
			e := TimelineEntry{At: pe.OccurredAt, Group: TLBrowsing, Kind: pe.Name, ID: pe.ID, Summary: pe.Title, URL: pe.URL, src: srcBrowse}
			switch {
			case pe.SearchQuery != "":
				e.Summary = pe.SearchQuery
			case pe.ProductID != 0:
				e.Details = map[string]any{"product_id": pe.ProductID}
				if !pe.Price.IsZero() {
					e.Amount, e.Currency = pe.Price, pe.Currency
				}
			case pe.CollectionID != 0:
				e.Details = map[string]any{"collection_id": pe.CollectionID}
			}
			add(e)
		}
	}
	// Messages about an order link to it in the Shopify admin too.
	var need []int64
	for _, e := range out {
		if e.Group == TLMessages {
			if id, ok := e.Details["order_id"].(int64); ok {
				if _, ok := orderNames[id]; !ok {
					need = append(need, id)
				}
			}
		}
	}
	if len(need) > 0 {
		var ords []Order
		if err := g().G.Select("id, shopify_id, name").Where("shop_id = ? AND id IN ?", shopID, need).Find(&ords).Error; err != nil {
			return nil, nil, fmt.Errorf("loading orders of timeline messages: %w", err)
		}
		for _, o := range ords {
			orderNames[o.ID] = o
		}
	}
	for i := range out {
		if id, ok := out[i].Details["order_id"].(int64); ok && out[i].Group == TLMessages {
			if o, ok := orderNames[id]; ok {
				out[i].OrderName, out[i].ShopifyOrderID = o.Name, o.ShopifyID
			}
			delete(out[i].Details, "order_id")
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return newer(out[i], out[j]) })
	var next *TimelineCursor
	cursorAt := func(e TimelineEntry) *TimelineCursor {
		return &TimelineCursor{At: e.At.Truncate(time.Microsecond).UTC(), Src: e.src, ID: e.ID}
	}
	if horizon != nil {
		keep := len(out)
		for keep > 0 && newer(*horizon, out[keep-1]) {
			keep--
		}
		if keep < len(out) {
			out = out[:keep]
			next = cursorAt(*horizon)
			if keep > 0 {
				next = cursorAt(out[keep-1])
			}
		}
	}
	if len(out) > limit {
		out = out[:limit]
		next = cursorAt(out[limit-1])
	}
	if out == nil {
		out = []TimelineEntry{}
	}
	return out, next, nil
}

// newer reports whether a comes before b on the timeline (newest first).
func newer(a, b TimelineEntry) bool {
	ai, bi := a.At.Truncate(time.Microsecond), b.At.Truncate(time.Microsecond)
	if !ai.Equal(bi) {
		return ai.After(bi)
	}
	if a.src != b.src {
		return a.src > b.src
	}
	return a.ID > b.ID
}

// RecentOrder returns the shop's most recent order with items, for previews.
func (db *DB) RecentOrder(ctx context.Context, shopID int64) (*Order, error) {
	var o Order
	err := db.WithContext(ctx).Preload("Items").Where("shop_id = ?", shopID).Order("ordered_at DESC").Take(&o).Error
	if err != nil {
		return nil, fmt.Errorf("loading the latest order of shop %d: %w", shopID, notFound(err))
	}
	return &o, nil
}
