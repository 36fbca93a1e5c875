package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/tsunagu/tsunagu/app/store/segment"
)

// CampaignLineLink is the coupon campaign of the link incentive.
const CampaignLineLink = "line_link"

// Coupon statuses.
const (
	CouponPending = "pending"
	CouponIssued  = "issued"
	CouponFailed  = "failed"
)

// LinkLogin is one LINE Login attempt started from a link token.
type LinkLogin struct {
	ID         int64
	StateHash  string
	ShopID     int64
	CustomerID int64
	// ChannelID is the channel whose link URL started the attempt (nil:
	// the primary).
	ChannelID   *int64
	Nonce       string
	VerifierEnc []byte
	ExpiresAt   time.Time
	UsedAt      *time.Time
	CreatedAt   time.Time
}

// CreateLinkLogin records a login attempt.
func (db *DB) CreateLinkLogin(ctx context.Context, l *LinkLogin) error {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now().UTC()
	}
	if err := db.WithContext(ctx).Create(l).Error; err != nil {
		return fmt.Errorf("recording LINE Login attempt: %w", err)
	}
	return nil
}

// ConsumeLinkLogin marks the attempt with stateHash used and returns it. It
// returns ErrNotFound when the state is unknown, expired or already used:
// only one callback can ever consume a state.
func (db *DB) ConsumeLinkLogin(ctx context.Context, stateHash string, now time.Time) (*LinkLogin, error) {
	res := db.WithContext(ctx).Model(&LinkLogin{}).
		Where("state_hash = ? AND used_at IS NULL AND expires_at > ?", stateHash, now.UTC()).
		Update("used_at", now.UTC())
	if res.Error != nil {
		return nil, fmt.Errorf("consuming LINE Login state: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return nil, fmt.Errorf("consuming LINE Login state: %w", ErrNotFound)
	}
	var l LinkLogin
	if err := db.WithContext(ctx).Where("state_hash = ?", stateHash).Take(&l).Error; err != nil {
		return nil, fmt.Errorf("loading LINE Login attempt: %w", notFound(err))
	}
	return &l, nil
}

// PruneLinkLogins deletes attempts that expired before cutoff.
func (db *DB) PruneLinkLogins(ctx context.Context, cutoff time.Time) error {
	return db.WithContext(ctx).Where("expires_at < ?", cutoff.UTC()).Delete(&LinkLogin{}).Error
}

// Link loads one link, live or not.
func (db *DB) Link(ctx context.Context, id int64) (*LineLink, error) {
	var l LineLink
	if err := db.WithContext(ctx).Take(&l, id).Error; err != nil {
		return nil, fmt.Errorf("loading LINE link %d: %w", id, notFound(err))
	}
	return &l, nil
}

// LiveLinkByUser returns the live link of a LINE user in a shop, or ErrNotFound.
func (db *DB) LiveLinkByUser(ctx context.Context, shopID int64, lineUserID string) (*LineLink, error) {
	var l LineLink
	err := db.WithContext(ctx).Where("shop_id = ? AND line_user_id = ? AND unlinked_at IS NULL", shopID, lineUserID).Take(&l).Error
	if err != nil {
		return nil, fmt.Errorf("loading LINE link of user: %w", notFound(err))
	}
	return &l, nil
}

// InsertLinkIfFree inserts a live link unless the LINE user or the customer
// already has one (the partial unique indexes decide, so concurrent inserts
// are safe). It reports whether the row was inserted.
func (db *DB) InsertLinkIfFree(ctx context.Context, l *LineLink) (bool, error) {
	now := time.Now().UTC()
	l.CreatedAt, l.UpdatedAt = now, now
	if l.ChannelID == 0 {
		var err error
		if l.ChannelID, err = db.primaryChannelID(ctx, l.ShopID); err != nil {
			return false, err
		}
	}
	inserted := false
	err := db.Tx(ctx, func(tx *DB) error {
		res := tx.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Omit("id").Create(l)
		if res.Error != nil {
			return fmt.Errorf("linking customer %d to LINE: %w", l.CustomerID, res.Error)
		}
		if res.RowsAffected != 1 {
			return nil
		}
		if err := tx.WithContext(ctx).Where("shop_id = ? AND line_user_id = ? AND unlinked_at IS NULL", l.ShopID, l.LineUserID).Take(l).Error; err != nil {
			return fmt.Errorf("reloading LINE link: %w", err)
		}
		inserted = true
		return tx.syncLinkState(ctx, "id = ?", l.CustomerID)
	})
	return inserted, err
}

// Unlink ends a live link. It reports false when the link was not live.
func (db *DB) Unlink(ctx context.Context, id int64, reason string, at time.Time) (bool, error) {
	ended := false
	err := db.Tx(ctx, func(tx *DB) error {
		res := tx.WithContext(ctx).Model(&LineLink{}).Where("id = ? AND unlinked_at IS NULL", id).
			Updates(map[string]any{"unlinked_at": at.UTC(), "unlink_reason": reason, "updated_at": at.UTC()})
		if res.Error != nil {
			return fmt.Errorf("unlinking LINE link %d: %w", id, res.Error)
		}
		ended = res.RowsAffected == 1
		if !ended {
			return nil
		}
		return tx.syncLinkState(ctx, linkCustomer, id)
	})
	return ended, err
}

// SetLinkReachability records whether the LINE user is a friend and whether
// they blocked the bot.
func (db *DB) SetLinkReachability(ctx context.Context, id int64, friend, blocked bool, at time.Time) error {
	return db.Tx(ctx, func(tx *DB) error {
		err := tx.WithContext(ctx).Model(&LineLink{}).Where("id = ?", id).
			Updates(map[string]any{"friend": friend, "blocked": blocked, "updated_at": at.UTC()}).Error
		if err != nil {
			return fmt.Errorf("updating LINE link %d: %w", id, err)
		}
		return tx.syncLinkState(ctx, linkCustomer, id)
	})
}

// A customer's link state (customers.link_state), which the segment
// conditions linked, friend and blocked read instead of joining line_links;
// the values are segment's, where those conditions are compiled.
const (
	LinkStateNone    = segment.LinkStateNone
	LinkStateLinked  = segment.LinkStateLinked
	LinkStateFriend  = segment.LinkStateFriend
	LinkStateBlocked = segment.LinkStateBlocked
)

// linkStateOf is the link state of customers.id from its live link.
var linkStateOf = fmt.Sprintf(`COALESCE((SELECT CASE WHEN l.blocked THEN %d WHEN l.friend THEN %d ELSE %d END
  FROM line_links l WHERE l.customer_id = customers.id AND l.unlinked_at IS NULL LIMIT 1), %d)`,
	LinkStateBlocked, LinkStateFriend, LinkStateLinked, LinkStateNone)

// linkCustomer selects (for syncLinkState) the customer of the link with the given id.
const linkCustomer = "id IN (SELECT customer_id FROM line_links WHERE id = ?)"

// syncLinkState sets customers.link_state of the customers matching where
// from their live links. It is the one place that decides the column: every
// store method that writes line_links calls it in the same transaction, so
// the column never disagrees with line_links after a commit (migration 0056
// filled it once; TestLinkStateFollowsLinks).
func (db *DB) syncLinkState(ctx context.Context, where string, args ...any) error {
	if err := db.WithContext(ctx).Exec("UPDATE customers SET link_state = "+linkStateOf+" WHERE "+where, args...).Error; err != nil {
		return fmt.Errorf("updating the link state of customers: %w", err)
	}
	return nil
}

// CancelQueuedForCustomer cancels every queued message of a customer.
func (db *DB) CancelQueuedForCustomer(ctx context.Context, customerID int64, reason string) (int64, error) {
	res := db.WithContext(ctx).Model(&Message{}).Where("customer_id = ? AND status = ?", customerID, MsgQueued).
		Updates(map[string]any{"status": MsgCancelled, "reason": reason, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return 0, fmt.Errorf("cancelling messages of customer %d: %w", customerID, res.Error)
	}
	return res.RowsAffected, nil
}

// InsertCouponOnce inserts c unless the customer already has a coupon of
// that campaign (coupons_once) or the code is taken. It reports whether it
// was inserted.
func (db *DB) InsertCouponOnce(ctx context.Context, c *Coupon) (bool, error) {
	now := time.Now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	if c.Status == "" {
		c.Status = CouponPending
	}
	res := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Omit("id").Create(c)
	if res.Error != nil {
		return false, fmt.Errorf("recording coupon: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return false, nil
	}
	if err := db.WithContext(ctx).Where("shop_id = ? AND code = ?", c.ShopID, c.Code).Take(c).Error; err != nil {
		return false, fmt.Errorf("reloading coupon: %w", err)
	}
	return true, nil
}

// CustomerCoupon returns a customer's coupon of a campaign, or ErrNotFound.
func (db *DB) CustomerCoupon(ctx context.Context, shopID, customerID int64, campaign string) (*Coupon, error) {
	var c Coupon
	err := db.WithContext(ctx).Where("shop_id = ? AND customer_id = ? AND campaign = ?", shopID, customerID, campaign).Take(&c).Error
	if err != nil {
		return nil, fmt.Errorf("loading %s coupon of customer %d: %w", campaign, customerID, notFound(err))
	}
	return &c, nil
}

// Coupon loads one coupon.
func (db *DB) Coupon(ctx context.Context, id int64) (*Coupon, error) {
	var c Coupon
	if err := db.WithContext(ctx).Take(&c, id).Error; err != nil {
		return nil, fmt.Errorf("loading coupon %d: %w", id, notFound(err))
	}
	return &c, nil
}

// UpdateCoupon sets columns of a coupon.
func (db *DB) UpdateCoupon(ctx context.Context, id int64, cols map[string]any) error {
	cols["updated_at"] = time.Now().UTC()
	if err := db.WithContext(ctx).Model(&Coupon{}).Where("id = ?", id).Updates(cols).Error; err != nil {
		return fmt.Errorf("updating coupon %d: %w", id, err)
	}
	return nil
}

// LinkCount counts live links of a shop (for tests and the dashboard).
func (db *DB) LinkCount(ctx context.Context, shopID int64) (int64, error) {
	var n int64
	err := db.WithContext(ctx).Model(&LineLink{}).Where("shop_id = ? AND unlinked_at IS NULL", shopID).Count(&n).Error
	return n, err
}

// CustomerLinkHistory is what the link rules need to know about a
// customer's past links: the LINE user of the first one (the one the link
// coupon was issued to) and when the latest one was made.
type CustomerLinkHistory struct {
	FirstLineUserID string
	LastLinkedAt    *time.Time
}

// LinkHistory reads a customer's link history (live and ended links).
func (db *DB) LinkHistory(ctx context.Context, customerID int64) (*CustomerLinkHistory, error) {
	var links []LineLink
	if err := db.WithContext(ctx).Select("id", "line_user_id", "linked_at").
		Where("customer_id = ?", customerID).Order("id").Find(&links).Error; err != nil {
		return nil, fmt.Errorf("reading the link history of customer %d: %w", customerID, err)
	}
	h := &CustomerLinkHistory{}
	for i, l := range links {
		if i == 0 {
			h.FirstLineUserID = l.LineUserID
		}
		if at := l.LinkedAt; h.LastLinkedAt == nil || at.After(*h.LastLinkedAt) {
			h.LastLinkedAt = &at
		}
	}
	return h, nil
}
