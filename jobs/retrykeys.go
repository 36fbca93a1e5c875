package jobs

import (
	"context"
	"strconv"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// ReasonRetryKeyConflict is recorded on a message (while it waits for its
// next try) when LINE answered 409 for a retry key this installation had
// never used: the accepted request was someone else's.
const ReasonRetryKeyConflict = "retry_key_conflict"

// retryKey is the X-Line-Retry-Key for dedupeKey: salted with the
// installation's random id, so two installations on one channel (staging
// and production) never share a key, and moved on by nonce after a
// conflict. Every retry of the same message carries the same key.
func (w *Worker) retryKey(dedupeKey string, nonce int) string {
	s := dedupeKey
	if w.InstallationID != "" {
		s = w.InstallationID + "/" + s
	}
	if nonce > 0 {
		s += "#" + strconv.Itoa(nonce)
	}
	return line.RetryKey(s)
}

// keyTriedBefore reports whether an earlier attempt of m (as loaded before
// this attempt's claim) used its current retry key. Only then can a 409
// name our own request — one LINE accepted before the worker could record
// it. A 409 on a key's first use is another sender's.
func keyTriedBefore(m *store.Message) bool { return m.Attempts > m.RetryKeyFrom }

// retryKeyConflict records that LINE holds m's key for a request that is not
// ours and queues m again under a fresh key; it is never recorded as sent.
func (w *Worker) retryKeyConflict(ctx context.Context, m *store.Message, acceptedID string) error {
	w.log().WarnContext(ctx, "LINE retry key already used by another sender; retrying under a fresh key",
		"message_id", m.ID, "kind", m.Kind, "accepted_request_id", acceptedID)
	next := w.now().Add(time.Second).UTC()
	ok, err := w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgSending}, store.MsgQueued, map[string]any{
		"retry_nonce": m.RetryNonce + 1, "retry_key_from": m.Attempts + 1, "scheduled_for": next,
		"reason": ReasonRetryKeyConflict + ": LINE had accepted request " + acceptedID + " under this key",
	})
	if err != nil || !ok {
		return err
	}
	m.ScheduledFor = next
	return w.Queue.EnqueueMessage(ctx, m)
}
