package templates

import (
	"time"

	"github.com/shopspring/decimal"
)

// Category says how the daily frequency cap treats a kind of message.
type Category string

const (
	// Transactional messages are what the customer is waiting for (their
	// order's thank-you and shipping notice, the coupon they linked for):
	// the daily cap neither counts nor holds them back.
	Transactional Category = "transactional"
	// Marketing messages count towards the daily cap. When it is reached the
	// higher Priority wins the day's slot and the others wait for the next
	// day, or are skipped when that is past their Expiry.
	Marketing Category = "marketing"
)

// Kind is one kind of message Tsunagu sends. The catalogue below is the one
// place a kind is declared: the journeys' defaults (store.Settings), the
// admin's journey and template lists, its labels, the cap exemptions
// (core.CapExemptKinds) and the sample data templates are checked with all
// derive from it. Adding a kind is adding an entry (plus its default
// templates in messages/ when Template is set).
type Kind struct {
	Name     string
	Category Category
	// Journey kinds are switched on and off by the merchant on the journeys
	// screen (store.Settings.Journeys); the others run whenever they apply.
	Journey bool
	// OffByDefault journeys are opt-in.
	OffByDefault bool
	// DefaultDelayMinutes is the wait after the triggering fact when the
	// merchant sets none (0: at once); DelayEditable says whether they may.
	DefaultDelayMinutes int
	DelayEditable       bool
	// Template kinds have default templates (messages/<name>.<lang>.json.tmpl)
	// a merchant can edit; campaigns are composed per campaign instead.
	Template bool
	// Priority orders marketing kinds under the daily cap: a message due
	// today holds a slot against every kind of lower priority (a cart
	// reminder due this afternoon keeps a campaign out of today's last slot).
	Priority int
	// Expiry is how long after its planned time a message of this kind still
	// makes sense. Past it the message is skipped, never sent late; one the
	// daily cap would push past it is skipped at once (expired_under_cap).
	Expiry time.Duration
	// Label is the kind's name in the admin, in Japanese and English.
	Label [2]string
	// Sample fills in what this kind's template gets at send time, so a
	// template that validates against it cannot fail for lack of data.
	Sample func(d *Data)
}

// LabelIn is the kind's name in lang ("ja" unless "en").
func (k Kind) LabelIn(lang string) string {
	if lang == "en" {
		return k.Label[1]
	}
	return k.Label[0]
}

const day = 24 * 60

// catalogue lists every kind in the order merchants see them.
var catalogue = []Kind{
	{Name: "thank_you", Category: Transactional, Journey: true, Template: true,
		Priority: 100, Expiry: 24 * time.Hour,
		Label: [2]string{"サンクスメッセージ", "Thank-you message"}, Sample: withOrder},
	{Name: "shipping", Category: Transactional, Journey: true, Template: true,
		Priority: 100, Expiry: 72 * time.Hour,
		Label: [2]string{"発送通知", "Shipping notice"}, Sample: withTracking},
	{Name: "cart_reminder", Category: Marketing, Journey: true, DefaultDelayMinutes: 60, DelayEditable: true, Template: true,
		Priority: 90, Expiry: 16 * time.Hour,
		Label: [2]string{"カゴ落ちリマインド", "Cart reminder"}, Sample: withCheckout},
	{Name: "cart_reminder_2", Category: Marketing, Journey: true, OffByDefault: true, DefaultDelayMinutes: day, DelayEditable: true, Template: true,
		Priority: 85, Expiry: 24 * time.Hour,
		Label: [2]string{"カゴ落ちリマインド（2回目）", "Cart reminder (2nd)"}, Sample: withCheckout},
	{Name: "browse_abandonment", Category: Marketing, Journey: true, OffByDefault: true, DefaultDelayMinutes: 120, DelayEditable: true, Template: true,
		Priority: 80, Expiry: 24 * time.Hour,
		Label: [2]string{"閲覧離脱リマインド", "Browse abandonment"}, Sample: withProduct},
	{Name: "follow_up_3", Category: Marketing, Journey: true, DefaultDelayMinutes: 3 * day, DelayEditable: true, Template: true,
		Priority: 50, Expiry: 48 * time.Hour,
		Label: [2]string{"フォロー（3日後）", "Follow-up (day 3)"}, Sample: withOrder},
	{Name: "follow_up_7", Category: Marketing, Journey: true, DefaultDelayMinutes: 7 * day, DelayEditable: true, Template: true,
		Priority: 50, Expiry: 48 * time.Hour,
		Label: [2]string{"フォロー（7日後）", "Follow-up (day 7)"}, Sample: withOrder},
	{Name: "follow_up_30", Category: Marketing, Journey: true, DefaultDelayMinutes: 30 * day, DelayEditable: true, Template: true,
		Priority: 50, Expiry: 72 * time.Hour,
		Label: [2]string{"フォロー（30日後）", "Follow-up (day 30)"}, Sample: withOrderAndCoupon},
	{Name: "link_coupon", Category: Transactional, Journey: true, Template: true,
		Priority: 100, Expiry: 7 * 24 * time.Hour,
		Label: [2]string{"連携特典クーポン", "Linking coupon"}, Sample: withCoupon},
	{Name: "birthday", Category: Marketing, Template: true,
		Priority: 70, Expiry: 48 * time.Hour,
		Label: [2]string{"誕生日", "Birthday"}, Sample: withBirthdayCode},
	{Name: "win_back", Category: Marketing, Template: true,
		Priority: 30, Expiry: 7 * 24 * time.Hour,
		Label: [2]string{"休眠掘り起こし", "Win-back"}, Sample: func(*Data) {}},
	{Name: "coupon_expiry", Category: Marketing, Template: true,
		Priority: 75, Expiry: 24 * time.Hour,
		Label: [2]string{"クーポン期限のお知らせ", "Coupon expiry"}, Sample: withCoupon},
	{Name: "scenario_step", Category: Marketing,
		Priority: 40, Expiry: 72 * time.Hour,
		Label: [2]string{"ステップ配信", "Scenario step"}},
	// An invitation to link may wait out a few capped days.
	{Name: "link_nudge", Category: Marketing,
		Priority: 20, Expiry: 7 * 24 * time.Hour,
		Label: [2]string{"連携のお誘い", "Link invitation"}},
	{Name: "campaign", Category: Marketing,
		Priority: 10, Expiry: 24 * time.Hour,
		Label: [2]string{"キャンペーン", "Campaign"}},
}

// DefaultExpiry applies to kinds sent outside the catalogue (replies to a
// friend's message, which the cap does not hold back).
const DefaultExpiry = 72 * time.Hour

// Outranking returns the marketing kinds whose priority is above name's:
// the kinds whose messages due today hold a daily-cap slot against it.
// An unknown kind is outranked by every marketing kind with a priority.
func Outranking(name string) []string {
	k, _ := Lookup(name)
	return KindNames(func(o Kind) bool { return o.Category == Marketing && o.Priority > k.Priority })
}

// ExpiryOf is how long after its planned time a message of kind name still makes sense.
func ExpiryOf(name string) time.Duration {
	if k, ok := Lookup(name); ok && k.Expiry > 0 {
		return k.Expiry
	}
	return DefaultExpiry
}

// Catalogue returns every message kind, in the order merchants see them.
func Catalogue() []Kind { return append([]Kind(nil), catalogue...) }

// Lookup finds a kind by name.
func Lookup(name string) (Kind, bool) {
	for _, k := range catalogue {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// KindNames returns the names of the kinds that satisfy keep (all when nil), in catalogue order.
func KindNames(keep func(Kind) bool) []string {
	var out []string
	for _, k := range catalogue {
		if keep == nil || keep(k) {
			out = append(out, k.Name)
		}
	}
	return out
}

// IsJourney, HasTemplate and IsTransactional are filters for KindNames.
func (k Kind) IsJourney() bool { return k.Journey }

// HasTemplate reports whether the kind has default templates.
func (k Kind) HasTemplate() bool { return k.Template }

// IsTransactional reports whether the daily cap leaves the kind alone.
func (k Kind) IsTransactional() bool { return k.Category == Transactional }

// Sample data: one order, cart, parcel and coupon, in Japanese or English.

var sampleOrdered = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

const sampleStatusURL = "https://tsunagu-demo.myshopify.com/1234/orders/abcd/authenticate?key=sample"

func sampleItems(lang string) []Item {
	items := []Item{
		{Title: "有機ほうじ茶 100g", Quantity: 2, Price: decimal.NewFromInt(1200), ImageURL: "https://cdn.shopify.com/s/files/sample/hojicha.jpg"},
		{Title: "美濃焼 湯呑み", Quantity: 1, Price: decimal.NewFromInt(3300)},
	}
	if lang == "en" {
		items[0].Title, items[1].Title = "Organic hojicha 100g", "Mino-ware teacup"
	}
	return items
}

func withOrder(d *Data) {
	d.Order = &Order{Name: "#1001", TotalPrice: decimal.NewFromInt(5700), SubtotalPrice: decimal.NewFromInt(5700), Currency: "JPY",
		Items: sampleItems(d.Lang), OrderedAt: sampleOrdered}
	d.OrderStatusURL = sampleStatusURL
}

func withOrderAndCoupon(d *Data) { withOrder(d); withCoupon(d) }

func withTracking(d *Data) {
	withOrder(d)
	d.Tracking = &Tracking{Company: "ヤマト運輸", Number: "1234-5678-9012", URL: "https://toi.kuronekoyamato.co.jp/cgi-bin/tneko?number=123456789012"}
	if d.Lang == "en" {
		d.Tracking.Company = "Yamato Transport"
	}
}

func withCheckout(d *Data) {
	d.Checkout = &Checkout{URL: "https://tsunagu-demo.myshopify.com/checkouts/sample/recover?key=sample", TotalPrice: decimal.NewFromInt(5700),
		Currency: "JPY", Items: sampleItems(d.Lang)}
}

func withCoupon(d *Data) {
	d.Coupon = &Coupon{Code: "LINE-7QK2-M9XD", Title: "LINE連携特典 10%OFF", Value: "10%OFF", ExpiresAt: sampleOrdered.AddDate(0, 0, 30)}
	if d.Lang == "en" {
		d.Coupon.Title = "LINE welcome 10% off"
	}
}

func withProduct(d *Data) {
	d.Product = &Product{Title: sampleItems(d.Lang)[1].Title, URL: "https://tsunagu-demo.myshopify.com/products/mino-yunomi",
		ImageURL: "https://cdn.shopify.com/s/files/sample/yunomi.jpg", Price: decimal.NewFromInt(3300), Currency: "JPY"}
}

// withBirthdayCode is the merchant's birthday code, when one is set: no expiry of its own.
func withBirthdayCode(d *Data) { d.Coupon = &Coupon{Code: "BIRTHDAY-2026"} }
