package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/templates"
)

// Linking: events the app itself emits (source "tsunagu") and LINE webhook
// events (source "line") both go through the events table, so the relay
// covers a crash between the commit and the enqueue.
const (
	KindLinkCoupon   = "link_coupon"
	SourceApp        = core.SourceApp
	SourceLINE       = core.SourceLINE
	TopicLinkCreated = core.TopicLinkCreated
	TopicLinkRemoved = core.TopicLinkRemoved
	// TagLinked is the Shopify customer tag of a LINE-linked customer.
	TagLinked = "line-linked"
	// ReasonNotFriend: linked, but the LINE user has not added the bot.
	ReasonNotFriend = "not_friend"
	// DefaultCouponDays is the link coupon's validity when none is set.
	DefaultCouponDays = core.DefaultCouponDays
)

// LinkCouponKey is the dedupe key of the link coupon message: once per
// customer per shop, ever.
func LinkCouponKey(shopID, customerID int64) string {
	return fmt.Sprintf("%s/s%d/c%d", KindLinkCoupon, shopID, customerID)
}

func (w *Worker) processApp(ctx context.Context, ev *store.Event) ([]*store.Message, error) {
	var p core.LinkEventPayload
	if err := decode(ev.Payload, &p); err != nil {
		return nil, err
	}
	l, err := w.DB.Link(ctx, p.LinkID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errIgnore{"link no longer exists"}
	}
	if err != nil {
		return nil, err
	}
	shop, err := w.DB.Shop(ctx, l.ShopID)
	if err != nil {
		return nil, err
	}
	if !shop.Active() {
		return nil, errIgnore{"shop not installed"}
	}
	cust, err := w.DB.Customer(ctx, shop.ID, l.CustomerID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errIgnore{"customer erased"}
	}
	if err != nil {
		return nil, err
	}
	admin, err := w.shopAdmin(shop)
	if err != nil {
		return nil, err
	}
	switch ev.Topic {
	case TopicLinkCreated:
		msgs, err := w.onLinked(ctx, shop, cust, l, admin)
		return msgs, waitReauth(err)
	case TopicLinkRemoved:
		if admin == nil {
			return nil, errIgnore{"Shopify not connected: tag not removed"}
		}
		if _, err := w.DB.LiveLink(ctx, cust.ID); err == nil {
			return nil, nil // linked again since
		}
		return nil, waitReauth(admin.RemoveCustomerTags(ctx, cust.ShopifyID, TagLinked))
	}
	return nil, errIgnore{"no handler for topic " + ev.Topic}
}

// onLinked issues the link coupon in Shopify (once), plans its LINE message
// and tags the customer. Every step is idempotent, so a retry redoes only
// what did not finish.
func (w *Worker) onLinked(ctx context.Context, shop *store.Shop, cust *store.Customer, l *store.LineLink, admin *shopify.Admin) ([]*store.Message, error) {
	var planned []*store.Message
	coupon, err := w.DB.CustomerCoupon(ctx, shop.ID, cust.ID, store.CampaignLineLink)
	switch {
	case errors.Is(err, store.ErrNotFound):
		coupon = nil // incentive was off when they linked
	case err != nil:
		return nil, err
	}
	if coupon != nil && coupon.Status == store.CouponPending {
		if err := w.createDiscount(ctx, shop, cust, coupon, admin); err != nil {
			return nil, err
		}
	}
	if coupon != nil && coupon.Status == store.CouponIssued {
		m, err := w.planLinkCoupon(ctx, shop, cust, l, coupon)
		if err != nil {
			return nil, err
		}
		if m != nil {
			planned = append(planned, m)
		}
	}
	steps, err := w.StartScenarios(ctx, w.DB, shop, core.TriggerLink, nil, cust, l.LinkedAt)
	if err != nil {
		return nil, err
	}
	planned = append(planned, steps...)
	if admin == nil {
		if coupon != nil && coupon.Status == store.CouponFailed {
			return planned, errIgnore{"Shopify not connected: no coupon, no tag"}
		}
		return planned, nil
	}
	if err := admin.AddCustomerTags(ctx, cust.ShopifyID, TagLinked); err != nil {
		return nil, err
	}
	return planned, nil
}

func (w *Worker) createDiscount(ctx context.Context, shop *store.Shop, cust *store.Customer, c *store.Coupon, admin *shopify.Admin) error {
	fail := func(why string) error {
		w.log().WarnContext(ctx, "link coupon not created", "shop", shop.Domain, "coupon_id", c.ID, "why", why)
		c.Status = store.CouponFailed
		return w.DB.UpdateCoupon(ctx, c.ID, map[string]any{"status": store.CouponFailed})
	}
	if admin == nil {
		return fail("Shopify not connected")
	}
	inc := shop.Settings.Incentive
	now := w.now()
	ends := now.AddDate(0, 0, DefaultCouponDays)
	if inc.ValidDays > 0 {
		ends = now.AddDate(0, 0, inc.ValidDays)
	}
	if c.ExpiresAt != nil && c.ExpiresAt.After(now) {
		ends = *c.ExpiresAt // what the shopper was shown
	}
	in := shopify.DiscountInput{
		Title: inc.Title, Code: c.Code, CustomerGID: shopify.CustomerGID(cust.ShopifyID),
		StartsAt: now.Add(-time.Minute), EndsAt: ends, UsageLimit: 1, AppliesOncePerCustomer: true,
		MinimumSubtotal: decimal.NewFromFloat(inc.MinimumSubtotal),
	}
	if in.Title == "" {
		in.Title = "LINE link " + c.Code
	}
	if inc.Kind == "fixed" || inc.MinimumSubtotal > 0 {
		// Amounts are in the shop's currency; refuse rather than turn 500 JPY into 500 USD.
		in.Currency = shop.Currency
	}
	if inc.Kind == "fixed" {
		in.FixedAmount = decimal.NewFromFloat(inc.Value)
	} else {
		in.Percentage = inc.Value
	}
	d, err := admin.CreateDiscountCode(ctx, in)
	var ue *shopify.UserErrors
	switch {
	case errors.As(err, &ue) && ue.HasCode("TAKEN"):
		// Our earlier attempt created it and died before recording it.
	case errors.As(err, &ue), errors.Is(err, shopify.ErrBadDiscount):
		return fail(err.Error())
	case err != nil:
		return err
	}
	c.Status, c.ShopifyDiscountID = store.CouponIssued, d.ID
	c.IssuedAt, c.ExpiresAt = &now, &ends
	cid := cust.ID
	if err := w.DB.UpdateCoupon(ctx, c.ID, map[string]any{"status": store.CouponIssued, "shopify_discount_id": d.ID, "issued_at": now, "expires_at": ends}); err != nil {
		return err
	}
	return w.DB.AddActivity(ctx, &store.Activity{ShopID: shop.ID, CustomerID: &cid, Kind: store.ActCouponIssued,
		Summary: "Link coupon " + c.Code, RefType: "coupon", RefID: c.ID, OccurredAt: now})
}

// planLinkCoupon plans the coupon message. A link to someone who has not
// added the bot is recorded as skipped (LINE would refuse the push).
func (w *Worker) planLinkCoupon(ctx context.Context, shop *store.Shop, cust *store.Customer, l *store.LineLink, c *store.Coupon) (*store.Message, error) {
	key := LinkCouponKey(shop.ID, cust.ID)
	if !l.Friend && !l.Blocked {
		cid := cust.ID
		m := &store.Message{ShopID: shop.ID, CustomerID: &cid, Kind: KindLinkCoupon, DedupeKey: key, RefType: "coupon", RefID: c.ID,
			LineUserID: l.LineUserID, ScheduledFor: w.now(), Status: store.MsgSkipped, Reason: ReasonNotFriend}
		_, err := w.DB.PlanMessage(ctx, m)
		return nil, err
	}
	return w.plan(ctx, w.DB, shop, cust, KindLinkCoupon, "coupon", c.ID, key, w.now())
}

// couponData fills the template data of a message about a coupon.
func (w *Worker) couponData(ctx context.Context, shop *store.Shop, m *store.Message, d *templates.Data) error {
	c, err := w.DB.Coupon(ctx, m.RefID)
	if err != nil {
		return err
	}
	d.Coupon = &templates.Coupon{Code: c.Code, Title: shop.Settings.Incentive.Title, Value: incentiveValue(shop)}
	if c.ExpiresAt != nil {
		d.Coupon.ExpiresAt = c.ExpiresAt.In(shop.Location())
	}
	return nil
}

// processLine applies one LINE webhook event (stored as a line.Event).
func (w *Worker) processLine(ctx context.Context, ev *store.Event) ([]*store.Message, error) {
	var le line.Event
	if err := decode(ev.Payload, &le); err != nil {
		return nil, err
	}
	if ev.ShopID == nil {
		return nil, errIgnore{"no shop"}
	}
	if le.UserID == "" || le.SourceType != "user" {
		return nil, errIgnore{"not from a user chat"}
	}
	shopID := *ev.ShopID
	var channelID int64 // 0: the primary (events stored before migration 0049)
	if ev.LineChannelID != nil {
		channelID = *ev.LineChannelID
	}
	at := le.Timestamp
	if at.IsZero() {
		at = w.now()
	}
	l, err := w.DB.LiveLinkByUser(ctx, shopID, le.UserID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	// A follow or block on one account says nothing of the user's
	// friendship with another: the link's reachability is its channel's.
	sameChannel := l != nil && (channelID == 0 || l.ChannelID == 0 || l.ChannelID == channelID)
	var custID *int64
	var refID int64
	if l != nil {
		custID, refID = &l.CustomerID, l.ID
	}
	// Every LINE user met is a friend row, linked or not (issue 13).
	var friendID *int64
	var friend *store.LineFriend
	if w.Friends != nil {
		friend, err = w.Friends.Observe(ctx, core.Seen{ShopID: shopID, ChannelID: channelID, Event: le, ReceivedAt: ev.ReceivedAt})
		if err != nil {
			return nil, err
		}
		friendID = &friend.ID
	}
	record := func(kind, summary string, data map[string]any) error {
		data["line_user_id"] = le.UserID
		b, _ := json.Marshal(data)
		return w.DB.AddActivity(ctx, &store.Activity{ShopID: shopID, CustomerID: custID, FriendID: friendID, Kind: kind, Summary: summary,
			Data: string(b), RefType: "line_link", RefID: refID, OccurredAt: at})
	}
	switch le.Type {
	case "follow":
		var planned []*store.Message
		if sameChannel {
			if err := w.DB.SetLinkReachability(ctx, l.ID, true, false, w.now()); err != nil {
				return nil, err
			}
			// A coupon held back because they were not a friend goes out now.
			m, err := w.DB.MessageByKey(ctx, LinkCouponKey(shopID, l.CustomerID))
			if err == nil && m.Status == store.MsgSkipped && m.Reason == ReasonNotFriend {
				ok, err := w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgSkipped}, store.MsgQueued,
					map[string]any{"reason": "", "scheduled_for": w.now()})
				if err != nil {
					return nil, err
				}
				if ok {
					m.Status, m.ScheduledFor = store.MsgQueued, w.now()
					planned = append(planned, m)
				}
			}
		}
		if err := record(store.ActFollow, "Added the LINE account as a friend", map[string]any{"unblocked": le.Unblocked}); err != nil {
			return nil, err
		}
		if friend != nil {
			shop, err := w.DB.Shop(ctx, shopID)
			if err != nil {
				return nil, err
			}
			if _, err := w.Friends.Greet(ctx, shop, friend, le); err != nil {
				w.log().WarnContext(ctx, "greeting not sent", "friend_id", friend.ID, "err", err)
			}
			steps, err := w.StartScenarios(ctx, w.DB, shop, core.TriggerFriendAdd, friend, nil, at)
			if err != nil {
				return nil, err
			}
			planned = append(planned, steps...)
		}
		return planned, nil
	case "unfollow":
		if sameChannel {
			if err := w.DB.SetLinkReachability(ctx, l.ID, false, true, w.now()); err != nil {
				return nil, err
			}
		}
		return nil, record(store.ActUnfollow, "Blocked the LINE account", map[string]any{})
	case "message":
		if code, ok := core.StaffLineCodeIn(le.Text); ok {
			// A staff member linking their own LINE for test sends.
			claimed, err := w.DB.ClaimStaffLineCode(ctx, shopID, code, le.UserID, "", w.now())
			if err != nil {
				return nil, err
			}
			if claimed {
				return nil, nil
			}
		}
		summary := "LINE message (" + le.MessageType + ")"
		if le.Text != "" {
			summary = le.Text
		}
		if err := record(store.ActLineMessageIn, summary, map[string]any{"message_id": le.MessageID, "type": le.MessageType, "text": le.Text}); err != nil {
			return nil, err
		}
		if friend != nil && le.Text != "" {
			if _, err := w.Friends.AutoReply(ctx, friend, le.Text, le.WebhookEventID); err != nil {
				w.log().WarnContext(ctx, "auto-reply not sent", "friend_id", friend.ID, "err", err)
			}
		}
		return nil, nil
	case "postback":
		q, _ := url.ParseQuery(le.PostbackData)
		if q.Get("action") != "unlink" {
			return nil, errIgnore{"postback without a known action"}
		}
		if l == nil {
			return nil, errIgnore{"unlink postback from an unlinked user"}
		}
		rm, err := core.Unlink(ctx, w.DB, l, "postback", at)
		if err != nil {
			return nil, err
		}
		if rm != nil {
			if err := w.Queue.EnqueueEvent(ctx, rm.ID); err != nil {
				w.log().WarnContext(ctx, "event left for the relay", "event_id", rm.ID, "err", err)
			}
		}
		return nil, nil
	}
	return nil, errIgnore{"LINE event " + le.Type + " needs no work"}
}

// incentiveValue is the link incentive for display: "10%OFF", "¥500 OFF".
func incentiveValue(shop *store.Shop) string {
	inc := shop.Settings.Incentive
	switch {
	case inc.Value <= 0:
		return ""
	case inc.Kind == "fixed":
		return templates.Money(decimal.NewFromFloat(inc.Value), shop.Currency) + " OFF"
	default:
		return strconv.FormatFloat(inc.Value, 'f', -1, 64) + "%OFF"
	}
}
