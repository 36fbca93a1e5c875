package jsonscan

// Valid reports whether b is exactly one JSON value with optional white
// space around it: the same answer as encoding/json's Valid (at most
// maxDepth containers open at once). encoding/json steps a state machine
// through a function value per byte and was 14 % of the Shopify webhook
// ingest's CPU on a 15 KB order; this single pass reads a string's plain
// bytes in a tight loop. FuzzValidJSON holds the two equal.
func Valid(b []byte) bool {
	return ValidKeys(b, nil)
}

// ValidKeys is Valid that also hands key each member key of the top-level
// object, in order: its bytes between the quotes and whether they hold an
// escape (the bytes are then not the key's value). A caller that needs a
// few top-level fields can so tell whether they are there without a second
// pass over the document. key may be nil; it is called only while b still
// looks valid, and its calls mean nothing when ValidKeys returns false.
func ValidKeys(b []byte, key func(k []byte, escaped bool)) bool {
	// open holds the containers open around i: '{' or '['. Most payloads
	// nest a few levels, so the first 32 need no allocation.
	var buf [32]byte
	open := buf[:0]
	i := SkipSpace(b, 0)
	for {
		// A value starts at i.
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if len(open) >= maxDepth {
				return false
			}
			i = SkipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '{'+2 == '}', '['+2 == ']'
				i++
				break
			}
			open = append(open, c)
			if c == '{' {
				if i = member(b, i, len(open) == 1, key); i < 0 {
					return false
				}
			}
			continue
		case c == '"':
			if i, _ = EndString(b, i); i < 0 {
				return false
			}
		case c == '-' || ('0' <= c && c <= '9'):
			if i = EndNumber(b, i); i < 0 {
				return false
			}
		case c == 't':
			if i = EndLiteral(b, i, "true"); i < 0 {
				return false
			}
		case c == 'f':
			if i = EndLiteral(b, i, "false"); i < 0 {
				return false
			}
		case c == 'n':
			if i = EndLiteral(b, i, "null"); i < 0 {
				return false
			}
		default:
			return false
		}
		// A value ended at i: close containers until another value starts.
		for {
			i = SkipSpace(b, i)
			if len(open) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := open[len(open)-1]
			if b[i] == top+2 {
				open = open[:len(open)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return false
			}
			i = SkipSpace(b, i+1)
			if top == '{' {
				if i = member(b, i, len(open) == 1, key); i < 0 {
					return false
				}
			}
			break
		}
	}
}

// maxDepth is encoding/json's limit on nesting (maxNestingDepth).
const maxDepth = 10000

// member reads an object member's key and colon from i, returning where
// its value (after white space) starts, or -1. A top-level key goes to key.
func member(b []byte, i int, top bool, key func([]byte, bool)) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	start := i
	i, escaped := EndString(b, i)
	if i < 0 {
		return -1
	}
	if top && key != nil {
		key(b[start+1:i-1], escaped)
	}
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return SkipSpace(b, i+1)
}
