package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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

// SegmentNode is one node of a segment definition.
type SegmentNode struct {
	And     []SegmentNode   `json:"and,omitempty"`
	Or      []SegmentNode   `json:"or,omitempty"`
	Not     *SegmentNode    `json:"not,omitempty"`
	Builtin string          `json:"builtin,omitempty"`
	Field   string          `json:"field,omitempty"`
	Op      string          `json:"op,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	// WithinDays narrows history conditions (received, clicked) to the last N days.
	WithinDays int `json:"within_days,omitempty"`
}

// MarshalJSON keeps an empty "and"/"or" (everyone/no one), which
// omitempty would drop.
func (n SegmentNode) MarshalJSON() ([]byte, error) {
	type plain SegmentNode
	switch {
	case n.And != nil && len(n.And) == 0:
		return []byte(`{"and":[]}`), nil
	case n.Or != nil && len(n.Or) == 0:
		return []byte(`{"or":[]}`), nil
	}
	return json.Marshal(plain(n))
}

// ErrBadSegment wraps every definition error (the API answers 400).
var ErrBadSegment = errors.New("invalid segment")

// Built-in segments. RFM thresholds: VIP = 5+ orders or 50,000+ spent and
// an order in the last 180 days; at risk = 2+ orders, last one 91-180 days
// ago; dormant = ordered, but not in 180 days; new = first order within 30 days.
// BuiltinSegments are the segments every shop has, by key.
var builtinSegments = map[string]string{
	"vip":                  `{"and":[{"or":[{"field":"orders_count","op":">=","value":5},{"field":"total_spent","op":">=","value":50000}]},{"field":"days_since_last_order","op":"<=","value":180}]}`,
	"at_risk":              `{"and":[{"field":"orders_count","op":">=","value":2},{"field":"days_since_last_order","op":">","value":90},{"field":"days_since_last_order","op":"<=","value":180}]}`,
	"dormant":              `{"and":[{"field":"orders_count","op":">=","value":1},{"field":"days_since_last_order","op":">","value":180}]}`,
	"new":                  `{"and":[{"field":"orders_count","op":">=","value":1},{"field":"days_since_first_order","op":"<=","value":30}]}`,
	"birthday_this_month":  `{"field":"birthday_month","op":"=","value":"current"}`,
	"linked_never_ordered": `{"and":[{"field":"linked","op":"=","value":true},{"field":"orders_count","op":"=","value":0}]}`,
}

// BuiltinSegmentKeys lists the built-in segments in display order.
func BuiltinSegmentKeys() []string {
	return []string{"vip", "at_risk", "dormant", "new", "birthday_this_month", "linked_never_ordered"}
}

// BuiltinSegment returns a built-in segment's definition.
func BuiltinSegment(key string) (SegmentNode, bool) {
	src, ok := builtinSegments[key]
	if !ok {
		return SegmentNode{}, false
	}
	var n SegmentNode
	if err := json.Unmarshal([]byte(src), &n); err != nil {
		panic(err) // the table above is constant
	}
	return n, true
}

// Limits on a segment definition, checked where it is saved (ParseSegment)
// and wherever it is compiled to run (CompileSegment), so a definition
// stored before the limits existed cannot run either. Built-in segments
// count as what they expand to.
const (
	// MaxSegmentBytes bounds the JSON of one definition.
	MaxSegmentBytes = 64 << 10
	// MaxSegmentNodes bounds and/or/not/built-in/field nodes.
	MaxSegmentNodes = 200
	// maxSegmentDepth bounds nesting.
	maxSegmentDepth = 12
	// MaxSegmentList bounds the values of one condition (tags, ids, kinds).
	MaxSegmentList = 100
	// maxSegmentString bounds one string value.
	maxSegmentString = 200
	// MaxSegmentCost bounds the summed cost of the conditions: about the
	// number of customer-row probes each needs (see segFieldCost).
	MaxSegmentCost = 400
	// ViewerSegmentCost is the most a viewer may run ad hoc; above it,
	// counting a segment is for admins.
	ViewerSegmentCost = 60
)

// ParseSegment decodes and checks a definition.
func ParseSegment(raw []byte) (SegmentNode, error) {
	if len(raw) > MaxSegmentBytes {
		return SegmentNode{}, fmt.Errorf("%w: the definition is %d bytes, at most %d", ErrBadSegment, len(raw), MaxSegmentBytes)
	}
	var n SegmentNode
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return n, fmt.Errorf("%w: %v", ErrBadSegment, err)
	}
	if _, _, err := CompileSegment(n, time.Now(), time.UTC); err != nil {
		return n, err
	}
	return n, nil
}

// CompileSegment returns a SQL condition on "customers c" (shop scoping is
// the caller's) and its arguments. now and loc fix "days since" and "this
// month" so a query is reproducible.
func CompileSegment(n SegmentNode, now time.Time, loc *time.Location) (string, []any, error) {
	c := &segCompiler{now: now.UTC(), loc: loc}
	sql, err := c.node(n, 0)
	if err != nil {
		return "", nil, err
	}
	return sql, c.args, nil
}

// SegmentCost checks n against the limits and returns its cost (see
// MaxSegmentCost, ViewerSegmentCost).
func SegmentCost(n SegmentNode) (int, error) {
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

func (c *segCompiler) node(n SegmentNode, depth int) (string, error) {
	if depth > maxSegmentDepth {
		return "", fmt.Errorf("%w: nested more than %d deep", ErrBadSegment, maxSegmentDepth)
	}
	if c.nodes++; c.nodes > MaxSegmentNodes {
		return "", fmt.Errorf("%w: more than %d conditions; split it into saved segments or use a list value (up to %d values)",
			ErrBadSegment, MaxSegmentNodes, MaxSegmentList)
	}
	kinds := 0
	for _, set := range []bool{n.And != nil, n.Or != nil, n.Not != nil, n.Builtin != "", n.Field != ""} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return "", fmt.Errorf("%w: a node needs exactly one of and, or, not, builtin, field", ErrBadSegment)
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
		b, ok := BuiltinSegment(n.Builtin)
		if !ok {
			return "", fmt.Errorf("%w: unknown built-in segment %q", ErrBadSegment, n.Builtin)
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
func (c *segCompiler) charge(f SegmentField, values int) error {
	if values == 0 {
		c.cost += f.Cost
	} else {
		c.cost += f.CostPerValue * values
	}
	if c.cost > MaxSegmentCost {
		return fmt.Errorf("%w: too costly to run (cost over %d; %q costs %d, plus %d a value); use fewer history conditions such as clicked, received or purchases",
			ErrBadSegment, MaxSegmentCost, f.Key, f.Cost, f.CostPerValue)
	}
	return nil
}

// leaf compiles a condition through its field's entry in the table.
func (c *segCompiler) leaf(n SegmentNode) (string, error) {
	f, ok := segmentField(n.Field)
	if !ok {
		return "", fmt.Errorf("%w: unknown field %q", ErrBadSegment, n.Field)
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
	n SegmentNode
	f SegmentField
}

func (l *segLeaf) arg(v any) string { return l.c.arg(v) }

// bind passes args for the "?" in sql, in order.
func (l *segLeaf) bind(sql string, args ...any) string {
	l.c.args = append(l.c.args, args...)
	return sql
}

func (l *segLeaf) bad(msg string) error {
	return fmt.Errorf("%w: %s: %s", ErrBadSegment, l.n.Field, msg)
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
	if len(many) > MaxSegmentList {
		return nil, l.bad(fmt.Sprintf("at most %d values", MaxSegmentList))
	}
	for _, s := range many {
		if len(s) > maxSegmentString {
			return nil, l.bad(fmt.Sprintf("a value has more than %d bytes", maxSegmentString))
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

func (l *segLeaf) purchased(cond string) string {
	return "c.id IN (SELECT o.customer_id FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.cancelled_at IS NULL AND " + cond + ")"
}

// since narrows a history condition to within_days.
func (l *segLeaf) since(col string) string {
	if l.n.WithinDays <= 0 {
		return ""
	}
	return " AND " + col + " >= " + l.arg(l.c.now.AddDate(0, 0, -l.n.WithinDays))
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)
	return r.Replace(s)
}

// itoa is strconv.FormatInt for ids in SQL-free places (task ids, keys).
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
