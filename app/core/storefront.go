package core

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
)

// Storefront decides what the shopper-facing extensions show: the
// Thank-you / Order status block, the theme block and embed. It never shows
// one customer anything about another: a block answers only for the
// customer the session token or the app proxy vouches for, or for the buyer
// who holds the order's checkout token.
type Storefront struct {
	DB *store.DB
	// LinkURL signs a customer's ID-linking URL (store ids).
	LinkURL func(shopID, customerID int64) (string, error)
	Seen    *SeenRecorder
	Now     func() time.Time
}

// Extensions whose rendering is recorded (ExtensionSeen).
const (
	ExtThankYou    = "checkout_thank_you"
	ExtOrderStatus = "customer_account_order_status"
	ExtThemeBlock  = "theme_block"
	ExtThemeEmbed  = "theme_embed"
	ExtWebPixel    = "web_pixel"
)

// Extensions lists them in the order the admin shows them.
var Extensions = []string{ExtThankYou, ExtOrderStatus, ExtThemeBlock, ExtThemeEmbed, ExtWebPixel}

// ExtensionActiveWindow is how recent a sighting must be for "active".
const ExtensionActiveWindow = 7 * 24 * time.Hour

// Block states.
const (
	BlockLink    = "link"    // show the call to action
	BlockLinked  = "linked"  // already linked: show nothing
	BlockPending = "pending" // the order has not reached us yet: ask again
	BlockNone    = "none"    // nothing to offer (no customer, LINE not set up)
	BlockSignIn  = "sign_in" // a guest on the storefront: sign in first
)

// BlockAnswer is what a block is told to show.
type BlockAnswer struct {
	State     string `json:"state"`
	URL       string `json:"url,omitempty"`
	Incentive string `json:"incentive,omitempty"`
}

// LinkBlockRequest is a Thank-you / Order status block asking for its order.
type LinkBlockRequest struct {
	Shop string
	// SignedInCustomer is the session token's customer (Shopify id), 0 for a guest.
	SignedInCustomer int64
	// Target is "thank_you" or "order_status".
	Target        string
	OrderGID      string
	CheckoutToken string
	Lang          string
}

// LinkBlock answers the Thank-you / Order status block. A signed-in
// customer must own the order; a guest on the Thank-you page proves the
// order with its checkout token (which only the buyer's browser holds).
func (s *Storefront) LinkBlock(ctx context.Context, r LinkBlockRequest) (BlockAnswer, error) {
	if r.Target != "thank_you" && r.Target != "order_status" {
		return BlockAnswer{}, Errorf(EINVALID, "target must be thank_you or order_status")
	}
	typ, orderID, err := shopify.ParseGID(r.OrderGID)
	if err != nil || typ != "Order" || orderID <= 0 {
		return BlockAnswer{}, Errorf(EINVALID, "order_id must be an Order GID")
	}
	if r.Target == "order_status" && r.SignedInCustomer == 0 {
		return BlockAnswer{}, Errorf(EUNAUTHORIZED, "the order status page needs a signed-in customer")
	}
	shop, err := s.activeShop(ctx, r.Shop)
	if err != nil {
		return BlockAnswer{}, err
	}
	ext := ExtThankYou
	if r.Target == "order_status" {
		ext = ExtOrderStatus
	}
	if err := s.Seen.Mark(ctx, shop.ID, ext, s.Now()); err != nil {
		return BlockAnswer{}, err
	}
	o, err := s.DB.OrderByShopifyID(ctx, shop.ID, orderID)
	if errors.Is(err, store.ErrNotFound) {
		return BlockAnswer{State: BlockPending}, nil // orders/create may land after the Thank-you page
	}
	if err != nil {
		return BlockAnswer{}, err
	}
	if o.CustomerID == nil {
		return BlockAnswer{State: BlockNone}, nil
	}
	cust, err := s.DB.Customer(ctx, shop.ID, *o.CustomerID)
	if errors.Is(err, store.ErrNotFound) {
		return BlockAnswer{State: BlockNone}, nil
	}
	if err != nil {
		return BlockAnswer{}, err
	}
	switch {
	case r.SignedInCustomer != 0:
		if cust.ShopifyID != r.SignedInCustomer {
			return BlockAnswer{}, Errorf(ENOTFOUND, "order not found")
		}
	case o.CheckoutToken == "" || subtle.ConstantTimeCompare([]byte(o.CheckoutToken), []byte(r.CheckoutToken)) != 1:
		return BlockAnswer{}, Errorf(ENOTFOUND, "order not found")
	}
	return s.answerFor(ctx, shop, cust, r.Lang)
}

// ProxyBlockRequest is a theme block asking through the app proxy.
type ProxyBlockRequest struct {
	Shop string
	// LoggedInCustomer is the proxy's logged_in_customer_id, 0 for a guest.
	LoggedInCustomer int64
	Embed            bool
	Lang             string
}

// ProxyBlock answers the theme app block and embed. A guest is asked to sign
// in (returning straight into linking); guests who bought find the
// order-based link on the Thank-you and Order status pages.
func (s *Storefront) ProxyBlock(ctx context.Context, r ProxyBlockRequest) (BlockAnswer, *store.Customer, error) {
	shop, err := s.activeShop(ctx, r.Shop)
	if err != nil {
		return BlockAnswer{}, nil, err
	}
	ext := ExtThemeBlock
	if r.Embed {
		ext = ExtThemeEmbed
	}
	if err := s.Seen.Mark(ctx, shop.ID, ext, s.Now()); err != nil {
		return BlockAnswer{}, nil, err
	}
	if ok, err := s.loginReady(ctx, shop.ID); err != nil || !ok {
		return BlockAnswer{State: BlockNone}, nil, err
	}
	if r.LoggedInCustomer <= 0 {
		return BlockAnswer{State: BlockSignIn, Incentive: IncentiveText(shop.Settings.Incentive, shop.Currency, r.Lang)}, nil, nil
	}
	cust, err := s.DB.CustomerByShopifyID(ctx, shop.ID, r.LoggedInCustomer)
	if errors.Is(err, store.ErrNotFound) {
		// Not known yet (no order, no customers/create): linking creates them.
		return BlockAnswer{State: BlockLink, Incentive: IncentiveText(shop.Settings.Incentive, shop.Currency, r.Lang)}, nil, nil
	}
	if err != nil {
		return BlockAnswer{}, nil, err
	}
	a, err := s.answerFor(ctx, shop, cust, r.Lang)
	return a, cust, err
}

func (s *Storefront) activeShop(ctx context.Context, domain string) (*store.Shop, error) {
	shop, err := s.DB.ShopByDomain(ctx, domain)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !shop.Active()) {
		return nil, Errorf(ENOTFOUND, "shop not installed")
	}
	return shop, err
}

// loginReady: without a LINE Login channel there is nothing to link to.
func (s *Storefront) loginReady(ctx context.Context, shopID int64) (bool, error) {
	ch, err := s.DB.LineChannel(ctx, shopID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return ch.LoginChannelID != "" && len(ch.LoginSecretEnc) > 0, nil
}

func (s *Storefront) answerFor(ctx context.Context, shop *store.Shop, cust *store.Customer, lang string) (BlockAnswer, error) {
	if cust.RedactedAt != nil {
		return BlockAnswer{State: BlockNone}, nil
	}
	if ok, err := s.loginReady(ctx, shop.ID); err != nil || !ok {
		return BlockAnswer{State: BlockNone}, err
	}
	if _, err := s.DB.LiveLink(ctx, cust.ID); err == nil {
		return BlockAnswer{State: BlockLinked}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return BlockAnswer{}, err
	}
	u, err := s.LinkURL(shop.ID, cust.ID)
	if err != nil {
		return BlockAnswer{}, err
	}
	return BlockAnswer{State: BlockLink, URL: u, Incentive: IncentiveText(shop.Settings.Incentive, shop.Currency, lang)}, nil
}

// IncentiveText says what linking earns, in Japanese or English; "" when
// the shop offers no incentive.
func IncentiveText(in store.Incentive, currency, lang string) string {
	if !in.Enabled || in.Value <= 0 {
		return ""
	}
	en := strings.HasPrefix(strings.ToLower(lang), "en")
	amount := strconv.FormatFloat(in.Value, 'f', -1, 64)
	switch {
	case in.Kind == "fixed" && en:
		return fmt.Sprintf("Link now for a %s %s off coupon.", amount, currencyOr(currency))
	case in.Kind == "fixed":
		if currencyOr(currency) == "JPY" {
			return fmt.Sprintf("連携すると%s円OFFクーポンをプレゼント。", amount)
		}
		return fmt.Sprintf("連携すると%s %s OFFクーポンをプレゼント。", amount, currency)
	case en:
		return fmt.Sprintf("Link now for a %s%% off coupon.", amount)
	default:
		return fmt.Sprintf("連携すると%s%%OFFクーポンをプレゼント。", amount)
	}
}

func currencyOr(c string) string {
	if c == "" {
		return "JPY"
	}
	return c
}

// PixelKey is the per-shop key the web pixel sends with its events (set in
// the pixel's settings when the app creates it). Not a secret — it is on
// every storefront — but it stops events posted for a shop by someone who
// does not know the app's key.
func PixelKey(secret []byte, shop string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("pixel:" + strings.ToLower(shop)))
	return hex.EncodeToString(m.Sum(nil))[:32]
}
