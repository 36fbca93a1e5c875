package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm/clause"
)

// CustomerProfile is what one payload says about a customer's profile. A
// nil field was absent from the payload and leaves the stored value alone:
// since API 2025-01 a customer payload omits tags and consent, and an
// order's embedded customer omits much more, and neither means "empty".
type CustomerProfile struct {
	ShopID, ShopifyID                                          int64
	Email, FirstName, LastName, Phone, Locale, Region, Country *string
	// FillOnly writes a field only where the stored one is empty: the
	// embedded customer of an order or checkout is a copy that can be
	// older than what customers/update or the import already stored.
	FillOnly bool
}

// Str is a helper for CustomerProfile fields.
func Str(s string) *string { return &s }

func (p CustomerProfile) fields() [][2]any {
	return [][2]any{{"email", p.Email}, {"first_name", p.FirstName}, {"last_name", p.LastName}, {"phone", p.Phone},
		{"locale", p.Locale}, {"region", p.Region}, {"country", p.Country}}
}

// UpsertCustomerProfile creates the customer with the fields given, or
// updates only the fields given (FillOnly: only the empty ones). A
// redacted customer is returned unchanged. Run it inside Tx when the
// caller writes more.
func (db *DB) UpsertCustomerProfile(ctx context.Context, p CustomerProfile) (*Customer, error) {
	if p.ShopifyID <= 0 {
		return nil, fmt.Errorf("upserting customer: invalid Shopify id %d", p.ShopifyID)
	}
	now := time.Now().UTC()
	c := &Customer{ShopID: p.ShopID, ShopifyID: p.ShopifyID, CreatedAt: now, UpdatedAt: now}
	set := map[string]*string{}
	for _, f := range p.fields() {
		if v := f[1].(*string); v != nil {
			set[f[0].(string)] = v
		}
	}
	c.Email, c.FirstName, c.LastName, c.Phone = deref(set["email"]), deref(set["first_name"]), deref(set["last_name"]), deref(set["phone"])
	c.Locale, c.Region, c.Country = deref(set["locale"]), deref(set["region"]), deref(set["country"])
	res := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Omit("id").Create(c)
	if res.Error != nil {
		return nil, fmt.Errorf("creating customer %d: %w", p.ShopifyID, res.Error)
	}
	var cur Customer
	if err := db.WithContext(ctx).Where("shop_id = ? AND shopify_id = ?", p.ShopID, p.ShopifyID).Take(&cur).Error; err != nil {
		return nil, fmt.Errorf("loading customer %d: %w", p.ShopifyID, err)
	}
	if res.RowsAffected == 1 || cur.RedactedAt != nil {
		return &cur, nil
	}
	stored := map[string]string{"email": cur.Email, "first_name": cur.FirstName, "last_name": cur.LastName, "phone": cur.Phone,
		"locale": cur.Locale, "region": cur.Region, "country": cur.Country}
	upd := map[string]any{}
	for col, v := range set {
		if *v == stored[col] || (p.FillOnly && stored[col] != "") {
			continue
		}
		upd[col] = *v
	}
	if len(upd) == 0 {
		return &cur, nil
	}
	upd["updated_at"] = now
	if err := db.WithContext(ctx).Model(&Customer{}).Where("id = ? AND redacted_at IS NULL", cur.ID).Updates(upd).Error; err != nil {
		return nil, fmt.Errorf("updating customer %d: %w", p.ShopifyID, err)
	}
	if err := db.WithContext(ctx).Where("id = ?", cur.ID).Take(&cur).Error; err != nil {
		return nil, fmt.Errorf("reloading customer %d: %w", p.ShopifyID, err)
	}
	return &cur, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TagKey is how tags compare: Shopify's tags are case-insensitive.
func TagKey(tag string) string { return strings.ToLower(strings.TrimSpace(tag)) }

// CustomerTag is one tag a customer has or had.
type CustomerTag struct {
	CustomerID int64
	Tag        string // TagKey
	Label      string // as Shopify spells it
	Present    bool
	ChangedAt  time.Time
}

// ApplyCustomerTags records that tags were added (add) or removed at `at`,
// as customer.tags_added / customer.tags_removed say. Per tag, the change
// with the latest time wins whatever order the deliveries come in; a
// redelivery changes nothing. customers.tags is rebuilt from the result.
// It reports whether anything changed.
func (db *DB) ApplyCustomerTags(ctx context.Context, customerID int64, tags []string, add bool, at time.Time) (bool, error) {
	at = at.UTC().Truncate(time.Microsecond)
	changed := false
	seen := map[string]bool{}
	for _, t := range tags {
		label := strings.TrimSpace(t)
		key := TagKey(label)
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		res := db.WithContext(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "customer_id"}, {Name: "tag"}},
			DoUpdates: clause.AssignmentColumns([]string{"label", "present", "changed_at"}),
			Where:     clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "customer_tags.changed_at < excluded.changed_at"}}},
		}).Create(&CustomerTag{CustomerID: customerID, Tag: key, Label: label, Present: add, ChangedAt: at})
		if res.Error != nil {
			return false, fmt.Errorf("recording tag %q of customer %d: %w", label, customerID, res.Error)
		}
		changed = changed || res.RowsAffected > 0
	}
	if !changed {
		return false, nil
	}
	return true, db.rebuildTags(ctx, customerID)
}

// SetCustomerTags makes tags the whole tag list as of `at` (the history
// import reads the full list): tags recorded later keep their state,
// others are added or removed to match.
func (db *DB) SetCustomerTags(ctx context.Context, customerID int64, tags []string, at time.Time) error {
	var cur []CustomerTag
	if err := db.WithContext(ctx).Where("customer_id = ?", customerID).Find(&cur).Error; err != nil {
		return fmt.Errorf("loading tags of customer %d: %w", customerID, err)
	}
	want := map[string]bool{}
	for _, t := range tags {
		want[TagKey(t)] = true
	}
	var gone []string
	for _, t := range cur {
		if t.Present && !want[t.Tag] {
			gone = append(gone, t.Label)
		}
	}
	if _, err := db.ApplyCustomerTags(ctx, customerID, tags, true, at); err != nil {
		return err
	}
	_, err := db.ApplyCustomerTags(ctx, customerID, gone, false, at)
	return err
}

// rebuildTags writes customers.tags ("a, b", Shopify's own joining, sorted
// case-insensitively) from the present tag rows.
func (db *DB) rebuildTags(ctx context.Context, customerID int64) error {
	var rows []CustomerTag
	if err := db.WithContext(ctx).Where("customer_id = ? AND present = ?", customerID, true).Find(&rows).Error; err != nil {
		return fmt.Errorf("loading tags of customer %d: %w", customerID, err)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Tag < rows[j].Tag })
	labels := make([]string, len(rows))
	for i, r := range rows {
		labels[i] = r.Label
	}
	err := db.WithContext(ctx).Model(&Customer{}).Where("id = ? AND redacted_at IS NULL", customerID).
		Updates(map[string]any{"tags": strings.Join(labels, ", "), "updated_at": time.Now().UTC()}).Error
	if err != nil {
		return fmt.Errorf("updating tags of customer %d: %w", customerID, err)
	}
	return nil
}

// Consent channels.
const (
	ConsentEmail = "email"
	ConsentSMS   = "sms"
)

// ErrStaleConsent is returned when a consent update is older than the one stored.
var ErrStaleConsent = errors.New("older than the consent already stored")

// SetMarketingConsent records a customer's email or SMS marketing consent
// (state as Shopify spells it: subscribed, unsubscribed, ...) at `at`.
// Only "subscribed" accepts marketing. An update older than the stored one
// changes nothing and returns ErrStaleConsent.
func (db *DB) SetMarketingConsent(ctx context.Context, customerID int64, channel, state string, at time.Time) error {
	at = at.UTC().Truncate(time.Microsecond)
	state = strings.ToLower(strings.TrimSpace(state))
	var flag, stateCol, atCol string
	switch channel {
	case ConsentEmail:
		flag, stateCol, atCol = "accepts_marketing", "email_consent_state", "email_consent_at"
	case ConsentSMS:
		flag, stateCol, atCol = "sms_marketing", "sms_consent_state", "sms_consent_at"
	default:
		return fmt.Errorf("unknown consent channel %q", channel)
	}
	res := db.WithContext(ctx).Model(&Customer{}).
		Where("id = ? AND redacted_at IS NULL AND ("+atCol+" IS NULL OR "+atCol+" <= ?)", customerID, at).
		Updates(map[string]any{flag: state == "subscribed", stateCol: state, atCol: at, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return fmt.Errorf("recording %s consent of customer %d: %w", channel, customerID, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrStaleConsent
	}
	return nil
}
