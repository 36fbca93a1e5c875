package core

// Automation message kinds (the "scenario delivery" a merchant switches on
// the automations page) and their defaults. jobs plans them; the admin
// lists and configures them.
const (
	KindBirthday     = "birthday"
	KindWinBack      = "win_back"
	KindCouponExpiry = "coupon_expiry"

	DefaultWinBackDays      = 90
	DefaultCouponExpiryDays = 3
)
