package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// Messages to LINE friends who may not be linked (the link nudge, steps
// started by a friend-add) go through the same planning and sending path as
// journeys: a messages row with a dedupe key, quiet hours, the daily cap
// (counted on the friend when there is no customer) and a recorded reason
// for anything not sent. Only the recipient check differs: friendTarget.

// nudgeBatch bounds the friends one sweep plans a nudge for, per shop; the
// next hourly sweep takes the rest.
const nudgeBatch = 500

// LinkNudgeKey is the dedupe key of a friend's link nudge: once ever.
func LinkNudgeKey(shopID, friendID int64) string {
	return fmt.Sprintf("%s/s%d/f%d", core.KindLinkNudge, shopID, friendID)
}

// friendTarget loads a friend and returns why a message of kind may not go
// to them now ("" when it may).
func (w *Worker) friendTarget(ctx context.Context, db *store.DB, shop *store.Shop, friendID int64, kind string) (*store.LineFriend, string, error) {
	f, err := db.Friend(ctx, shop.ID, friendID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ReasonRedacted, nil
	}
	if err != nil {
		return nil, "", err
	}
	reason, err := w.friendGate(ctx, db, shop, f, kind)
	return f, reason, err
}

// friendGate is gate for a LINE friend: the shop is installed, the friend
// is not redacted, blocked or gone, the feature is on, and a friend who
// unlinked hears nothing more. Invitations to link stop once they linked.
func (w *Worker) friendGate(ctx context.Context, db *store.DB, shop *store.Shop, f *store.LineFriend, kind string) (string, error) {
	switch {
	case !shop.Active():
		return ReasonShopUninstalled, nil
	case f.RedactedAt != nil:
		return ReasonRedacted, nil
	case f.Blocked:
		return ReasonBlocked, nil
	case !f.IsFriend:
		return ReasonNotFriend, nil
	}
	if kind == core.KindLinkNudge {
		if on, _ := shop.Settings.Greeting.Nudge(); !on || !shop.Settings.Incentive.Enabled {
			return ReasonJourneyOff, nil
		}
	}
	linked := false
	if _, err := db.LiveLinkByUser(ctx, shop.ID, f.LineUserID); err == nil {
		linked = true
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if kind == core.KindLinkNudge && (linked || f.CustomerID != nil) {
		return core.ReasonAlreadyLinked, nil
	}
	if f.CustomerID != nil {
		c, err := db.Customer(ctx, shop.ID, *f.CustomerID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && c.RedactedAt != nil) {
			return ReasonRedacted, nil
		}
		if err != nil {
			return "", err
		}
		if !linked {
			return ReasonUnlinked, nil // unlinking stops all messages
		}
	}
	return "", nil
}

// planFriend is plan for a LINE friend: it records the message (skipped
// with its reason when the friend cannot get it) and returns it when it
// should be enqueued.
func (w *Worker) planFriend(ctx context.Context, db *store.DB, shop *store.Shop, f *store.LineFriend, kind, refType string, refID int64, key string, at time.Time) (*store.Message, error) {
	expires := core.MessageDeadline(kind, at)
	fid := f.ID
	m := &store.Message{
		ShopID: shop.ID, FriendID: &fid, Kind: kind, DedupeKey: key, LineUserID: f.LineUserID,
		RefType: refType, RefID: refID, ScheduledFor: at, ExpiresAt: &expires,
	}
	reason, err := w.friendGate(ctx, db, shop, f, kind)
	if err != nil {
		return nil, err
	}
	if reason == ReasonBlocked {
		if reason, err = w.blockedAtPlan(ctx, db, shop); err != nil {
			return nil, err
		}
	}
	if reason != "" {
		m.Status, m.Reason = store.MsgSkipped, reason
	}
	created, err := db.PlanMessage(ctx, m)
	if err != nil || !created || m.Status != store.MsgQueued {
		return nil, err
	}
	return m, nil
}

// PlanNudges plans the one "link and receive your coupon" invitation for
// each friend of shop who has not linked the configured number of days
// after adding the account. It runs in the hourly automation sweep (the
// schedules table, so a Redis loss only delays it); the planned message
// waits out quiet hours and the daily cap like any journey message.
func (w *Worker) PlanNudges(ctx context.Context, shop *store.Shop, now time.Time) (int, error) {
	on, days := shop.Settings.Greeting.Nudge()
	if w.Friends == nil || !on || !shop.Active() || !shop.Settings.Incentive.Enabled {
		return 0, nil
	}
	fs, err := w.DB.FriendsForNudge(ctx, shop.ID, now.AddDate(0, 0, -days), nudgeBatch)
	if err != nil {
		return 0, err
	}
	planned := 0
	for i := range fs {
		f := &fs[i]
		var m *store.Message
		err := w.DB.Tx(ctx, func(tx *store.DB) error {
			if err := tx.UpdateFriend(ctx, f.ID, map[string]any{"nudged_at": now}); err != nil {
				return err
			}
			var err error
			m, err = w.planFriend(ctx, tx, shop, f, core.KindLinkNudge, "line_friend", f.ID, LinkNudgeKey(shop.ID, f.ID), now)
			return err
		})
		if err != nil {
			return planned, fmt.Errorf("nudging friend %d: %w", f.ID, err)
		}
		if m == nil {
			continue
		}
		planned++
		if err := w.Queue.EnqueueMessage(ctx, m); err != nil {
			w.log().WarnContext(ctx, "nudge left for the relay", "message_id", m.ID, "err", err)
		}
	}
	return planned, nil
}

// renderFriend builds the LINE messages of a message to a friend.
func (w *Worker) renderFriend(_ context.Context, shop *store.Shop, f *store.LineFriend, m *store.Message) ([]line.Message, error) {
	switch m.Kind {
	case core.KindLinkNudge:
		if w.Friends == nil {
			return nil, errors.New("friend messages are not configured")
		}
		return []line.Message{w.Friends.NudgeMessage(shop, f)}, nil
	}
	return nil, fmt.Errorf("no friend message of kind %s", m.Kind)
}
