package shopify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DiscountInput describes a code discount: either Percentage (0 < p <= 100)
// or FixedAmount off the order, in the shop's currency.
type DiscountInput struct {
	Title string // defaults to Code
	Code  string
	// Percentage off, 0..100 (Shopify wants 0..1; converted here).
	Percentage float64
	// FixedAmount off the whole order (not each item).
	FixedAmount Money
	// Currency is the currency the caller priced FixedAmount and
	// MinimumSubtotal in. Shopify applies amounts in the shop currency and
	// takes none here, so when set (and an amount is used) it is checked
	// against the shop's: a 500 JPY coupon must not become 500 USD.
	Currency        string
	MinimumSubtotal Money  // zero: no minimum
	CustomerGID     string // empty: any customer
	StartsAt        time.Time
	EndsAt          time.Time // zero: no end
	UsageLimit      int       // 0: unlimited
	// AppliesOncePerCustomer limits each customer to one use.
	AppliesOncePerCustomer bool
}

// Discount is a created code discount.
type Discount struct {
	ID   string // gid://shopify/DiscountCodeNode/N
	Code string
}

const discountCreateMutation = `mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode {
      id
      codeDiscount {
        ... on DiscountCodeBasic {
          title
          codes(first: 1) { nodes { code } }
        }
      }
    }
    userErrors { field code message }
  }
}`

// JSON shapes of DiscountCodeBasicInput (Admin API 2026-04).
type (
	discountCodeBasicInput struct {
		Title                  string                `json:"title"`
		Code                   string                `json:"code"`
		StartsAt               time.Time             `json:"startsAt"`
		EndsAt                 *time.Time            `json:"endsAt,omitempty"`
		Context                discountContextInput  `json:"context"`
		CustomerGets           customerGetsInput     `json:"customerGets"`
		MinimumRequirement     *minimumRequirementIn `json:"minimumRequirement,omitempty"`
		UsageLimit             *int                  `json:"usageLimit,omitempty"`
		AppliesOncePerCustomer bool                  `json:"appliesOncePerCustomer"`
		CombinesWith           map[string]bool       `json:"combinesWith,omitempty"`
	}
	discountContextInput struct {
		All       string             `json:"all,omitempty"` // "ALL"
		Customers *discountCustomers `json:"customers,omitempty"`
	}
	discountCustomers struct {
		Add []string `json:"add"`
	}
	customerGetsInput struct {
		Value customerGetsValue `json:"value"`
		Items map[string]bool   `json:"items"`
	}
	customerGetsValue struct {
		Percentage     *float64          `json:"percentage,omitempty"`
		DiscountAmount *discountAmountIn `json:"discountAmount,omitempty"`
	}
	discountAmountIn struct {
		Amount            string `json:"amount"`
		AppliesOnEachItem bool   `json:"appliesOnEachItem"`
	}
	minimumRequirementIn struct {
		Subtotal struct {
			GreaterThanOrEqualToSubtotal string `json:"greaterThanOrEqualToSubtotal"`
		} `json:"subtotal"`
	}
)

// ErrBadDiscount means a DiscountInput was refused before calling Shopify.
var ErrBadDiscount = errors.New("shopify: invalid discount")

func (in DiscountInput) build(now time.Time) (discountCodeBasicInput, error) {
	d := discountCodeBasicInput{
		Title:                  in.Title,
		Code:                   in.Code,
		StartsAt:               in.StartsAt,
		AppliesOncePerCustomer: in.AppliesOncePerCustomer,
		CustomerGets:           customerGetsInput{Items: map[string]bool{"all": true}},
	}
	if in.Code == "" {
		return d, fmt.Errorf("%w: empty code", ErrBadDiscount)
	}
	if d.Title == "" {
		d.Title = in.Code
	}
	pct, fixed := in.Percentage != 0, !in.FixedAmount.IsZero()
	switch {
	case pct == fixed:
		return d, fmt.Errorf("%w: set exactly one of Percentage and FixedAmount", ErrBadDiscount)
	case pct:
		if in.Percentage < 0 || in.Percentage > 100 {
			return d, fmt.Errorf("%w: percentage %v not in (0, 100]", ErrBadDiscount, in.Percentage)
		}
		p := in.Percentage / 100
		d.CustomerGets.Value.Percentage = &p
	default:
		if in.FixedAmount.IsNegative() {
			return d, fmt.Errorf("%w: negative amount", ErrBadDiscount)
		}
		d.CustomerGets.Value.DiscountAmount = &discountAmountIn{Amount: in.FixedAmount.String()}
	}
	if in.MinimumSubtotal.IsNegative() {
		return d, fmt.Errorf("%w: negative minimum subtotal", ErrBadDiscount)
	}
	if in.MinimumSubtotal.IsPositive() {
		d.MinimumRequirement = &minimumRequirementIn{}
		d.MinimumRequirement.Subtotal.GreaterThanOrEqualToSubtotal = in.MinimumSubtotal.String()
	}
	if in.CustomerGID != "" {
		if typ, _, err := ParseGID(in.CustomerGID); err != nil || typ != "Customer" {
			return d, fmt.Errorf("%w: %q is not a customer gid", ErrBadDiscount, in.CustomerGID)
		}
		d.Context.Customers = &discountCustomers{Add: []string{in.CustomerGID}}
	} else {
		d.Context.All = "ALL"
	}
	if d.StartsAt.IsZero() {
		d.StartsAt = now
	}
	if !in.EndsAt.IsZero() {
		if !in.EndsAt.After(d.StartsAt) {
			return d, fmt.Errorf("%w: ends before it starts", ErrBadDiscount)
		}
		e := in.EndsAt
		d.EndsAt = &e
	}
	if in.UsageLimit < 0 {
		return d, fmt.Errorf("%w: negative usage limit", ErrBadDiscount)
	}
	if in.UsageLimit > 0 {
		u := in.UsageLimit
		d.UsageLimit = &u
	}
	return d, nil
}

// CreateDiscountCode creates a basic (amount off) code discount.
func (ad *Admin) CreateDiscountCode(ctx context.Context, in DiscountInput) (Discount, error) {
	op := "create discount code " + in.Code
	input, err := in.build(time.Now())
	if err != nil {
		return Discount{}, err
	}
	if in.Currency != "" && (!in.FixedAmount.IsZero() || !in.MinimumSubtotal.IsZero()) {
		info, err := ad.ShopInfo(ctx)
		if err != nil {
			return Discount{}, fmt.Errorf("shopify: %s: check currency: %w", op, err)
		}
		if !strings.EqualFold(info.Currency, in.Currency) {
			return Discount{}, fmt.Errorf("%w: amounts in %s but the shop sells in %s", ErrBadDiscount, in.Currency, info.Currency)
		}
	}
	var resp struct {
		DiscountCodeBasicCreate struct {
			CodeDiscountNode *struct {
				ID           string `json:"id"`
				CodeDiscount struct {
					Codes struct {
						Nodes []struct {
							Code string `json:"code"`
						} `json:"nodes"`
					} `json:"codes"`
				} `json:"codeDiscount"`
			} `json:"codeDiscountNode"`
			UserErrors []UserError `json:"userErrors"`
		} `json:"discountCodeBasicCreate"`
	}
	vars := map[string]any{"basicCodeDiscount": input}
	if err := ad.query(ctx, op, discountCreateMutation, vars, &resp); err != nil {
		return Discount{}, err
	}
	r := resp.DiscountCodeBasicCreate
	if err := userErrors(op, r.UserErrors); err != nil {
		return Discount{}, err
	}
	if r.CodeDiscountNode == nil || r.CodeDiscountNode.ID == "" {
		return Discount{}, fmt.Errorf("shopify: %s on %s: no discount in response", op, ad.shop)
	}
	d := Discount{ID: r.CodeDiscountNode.ID, Code: in.Code}
	if n := r.CodeDiscountNode.CodeDiscount.Codes.Nodes; len(n) > 0 {
		d.Code = n[0].Code
	}
	return d, nil
}
