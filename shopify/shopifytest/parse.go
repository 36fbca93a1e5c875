package shopifytest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A deliberately small GraphQL reader: the operation type and the root
// fields with their arguments. Selection sets below the root are skipped;
// the fake answers whole objects.

type operation struct {
	mutation bool
	fields   []rootField
}

type rootField struct {
	alias, name string
	args        map[string]argValue
}

type argValue struct {
	variable string // without $
	literal  any
}

func (f rootField) key() string {
	if f.alias != "" {
		return f.alias
	}
	return f.name
}

func (f rootField) resolveArgs(vars map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(f.args))
	for k, a := range f.args {
		if a.variable != "" {
			v, ok := vars[a.variable]
			if !ok {
				continue // absent variable: argument omitted (nullable)
			}
			out[k] = v
			continue
		}
		out[k] = a.literal
	}
	return out, nil
}

type scanner struct {
	s   string
	pos int
}

func parseOperation(q string) (operation, error) {
	sc := &scanner{s: stripComments(q)}
	var op operation
	sc.skipSpace()
	switch {
	case sc.peek() == '{':
	default:
		kw := sc.name()
		switch kw {
		case "query":
		case "mutation":
			op.mutation = true
		default:
			return op, fmt.Errorf("syntax error, unexpected %q at the start of the document", kw)
		}
		// Skip name and variable definitions up to the selection set.
		for sc.pos < len(sc.s) && sc.s[sc.pos] != '{' {
			if sc.s[sc.pos] == '(' {
				if err := sc.skipBalanced('(', ')'); err != nil {
					return op, err
				}
				continue
			}
			sc.pos++
		}
	}
	if sc.peek() != '{' {
		return op, errors.New("syntax error, expected a selection set")
	}
	sc.pos++
	for {
		sc.skipSpace()
		switch c := sc.peek(); {
		case c == 0:
			return op, errors.New("syntax error, unexpected end of document")
		case c == '}':
			sc.pos++
			if len(op.fields) == 0 {
				return op, errors.New("syntax error, empty selection set")
			}
			return op, nil
		case c == '.':
			return op, errors.New("fragments at the root are not supported by shopifytest")
		}
		f := rootField{name: sc.name()}
		if f.name == "" {
			return op, fmt.Errorf("syntax error at offset %d", sc.pos)
		}
		sc.skipSpace()
		if sc.peek() == ':' {
			sc.pos++
			sc.skipSpace()
			f.alias, f.name = f.name, sc.name()
			sc.skipSpace()
		}
		if sc.peek() == '(' {
			args, err := sc.args()
			if err != nil {
				return op, err
			}
			f.args = args
			sc.skipSpace()
		}
		for sc.peek() == '@' { // directives
			sc.pos++
			sc.name()
			sc.skipSpace()
			if sc.peek() == '(' {
				if err := sc.skipBalanced('(', ')'); err != nil {
					return op, err
				}
			}
			sc.skipSpace()
		}
		if sc.peek() == '{' {
			if err := sc.skipBalanced('{', '}'); err != nil {
				return op, err
			}
		}
		op.fields = append(op.fields, f)
	}
}

func stripComments(q string) string {
	var b strings.Builder
	inStr := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case inStr && c == '\\' && i+1 < len(q):
			b.WriteByte(c)
			i++
			b.WriteByte(q[i])
			continue
		case c == '"':
			inStr = !inStr
		case !inStr && c == '#':
			for i < len(q) && q[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (sc *scanner) peek() byte {
	if sc.pos >= len(sc.s) {
		return 0
	}
	return sc.s[sc.pos]
}

func (sc *scanner) skipSpace() {
	for sc.pos < len(sc.s) && strings.IndexByte(" \t\r\n,", sc.s[sc.pos]) >= 0 {
		sc.pos++
	}
}

func (sc *scanner) name() string {
	start := sc.pos
	for sc.pos < len(sc.s) {
		c := sc.s[sc.pos]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (sc.pos > start && c >= '0' && c <= '9') {
			sc.pos++
			continue
		}
		break
	}
	return sc.s[start:sc.pos]
}

// skipBalanced skips from an opening delimiter to its match, over strings.
func (sc *scanner) skipBalanced(open, close byte) error {
	depth := 0
	for sc.pos < len(sc.s) {
		c := sc.s[sc.pos]
		switch c {
		case '"':
			if err := sc.skipString(); err != nil {
				return err
			}
			continue
		case open:
			depth++
		case close:
			depth--
			if depth == 0 {
				sc.pos++
				return nil
			}
		}
		sc.pos++
	}
	return fmt.Errorf("syntax error, unbalanced %q", open)
}

func (sc *scanner) skipString() error {
	_, err := sc.str()
	return err
}

func (sc *scanner) str() (string, error) {
	start := sc.pos
	sc.pos++
	for sc.pos < len(sc.s) {
		switch sc.s[sc.pos] {
		case '\\':
			sc.pos += 2
			continue
		case '"':
			sc.pos++
			return strconv.Unquote(sc.s[start:sc.pos])
		}
		sc.pos++
	}
	return "", errors.New("syntax error, unterminated string")
}

// args reads "(name: value, ...)" where value is a $variable or a scalar.
func (sc *scanner) args() (map[string]argValue, error) {
	sc.pos++ // (
	out := map[string]argValue{}
	for {
		sc.skipSpace()
		if sc.peek() == ')' {
			sc.pos++
			return out, nil
		}
		n := sc.name()
		sc.skipSpace()
		if n == "" || sc.peek() != ':' {
			return nil, fmt.Errorf("syntax error in arguments at offset %d", sc.pos)
		}
		sc.pos++
		sc.skipSpace()
		switch c := sc.peek(); {
		case c == '$':
			sc.pos++
			out[n] = argValue{variable: sc.name()}
		case c == '"':
			s, err := sc.str()
			if err != nil {
				return nil, err
			}
			out[n] = argValue{literal: s}
		case c == '[' || c == '{':
			return nil, fmt.Errorf("shopifytest: pass argument %q as a variable", n)
		default:
			start := sc.pos
			for sc.pos < len(sc.s) && strings.IndexByte(" \t\r\n,)", sc.s[sc.pos]) < 0 {
				sc.pos++
			}
			tok := sc.s[start:sc.pos]
			switch {
			case tok == "true" || tok == "false":
				out[n] = argValue{literal: tok == "true"}
			case tok == "null":
				out[n] = argValue{}
			default:
				if f, err := strconv.ParseFloat(tok, 64); err == nil {
					out[n] = argValue{literal: f}
				} else {
					out[n] = argValue{literal: tok} // enum value
				}
			}
		}
	}
}
