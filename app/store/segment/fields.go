package segment

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
	{Key: "orders_count", Type: "number", Ops: segOpsCompare, Builder: true, Cost: 1, Sample: `3`},
	{Key: "total_spent", Type: "money", Ops: segOpsCompare, Builder: true, Cost: 1, Sample: `5000`},
	{Key: "aov", Type: "money", Ops: segOpsCompare, Builder: true, Cost: 1, Sample: `3000`},
	{Key: "days_since_last_order", Type: "days", Ops: segOpsCompare, Builder: true, Cost: 1, Sample: `30`},
	{Key: "days_since_first_order", Type: "days", Ops: segOpsCompare, Builder: true, Cost: 1, Sample: `30`},
	{Key: "last_order_date", Type: "date", Ops: segOpsDate, Builder: true, Cost: 1, Sample: `"2026-01-31"`},
	{Key: "first_order_date", Type: "date", Ops: segOpsDate, Builder: true, Cost: 1, Sample: `"2026-01-31"`},
	{Key: "product_id", Type: "product", Ops: segOpsIn, Builder: true, Cost: 10, Sample: `[1, 2]`},
	{Key: "product_title", Type: "contains", Ops: []string{"contains", "not_contains"}, Builder: true, Cost: 15, Sample: `"tea"`},
	{Key: "vendor", Type: "vendor", Ops: segOpsEq, Builder: true, Cost: 10, Sample: `"Kyoto Tea"`},
	{Key: "coupon_used", Type: "bool", Ops: segOpsBool, Builder: true, Cost: 3, Sample: `true`},
	{Key: "coupon_unused", Type: "bool", Ops: segOpsBool, Builder: true, Cost: 3, Sample: `true`},
	{Key: "tag", Type: "text", Ops: segOpsEq, Builder: true, CostPerValue: 2, Sample: `["vip", "wholesale"]`},
	{Key: "region", Type: "text", Ops: segOpsEq, Builder: true, Cost: 1, Sample: `"Tokyo"`},
	{Key: "country", Type: "text", Ops: segOpsEq, Builder: true, Cost: 1, Sample: `"JP"`},
	{Key: "birthday_month", Type: "month", Ops: segOpsEq, Builder: true, Cost: 1, Sample: `"current"`},
	{Key: "days_since_signup", Type: "days", Ops: segOpsCompare, Builder: true, Cost: 1, Sample: `7`},
	{Key: "accepts_marketing", Type: "bool", Ops: segOpsBool, Builder: true, Cost: 1, Sample: `true`},
	{Key: "linked", Type: "bool", Ops: segOpsBool, Builder: true, Cost: 2, Sample: `true`},
	{Key: "friend", Type: "bool", Ops: segOpsBool, Builder: true, Cost: 2, Sample: `true`},
	{Key: "blocked", Type: "bool", Ops: segOpsBool, Builder: true, Cost: 2, Sample: `false`},
	{Key: "received", Type: "kind", Ops: segOpsEq, Within: true, Builder: true, Cost: 10, CostPerValue: 1, Sample: `"thank_you"`},
	{Key: "clicked", Type: "click", Ops: segOpsEq, Within: true, Builder: true, Cost: 20, CostPerValue: 5, Sample: `["any", "campaign"]`},
	{Key: "viewed_product", Type: "id", Ops: segOpsIn, Within: true, Cost: 10, Sample: `[1, 2]`},
	{Key: "viewed_collection", Type: "id", Ops: segOpsIn, Within: true, Cost: 10, Sample: `7`},
	{Key: "added_to_cart", Type: "id", Ops: segOpsIn, Within: true, Cost: 10, Sample: `true`},
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
