package core

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// No-webhook mode: when the channel's webhook belongs to another tool,
// Tsunagu never sees unfollow (block) events. What LINE answers instead
// (LINE Developers FAQ, "Do I get an error when I send a message to a user
// who has blocked my LINE Official Account?"): a push to a user who blocked
// the account, or deleted LINE, is answered 200 and silently not delivered
// (nor counted); only a user id that never existed is refused (400 "Failed
// to send messages"). A failed send therefore says nothing about blocks.
// The honest signal is the profile: GET /v2/bot/profile/{userId} answers
// only for users who are friends of the account, 404 otherwise. So in
// no-webhook mode a push is preceded by a profile lookup: 404 marks the
// friend and the link blocked and the message is skipped with the reason;
// a user recorded as blocked who has a profile again (unblocked) is
// reachable again.

// NoWebhookAfter is how long a connected channel may go without a LINE
// webhook before Tsunagu treats it as running in no-webhook mode.
const NoWebhookAfter = 7 * 24 * time.Hour

// NoWebhook reports whether a connected Messaging API channel has had no
// verified webhook for NoWebhookAfter (counted from its connection when
// none ever came).
func NoWebhook(ch *store.LineChannel, now time.Time) bool {
	if ch == nil || len(ch.MessagingTokenEnc) == 0 {
		return false
	}
	since := ch.CreatedAt
	if ch.LastWebhookAt != nil {
		since = *ch.LastWebhookAt
	}
	return now.Sub(since) > NoWebhookAfter
}

// ReasonBlockedLearnt is recorded on a message skipped because LINE had no
// profile for its recipient in no-webhook mode.
const ReasonBlockedLearnt = ReasonBlocked + ": LINE has no profile for the user (blocked or not a friend; learnt before sending, no-webhook mode)"

// CheckReachable tells, for a send on channel ch to userID, whether the
// user can be reached, as far as LINE says: outside no-webhook mode it
// does not ask and returns !blocked. In no-webhook mode it looks the
// profile up: 404 marks the user blocked (friend row and live link, with a
// timeline entry) and returns false; a profile clears a recorded block
// and returns true. Any other answer (LINE down, rate limited) changes
// nothing and returns !blocked: the send goes ahead as it would have, a
// push to a blocked user costs nothing.
func (s *Friends) CheckReachable(ctx context.Context, ch *store.LineChannel, token, userID string, blocked bool) (bool, error) {
	now := s.now()
	if userID == "" || !NoWebhook(ch, now) {
		return !blocked, nil
	}
	_, err := s.LINE.Profile(ctx, token, userID)
	var apiErr *line.APIError
	switch {
	case err == nil:
		if blocked {
			return true, s.setReachable(ctx, ch, userID, true, now)
		}
		return true, nil
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound:
		if !blocked {
			return false, s.setReachable(ctx, ch, userID, false, now)
		}
		return false, nil
	default:
		s.log().WarnContext(ctx, "LINE profile lookup failed; reachability unknown", "shop_id", ch.ShopID, "err", err)
		return !blocked, nil
	}
}

// setReachable records a block (or its end) learnt from LINE's profile
// answer on the user's friend row on that channel and live link, and on
// the timeline.
func (s *Friends) setReachable(ctx context.Context, ch *store.LineChannel, userID string, reachable bool, at time.Time) error {
	shopID := ch.ShopID
	var friendID, custID *int64
	f, err := s.DB.FriendOnChannel(ctx, ch.ID, userID)
	switch {
	case err == nil:
		friendID, custID = &f.ID, f.CustomerID
		cols := map[string]any{"is_friend": reachable, "blocked": !reachable, "blocked_at": at}
		if reachable {
			cols["blocked_at"] = nil
		} else {
			cols["reply_token_enc"], cols["reply_token_at"] = nil, nil
		}
		if err := s.DB.UpdateFriend(ctx, f.ID, cols); err != nil {
			return err
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	l, err := s.DB.LiveLinkByUser(ctx, shopID, userID)
	switch {
	case err == nil:
		custID = &l.CustomerID
		if err := s.DB.SetLinkReachability(ctx, l.ID, reachable, !reachable, at); err != nil {
			return err
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	kind, summary := store.ActUnfollow, "Blocked the LINE account (learnt from LINE: no profile before a send)"
	if reachable {
		kind, summary = store.ActFollow, "Reachable on LINE again (learnt from LINE: profile found before a send)"
	}
	return s.DB.AddActivity(ctx, &store.Activity{ShopID: shopID, CustomerID: custID, FriendID: friendID, Kind: kind,
		Summary: summary, Data: `{"learnt":"profile"}`, OccurredAt: at})
}
