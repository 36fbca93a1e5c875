// Package segment parses, checks and compiles segment definitions to SQL.
// It needs nothing but the standard library, so its fuzz target builds in
// seconds (fuzz/ runs it in CI); app/store runs what it compiles.
package segment

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Segment definitions are JSON trees:
//
//	{"and": [node, ...]}  {"or": [node, ...]}  {"not": node}
//	{"builtin": "vip"}
//	{"field": "orders_count", "op": ">=", "value": 3}
//
// Compile turns one into a WHERE condition over "customers c" with every
// value passed as a bind parameter, so a definition can never inject SQL.

// Stored values the conditions compare with. app/store's constants of the
// same names are these (TestSegmentStoredValues).
const (
	MsgSent             = "sent"
	ActClick            = "click"
	PixelProductViewed  = "product_viewed"
	PixelCollectionView = "collection_viewed"
	PixelAddedToCart    = "product_added_to_cart"
)

// Node is one node of a segment definition.
type Node struct {
	And     []Node          `json:"and,omitempty"`
	Or      []Node          `json:"or,omitempty"`
	Not     *Node           `json:"not,omitempty"`
	Builtin string          `json:"builtin,omitempty"`
	Field   string          `json:"field,omitempty"`
	Op      string          `json:"op,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	// WithinDays narrows history conditions (received, clicked) to the last N days.
	WithinDays int `json:"within_days,omitempty"`
}

// MarshalJSON keeps an empty "and"/"or" (everyone/no one), which
// omitempty would drop.
func (n Node) MarshalJSON() ([]byte, error) {
	type plain Node
	switch {
	case n.And != nil && len(n.And) == 0:
		return []byte(`{"and":[]}`), nil
	case n.Or != nil && len(n.Or) == 0:
		return []byte(`{"or":[]}`), nil
	}
	return json.Marshal(plain(n))
}

// ErrInvalid wraps every definition error (the API answers 400).
var ErrInvalid = errors.New("invalid segment")

// Built-in segments. RFM thresholds: VIP = 5+ orders or 50,000+ spent and
// an order in the last 180 days; at risk = 2+ orders, last one 91-180 days
// ago; dormant = ordered, but not in 180 days; new = first order within 30 days.
// BuiltinSegments are the segments every shop has, by key.
var builtins = map[string]string{
	"vip":                  `{"and":[{"or":[{"field":"orders_count","op":">=","value":5},{"field":"total_spent","op":">=","value":50000}]},{"field":"days_since_last_order","op":"<=","value":180}]}`,
	"at_risk":              `{"and":[{"field":"orders_count","op":">=","value":2},{"field":"days_since_last_order","op":">","value":90},{"field":"days_since_last_order","op":"<=","value":180}]}`,
	"dormant":              `{"and":[{"field":"orders_count","op":">=","value":1},{"field":"days_since_last_order","op":">","value":180}]}`,
	"new":                  `{"and":[{"field":"orders_count","op":">=","value":1},{"field":"days_since_first_order","op":"<=","value":30}]}`,
	"birthday_this_month":  `{"field":"birthday_month","op":"=","value":"current"}`,
	"linked_never_ordered": `{"and":[{"field":"linked","op":"=","value":true},{"field":"orders_count","op":"=","value":0}]}`,
}

// BuiltinKeys lists the built-in segments in display order.
func BuiltinKeys() []string {
	return []string{"vip", "at_risk", "dormant", "new", "birthday_this_month", "linked_never_ordered"}
}

// Builtin returns a built-in segment's definition.
func Builtin(key string) (Node, bool) {
	src, ok := builtins[key]
	if !ok {
		return Node{}, false
	}
	var n Node
	if err := json.Unmarshal([]byte(src), &n); err != nil {
		panic(err) // the table above is constant
	}
	return n, true
}

// Limits on a segment definition, checked where it is saved (Parse)
// and wherever it is compiled to run (Compile), so a definition
// stored before the limits existed cannot run either. Built-in segments
// count as what they expand to.
const (
	// MaxBytes bounds the JSON of one definition.
	MaxBytes = 64 << 10
	// MaxNodes bounds and/or/not/built-in/field nodes.
	MaxNodes = 200
	// maxDepth bounds nesting.
	maxDepth = 12
	// MaxList bounds the values of one condition (tags, ids, kinds).
	MaxList = 100
	// maxString bounds one string value.
	maxString = 200
	// MaxCost bounds the summed cost of the conditions: about the
	// number of customer-row probes each needs (see segFieldCost).
	MaxCost = 400
	// ViewerCost is the most a viewer may run ad hoc; above it,
	// counting a segment is for admins.
	ViewerCost = 60
)

// Parse decodes and checks a definition.
func Parse(raw []byte) (Node, error) {
	if len(raw) > MaxBytes {
		return Node{}, fmt.Errorf("%w: the definition is %d bytes, at most %d", ErrInvalid, len(raw), MaxBytes)
	}
	var n Node
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return n, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, _, err := Compile(n, time.Now(), time.UTC); err != nil {
		return n, err
	}
	return n, nil
}

// Compile returns a SQL condition on "customers c" (shop scoping is
// the caller's) and its arguments. now and loc fix "days since" and "this
// month" so a query is reproducible.
func Compile(n Node, now time.Time, loc *time.Location) (string, []any, error) {
	c := &segCompiler{now: now.UTC(), loc: loc}
	sql, err := c.node(n, 0)
	if err != nil {
		return "", nil, err
	}
	return sql, c.args, nil
}

// Cost checks n against the limits and returns its cost (see
// MaxCost, ViewerCost).
func Cost(n Node) (int, error) {
	c := &segCompiler{now: time.Now().UTC(), loc: time.UTC}
	if _, err := c.node(n, 0); err != nil {
		return 0, err
	}
	return c.cost, nil
}

type segCompiler struct {
	now   time.Time
	loc   *time.Location
	args  []any
	nodes int
	cost  int
}

func (c *segCompiler) node(n Node, depth int) (string, error) {
	if depth > maxDepth {
		return "", fmt.Errorf("%w: nested more than %d deep", ErrInvalid, maxDepth)
	}
	if c.nodes++; c.nodes > MaxNodes {
		return "", fmt.Errorf("%w: more than %d conditions; split it into saved segments or use a list value (up to %d values)",
			ErrInvalid, MaxNodes, MaxList)
	}
	kinds := 0
	for _, set := range []bool{n.And != nil, n.Or != nil, n.Not != nil, n.Builtin != "", n.Field != ""} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return "", fmt.Errorf("%w: a node needs exactly one of and, or, not, builtin, field", ErrInvalid)
	}
	switch {
	case n.And != nil || n.Or != nil:
		list, joiner, empty := n.And, " AND ", "1=1"
		if n.Or != nil {
			list, joiner, empty = n.Or, " OR ", "1=0"
		}
		if len(list) == 0 {
			return empty, nil
		}
		parts := make([]string, len(list))
		for i, sub := range list {
			s, err := c.node(sub, depth+1)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return "(" + strings.Join(parts, joiner) + ")", nil
	case n.Not != nil:
		s, err := c.node(*n.Not, depth+1)
		if err != nil {
			return "", err
		}
		return "NOT " + s, nil
	case n.Builtin != "":
		b, ok := Builtin(n.Builtin)
		if !ok {
			return "", fmt.Errorf("%w: unknown built-in segment %q", ErrInvalid, n.Builtin)
		}
		return c.node(b, depth+1)
	}
	return c.leaf(n)
}

func (c *segCompiler) arg(v any) string {
	c.args = append(c.args, v)
	return "?"
}

var cmpOps = map[string]string{"=": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}

// inverted turns "days since X op N" into "X op' now-N days".
var inverted = map[string]string{"=": "=", "!=": "<>", ">": "<", ">=": "<=", "<": ">", "<=": ">="}

// charge adds the cost of a condition on field (values == 0) or of its
// values, and refuses it past the limit.
func (c *segCompiler) charge(field string, values int) error {
	f, ok := lookupField(field)
	if !ok {
		return fmt.Errorf("%w: unknown field %q", ErrInvalid, field)
	}
	fc := [2]int{f.Cost, f.CostPerValue}
	if values == 0 {
		c.cost += fc[0]
	} else {
		c.cost += fc[1] * values
	}
	if c.cost > MaxCost {
		return fmt.Errorf("%w: too costly to run (cost over %d; %q costs %d, plus %d a value); use fewer history conditions such as clicked, received or purchases",
			ErrInvalid, MaxCost, field, fc[0], fc[1])
	}
	return nil
}

func (c *segCompiler) leaf(n Node) (string, error) {
	if err := c.charge(n.Field, 0); err != nil {
		return "", err
	}
	bad := func(msg string) error { return fmt.Errorf("%w: %s: %s", ErrInvalid, n.Field, msg) }
	num := func() (float64, error) {
		var f float64
		if err := json.Unmarshal(n.Value, &f); err != nil {
			return 0, bad("value must be a number")
		}
		return f, nil
	}
	cmp := func() (string, error) {
		op, ok := cmpOps[n.Op]
		if !ok {
			return "", bad("op must be one of = != > >= < <=")
		}
		return op, nil
	}
	boolean := func() (bool, error) {
		if n.Op != "" && n.Op != "=" {
			return false, bad(`op must be "="`)
		}
		var b bool
		if err := json.Unmarshal(n.Value, &b); err != nil {
			return false, bad("value must be true or false")
		}
		return b, nil
	}
	strs := func() ([]string, error) {
		var many []string
		var one string
		if err := json.Unmarshal(n.Value, &one); err == nil {
			many = []string{one}
		} else if err := json.Unmarshal(n.Value, &many); err != nil || len(many) == 0 {
			return nil, bad("value must be a string or a non-empty list of strings")
		}
		if len(many) > MaxList {
			return nil, bad(fmt.Sprintf("at most %d values", MaxList))
		}
		for _, s := range many {
			if len(s) > maxString {
				return nil, bad(fmt.Sprintf("a value has more than %d bytes", maxString))
			}
		}
		return many, c.charge(n.Field, len(many))
	}
	numeric := func(expr string) (string, error) {
		op, err := cmp()
		if err != nil {
			return "", err
		}
		f, err := num()
		if err != nil {
			return "", err
		}
		return expr + " " + op + " " + c.arg(f), nil
	}
	daysSince := func(col string) (string, error) {
		op, ok := inverted[n.Op]
		if !ok {
			return "", bad("op must be one of = != > >= < <=")
		}
		f, err := num()
		if err != nil {
			return "", err
		}
		cut := c.now.Add(-time.Duration(f * float64(24*time.Hour)))
		if op == "=" || op == "<>" {
			// "N days ago" is a whole day, not an instant.
			lo, hi := cut.Add(-24*time.Hour), cut
			s := "(" + col + " > " + c.arg(lo) + " AND " + col + " <= " + c.arg(hi) + ")"
			if op == "<>" {
				s = "NOT " + s
			}
			return "(" + col + " IS NOT NULL AND " + s + ")", nil
		}
		return col + " " + op + " " + c.arg(cut), nil
	}
	in := func(expr string, vals []string, lower bool) string {
		ph := make([]string, len(vals))
		for i, v := range vals {
			if lower {
				v = strings.ToLower(strings.TrimSpace(v))
			}
			ph[i] = c.arg(v)
		}
		return expr + " IN (" + strings.Join(ph, ", ") + ")"
	}
	negate := func(s string) (string, error) {
		switch n.Op {
		case "", "=", "in":
			return s, nil
		case "!=", "not_in":
			return "NOT " + s, nil
		}
		return "", bad(`op must be "=", "in", "!=" or "not_in"`)
	}
	purchased := func(cond string) string {
		return "c.id IN (SELECT o.customer_id FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.cancelled_at IS NULL AND " + cond + ")"
	}
	since := func(col string) string {
		if n.WithinDays <= 0 {
			return ""
		}
		return " AND " + col + " >= " + c.arg(c.now.AddDate(0, 0, -n.WithinDays))
	}

	switch n.Field {
	case "orders_count":
		return numeric("c.orders_count")
	case "total_spent":
		return numeric("c.total_spent")
	case "aov":
		// Customers without orders have no average; they never match.
		return numeric("(CASE WHEN c.orders_count > 0 THEN c.total_spent / c.orders_count END)")
	case "days_since_last_order":
		return daysSince("c.last_order_at")
	case "days_since_first_order":
		return daysSince("c.first_order_at")
	case "first_order_date", "last_order_date":
		op, err := cmp()
		if err != nil {
			return "", err
		}
		var s string
		if err := json.Unmarshal(n.Value, &s); err != nil {
			return "", bad("value must be a date YYYY-MM-DD")
		}
		d, err := time.ParseInLocation("2006-01-02", s, c.loc)
		if err != nil {
			return "", bad("value must be a date YYYY-MM-DD")
		}
		col := "c.first_order_at"
		if n.Field == "last_order_date" {
			col = "c.last_order_at"
		}
		// Compare on day boundaries in the shop's zone.
		lo, hi := d.UTC(), d.AddDate(0, 0, 1).UTC()
		switch op {
		case "=":
			return "(" + col + " >= " + c.arg(lo) + " AND " + col + " < " + c.arg(hi) + ")", nil
		case "<>":
			return "(" + col + " IS NOT NULL AND NOT (" + col + " >= " + c.arg(lo) + " AND " + col + " < " + c.arg(hi) + "))", nil
		case "<", ">=":
			return col + " " + op + " " + c.arg(lo), nil
		case "<=":
			return col + " < " + c.arg(hi), nil
		default: // ">"
			return col + " >= " + c.arg(hi), nil
		}
	case "product_id":
		var ids []int64
		var one int64
		if err := json.Unmarshal(n.Value, &one); err == nil {
			ids = []int64{one}
		} else if err := json.Unmarshal(n.Value, &ids); err != nil || len(ids) == 0 || len(ids) > MaxList {
			return "", bad(fmt.Sprintf("value must be a product id or a list of up to %d", MaxList))
		}
		ph := make([]string, len(ids))
		for i, id := range ids {
			ph[i] = c.arg(id)
		}
		return negate(purchased("oi.product_id IN (" + strings.Join(ph, ", ") + ")"))
	case "vendor":
		vals, err := strs()
		if err != nil {
			return "", err
		}
		return negate(purchased(in("oi.vendor", vals, false)))
	case "product_title":
		var s string
		if err := json.Unmarshal(n.Value, &s); err != nil || s == "" || len(s) > maxString {
			return "", bad(fmt.Sprintf("value must be a non-empty string of up to %d bytes", maxString))
		}
		cond := "LOWER(oi.title) LIKE " + c.arg("%"+LikeEscape(strings.ToLower(s))+"%") + ` ESCAPE '\'`
		if n.Op == "contains" || n.Op == "" {
			return purchased(cond), nil
		}
		if n.Op == "not_contains" {
			return "NOT " + purchased(cond), nil
		}
		return "", bad(`op must be "contains" or "not_contains"`)
	case "tag":
		vals, err := strs()
		if err != nil {
			return "", err
		}
		// Shopify joins tags with ", "; match whole tags, case-insensitively.
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = "(',' || REPLACE(LOWER(c.tags), ', ', ',') || ',') LIKE " +
				c.arg("%,"+LikeEscape(strings.ToLower(strings.TrimSpace(v)))+",%") + ` ESCAPE '\'`
		}
		return negate("(" + strings.Join(parts, " OR ") + ")")
	case "region", "country":
		vals, err := strs()
		if err != nil {
			return "", err
		}
		return negate(in("LOWER(c."+n.Field+")", vals, true))
	case "birthday_month":
		var m int
		var s string
		if err := json.Unmarshal(n.Value, &s); err == nil && s == "current" {
			m = int(c.now.In(c.loc).Month())
		} else if err := json.Unmarshal(n.Value, &m); err != nil || m < 1 || m > 12 {
			return "", bad(`value must be a month 1-12 or "current"`)
		}
		// birthday is "YYYY-MM-DD" (or "--MM-DD" without a year); the month sits before the last "-DD".
		expr := "SUBSTR(c.birthday, LENGTH(c.birthday) - 4, 2)"
		return negate("(c.birthday <> '' AND " + expr + " = " + c.arg(fmt.Sprintf("%02d", m)) + ")")
	case "accepts_marketing":
		b, err := boolean()
		if err != nil {
			return "", err
		}
		return "c.accepts_marketing = " + c.arg(b), nil
	case "linked", "friend", "blocked":
		b, err := boolean()
		if err != nil {
			return "", err
		}
		cond := "EXISTS (SELECT 1 FROM line_links l WHERE l.customer_id = c.id AND l.unlinked_at IS NULL"
		switch n.Field {
		case "friend":
			cond += " AND l.friend = " + c.arg(true) + " AND l.blocked = " + c.arg(false)
		case "blocked":
			cond += " AND l.blocked = " + c.arg(true)
		}
		cond += ")"
		if !b {
			cond = "NOT " + cond
		}
		return cond, nil
	case "received":
		vals, err := strs()
		if err != nil {
			return "", err
		}
		cond := "EXISTS (SELECT 1 FROM messages m WHERE m.customer_id = c.id AND m.status = " + c.arg(MsgSent) +
			" AND " + in("m.kind", vals, false) + since("m.sent_at") + ")"
		return negate(cond)
	case "clicked":
		// value: a message kind, "any", or "campaign" for campaign links.
		vals, err := strs()
		if err != nil {
			return "", err
		}
		head := "EXISTS (SELECT 1 FROM activities a WHERE a.customer_id = c.id AND a.kind = " + c.arg(ActClick) + since("a.occurred_at")
		var ors []string
		for _, v := range vals {
			switch v {
			case "any":
				ors = append(ors, "1=1")
			case "campaign":
				ors = append(ors, "a.ref_type = "+c.arg("campaign"))
			default:
				ors = append(ors, "(a.ref_type = "+c.arg("message")+" AND EXISTS (SELECT 1 FROM messages m WHERE m.id = a.ref_id AND m.kind = "+c.arg(v)+"))")
			}
		}
		cond := head + " AND (" + strings.Join(ors, " OR ") + "))"
		return negate(cond)
	case "coupon_used", "coupon_unused":
		b, err := boolean()
		if err != nil {
			return "", err
		}
		cond := "EXISTS (SELECT 1 FROM coupons cp WHERE cp.customer_id = c.id AND "
		if n.Field == "coupon_used" {
			cond += "cp.redeemed_at IS NOT NULL)"
		} else {
			cond += "cp.redeemed_at IS NULL AND cp.issued_at IS NOT NULL AND (cp.expires_at IS NULL OR cp.expires_at > " + c.arg(c.now) + "))"
		}
		if !b {
			cond = "NOT " + cond
		}
		return cond, nil
	case "days_since_signup":
		return daysSince("c.created_at")
	case "viewed_product", "viewed_collection", "added_to_cart":
		// Storefront activity from the web pixel. value: true (any), an id
		// or a list of ids (products; collections for viewed_collection).
		name, col := PixelProductViewed, "pe.product_id"
		switch n.Field {
		case "viewed_collection":
			name, col = PixelCollectionView, "pe.collection_id"
		case "added_to_cart":
			name = PixelAddedToCart
		}
		cond := "EXISTS (SELECT 1 FROM pixel_events pe WHERE pe.customer_id = c.id AND pe.name = " + c.arg(name) + since("pe.occurred_at")
		var anyOf bool
		var one int64
		var ids []int64
		switch {
		case json.Unmarshal(n.Value, &anyOf) == nil && anyOf:
		case json.Unmarshal(n.Value, &one) == nil && one > 0:
			cond += " AND " + col + " = " + c.arg(one)
		case json.Unmarshal(n.Value, &ids) == nil && len(ids) > 0 && len(ids) <= 100:
			ph := make([]string, len(ids))
			for i, id := range ids {
				ph[i] = c.arg(id)
			}
			cond += " AND " + col + " IN (" + strings.Join(ph, ", ") + ")"
		default:
			return "", bad("value must be true, an id or a list of up to 100 ids")
		}
		return negate(cond + ")")
	}
	return "", fmt.Errorf("%w: unknown field %q", ErrInvalid, n.Field)
}

// LikeEscape escapes LIKE's wildcards and its escape character.
func LikeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)
	return r.Replace(s)
}
