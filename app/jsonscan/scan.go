// Package jsonscan reads JSON by hand, a token at a time, over a byte
// slice: white space, strings, numbers and the literals true, false and
// null, by RFC 8259's grammar exactly as encoding/json reads them (string
// bytes at or above 0x20 other than '"' and '\' are taken as they are:
// encoding/json does not check UTF-8 either). Each function takes the
// index where its token starts and returns the index after it, or -1 when
// the bytes there are not that token. Valid checks a whole document with
// them; the history import's lean order decoder (shopify) reads its lines
// with them. Nesting is the caller's: each bounds it its own way.
package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// SkipSpace returns the index of the first byte at or after i that is not
// JSON white space (len(b) if none).
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// EndString returns the index after the string whose opening quote is
// b[i], and whether it holds an escape (its bytes between the quotes are
// then not its value); -1 if the string is malformed or unterminated.
// Plain bytes are passed eight at a time (special).
func EndString(b []byte, i int) (end int, escaped bool) {
	for i++; ; i++ {
		for i+8 <= len(b) {
			m := special(binary.LittleEndian.Uint64(b[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(b) {
			return -1, false
		}
		c := b[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		switch c {
		case '"':
			return i + 1, escaped
		case '\\':
			escaped = true
			i++
			if i >= len(b) {
				return -1, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1, false
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return -1, false
					}
				}
				i += 4
			default:
				return -1, false
			}
		default: // a control byte
			return -1, false
		}
	}
}

// special marks the bytes of w (eight string bytes, the first in the low
// byte) that end a run of plain string bytes: a control byte (< 0x20), '"'
// or '\\'. Its lowest set bit is the high bit of the first such byte, 0
// if there is none: each of the three tests (x - n) &^ x, per byte, sets a
// byte's high bit when x is below n, and a borrow can only set bits above a
// byte that was.
func special(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := w^(ones*'"'), w^(ones*'\\')
	return ((w-ones*0x20)&^w | (quote-ones)&^quote | (backslash-ones)&^backslash) & highs
}

// EndNumber returns the index after the number starting at b[i], or -1:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func EndNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// EndLiteral returns the index after lit ("true", "false" or "null") at
// b[i], or -1 if another byte stands there.
func EndLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}
