package store

import (
	"strconv"
	"time"

	"github.com/tsunagu/tsunagu/app/store/segment"
)

// Segment definitions are parsed, checked and compiled by package segment
// (standard library only, so it can be fuzzed cheaply); these names keep
// the store's callers unchanged.

// SegmentNode is one node of a segment definition.
type SegmentNode = segment.Node

// SegmentField describes one field a segment condition can test.
type SegmentField = segment.Field

// ErrBadSegment wraps every definition error (the API answers 400).
var ErrBadSegment = segment.ErrInvalid

// Limits on a segment definition (see package segment).
const (
	MaxSegmentBytes   = segment.MaxBytes
	MaxSegmentNodes   = segment.MaxNodes
	MaxSegmentList    = segment.MaxList
	MaxSegmentCost    = segment.MaxCost
	ViewerSegmentCost = segment.ViewerCost
)

// ParseSegment decodes and checks a definition.
func ParseSegment(raw []byte) (SegmentNode, error) { return segment.Parse(raw) }

// CompileSegment returns a SQL condition on "customers c" and its arguments.
func CompileSegment(n SegmentNode, now time.Time, loc *time.Location) (string, []any, error) {
	return segment.Compile(n, now, loc)
}

// SegmentCost checks n against the limits and returns its cost.
func SegmentCost(n SegmentNode) (int, error) { return segment.Cost(n) }

// BuiltinSegmentKeys lists the built-in segments in display order.
func BuiltinSegmentKeys() []string { return segment.BuiltinKeys() }

// BuiltinSegment returns a built-in segment's definition.
func BuiltinSegment(key string) (SegmentNode, bool) { return segment.Builtin(key) }

// SegmentFieldTable returns the field table (a copy).
func SegmentFieldTable() []SegmentField { return segment.FieldTable() }

// BuilderSegmentFields are the fields the point-and-click builder offers.
func BuilderSegmentFields() []SegmentField { return segment.BuilderFields() }

// SegmentFieldKeys lists every field's key (the API's "fields").
func SegmentFieldKeys() []string { return segment.FieldKeys() }

func likeEscape(s string) string { return segment.LikeEscape(s) }

// itoa is strconv.FormatInt for ids in SQL-free places (task ids, keys).
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
