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
	// customers.link_state: the customer's live LINE link, which the store
	// keeps (store.LinkState*) and the link conditions read.
	LinkStateNone    = 0 // no live link
	LinkStateLinked  = 1 // a live link, neither a friend nor blocked
	LinkStateFriend  = 2 // a live link to a friend of the bot who has not blocked it
	LinkStateBlocked = 3 // a live link to someone who blocked the bot
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

// charge adds the cost of a condition on f (values == 0) or of its
// values, and refuses it past the limit.
func (c *segCompiler) charge(f Field, values int) error {
	if values == 0 {
		c.cost += f.Cost
	} else {
		c.cost += f.CostPerValue * values
	}
	if c.cost > MaxCost {
		return fmt.Errorf("%w: too costly to run (cost over %d; %q costs %d, plus %d a value); use fewer history conditions such as clicked, received or purchases",
			ErrInvalid, MaxCost, f.Key, f.Cost, f.CostPerValue)
	}
	return nil
}

// leaf compiles a condition through its field's entry in the table.
func (c *segCompiler) leaf(n Node) (string, error) {
	f, ok := lookupField(n.Field)
	if !ok {
		return "", fmt.Errorf("%w: unknown field %q", ErrInvalid, n.Field)
	}
	if err := c.charge(f, 0); err != nil {
		return "", err
	}
	return f.SQL(&segLeaf{c: c, n: n, f: f})
}

// segLeaf is one condition being compiled: the helpers below read and
// check its value and write SQL with bind parameters; a field's SQL entry
// in the table is built from them.
type segLeaf struct {
	c *segCompiler
	n Node
	f Field
}

func (l *segLeaf) arg(v any) string { return l.c.arg(v) }

// bind passes args for the "?" in sql, in order.
func (l *segLeaf) bind(sql string, args ...any) string {
	l.c.args = append(l.c.args, args...)
	return sql
}

func (l *segLeaf) bad(msg string) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, l.n.Field, msg)
}

func (l *segLeaf) num() (float64, error) {
	var f float64
	if err := json.Unmarshal(l.n.Value, &f); err != nil {
		return 0, l.bad("value must be a number")
	}
	return f, nil
}

func (l *segLeaf) cmp() (string, error) {
	op, ok := cmpOps[l.n.Op]
	if !ok {
		return "", l.bad("op must be one of = != > >= < <=")
	}
	return op, nil
}

func (l *segLeaf) boolean() (bool, error) {
	if l.n.Op != "" && l.n.Op != "=" {
		return false, l.bad(`op must be "="`)
	}
	var b bool
	if err := json.Unmarshal(l.n.Value, &b); err != nil {
		return false, l.bad("value must be true or false")
	}
	return b, nil
}

func (l *segLeaf) strs() ([]string, error) {
	var many []string
	var one string
	if err := json.Unmarshal(l.n.Value, &one); err == nil {
		many = []string{one}
	} else if err := json.Unmarshal(l.n.Value, &many); err != nil || len(many) == 0 {
		return nil, l.bad("value must be a string or a non-empty list of strings")
	}
	if len(many) > MaxList {
		return nil, l.bad(fmt.Sprintf("at most %d values", MaxList))
	}
	for _, s := range many {
		if len(s) > maxString {
			return nil, l.bad(fmt.Sprintf("a value has more than %d bytes", maxString))
		}
	}
	return many, l.c.charge(l.f, len(many))
}

func (l *segLeaf) ids(maxN int) ([]int64, bool) {
	var ids []int64
	var one int64
	if err := json.Unmarshal(l.n.Value, &one); err == nil {
		return []int64{one}, true
	}
	if err := json.Unmarshal(l.n.Value, &ids); err != nil || len(ids) == 0 || len(ids) > maxN {
		return nil, false
	}
	return ids, true
}

func (l *segLeaf) numeric(expr string) (string, error) {
	op, err := l.cmp()
	if err != nil {
		return "", err
	}
	f, err := l.num()
	if err != nil {
		return "", err
	}
	return expr + " " + op + " " + l.arg(f), nil
}

// daysSince turns "days since col op N" into "col op' now-N days".
func (l *segLeaf) daysSince(col string) (string, error) {
	op, ok := inverted[l.n.Op]
	if !ok {
		return "", l.bad("op must be one of = != > >= < <=")
	}
	f, err := l.num()
	if err != nil {
		return "", err
	}
	cut := l.c.now.Add(-time.Duration(f * float64(24*time.Hour)))
	if op == "=" || op == "<>" {
		// "N days ago" is a whole day, not an instant.
		lo, hi := cut.Add(-24*time.Hour), cut
		s := "(" + col + " > " + l.arg(lo) + " AND " + col + " <= " + l.arg(hi) + ")"
		if op == "<>" {
			s = "NOT " + s
		}
		return "(" + col + " IS NOT NULL AND " + s + ")", nil
	}
	return col + " " + op + " " + l.arg(cut), nil
}

// date compares col with a day (YYYY-MM-DD) on day boundaries in the
// shop's zone.
func (l *segLeaf) date(col string) (string, error) {
	op, err := l.cmp()
	if err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(l.n.Value, &s); err != nil {
		return "", l.bad("value must be a date YYYY-MM-DD")
	}
	d, err := time.ParseInLocation("2006-01-02", s, l.c.loc)
	if err != nil {
		return "", l.bad("value must be a date YYYY-MM-DD")
	}
	lo, hi := d.UTC(), d.AddDate(0, 0, 1).UTC()
	switch op {
	case "=":
		return "(" + col + " >= " + l.arg(lo) + " AND " + col + " < " + l.arg(hi) + ")", nil
	case "<>":
		return "(" + col + " IS NOT NULL AND NOT (" + col + " >= " + l.arg(lo) + " AND " + col + " < " + l.arg(hi) + "))", nil
	case "<", ">=":
		return col + " " + op + " " + l.arg(lo), nil
	case "<=":
		return col + " < " + l.arg(hi), nil
	default: // ">"
		return col + " >= " + l.arg(hi), nil
	}
}

func (l *segLeaf) in(expr string, vals []string, lower bool) string {
	ph := make([]string, len(vals))
	for i, v := range vals {
		if lower {
			v = strings.ToLower(strings.TrimSpace(v))
		}
		ph[i] = l.arg(v)
	}
	return expr + " IN (" + strings.Join(ph, ", ") + ")"
}

func (l *segLeaf) idList(expr string, ids []int64) string {
	ph := make([]string, len(ids))
	for i, id := range ids {
		ph[i] = l.arg(id)
	}
	return expr + " IN (" + strings.Join(ph, ", ") + ")"
}

// negate applies a list operator: "=", "in" keep s, "!=", "not_in" negate it.
func (l *segLeaf) negate(s string) (string, error) {
	switch l.n.Op {
	case "", "=", "in":
		return s, nil
	case "!=", "not_in":
		return "NOT " + s, nil
	}
	return "", l.bad(`op must be "=", "in", "!=" or "not_in"`)
}

// exists is a true/false condition: value true keeps cond, false negates it.
func (l *segLeaf) exists(cond string) (string, error) {
	b, err := l.boolean()
	if err != nil {
		return "", err
	}
	if !b {
		return "NOT " + cond, nil
	}
	return cond, nil
}

// purchased: the customer has an item matching cond on an order that
// counts (not cancelled). order_items.customer_id holds the order's
// customer exactly while the order counts (migration 0050), so no join to
// orders: EXISTS probes (vendor|product_id, customer_id) per customer, and
// PostgreSQL turns NOT EXISTS into an anti-join.
func (l *segLeaf) purchased(cond string) string {
	return "EXISTS (SELECT 1 FROM order_items oi WHERE oi.customer_id = c.id AND " + cond + ")"
}

// since narrows a history condition to within_days.
func (l *segLeaf) since(col string) string {
	if l.n.WithinDays <= 0 {
		return ""
	}
	return " AND " + col + " >= " + l.arg(l.c.now.AddDate(0, 0, -l.n.WithinDays))
}

// LikeEscape escapes LIKE's wildcards and its escape character.
func LikeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)
	return r.Replace(s)
}
