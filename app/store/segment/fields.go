package segment

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Field describes one field a segment condition can test: the
// builder's input type and operators, whether it takes within_days, and
// what a condition on it costs (see MaxCost). The compiler charges
// from this table and refuses fields not in it; the admin builder's field
// list and the API's field list derive from it (TestSegmentFieldTable).
type Field struct {
	Key string `json:"key"`
	// Type picks the builder's input: number, days, money, date, product,
	// vendor, contains, text, month, bool, kind, click, id.
	Type   string   `json:"type"`
	Ops    []string `json:"ops"`
	Within bool     `json:"within,omitempty"` // takes within_days
	// Builder: offered by the point-and-click builder (others are API-only).
	Builder bool `json:"-"`
	// Cost of one condition, and what each value of a list adds.
	Cost, CostPerValue int `json:"-"`
	// Sample is a valid value, for the table's consistency test.
	Sample string `json:"-"`
	// SQL checks the condition's op and value and writes its SQL: a
	// condition on "customers c" with every value a bind parameter. One
	// text serves PostgreSQL and SQLite (TestSegmentCompile runs on both).
	SQL func(l *segLeaf) (string, error) `json:"-"`
}

var (
	segOpsCompare = []string{">=", "<=", "=", "!=", ">", "<"}
	segOpsDate    = []string{"<", "<=", "=", ">=", ">"}
	segOpsIn      = []string{"in", "not_in"}
	segOpsEq      = []string{"=", "!="}
	segOpsBool    = []string{"="}
)

// fields is the table, in the order the builder offers the fields.
var fields = []Field{
	{Key: "orders_count", Type: "number", Ops: segOpsCompare, Builder: true, Cost: 1, Sample: `3`, SQL: sqlNumeric("c.orders_count")},
	{Key: "total_spent", Type: "money", Ops: segOpsCompare, Builder: true, Cost: 1, Sample: `5000`, SQL: sqlNumeric("c.total_spent")},
	// Customers without orders have no average; they never match.
	{Key: "aov", Type: "money", Ops: segOpsCompare, Builder: true, Cost: 1, Sample: `3000`,
		SQL: sqlNumeric("(CASE WHEN c.orders_count > 0 THEN c.total_spent / c.orders_count END)")},
	{Key: "days_since_last_order", Type: "days", Ops: segOpsCompare, Builder: true, Cost: 1, Sample: `30`, SQL: sqlDaysSince("c.last_order_at")},
	{Key: "days_since_first_order", Type: "days", Ops: segOpsCompare, Builder: true, Cost: 1, Sample: `30`, SQL: sqlDaysSince("c.first_order_at")},
	{Key: "last_order_date", Type: "date", Ops: segOpsDate, Builder: true, Cost: 1, Sample: `"2026-01-31"`, SQL: sqlDate("c.last_order_at")},
	{Key: "first_order_date", Type: "date", Ops: segOpsDate, Builder: true, Cost: 1, Sample: `"2026-01-31"`, SQL: sqlDate("c.first_order_at")},
	{Key: "product_id", Type: "product", Ops: segOpsIn, Builder: true, Cost: 10, Sample: `[1, 2]`, SQL: sqlProductID},
	{Key: "product_title", Type: "contains", Ops: []string{"contains", "not_contains"}, Builder: true, Cost: 15, Sample: `"tea"`, SQL: sqlProductTitle},
	{Key: "vendor", Type: "vendor", Ops: segOpsEq, Builder: true, Cost: 10, Sample: `"Kyoto Tea"`, SQL: sqlVendor},
	{Key: "coupon_used", Type: "bool", Ops: segOpsBool, Builder: true, Cost: 3, Sample: `true`, SQL: sqlCouponUsed},
	{Key: "coupon_unused", Type: "bool", Ops: segOpsBool, Builder: true, Cost: 3, Sample: `true`, SQL: sqlCouponUnused},
	{Key: "tag", Type: "text", Ops: segOpsEq, Builder: true, CostPerValue: 2, Sample: `["vip", "wholesale"]`, SQL: sqlTag},
	{Key: "region", Type: "text", Ops: segOpsEq, Builder: true, Cost: 1, Sample: `"Tokyo"`, SQL: sqlLowerIn("c.region")},
	{Key: "country", Type: "text", Ops: segOpsEq, Builder: true, Cost: 1, Sample: `"JP"`, SQL: sqlLowerIn("c.country")},
	{Key: "birthday_month", Type: "month", Ops: segOpsEq, Builder: true, Cost: 1, Sample: `"current"`, SQL: sqlBirthdayMonth},
	{Key: "days_since_signup", Type: "days", Ops: segOpsCompare, Builder: true, Cost: 1, Sample: `7`, SQL: sqlDaysSince("c.created_at")},
	{Key: "accepts_marketing", Type: "bool", Ops: segOpsBool, Builder: true, Cost: 1, Sample: `true`, SQL: sqlAcceptsMarketing},
	{Key: "linked", Type: "bool", Ops: segOpsBool, Builder: true, Cost: 2, Sample: `true`, SQL: sqlLinkState(linkedSQL)},
	{Key: "friend", Type: "bool", Ops: segOpsBool, Builder: true, Cost: 2, Sample: `true`, SQL: sqlLinkState(fmt.Sprintf("c.link_state = %d", LinkStateFriend))},
	{Key: "blocked", Type: "bool", Ops: segOpsBool, Builder: true, Cost: 2, Sample: `false`, SQL: sqlLinkState(fmt.Sprintf("c.link_state = %d", LinkStateBlocked))},
	// The LINE friend rows (line_friends) of customers: a friend who is
	// not (or no longer) linked, and how long someone has been a friend.
	{Key: "friend_not_linked", Type: "bool", Ops: segOpsBool, Builder: true, Cost: 3, Sample: `true`, SQL: sqlFriendNotLinked},
	{Key: "friend_days", Type: "days", Ops: segOpsCompare, Builder: true, Cost: 2, Sample: `7`, SQL: sqlFriendDays},
	{Key: "received", Type: "kind", Ops: segOpsEq, Within: true, Builder: true, Cost: 10, CostPerValue: 1, Sample: `"thank_you"`, SQL: sqlReceived},
	{Key: "clicked", Type: "click", Ops: segOpsEq, Within: true, Builder: true, Cost: 20, CostPerValue: 5, Sample: `["any", "campaign"]`, SQL: sqlClicked},
	{Key: "viewed_product", Type: "id", Ops: segOpsIn, Within: true, Cost: 10, Sample: `[1, 2]`, SQL: sqlPixel(PixelProductViewed, "pe.product_id")},
	{Key: "viewed_collection", Type: "id", Ops: segOpsIn, Within: true, Cost: 10, Sample: `7`, SQL: sqlPixel(PixelCollectionView, "pe.collection_id")},
	{Key: "added_to_cart", Type: "id", Ops: segOpsIn, Within: true, Cost: 10, Sample: `true`, SQL: sqlPixel(PixelAddedToCart, "pe.product_id")},
}

// The fields' SQL, shared where fields differ only in a column.

func sqlNumeric(expr string) func(*segLeaf) (string, error) {
	return func(l *segLeaf) (string, error) { return l.numeric(expr) }
}

func sqlDaysSince(col string) func(*segLeaf) (string, error) {
	return func(l *segLeaf) (string, error) { return l.daysSince(col) }
}

func sqlDate(col string) func(*segLeaf) (string, error) {
	return func(l *segLeaf) (string, error) { return l.date(col) }
}

func sqlLowerIn(col string) func(*segLeaf) (string, error) {
	return func(l *segLeaf) (string, error) {
		vals, err := l.strs()
		if err != nil {
			return "", err
		}
		return l.negate(l.in("LOWER("+col+")", vals, true))
	}
}

func sqlProductID(l *segLeaf) (string, error) {
	ids, ok := l.ids(MaxList)
	if !ok {
		return "", l.bad(fmt.Sprintf("value must be a product id or a list of up to %d", MaxList))
	}
	return l.negate(l.purchased(l.idList("oi.product_id", ids)))
}

func sqlVendor(l *segLeaf) (string, error) {
	vals, err := l.strs()
	if err != nil {
		return "", err
	}
	return l.negate(l.purchased(l.in("oi.vendor", vals, false)))
}

func sqlProductTitle(l *segLeaf) (string, error) {
	var s string
	if err := json.Unmarshal(l.n.Value, &s); err != nil || s == "" || len(s) > maxString {
		return "", l.bad(fmt.Sprintf("value must be a non-empty string of up to %d bytes", maxString))
	}
	cond := "LOWER(oi.title) LIKE " + l.arg("%"+LikeEscape(strings.ToLower(s))+"%") + ` ESCAPE '\'`
	switch l.n.Op {
	case "contains", "":
		return l.purchased(cond), nil
	case "not_contains":
		return "NOT " + l.purchased(cond), nil
	}
	return "", l.bad(`op must be "contains" or "not_contains"`)
}

func sqlTag(l *segLeaf) (string, error) {
	vals, err := l.strs()
	if err != nil {
		return "", err
	}
	// Shopify joins tags with ", "; match whole tags, case-insensitively.
	parts := make([]string, len(vals))
	empty := false
	for i, v := range vals {
		v = strings.ToLower(strings.TrimSpace(v))
		empty = empty || v == ""
		parts[i] = "(',' || REPLACE(LOWER(c.tags), ', ', ',') || ',') LIKE " + l.arg("%,"+LikeEscape(v)+",%") + ` ESCAPE '\'`
	}
	cond := "(" + strings.Join(parts, " OR ") + ")"
	if !empty {
		// A customer without tags has no non-empty tag: the cheap test first
		// spares most customers of most shops LOWER and REPLACE.
		cond = "(c.tags <> '' AND " + cond + ")"
	}
	return l.negate(cond)
}

func sqlBirthdayMonth(l *segLeaf) (string, error) {
	var m int
	var s string
	if err := json.Unmarshal(l.n.Value, &s); err == nil && s == "current" {
		m = int(l.c.now.In(l.c.loc).Month())
	} else if err := json.Unmarshal(l.n.Value, &m); err != nil || m < 1 || m > 12 {
		return "", l.bad(`value must be a month 1-12 or "current"`)
	}
	// birthday is "YYYY-MM-DD" (or "--MM-DD" without a year); the month sits before the last "-DD".
	expr := "SUBSTR(c.birthday, LENGTH(c.birthday) - 4, 2)"
	return l.negate("(c.birthday <> '' AND " + expr + " = " + l.arg(fmt.Sprintf("%02d", m)) + ")")
}

func sqlAcceptsMarketing(l *segLeaf) (string, error) {
	b, err := l.boolean()
	if err != nil {
		return "", err
	}
	return "c.accepts_marketing = " + l.arg(b), nil
}

// sqlLinkState tests the customer's live LINE link through
// customers.link_state, which the store keeps equal to the live line_links
// row (migration 0056): no join, and a count reads the partial index
// customers_live_link_state alone. The states are constants of ours, not
// values from a definition, so they are written into the SQL: PostgreSQL
// can then prove the index's "link_state > 0" from them.
func sqlLinkState(cond string) func(*segLeaf) (string, error) {
	return func(l *segLeaf) (string, error) { return l.exists(cond) }
}

// linkedSQL: the customer has a live link.
var linkedSQL = fmt.Sprintf("c.link_state > %d", LinkStateNone)

// friendRow is a current, unblocked LINE friend row of the customer.
const friendRow = "SELECT 1 FROM line_friends f WHERE f.customer_id = c.id AND f.is_friend = ? AND f.blocked = ? AND f.redacted_at IS NULL"

// sqlFriendNotLinked: a LINE friend whose customer has no live link (never
// completed linking from this row, or unlinked and still a friend).
func sqlFriendNotLinked(l *segLeaf) (string, error) {
	return l.exists("(EXISTS (" + l.bind(friendRow, true, false) + ") AND NOT " + linkedSQL + ")")
}

// sqlFriendDays: "friend for N days" counts from the friend row's
// friend_since (the follow; it restarts after a block and unblock).
func sqlFriendDays(l *segLeaf) (string, error) {
	row := l.bind(friendRow, true, false)
	since, err := l.daysSince("f.friend_since")
	if err != nil {
		return "", err
	}
	return "EXISTS (" + row + " AND " + since + ")", nil
}

func sqlCouponUsed(l *segLeaf) (string, error) {
	return l.exists("EXISTS (SELECT 1 FROM coupons cp WHERE cp.customer_id = c.id AND cp.redeemed_at IS NOT NULL)")
}

func sqlCouponUnused(l *segLeaf) (string, error) {
	return l.exists("EXISTS (SELECT 1 FROM coupons cp WHERE cp.customer_id = c.id AND " +
		"cp.redeemed_at IS NULL AND cp.issued_at IS NOT NULL AND (cp.expires_at IS NULL OR cp.expires_at > " + l.arg(l.c.now) + "))")
}

func sqlReceived(l *segLeaf) (string, error) {
	vals, err := l.strs()
	if err != nil {
		return "", err
	}
	cond := "EXISTS (SELECT 1 FROM messages m WHERE m.customer_id = c.id AND m.status = " + l.arg(MsgSent) +
		" AND " + l.in("m.kind", vals, false) + l.since("m.sent_at") + ")"
	if slices.Contains(vals, "campaign") {
		// Campaign messages are their recipient rows (no messages row each).
		cond = "(" + cond + " OR EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.customer_id = c.id AND r.status = " + l.arg(MsgSent) + l.since("r.sent_at") + "))"
	}
	return l.negate(cond)
}

// sqlClicked: value is a message kind, "any", or "campaign" for campaign links.
func sqlClicked(l *segLeaf) (string, error) {
	vals, err := l.strs()
	if err != nil {
		return "", err
	}
	head := "EXISTS (SELECT 1 FROM activities a WHERE a.customer_id = c.id AND a.kind = " + l.arg(ActClick) + l.since("a.occurred_at")
	ors := make([]string, 0, len(vals))
	for _, v := range vals {
		switch v {
		case "any":
			ors = append(ors, "1=1")
		case "campaign":
			ors = append(ors, "a.ref_type = "+l.arg("campaign"))
		default:
			ors = append(ors, "(a.ref_type = "+l.arg("message")+" AND EXISTS (SELECT 1 FROM messages m WHERE m.id = a.ref_id AND m.kind = "+l.arg(v)+"))")
		}
	}
	return l.negate(head + " AND (" + strings.Join(ors, " OR ") + "))")
}

// sqlPixel is storefront activity from the web pixel. value: true (any),
// an id or a list of ids (products; collections for viewed_collection).
func sqlPixel(name, col string) func(*segLeaf) (string, error) {
	return func(l *segLeaf) (string, error) {
		cond := "EXISTS (SELECT 1 FROM pixel_events pe WHERE pe.customer_id = c.id AND pe.name = " + l.arg(name) + l.since("pe.occurred_at")
		var anyOf bool
		if json.Unmarshal(l.n.Value, &anyOf) == nil && anyOf {
			return l.negate(cond + ")")
		}
		ids, ok := l.ids(100)
		if !ok || ids[0] <= 0 && len(ids) == 1 {
			return "", l.bad("value must be true, an id or a list of up to 100 ids")
		}
		if len(ids) == 1 {
			cond += " AND " + col + " = " + l.arg(ids[0])
		} else {
			cond += " AND " + l.idList(col, ids)
		}
		return l.negate(cond + ")")
	}
}

// FieldTable returns the field table (a copy).
func FieldTable() []Field { return append([]Field(nil), fields...) }

// BuilderFields are the fields the point-and-click builder offers.
func BuilderFields() []Field {
	var out []Field
	for _, f := range fields {
		if f.Builder {
			out = append(out, f)
		}
	}
	return out
}

// FieldKeys lists every field's key (the API's "fields").
func FieldKeys() []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Key
	}
	return out
}

func lookupField(key string) (Field, bool) {
	for _, f := range fields {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}
