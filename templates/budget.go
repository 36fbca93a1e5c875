package templates

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"text/template"
	"text/template/parse"
	"time"
)

// The execution budget of a message template. text/template has no hook per
// step, so the budget is enforced in four places that together bound time,
// memory and output for any source a merchant can type:
//
//   - Steps, at parse time: the worst-case number of nodes a template can
//     execute is computed from its tree (a range counts its body
//     MaxRangeItems times, or its literal count; a {{template}} call counts
//     the called template's cost; recursion is refused). A template whose
//     bound is over MaxSteps is refused before it ever runs, at save as at
//     send, so a doubling chain of {{define}}s or nested loops never starts.
//   - Loop counts, at run time: every range pipeline is rewritten to pass
//     through a guard that cuts slices to MaxRangeItems and refuses an
//     integer (range 10000000) or map above it, so the static bound holds
//     for data the template did not see at save.
//   - Output, at run time: the writer stops at MaxOutputBytes, and printf's
//     width and precision are capped so one call cannot allocate megabytes.
//   - Time, at run time: the writer and the loop guard check a deadline of
//     MaxRenderTime, a last line of defence behind the two bounds above.
//
// Any breach is an ErrOverBudget: a recorded failure for the message, never
// a retry.
const (
	MaxSourceBytes = 64 << 10
	MaxSteps       = 50_000
	MaxRangeItems  = 100
	MaxOutputBytes = 256 << 10
	MaxRenderTime  = time.Second
	maxFormatWidth = 999
)

// ErrOverBudget marks a template that would run or write more than a
// message template may.
var ErrOverBudget = errors.New("template is over its execution budget")

func overBudget(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrOverBudget, fmt.Sprintf(format, args...))
}

const rangeGuard = "_rangeGuard"

// budget is the run-time state of one execution.
type budget struct {
	deadline time.Time
}

func (b *budget) check() error {
	if time.Now().After(b.deadline) {
		return overBudget("rendering took longer than %s", MaxRenderTime)
	}
	return nil
}

// guardRange is called on every range pipeline's value.
func (b *budget) guardRange(v any) (any, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return v, nil
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Slice:
		if rv.Len() > MaxRangeItems {
			return rv.Slice(0, MaxRangeItems).Interface(), nil
		}
	case reflect.Array, reflect.Map:
		if rv.Len() > MaxRangeItems {
			return nil, overBudget("range over %d items; a template loops over at most %d", rv.Len(), MaxRangeItems)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if rv.Int() > MaxRangeItems {
			return nil, overBudget("range %d; a template loops at most %d times", rv.Int(), MaxRangeItems)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() > MaxRangeItems {
			return nil, overBudget("range %d; a template loops at most %d times", rv.Uint(), MaxRangeItems)
		}
	case reflect.Func, reflect.Chan:
		return nil, overBudget("range over a %s is not allowed", rv.Kind())
	}
	return v, nil
}

// limitedWriter fails once more than MaxOutputBytes are written or the
// deadline passed.
type limitedWriter struct {
	b   *budget
	buf []byte
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if err := w.b.check(); err != nil {
		return 0, err
	}
	if len(w.buf)+len(p) > MaxOutputBytes {
		return 0, overBudget("output is over %d KiB", MaxOutputBytes>>10)
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// guardRanges rewrites every range in the template set so that its value
// passes through the run-time guard.
func guardRanges(t *template.Template) {
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			guardList(tt.Tree.Root)
		}
	}
}

func guardList(l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.RangeNode:
			if !isGuarded(n.Pipe) {
				n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pipe.Pos,
					Args: []parse.Node{parse.NewIdentifier(rangeGuard).SetPos(n.Pipe.Pos)}})
			}
			guardList(n.List)
			guardList(n.ElseList)
		case *parse.IfNode:
			guardList(n.List)
			guardList(n.ElseList)
		case *parse.WithNode:
			guardList(n.List)
			guardList(n.ElseList)
		case *parse.ListNode:
			guardList(n)
		}
	}
}

func isGuarded(p *parse.PipeNode) bool {
	if len(p.Cmds) == 0 {
		return false
	}
	last := p.Cmds[len(p.Cmds)-1]
	id, ok := last.Args[0].(*parse.IdentifierNode)
	return ok && len(last.Args) == 1 && id.Ident == rangeGuard
}

// checkSteps computes the worst-case step count of executing name in t and
// refuses it over MaxSteps (or when templates call each other in a cycle).
func checkSteps(t *template.Template, name string) error {
	c := &coster{t: t, memo: map[string]int64{}, active: map[string]bool{}}
	n, err := c.template(name)
	if err != nil {
		return err
	}
	if n > MaxSteps {
		return overBudget("it could take %d steps; the limit is %d (nested loops or repeated {{template}} calls)", n, MaxSteps)
	}
	return nil
}

type coster struct {
	t      *template.Template
	memo   map[string]int64
	active map[string]bool
}

// capped keeps sums and products from overflowing: anything past the
// budget is just "too much".
func capped(n int64) int64 { return min(n, MaxSteps+1) }

func (c *coster) template(name string) (int64, error) {
	if n, ok := c.memo[name]; ok {
		return n, nil
	}
	if c.active[name] {
		return 0, overBudget("template %q calls itself", name)
	}
	tt := c.t.Lookup(name)
	if tt == nil || tt.Tree == nil {
		return 1, nil // execution reports the missing template
	}
	c.active[name] = true
	n, err := c.list(tt.Tree.Root)
	delete(c.active, name)
	if err != nil {
		return 0, err
	}
	c.memo[name] = n
	return n, nil
}

func (c *coster) list(l *parse.ListNode) (int64, error) {
	if l == nil {
		return 0, nil
	}
	var sum int64
	for _, n := range l.Nodes {
		k, err := c.node(n)
		if err != nil {
			return 0, err
		}
		sum = capped(sum + k)
	}
	return sum, nil
}

func (c *coster) branches(l, els *parse.ListNode) (int64, error) {
	a, err := c.list(l)
	if err != nil {
		return 0, err
	}
	b, err := c.list(els)
	if err != nil {
		return 0, err
	}
	return capped(1 + a + b), nil
}

func (c *coster) node(n parse.Node) (int64, error) {
	switch n := n.(type) {
	case *parse.IfNode:
		return c.branches(n.List, n.ElseList)
	case *parse.WithNode:
		return c.branches(n.List, n.ElseList)
	case *parse.RangeNode:
		times, err := rangeBound(n.Pipe)
		if err != nil {
			return 0, err
		}
		body, err := c.list(n.List)
		if err != nil {
			return 0, err
		}
		els, err := c.list(n.ElseList)
		if err != nil {
			return 0, err
		}
		return capped(1 + capped(times*max(body, 1)) + els), nil
	case *parse.TemplateNode:
		k, err := c.template(n.Name)
		if err != nil {
			return 0, err
		}
		return capped(1 + k), nil
	case *parse.ListNode:
		return c.list(n)
	}
	return 1, nil
}

// rangeBound is how many times a range body can run: a literal count, a
// "first N" literal, or MaxRangeItems (what the run-time guard allows).
func rangeBound(p *parse.PipeNode) (int64, error) {
	if len(p.Cmds) > 0 {
		cmd := p.Cmds[0]
		if len(cmd.Args) == 1 {
			if num, ok := cmd.Args[0].(*parse.NumberNode); ok && num.IsInt {
				if num.Int64 > MaxRangeItems {
					return 0, overBudget("range %d; a template loops at most %d times", num.Int64, MaxRangeItems)
				}
				return max(num.Int64, 0), nil
			}
		}
		if len(cmd.Args) == 3 {
			id, ok1 := cmd.Args[0].(*parse.IdentifierNode)
			num, ok2 := cmd.Args[1].(*parse.NumberNode)
			if ok1 && ok2 && id.Ident == "first" && num.IsInt {
				return min(max(num.Int64, 0), MaxRangeItems), nil
			}
		}
	}
	return MaxRangeItems, nil
}

// boundedPrintf is printf with width and precision capped, so that
// {{printf "%099999999d" 1}} cannot allocate before the writer sees it.
func boundedPrintf(format string, args ...any) (string, error) {
	if err := checkFormat(format); err != nil {
		return "", err
	}
	return fmt.Sprintf(format, args...), nil
}

func checkFormat(format string) error {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(format) && !isVerb(format[j]) {
			if format[j] == '*' {
				return overBudget("printf width from an argument (*) is not allowed")
			}
			if format[j] >= '0' && format[j] <= '9' {
				k := j
				for k < len(format) && format[k] >= '0' && format[k] <= '9' {
					k++
				}
				if w, err := strconv.Atoi(format[j:k]); err != nil || w > maxFormatWidth {
					return overBudget("printf width %s is over %d", format[j:k], maxFormatWidth)
				}
				j = k
				continue
			}
			j++
		}
		i = j
	}
	return nil
}

func isVerb(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '%'
}
