package core

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
)

// LinkTokenUsable reports whether an ID-linking token issued at issuedAt may
// still start a link: once its customer has linked (after the token was
// made) the token is spent, so a forwarded or leaked link cannot tie a
// stranger's LINE account to the customer after an unlink. Tokens carry
// whole seconds, so a link in the token's own second counts as before it.
func LinkTokenUsable(issuedAt time.Time, lastLinkedAt *time.Time) bool {
	return lastLinkedAt == nil || !lastLinkedAt.Truncate(time.Second).After(issuedAt)
}

// CouponVisibleTo reports whether the link coupon, issued once per customer
// with the customer's first link, may be shown to lineUserID: only to the
// LINE user it was issued to.
func CouponVisibleTo(firstLineUserID, lineUserID string) bool {
	return firstLineUserID != "" && firstLineUserID == lineUserID
}

// Events the app itself emits about links (source "tsunagu"). They go
// through the events table like webhooks, so the relay covers a crash
// between the commit and the enqueue.
const (
	SourceApp        = "tsunagu"
	SourceLINE       = "line" // LINE webhook events
	TopicLinkCreated = "link/created"
	TopicLinkRemoved = "link/removed"
	// DefaultCouponDays is the link coupon's validity when none is set.
	DefaultCouponDays = 30
)

// LinkEventPayload is the payload of a link/created or link/removed event.
type LinkEventPayload struct {
	LinkID int64 `json:"link_id"`
}

// LinkEvent is the outbox row for a link created or removed.
func LinkEvent(topic string, l *store.LineLink, at time.Time) *store.Event {
	b, _ := json.Marshal(LinkEventPayload{LinkID: l.ID})
	shopID := l.ShopID
	return &store.Event{Source: SourceApp, Topic: topic, ExternalID: topic + "/" + strconv.FormatInt(l.ID, 10),
		ShopID: &shopID, Payload: b, ReceivedAt: at.UTC()}
}

const couponAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" // no 0/O, 1/I

// NewCouponCode returns a random code such as LINE-7KQ2M9XA.
func NewCouponCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = couponAlphabet[int(b[i])%len(couponAlphabet)]
	}
	return "LINE-" + string(b)
}

// LinkOutcome is what a link attempt came to.
type LinkOutcome int

const (
	LinkNew           LinkOutcome = iota
	LinkAlready                   // this LINE user was already linked to this customer
	LinkUserTaken                 // the LINE user is linked to another customer
	LinkCustomerTaken             // the customer is linked to another LINE user
)

// LinkInput is a verified LINE user (from LINE Login) to link to a customer.
type LinkInput struct {
	Shop     *store.Shop
	Customer *store.Customer
	// ChannelID is the LINE account the user logged in for (0: the primary).
	ChannelID   int64
	LineUserID  string
	DisplayName string
	PictureURL  string
	Friend      bool // the user has added the shop's bot
	Now         time.Time
}

// Link links the LINE user to the customer, once. The partial unique
// indexes on line_links settle races. A new link, the friend's earlier
// history, its activity, the link coupon row (once per customer, ever) and
// the link/created event are written in one transaction; the returned
// event (nil when nothing new happened) must be dispatched after it.
func Link(ctx context.Context, db *store.DB, in LinkInput) (LinkOutcome, *store.LineLink, *store.Event, error) {
	var (
		outcome LinkOutcome
		link    *store.LineLink
		ev      *store.Event
	)
	shop, cust, now := in.Shop, in.Customer, in.Now
	err := db.Tx(ctx, func(tx *store.DB) error {
		for range 3 {
			ex, err := tx.LiveLinkByUser(ctx, shop.ID, in.LineUserID)
			switch {
			case err == nil && ex.CustomerID != cust.ID:
				outcome = LinkUserTaken
				return nil
			case err == nil:
				outcome, link = LinkAlready, ex
				if in.Friend && !ex.Friend {
					ex.Friend, ex.Blocked = true, false
					return tx.SetLinkReachability(ctx, ex.ID, true, false, now)
				}
				return nil
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
			if ex, err := tx.LiveLink(ctx, cust.ID); err == nil {
				outcome = LinkCustomerTaken
				if ex.LineUserID == in.LineUserID {
					// Committed by a concurrent callback between our two reads.
					outcome, link = LinkAlready, ex
				}
				return nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			l := &store.LineLink{ShopID: shop.ID, CustomerID: cust.ID, ChannelID: in.ChannelID, LineUserID: in.LineUserID,
				DisplayName: in.DisplayName, PictureURL: in.PictureURL, Friend: in.Friend, LinkedAt: now}
			ok, err := tx.InsertLinkIfFree(ctx, l)
			if err != nil {
				return err
			}
			if !ok {
				continue // lost a race; look again
			}
			outcome, link = LinkNew, l
			// The friend (and everything they did before linking) joins the customer.
			if err := MergeOnLink(ctx, tx, shop.ID, l.ChannelID, cust.ID, in.LineUserID, in.DisplayName, in.PictureURL, in.Friend, now); err != nil {
				return err
			}
			cid := cust.ID
			if err := tx.AddActivity(ctx, &store.Activity{ShopID: shop.ID, CustomerID: &cid, Kind: store.ActLinked,
				Summary: "LINE linked: " + in.DisplayName, Data: fmt.Sprintf(`{"line_user_id":%q,"friend":%t}`, in.LineUserID, in.Friend),
				RefType: "line_link", RefID: l.ID, OccurredAt: now}); err != nil {
				return err
			}
			if shop.Settings.Incentive.Enabled {
				days := shop.Settings.Incentive.ValidDays
				if days <= 0 {
					days = DefaultCouponDays
				}
				if err := issueLinkCoupon(ctx, tx, shop.ID, cust.ID, now.AddDate(0, 0, days)); err != nil {
					return err
				}
			}
			ev = LinkEvent(TopicLinkCreated, l, now)
			_, err = tx.InsertEvent(ctx, ev)
			return err
		}
		return errors.New("linking LINE: the link kept changing under us")
	})
	if err != nil {
		return 0, nil, nil, err
	}
	return outcome, link, ev, nil
}

// issueLinkCoupon records the customer's link coupon unless they ever had one.
func issueLinkCoupon(ctx context.Context, tx *store.DB, shopID, customerID int64, expires time.Time) error {
	for range 5 {
		cid := customerID
		ok, err := tx.InsertCouponOnce(ctx, &store.Coupon{ShopID: shopID, CustomerID: &cid, Campaign: store.CampaignLineLink,
			Code: NewCouponCode(), ExpiresAt: &expires})
		if err != nil || ok {
			return err
		}
		if _, err := tx.CustomerCoupon(ctx, shopID, customerID, store.CampaignLineLink); err == nil {
			return nil // once per customer, ever
		}
		// Otherwise the random code collided; draw again.
	}
	return errors.New("could not draw a unique coupon code")
}

// Unlink ends a live link and stops everything queued for the customer,
// recording why (reason: "customer", "postback", ...). The returned event
// (the Shopify tag removal) must be dispatched after commit; it is nil when
// the link was already gone.
func Unlink(ctx context.Context, db *store.DB, l *store.LineLink, reason string, at time.Time) (*store.Event, error) {
	var ev *store.Event
	err := db.Tx(ctx, func(tx *store.DB) error {
		ok, err := tx.Unlink(ctx, l.ID, reason, at)
		if err != nil || !ok {
			return err
		}
		if _, err := tx.CancelQueuedForCustomer(ctx, l.CustomerID, ReasonUnlinked); err != nil {
			return err
		}
		data, _ := json.Marshal(map[string]string{"line_user_id": l.LineUserID, "reason": reason})
		cid := l.CustomerID
		if err := tx.AddActivity(ctx, &store.Activity{ShopID: l.ShopID, CustomerID: &cid, Kind: store.ActUnlinked,
			Summary: "LINE unlinked (" + reason + ")", Data: string(data), RefType: "line_link", RefID: l.ID, OccurredAt: at.UTC()}); err != nil {
			return err
		}
		e := LinkEvent(TopicLinkRemoved, l, at)
		if _, err := tx.InsertEvent(ctx, e); err != nil {
			return err
		}
		ev = e
		return nil
	})
	return ev, err
}
