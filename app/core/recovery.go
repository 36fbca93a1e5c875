package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
)

// RetryKeyWindow is how long LINE remembers an accepted X-Line-Retry-Key:
// a second request with the key within it is answered 409 and not sent.
const RetryKeyWindow = 24 * time.Hour

// retryKeyMargin keeps a re-send with the old key well inside LINE's
// window (clock skew, the time the re-send waits in the queue).
const retryKeyMargin = time.Hour

// ResendLifetime is how long a re-sent message may wait (LINE down, quiet
// hours) before it is skipped as expired.
const ResendLifetime = 6 * time.Hour

// Recovery is what an operator does by hand after a failure: re-send a
// failed message, replay a dead-lettered event. Every action is audited.
type Recovery struct {
	DB  *store.DB
	Now func() time.Time
}

func (r *Recovery) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Resent is the outcome of a re-send: the message to enqueue, and whether
// it reuses the failed message's retry key (so LINE dedupes it against an
// earlier request it accepted) or is a new message.
type Resent struct {
	Message *store.Message
	SameKey bool
}

// Resend sends the shop's failed message id again, for actor.
//   - Within LINE's retry-key window of the key's first use, the same row
//     goes back to the queue with the same key: if LINE had taken an
//     earlier try whose answer was lost, LINE answers 409 and nothing is
//     delivered twice (the worker records it as sent).
//   - Later, LINE no longer knows the key: a new message row (its own key)
//     is planned and the failed one keeps its status, naming the new one.
//
// A message that is not failed (already re-sent, or sent) is refused, so a
// double click never sends twice.
func (r *Recovery) Resend(ctx context.Context, shopID, id int64, actor string) (*Resent, error) {
	now := r.now()
	var out *Resent
	err := r.DB.Tx(ctx, func(tx *store.DB) error {
		m, err := tx.Message(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && m.ShopID != shopID) {
			return Errorf(ENOTFOUND, "message %d not found", id)
		}
		if err != nil {
			return err
		}
		switch {
		case m.Status != store.MsgFailed:
			return Errorf(ECONFLICT, "only a failed message can be re-sent; message %d is %s", id, m.Status)
		case m.CampaignID != nil:
			return Errorf(EINVALID, "message %d belongs to a campaign; campaign messages are not re-sent one by one", id)
		case m.CustomerID == nil:
			return Errorf(EINVALID, "message %d has no customer to send to", id)
		}
		expires := now.Add(ResendLifetime)
		if ResendKeepsKey(m, now) {
			ok, err := tx.TransitionMessage(ctx, id, []string{store.MsgFailed}, store.MsgQueued, map[string]any{
				"scheduled_for": now, "expires_at": expires, "reason": "re-sent by " + actor,
			})
			if err != nil {
				return err
			}
			if !ok {
				return Errorf(ECONFLICT, "message %d was re-sent already", id)
			}
			if m, err = tx.Message(ctx, id); err != nil {
				return err
			}
			out = &Resent{Message: m, SameKey: true}
		} else {
			nm := &store.Message{
				ShopID: m.ShopID, CustomerID: m.CustomerID, Kind: m.Kind, RefType: m.RefType, RefID: m.RefID,
				DedupeKey:    m.DedupeKey + "/resend:" + strconv.FormatInt(m.ID, 10),
				LineUserID:   m.LineUserID,
				ScheduledFor: now, ExpiresAt: &expires, Status: store.MsgQueued,
			}
			created, err := tx.PlanMessage(ctx, nm)
			if err != nil {
				return err
			}
			if !created {
				return Errorf(ECONFLICT, "message %d was re-sent already (as message %d)", id, nm.ID)
			}
			if _, err := tx.TransitionMessage(ctx, id, []string{store.MsgFailed}, store.MsgFailed, map[string]any{
				"reason": fmt.Sprintf("%s; re-sent by %s as message %d", m.Reason, actor, nm.ID),
			}); err != nil {
				return err
			}
			out = &Resent{Message: nm}
		}
		detail := "same retry key (within LINE's 24 h window)"
		if !out.SameKey {
			detail = fmt.Sprintf("as new message %d (LINE's 24 h retry-key window had passed)", out.Message.ID)
		}
		return tx.AddAudit(ctx, &store.AuditEntry{ShopID: shopID, Actor: actor, Action: store.AuditResend,
			RefType: "message", RefID: id, Detail: detail, CreatedAt: now})
	})
	if err != nil {
		return nil, fmt.Errorf("re-sending message %d: %w", id, err)
	}
	return out, nil
}

// ResendKeepsKey reports whether a re-send of m at now reuses its retry
// key: whether LINE still remembers any request m's current key could have
// been accepted under. LINE's window starts when it accepted the key, never
// before the key's first use (or, for rows from before that was recorded,
// the message's creation).
func ResendKeepsKey(m *store.Message, now time.Time) bool {
	first := m.CreatedAt
	if m.KeyFirstTriedAt != nil {
		first = *m.KeyFirstTriedAt
	}
	return now.Before(first.Add(RetryKeyWindow - retryKeyMargin))
}

// Replay puts the shop's dead-lettered event id back into the outbox for
// actor. Replaying is idempotent: an event that is no longer dead (already
// replayed) is refused, and applying an event twice sends nothing twice
// (messages are keyed). The caller hands the event to the queue.
func (r *Recovery) Replay(ctx context.Context, shop *store.Shop, id int64, actor string) error {
	err := r.DB.Tx(ctx, func(tx *store.DB) error {
		ok, err := tx.ReplayEvent(ctx, shop.Domain, id)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(ECONFLICT, "event %d is not dead-lettered (replayed already?)", id)
		}
		return tx.AddAudit(ctx, &store.AuditEntry{ShopID: shop.ID, Actor: actor, Action: store.AuditReplay,
			RefType: "event", RefID: id, CreatedAt: r.now()})
	})
	if err != nil {
		return fmt.Errorf("replaying event %d: %w", id, err)
	}
	return nil
}

// ReplayAll replays every dead-lettered event of the shop (up to limit)
// and returns their ids.
func (r *Recovery) ReplayAll(ctx context.Context, shop *store.Shop, actor string, limit int) ([]int64, error) {
	dead, err := r.DB.DeadEvents(ctx, shop.Domain, limit)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, e := range dead {
		err := r.Replay(ctx, shop, e.ID, actor)
		if ErrorCode(err) == ECONFLICT {
			continue // replayed meanwhile
		}
		if err != nil {
			return ids, err
		}
		ids = append(ids, e.ID)
	}
	return ids, nil
}

// EventSummary describes a webhook payload in one short line for the
// dead-letter list: its id, name and number of line items, and its size.
// It shows no personal data (no e-mail, address or phone).
func EventSummary(payload []byte) string {
	size := fmt.Sprintf("%.1f kB", float64(len(payload))/1000)
	var p struct {
		ID        json.Number       `json:"id"`
		Name      string            `json:"name"`
		LineItems []json.RawMessage `json:"line_items"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return "not a JSON object, " + size
	}
	var parts []string
	if p.ID != "" {
		parts = append(parts, "id "+p.ID.String())
	}
	if p.Name != "" {
		parts = append(parts, DisplayName(p.Name))
	}
	if len(p.LineItems) > 0 {
		parts = append(parts, strconv.Itoa(len(p.LineItems))+" line items")
	}
	return strings.Join(append(parts, size), ", ")
}
