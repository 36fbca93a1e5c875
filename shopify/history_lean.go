package shopify

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tsunagu/tsunagu/app/jsonscan"
)

// The lean decode of the history's order and line item lines: one strict
// pass over a line that reads only BulkOrder's and BulkLineItem's fields,
// with no reflection. It gives what encoding/json gives into those structs
// or gives up (false), and the caller then decodes the line with
// encoding/json, which has the last word on anything unusual: a key that
// matches a field only without regard to case, a key given twice, a value
// of another type, a line that is not one JSON object. Values that carry
// their own decoding (times, decimals, escaped strings) are handed to the
// same UnmarshalJSON encoding/json would call. Decoding each order with
// encoding/json was most of the import's Go CPU beyond its floor.

// leanLex reads one JSON value from b at i, its tokens by jsonscan.
type leanLex struct {
	b     []byte
	i     int
	depth int
}

// leanMaxDepth bounds nesting in skipped values (encoding/json allows more;
// deeper lines go to it).
const leanMaxDepth = 64

// peek skips white space and returns the byte at l.i (0 at the end).
func (l *leanLex) peek() byte {
	if l.i = jsonscan.SkipSpace(l.b, l.i); l.i < len(l.b) {
		return l.b[l.i]
	}
	return 0
}

// str reads the string at l.i (after spaces) and returns its bytes between
// the quotes and whether it holds no escape.
func (l *leanLex) str() (s []byte, plain, ok bool) {
	if l.peek() != '"' {
		return nil, false, false
	}
	end, escaped := jsonscan.EndString(l.b, l.i)
	if end < 0 {
		return nil, false, false
	}
	s, l.i = l.b[l.i+1:end-1], end
	return s, !escaped, true
}

// number reads a number literal.
func (l *leanLex) number() ([]byte, bool) {
	l.peek()
	end := jsonscan.EndNumber(l.b, l.i)
	if end < 0 {
		return nil, false
	}
	v := l.b[l.i:end]
	l.i = end
	return v, true
}

func (l *leanLex) literal(word string) bool {
	end := jsonscan.EndLiteral(l.b, l.i, word)
	if end < 0 {
		return false
	}
	l.i = end
	return true
}

// null reads a null if one comes next.
func (l *leanLex) null() bool {
	return l.peek() == 'n' && l.literal("null")
}

// raw reads any value and returns its bytes.
func (l *leanLex) raw() ([]byte, bool) {
	l.peek()
	start := l.i
	if !l.skip() {
		return nil, false
	}
	return l.b[start:l.i], true
}

// skip reads any value, checking its syntax.
func (l *leanLex) skip() bool {
	switch l.peek() {
	case '"':
		_, _, ok := l.str()
		return ok
	case '{':
		return l.object(func([]byte) bool { return l.skip() })
	case '[':
		return l.array(l.skip)
	case 't':
		return l.literal("true")
	case 'f':
		return l.literal("false")
	case 'n':
		return l.literal("null")
	default:
		_, ok := l.number()
		return ok
	}
}

// object reads the object at l.i, calling field with each key (plain
// ASCII: any other key gives up) to read its value.
func (l *leanLex) object(field func(key []byte) bool) bool {
	if l.peek() != '{' || l.depth >= leanMaxDepth {
		return false
	}
	l.i++
	l.depth++
	defer func() { l.depth-- }()
	if l.peek() == '}' {
		l.i++
		return true
	}
	for {
		k, plain, ok := l.str()
		if !ok || !plain {
			return false
		}
		for _, c := range k {
			if c >= utf8.RuneSelf {
				return false
			}
		}
		if l.peek() != ':' {
			return false
		}
		l.i++
		if !field(k) {
			return false
		}
		switch l.peek() {
		case ',':
			l.i++
		case '}':
			l.i++
			return true
		default:
			return false
		}
	}
}

func (l *leanLex) array(elem func() bool) bool {
	if l.peek() != '[' || l.depth >= leanMaxDepth {
		return false
	}
	l.i++
	l.depth++
	defer func() { l.depth-- }()
	if l.peek() == ']' {
		l.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch l.peek() {
		case ',':
			l.i++
		case ']':
			l.i++
			return true
		default:
			return false
		}
	}
}

// text reads a string (or null, which leaves *s as it is).
func (l *leanLex) text(s *string) bool {
	if l.null() {
		return true
	}
	start := l.i
	v, plain, ok := l.str()
	switch {
	case !ok:
		return false
	case plain && utf8.Valid(v):
		*s = string(v)
		return true
	default: // escapes or invalid UTF-8: encoding/json's own unquoting
		return json.Unmarshal(l.b[start:l.i], s) == nil
	}
}

func (l *leanLex) integer(n *int) bool {
	if l.null() {
		return true
	}
	v, ok := l.number()
	if !ok {
		return false
	}
	i, err := strconv.ParseInt(string(v), 10, strconv.IntSize)
	if err != nil {
		return false
	}
	*n = int(i)
	return true
}

func (l *leanLex) time(t *time.Time) bool {
	v, ok := l.raw()
	return ok && t.UnmarshalJSON(v) == nil
}

// leanPtr reads a value into a new *p with decode, or null into a nil *p,
// as encoding/json does with a pointer field.
func leanPtr[T any](l *leanLex, p **T, decode func(*T) bool) bool {
	if l.null() {
		*p = nil
		return true
	}
	*p = new(T)
	return decode(*p)
}

func (l *leanLex) timePtr(t **time.Time) bool {
	return leanPtr(l, t, l.time)
}

func (l *leanLex) gid(g **gidRef) bool {
	return leanPtr(l, g, func(g *gidRef) bool {
		var seen seenKeys
		return l.object(func(k []byte) bool {
			switch string(k) {
			case "id":
				return seen.once(1) && l.text(&g.ID)
			}
			return !leanFolds(k, "id") && l.skip()
		})
	})
}

func (l *leanLex) money(m *shopMoney) bool {
	if l.null() {
		return true
	}
	var seen seenKeys // shopMoney 1<<0, its amount 1<<1
	return l.object(func(k []byte) bool {
		switch string(k) {
		case "shopMoney":
			if !seen.once(1 << 0) {
				return false
			}
			if l.null() {
				return true
			}
			return l.object(func(k []byte) bool {
				switch string(k) {
				case "amount":
					if !seen.once(1 << 1) {
						return false
					}
					v, ok := l.raw()
					return ok && m.ShopMoney.Amount.UnmarshalJSON(v) == nil
				}
				return !leanFolds(k, "amount") && l.skip()
			})
		}
		return !leanFolds(k, "shopMoney") && l.skip()
	})
}

// leanFolds reports whether key matches one of names only without regard
// to case: encoding/json would take it for that field, so the lean decode
// gives up on it.
func leanFolds(key []byte, names ...string) bool {
	for _, n := range names {
		if len(n) != len(key) {
			continue
		}
		same := true
		for i := range len(n) {
			a, b := key[i], n[i]
			if 'A' <= a && a <= 'Z' {
				a += 'a' - 'A'
			}
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			if a != b {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

// The fields of BulkOrder, BulkLineItem, bulkCustomer and its parts by
// JSON name, for leanFolds.
var (
	bulkOrderKeys = []string{"id", "name", "email", "createdAt", "updatedAt", "cancelledAt", "customerLocale",
		"statusPageUrl", "discountCodes", "displayFinancialStatus", "displayFulfillmentStatus", "currencyCode",
		"totalPriceSet", "subtotalPriceSet", "customer"}
	bulkLineItemKeys = []string{"id", "title", "name", "quantity", "vendor", "sku", "product", "variant", "originalUnitPriceSet"}
	bulkCustomerKeys = []string{"id", "firstName", "lastName", "locale", "tags", "updatedAt", "defaultEmailAddress",
		"defaultPhoneNumber", "defaultAddress"}
	bulkEmailKeys   = []string{"emailAddress", "marketingState", "marketingUpdatedAt"}
	bulkPhoneKeys   = []string{"phoneNumber", "marketingState", "marketingUpdatedAt"}
	bulkAddressKeys = []string{"province", "provinceCode", "countryCodeV2"}
)

// seenKeys holds one bit per known field of an object, so that a repeated
// key sends the line to encoding/json.
type seenKeys uint32

// once marks bit and reports whether it was not marked before.
func (s *seenKeys) once(bit uint32) bool {
	if uint32(*s)&bit != 0 {
		return false
	}
	*s |= seenKeys(bit)
	return true
}

// decodeLean fills o from line as json.Unmarshal would, or reports false
// (o then holds anything: decode it again from zero).
func (o *BulkOrder) decodeLean(line []byte) bool {
	l := leanLex{b: line}
	var seen seenKeys
	once := seen.once
	ok := l.object(func(k []byte) bool {
		switch string(k) {
		case "id":
			return once(1<<0) && l.text(&o.ID)
		case "name":
			return once(1<<1) && l.text(&o.Name)
		case "email":
			return once(1<<2) && l.text(&o.Email)
		case "createdAt":
			return once(1<<3) && l.time(&o.CreatedAt)
		case "updatedAt":
			return once(1<<4) && l.timePtr(&o.UpdatedAt)
		case "cancelledAt":
			return once(1<<5) && l.timePtr(&o.CancelledAt)
		case "customerLocale":
			return once(1<<6) && l.text(&o.CustomerLocale)
		case "statusPageUrl":
			return once(1<<7) && l.text(&o.StatusPageURL)
		case "discountCodes":
			return once(1<<8) && l.strings(&o.DiscountCodes)
		case "displayFinancialStatus":
			return once(1<<9) && l.text(&o.FinancialStatus)
		case "displayFulfillmentStatus":
			return once(1<<10) && l.text(&o.FulfillmentStatus)
		case "currencyCode":
			return once(1<<11) && l.text(&o.Currency)
		case "totalPriceSet":
			return once(1<<12) && l.money(&o.TotalPrice)
		case "subtotalPriceSet":
			return once(1<<13) && l.money(&o.SubtotalPrice)
		case "customer":
			return once(1<<14) && l.gid(&o.Customer)
		}
		return !leanFolds(k, bulkOrderKeys...) && l.skip()
	})
	return ok && l.peek() == 0 && l.i == len(line)
}

// decodeLean fills li from line as json.Unmarshal would, or reports false.
func (li *BulkLineItem) decodeLean(line []byte) bool {
	l := leanLex{b: line}
	var seen seenKeys
	once := seen.once
	ok := l.object(func(k []byte) bool {
		switch string(k) {
		case "id":
			return once(1<<0) && l.text(&li.ID)
		case "title":
			return once(1<<1) && l.text(&li.Title)
		case "name":
			return once(1<<2) && l.text(&li.Name)
		case "quantity":
			return once(1<<3) && l.integer(&li.Quantity)
		case "vendor":
			return once(1<<4) && l.text(&li.Vendor)
		case "sku":
			return once(1<<5) && l.text(&li.SKU)
		case "product":
			return once(1<<6) && l.gid(&li.Product)
		case "variant":
			return once(1<<7) && l.gid(&li.Variant)
		case "originalUnitPriceSet":
			return once(1<<8) && l.money(&li.UnitPrice)
		}
		return !leanFolds(k, bulkLineItemKeys...) && l.skip()
	})
	return ok && l.peek() == 0 && l.i == len(line)
}

// strings reads an array of strings into *v (null: nil), as encoding/json
// would into a []string.
func (l *leanLex) strings(v *[]string) bool {
	if l.null() {
		*v = nil
		return true
	}
	*v = []string{}
	return l.array(func() bool {
		var s string
		if !l.text(&s) {
			return false
		}
		*v = append(*v, s)
		return true
	})
}

// consent reads a marketing consent's field of an email address or
// phone number object, if key is one.
func (l *leanLex) consent(key []byte, c *bulkConsent, seen *seenKeys) (known, ok bool) {
	switch string(key) {
	case "marketingState":
		return true, seen.once(1<<1) && l.text(&c.State)
	case "marketingUpdatedAt":
		return true, seen.once(1<<2) && l.timePtr(&c.UpdatedAt)
	}
	return false, false
}

// decodeLean fills c from line as json.Unmarshal would and returns
// birthdayValues(line), or reports false (c then holds anything).
func (c *bulkCustomer) decodeLean(line []byte) ([]string, bool) {
	l := leanLex{b: line}
	var seen seenKeys
	once := seen.once
	bds := make([]*string, len(BirthdayMetafields))
	ok := l.object(func(k []byte) bool {
		switch string(k) {
		case "id":
			return once(1<<0) && l.text(&c.ID)
		case "firstName":
			return once(1<<1) && l.text(&c.FirstName)
		case "lastName":
			return once(1<<2) && l.text(&c.LastName)
		case "locale":
			return once(1<<3) && l.text(&c.Locale)
		case "tags":
			return once(1<<4) && l.strings(&c.Tags)
		case "updatedAt":
			return once(1<<5) && l.time(&c.UpdatedAt)
		case "defaultEmailAddress":
			return once(1<<6) && leanPtr(&l, &c.Email, func(e *bulkEmail) bool {
				return l.contact(&e.bulkConsent, "emailAddress", &e.Address, bulkEmailKeys)
			})
		case "defaultPhoneNumber":
			return once(1<<7) && leanPtr(&l, &c.Phone, func(p *bulkPhone) bool {
				return l.contact(&p.bulkConsent, "phoneNumber", &p.Number, bulkPhoneKeys)
			})
		case "defaultAddress":
			return once(1<<8) && leanPtr(&l, &c.Address, func(a *bulkAddress) bool {
				var in seenKeys
				return l.object(func(k []byte) bool {
					switch string(k) {
					case "province":
						return in.once(1<<0) && l.text(&a.Province)
					case "provinceCode":
						return in.once(1<<1) && l.text(&a.ProvinceCode)
					case "countryCodeV2":
						return in.once(1<<2) && l.text(&a.CountryCode)
					}
					return !leanFolds(k, bulkAddressKeys...) && l.skip()
				})
			})
		}
		for i := range bds {
			if len(k) > 2 && k[0] == 'b' && k[1] == 'd' && string(k) == birthdayAlias(i) {
				return once(1<<(9+i)) && l.metafieldValue(&bds[i])
			}
		}
		return !leanFolds(k, bulkCustomerKeys...) && l.skip()
	})
	if !ok || l.peek() != 0 || l.i != len(line) {
		return nil, false
	}
	var out []string
	for _, v := range bds {
		if v != nil {
			out = append(out, *v)
		}
	}
	return out, true
}

// contact reads a defaultEmailAddress or defaultPhoneNumber object: its
// marketing consent, the field named key into *v, and no other key that
// encoding/json would match to one of keys (the struct's).
func (l *leanLex) contact(consent *bulkConsent, key string, v *string, keys []string) bool {
	var in seenKeys
	return l.object(func(k []byte) bool {
		if known, ok := l.consent(k, consent, &in); known {
			return ok
		}
		if string(k) == key {
			return in.once(1<<0) && l.text(v)
		}
		return !leanFolds(k, keys...) && l.skip()
	})
}

// metafieldValue reads a metafield alias's { value } object (null: *v
// stays nil), as birthdayValues would; any other shape gives up.
func (l *leanLex) metafieldValue(v **string) bool {
	if l.null() {
		return true
	}
	s := new(string)
	var seen seenKeys
	if !l.object(func(k []byte) bool {
		if string(k) == "value" {
			return seen.once(1) && l.text(s)
		}
		return !leanFolds(k, "value") && l.skip()
	}) {
		return false
	}
	*v = s
	return true
}

// decodeBulkCustomer decodes a customer line and its birthday values,
// lean when it can.
func decodeBulkCustomer(line []byte) (bulkCustomer, []string, error) {
	var c bulkCustomer
	if bds, ok := c.decodeLean(line); ok {
		return c, bds, nil
	}
	var full bulkCustomer
	if err := json.Unmarshal(line, &full); err != nil {
		return bulkCustomer{}, nil, err
	}
	return full, birthdayValues(line), nil
}

// decodeBulkOrder decodes an order line, lean when it can.
func decodeBulkOrder(line []byte) (BulkOrder, error) {
	var b BulkOrder
	if b.decodeLean(line) {
		return b, nil
	}
	var full BulkOrder
	err := json.Unmarshal(line, &full)
	return full, err
}

// decodeBulkLineItem decodes a line item line, lean when it can.
func decodeBulkLineItem(line []byte) (BulkLineItem, error) {
	var li BulkLineItem
	if li.decodeLean(line) {
		return li, nil
	}
	var full BulkLineItem
	err := json.Unmarshal(line, &full)
	return full, err
}
