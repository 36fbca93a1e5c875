package store

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/shopspring/decimal"
)

// pgCopy builds the body of a PostgreSQL binary COPY (COPY … FROM STDIN
// (FORMAT binary)) row by row, writing each value's wire form directly:
// the history import's bulk loads, where encoding through pgx's generic
// CopyFrom (a type switch and plan lookup per value, numerics through
// big.Int) cost more CPU than the database spent reading the rows.
type pgCopy struct {
	b []byte
}

// pgEpoch is PostgreSQL's timestamp epoch.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

func newPGCopy(size int) *pgCopy {
	c := &pgCopy{b: make([]byte, 0, size)}
	c.b = append(c.b, "PGCOPY\n\xff\r\n\x00"...)
	c.b = binary.BigEndian.AppendUint32(c.b, 0) // flags
	c.b = binary.BigEndian.AppendUint32(c.b, 0) // header extension length
	return c
}

// row starts a row of n fields.
func (c *pgCopy) row(n int) { c.b = binary.BigEndian.AppendUint16(c.b, uint16(n)) }

// bytes ends the body and returns it.
func (c *pgCopy) bytes() []byte { return binary.BigEndian.AppendUint16(c.b, 0xffff) }

func (c *pgCopy) null() { c.b = binary.BigEndian.AppendUint32(c.b, math.MaxUint32) }

func (c *pgCopy) int8(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

// int8OrNull writes v, or NULL when !ok.
func (c *pgCopy) int8OrNull(v int64, ok bool) {
	if !ok {
		c.null()
		return
	}
	c.int8(v)
}

func (c *pgCopy) int4(v int32) {
	c.b = binary.BigEndian.AppendUint32(c.b, 4)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(v))
}

func (c *pgCopy) text(s string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

// timestamptz writes t to the microsecond (truncated, as pgx does).
func (c *pgCopy) timestamptz(t time.Time) {
	us := (t.Unix()-pgEpoch)*1_000_000 + int64(t.Nanosecond()/1000)
	c.int8(us)
}

func (c *pgCopy) timestamptzOrNull(t *time.Time) {
	if t == nil {
		c.null()
		return
	}
	c.timestamptz(*t)
}

// numeric writes d in numeric's binary form: base-10000 digits (no
// leading or trailing zero digit), the weight of the first, the sign and
// the display scale.
func (c *pgCopy) numeric(d decimal.Decimal) {
	var scratch, padded [64]byte
	coef := d.Coefficient()
	neg := coef.Sign() < 0
	txt := coef.Abs(coef).Append(scratch[:0], 10) // decimal digits of |coefficient|
	for exp := d.Exponent(); exp > 0; exp-- {
		txt = append(txt, '0')
	}
	frac := 0 // decimal digits after the point
	if d.Exponent() < 0 {
		frac = int(-d.Exponent())
	}
	// The digits padded with zeros to whole groups of 4 on both sides of the point.
	var intPart, fracPart []byte
	fracZeros := 0
	if len(txt) > frac {
		intPart, fracPart = txt[:len(txt)-frac], txt[len(txt)-frac:]
	} else {
		fracZeros, fracPart = frac-len(txt), txt
	}
	p := padded[:0]
	for range (4 - len(intPart)%4) % 4 {
		p = append(p, '0')
	}
	p = append(p, intPart...)
	weight := len(p)/4 - 1
	for range fracZeros {
		p = append(p, '0')
	}
	p = append(p, fracPart...)
	for range (4 - frac%4) % 4 {
		p = append(p, '0')
	}
	var groups [16]uint16
	ds := groups[:0]
	for g := 0; g+4 <= len(p); g += 4 {
		v := uint16(p[g]-'0')*1000 + uint16(p[g+1]-'0')*100 + uint16(p[g+2]-'0')*10 + uint16(p[g+3]-'0')
		if len(ds) == 0 && v == 0 {
			weight-- // a leading zero group
			continue
		}
		ds = append(ds, v)
	}
	for len(ds) > 0 && ds[len(ds)-1] == 0 {
		ds = ds[:len(ds)-1]
	}
	sign := uint16(0)
	if len(ds) == 0 {
		weight = 0
	} else if neg {
		sign = 0x4000
	}
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(8+2*len(ds)))
	c.b = binary.BigEndian.AppendUint16(c.b, uint16(len(ds)))
	c.b = binary.BigEndian.AppendUint16(c.b, uint16(int16(weight)))
	c.b = binary.BigEndian.AppendUint16(c.b, sign)
	c.b = binary.BigEndian.AppendUint16(c.b, uint16(frac))
	for _, v := range ds {
		c.b = binary.BigEndian.AppendUint16(c.b, v)
	}
}
