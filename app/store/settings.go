package store

import (
	"strconv"
	"time"

	"github.com/tsunagu/tsunagu/templates"
)

// Settings is a shop's merchant-editable configuration, stored as JSON on the
// shop row. Zero values mean "use the default" so old rows keep working as
// fields are added; read it through Effective.
type Settings struct {
	// ThankYouTrigger is the topic that sends the thank-you: orders/create or orders/paid.
	ThankYouTrigger string `json:"thank_you_trigger,omitempty"`
	// Journeys maps a journey kind to its switch and delay.
	Journeys map[string]JourneySetting `json:"journeys,omitempty"`
	// QuietStart and QuietEnd are "HH:MM" in the shop's time zone; equal means none.
	QuietStart string `json:"quiet_start,omitempty"`
	QuietEnd   string `json:"quiet_end,omitempty"`
	// DailyCap is the most marketing messages a customer gets per day (0 = default).
	DailyCap int `json:"daily_cap,omitempty"`
	// RestartFollowUps: a newer order cancels the older order's follow-ups.
	RestartFollowUps *bool `json:"restart_follow_ups,omitempty"`
	// Incentive is the coupon given for linking LINE.
	Incentive Incentive `json:"incentive"`
	// Templates are per-shop overrides keyed "kind.lang".
	Templates map[string]string `json:"templates,omitempty"`
	// AccountTemplates are overrides for one LINE account: channel id
	// (decimal) → "kind.lang" → source. A message sent from that account
	// uses them before Templates (TemplateFor).
	AccountTemplates map[string]map[string]string `json:"account_templates,omitempty"`
	// YenPerMessage is the cost estimate per LINE message in reports (0 = default).
	YenPerMessage float64 `json:"yen_per_message,omitempty"`
	// AttributionDays is the conversion window after a send (0 = default).
	AttributionDays int `json:"attribution_days,omitempty"`
	// Automations configures birthday, win-back and coupon-expiry messages.
	Automations Automations `json:"automations,omitempty"`
	// Browse configures the browse-abandonment journey (its delay X is the
	// journey's DelayMinutes).
	Browse Browse `json:"browse,omitempty"`
	// QuotaReservePercent is the share of a limited monthly LINE quota
	// marketing may not use (nil = core.DefaultTransactionalReserve).
	QuotaReservePercent *int `json:"quota_reserve_percent,omitempty"`
	// Greeting is the welcome to a new LINE friend and the link nudge.
	Greeting Greeting `json:"greeting,omitempty"`
}

// TemplateFor is the template source a message of key ("kind.lang") sent
// from LINE account channelID uses: that account's override, else the
// shop's, else "" (the built-in default).
func (s Settings) TemplateFor(channelID int64, key string) string {
	if o := s.AccountTemplates[strconv.FormatInt(channelID, 10)][key]; o != "" {
		return o
	}
	return s.Templates[key]
}

// Greeting configures what a new LINE friend receives. On by default: the
// welcome is free (sent with the follow event's reply token).
type Greeting struct {
	Disabled bool `json:"disabled,omitempty"`
	// Text and Button per language ("" = the built-in default).
	TextJA   string `json:"text_ja,omitempty"`
	TextEN   string `json:"text_en,omitempty"`
	ButtonJA string `json:"button_ja,omitempty"`
	ButtonEN string `json:"button_en,omitempty"`
	// Returning also greets a friend who unblocked the account.
	Returning bool `json:"returning,omitempty"`
	// NudgeDays: a friend not linked this many days after adding the
	// account gets one "link and receive your coupon" push (0 = default 3).
	NudgeDays int  `json:"nudge_days,omitempty"`
	NudgeOff  bool `json:"nudge_off,omitempty"`
}

// DefaultNudgeDays is when an unlinked friend is invited to link.
const DefaultNudgeDays = 3

// Nudge returns whether the link nudge is on and after how many days.
func (g Greeting) Nudge() (bool, int) {
	if g.NudgeOff {
		return false, 0
	}
	if g.NudgeDays <= 0 {
		return true, DefaultNudgeDays
	}
	return true, g.NudgeDays
}

// Browse is the browse-abandonment journey's settings; zero means default.
type Browse struct {
	// MinViews: views of the product needed (an add to cart always counts).
	MinViews int `json:"min_views,omitempty"`
	// CooldownDays: at most one browse-abandonment message per customer in this many days.
	CooldownDays int `json:"cooldown_days,omitempty"`
}

// Browse-abandonment defaults.
const (
	DefaultBrowseMinViews     = 2
	DefaultBrowseCooldownDays = 7
)

// BrowseMinViews returns the minimum number of views, defaulted.
func (s Settings) BrowseMinViews() int {
	if s.Browse.MinViews <= 0 {
		return DefaultBrowseMinViews
	}
	return s.Browse.MinViews
}

// BrowseCooldown returns the per-customer cooldown, defaulted.
func (s Settings) BrowseCooldown() time.Duration {
	d := s.Browse.CooldownDays
	if d <= 0 {
		d = DefaultBrowseCooldownDays
	}
	return time.Duration(d) * 24 * time.Hour
}

// Automations are the scenario messages beyond the order journeys. Each is
// off until the merchant turns it on.
type Automations struct {
	Birthday bool `json:"birthday,omitempty"`
	// BirthdayCoupon is a code mentioned in the birthday message.
	BirthdayCoupon string `json:"birthday_coupon,omitempty"`
	WinBack        bool   `json:"win_back,omitempty"`
	// WinBackDays: customers whose last order is exactly this old get it (default 90).
	WinBackDays  int  `json:"win_back_days,omitempty"`
	CouponExpiry bool `json:"coupon_expiry,omitempty"`
	// CouponExpiryDays: remind this many days before an unused coupon expires (default 3).
	CouponExpiryDays int `json:"coupon_expiry_days,omitempty"`
}

// Measurement defaults.
const (
	DefaultYenPerMessage   = 3.0
	DefaultAttributionDays = 7
)

// ReportOptions returns the shop's measurement settings, defaulted.
func (s Settings) ReportOptions() ReportOptions {
	o := ReportOptions{AttributionDays: s.AttributionDays, YenPerMessage: s.YenPerMessage}
	if o.AttributionDays <= 0 {
		o.AttributionDays = DefaultAttributionDays
	}
	if o.YenPerMessage <= 0 {
		o.YenPerMessage = DefaultYenPerMessage
	}
	return o
}

// JourneySetting switches one journey and sets its delay.
type JourneySetting struct {
	Enabled      *bool `json:"enabled,omitempty"`
	DelayMinutes int   `json:"delay_minutes,omitempty"`
}

// Incentive is the link coupon configuration.
type Incentive struct {
	Enabled         bool    `json:"enabled"`
	Kind            string  `json:"kind,omitempty"` // "percentage" or "fixed"
	Value           float64 `json:"value,omitempty"`
	MinimumSubtotal float64 `json:"minimum_subtotal,omitempty"`
	ValidDays       int     `json:"valid_days,omitempty"`
	Title           string  `json:"title,omitempty"`
}

// Defaults a merchant gets until they change them.
const (
	DefaultQuietStart = "21:00"
	DefaultQuietEnd   = "09:00"
	DefaultDailyCap   = 2
)

// JourneyEnabled reports whether a journey kind is on: the merchant's
// switch, else the catalogue's default (templates.Kind.OffByDefault).
func (s Settings) JourneyEnabled(kind string) bool {
	if j, ok := s.Journeys[kind]; ok && j.Enabled != nil {
		return *j.Enabled
	}
	k, _ := templates.Lookup(kind)
	return !k.OffByDefault
}

// JourneyDelayMinutes returns the merchant's delay for kind, else the
// catalogue's default.
func (s Settings) JourneyDelayMinutes(kind string) int {
	k, _ := templates.Lookup(kind)
	if j, ok := s.Journeys[kind]; ok && j.DelayMinutes > 0 {
		return j.DelayMinutes
	}
	return k.DefaultDelayMinutes
}

// Quiet returns the quiet window, defaulted.
func (s Settings) Quiet() (start, end string) {
	if s.QuietStart == "" && s.QuietEnd == "" {
		return DefaultQuietStart, DefaultQuietEnd
	}
	return s.QuietStart, s.QuietEnd
}

// Cap returns the daily marketing cap, defaulted.
func (s Settings) Cap() int {
	if s.DailyCap <= 0 {
		return DefaultDailyCap
	}
	return s.DailyCap
}

// ThankYouTopic returns the topic that triggers the thank-you.
func (s Settings) ThankYouTopic() string {
	if s.ThankYouTrigger == "orders/paid" {
		return "orders/paid"
	}
	return "orders/create"
}

// RestartsFollowUps reports whether a newer order restarts the follow-up sequence (default yes).
func (s Settings) RestartsFollowUps() bool {
	return s.RestartFollowUps == nil || *s.RestartFollowUps
}
