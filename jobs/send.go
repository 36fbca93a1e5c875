package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/templates"
)

// Reasons recorded on a message that is not sent.
const (
	ReasonNotLinked       = "not_linked"
	ReasonUnlinked        = "unlinked"
	ReasonBlocked         = "blocked"
	ReasonRedacted        = "redacted"
	ReasonShopUninstalled = core.ReasonShopUninstalled
	ReasonJourneyOff      = "journey_disabled"
	ReasonNoChannel       = "line_not_connected"
	// ReasonSecretKey: the channel's token does not decrypt with TSUNAGU_SECRET_KEY.
	ReasonSecretKey    = "secret_key_mismatch"
	ReasonFrequencyCap = "frequency_cap"
	ReasonOrderVoid    = "order_cancelled_or_refunded"
	ReasonRenderFailed = "template_error"
)

// plan records a message for cust and returns it when it should be enqueued:
// nil when it already existed or was skipped at once (with its reason stored).
func (w *Worker) plan(ctx context.Context, db *store.DB, shop *store.Shop, cust *store.Customer, kind, refType string, refID int64, key string, at time.Time) (*store.Message, error) {
	expires := core.MessageDeadline(kind, at)
	m := &store.Message{
		ShopID: shop.ID, CustomerID: &cust.ID, Kind: kind, DedupeKey: key,
		RefType: refType, RefID: refID, ScheduledFor: at, ExpiresAt: &expires,
	}
	link, reason, err := w.gate(ctx, db, shop, cust, kind)
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
	if link != nil {
		m.LineUserID = link.LineUserID
	}
	created, err := db.PlanMessage(ctx, m)
	if err != nil || !created || m.Status != store.MsgQueued {
		return nil, err
	}
	return m, nil
}

// gate checks what must hold for any message to a customer: the shop is
// installed, the customer is not redacted, linked, not blocked, and the
// journey is on. It returns the live link or the reason not to send.
func (w *Worker) gate(ctx context.Context, db *store.DB, shop *store.Shop, cust *store.Customer, kind string) (*store.LineLink, string, error) {
	switch {
	case !shop.Active():
		return nil, ReasonShopUninstalled, nil
	case cust == nil || cust.RedactedAt != nil:
		return nil, ReasonRedacted, nil
	case !shop.Settings.JourneyEnabled(kind):
		return nil, ReasonJourneyOff, nil
	}
	link, err := db.LiveLink(ctx, cust.ID)
	if errors.Is(err, store.ErrNotFound) {
		if _, err := db.LastLink(ctx, cust.ID); err == nil {
			return nil, ReasonUnlinked, nil
		}
		return nil, ReasonNotLinked, nil
	}
	if err != nil {
		return nil, "", err
	}
	if link.Blocked {
		return link, ReasonBlocked, nil
	}
	if !link.Friend {
		// LINE delivers pushes only to friends of the account; a follow
		// event makes the customer reachable again.
		return link, ReasonNotFriend, nil
	}
	return link, "", nil
}

// SendMessage sends one planned message if everything still allows it.
func (w *Worker) SendMessage(ctx context.Context, id int64) error {
	m, err := w.DB.Message(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil // erased with its shop or customer
	}
	if err != nil {
		return err
	}
	if m.Final() {
		return nil
	}
	now := w.now()
	if m.ScheduledFor.After(now.Add(time.Second)) {
		// Woken early (a relay re-enqueue); the scheduled task will come.
		return w.Queue.EnqueueMessage(ctx, m)
	}
	shop, err := w.DB.Shop(ctx, m.ShopID)
	if err != nil {
		return err
	}
	if m.Kind == core.KindScenarioStep {
		// A scenario's stop condition ends the run before the usual checks.
		stop, err := w.scenarioStop(ctx, shop, m)
		if err != nil {
			return err
		}
		if stop != "" {
			_, err := w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgQueued, store.MsgSending}, store.MsgSkipped, map[string]any{"reason": stop})
			return err
		}
	}
	// The recipient: a customer through their live link, or (invitations
	// and steps started by a friend-add) a LINE friend who may not be linked.
	// The message goes through the channel the recipient is on: the
	// friend's, or the one the customer linked on (0: the primary).
	var cust *store.Customer
	var friend *store.LineFriend
	var to, reason string
	var channelID int64
	if m.CustomerID == nil && m.FriendID != nil {
		friend, reason, err = w.friendTarget(ctx, w.DB, shop, *m.FriendID, m.Kind)
		if err != nil {
			return err
		}
		if friend != nil {
			to, channelID = friend.LineUserID, friend.ChannelID
		}
	} else {
		if m.CustomerID != nil {
			if cust, err = w.DB.Customer(ctx, shop.ID, *m.CustomerID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		var link *store.LineLink
		link, reason, err = w.gate(ctx, w.DB, shop, cust, m.Kind)
		if err != nil {
			return err
		}
		if link != nil {
			to, channelID = link.LineUserID, link.ChannelID
		}
	}
	if reason == ReasonBlocked && to != "" {
		// Without LINE's webhook an unblock is never announced: LINE's
		// profile answer tells (no-webhook mode only).
		if reason, err = w.recheckBlocked(ctx, shop, channelID, to); err != nil {
			return err
		}
	}
	if reason == "" {
		reason, err = w.stillTrue(ctx, shop, m)
		if err != nil {
			return err
		}
	}
	if reason == "" && m.ExpiresAt != nil && now.After(*m.ExpiresAt) {
		reason = core.ReasonExpired
	}
	if reason != "" {
		_, err := w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgQueued, store.MsgSending}, store.MsgSkipped, map[string]any{"reason": reason})
		return err
	}
	if next, deferred := w.quietDefer(shop, now); deferred {
		return w.reschedule(ctx, m, next)
	}
	if !transactional(m.Kind) {
		over, err := w.overCap(ctx, shop, m, now)
		if err != nil {
			return err
		}
		if over {
			return w.heldByCap(ctx, shop, m, now)
		}
	}
	ch, err := w.DB.LineChannelFor(ctx, shop.ID, channelID)
	if errors.Is(err, store.ErrNotFound) {
		_, err = w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgQueued, store.MsgSending}, store.MsgSkipped, map[string]any{"reason": ReasonNoChannel})
		return err
	}
	if err != nil {
		return err
	}
	token, err := core.MessagingToken(w.Box, ch)
	if errors.Is(err, secretbox.ErrWrongKey) {
		w.log().ErrorContext(ctx, "the secret key cannot decrypt stored credentials", "shop_id", shop.ID, "field", "line.messaging_token",
			"alert", "secret_key_mismatch", "message_id", m.ID)
		_, err = w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgQueued, store.MsgSending}, store.MsgSkipped, map[string]any{"reason": ReasonSecretKey})
		return err
	}
	if err != nil {
		_, err = w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgQueued, store.MsgSending}, store.MsgSkipped, map[string]any{"reason": ReasonNoChannel})
		return err
	}
	var msgs []line.Message
	switch {
	case m.Kind == core.KindScenarioStep:
		msgs, err = w.renderScenario(ctx, shop, cust, friend, m)
	case friend != nil:
		msgs, err = w.renderFriend(ctx, shop, friend, m)
	default:
		msgs, err = w.render(ctx, shop, ch.ID, cust, m)
	}
	if err != nil {
		_, terr := w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgQueued, store.MsgSending}, store.MsgFailed,
			map[string]any{"reason": ReasonRenderFailed + ": " + err.Error()})
		return terr
	}
	if !transactional(m.Kind) {
		reason, err := w.marketingQuota(ctx, shop, ch, token, 1)
		if err != nil {
			return err
		}
		if reason != "" {
			_, err := w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgQueued, store.MsgSending}, store.MsgSkipped, map[string]any{"reason": reason})
			return err
		}
	}
	if w.Friends != nil {
		// No-webhook mode: blocks are learnt from LINE's profile answer,
		// since a push to a blocked user is answered 200 all the same.
		reachable, err := w.Friends.CheckReachable(ctx, ch, token, to, false)
		if err != nil {
			return err
		}
		if !reachable {
			_, err := w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgQueued, store.MsgSending}, store.MsgSkipped, map[string]any{"reason": core.ReasonBlockedLearnt})
			return err
		}
	}
	// While LINE keeps failing on this channel, hold the message without
	// spending an attempt; a probe now and then finds out when it is back.
	chKey := "channel:" + strconv.FormatInt(ch.ID, 10)
	if ok, retry := w.Breaker.Allow(chKey, now); !ok {
		return w.reschedule(ctx, m, retry)
	}
	content, _ := json.Marshal(msgs)
	claim := map[string]any{"content": string(content), "attempts": m.Attempts + 1, "line_user_id": to}
	if !keyTriedBefore(m) {
		claim["key_first_tried_at"] = now.UTC() // LINE's 24 h retry-key window starts here at the earliest
	}
	var moved bool
	if transactional(m.Kind) {
		moved, err = w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgQueued, store.MsgSending}, store.MsgSending, claim)
	} else {
		// The cap check above is a cheap early exit; this claim is the one
		// that holds when several workers send to the same customer at once.
		var over bool
		moved, over, err = w.DB.ClaimUnderCap(ctx, m, core.DailyCapRule(shop, m.Kind, now), claim)
		if err == nil && over {
			return w.heldByCap(ctx, shop, m, now)
		}
	}
	if err != nil || !moved {
		w.Breaker.Done(chKey)
		return err
	}
	res, err := w.pushKind(ctx, shop.ID, m.Kind, token, to, msgs, w.retryKey(m.DedupeKey, m.RetryNonce))
	if err != nil && line.IsMonthlyLimit(err) {
		if merr := w.monthlyLimitReached(ctx, shop, ch); merr != nil {
			return merr
		}
		if !transactional(m.Kind) {
			_, terr := w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgSending}, store.MsgSkipped, map[string]any{"reason": core.ReasonMonthlyLimit})
			return terr
		}
	}
	if err != nil {
		var apiErr *line.APIError
		if errors.As(err, &apiErr) && !apiErr.Retryable() {
			// Only a refusal is final: LINE will never take this message.
			w.Breaker.Done(chKey)
			_, terr := w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgSending}, store.MsgFailed, map[string]any{"reason": failReason(err)})
			w.log().WarnContext(ctx, "LINE refused a push", "message_id", m.ID, "kind", m.Kind, "err", err)
			return terr
		}
		w.Breaker.Failure(chKey, w.now())
		return w.retryLater(ctx, m, chKey, m.Attempts+1, err)
	}
	w.Breaker.Success(chKey)
	if !res.Duplicate {
		w.countQuotaUse(ctx, ch, 1)
	}
	reqID := res.RequestID
	if res.Duplicate {
		if !keyTriedBefore(m) {
			return w.retryKeyConflict(ctx, m, res.AcceptedRequestID)
		}
		reqID = res.AcceptedRequestID
	}
	_, err = w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgSending}, store.MsgSent,
		map[string]any{"sent_at": w.now(), "line_request_id": reqID, "reason": ""})
	return err
}

// blockedAtPlan is the reason to skip a message planned for a blocked
// recipient: ReasonBlocked, except in no-webhook mode, where an unblock is
// never announced, so the message is planned and the send decides on
// LINE's profile answer (recheckBlocked).
func (w *Worker) blockedAtPlan(ctx context.Context, db *store.DB, shop *store.Shop) (string, error) {
	if w.Friends == nil {
		return ReasonBlocked, nil
	}
	ch, err := db.LineChannel(ctx, shop.ID)
	if errors.Is(err, store.ErrNotFound) {
		return ReasonBlocked, nil
	}
	if err != nil {
		return "", err
	}
	if core.NoWebhook(ch, w.now()) {
		return "", nil
	}
	return ReasonBlocked, nil
}

// recheckBlocked asks, in no-webhook mode, whether a recipient recorded as
// blocked has a LINE profile again (unblocked): then the block is cleared
// and the message may go (""); otherwise the reason stays ReasonBlocked.
func (w *Worker) recheckBlocked(ctx context.Context, shop *store.Shop, channelID int64, to string) (string, error) {
	if w.Friends == nil {
		return ReasonBlocked, nil
	}
	ch, err := w.DB.LineChannelFor(ctx, shop.ID, channelID)
	if errors.Is(err, store.ErrNotFound) {
		return ReasonBlocked, nil
	}
	if err != nil {
		return "", err
	}
	token, err := core.MessagingToken(w.Box, ch)
	if err != nil {
		return ReasonBlocked, nil
	}
	reachable, err := w.Friends.CheckReachable(ctx, ch, token, to, true)
	if err != nil || !reachable {
		return ReasonBlocked, err
	}
	return "", nil
}

// stillTrue re-checks the facts a message depends on; it returns a reason
// when the message no longer makes sense.
func (w *Worker) stillTrue(ctx context.Context, shop *store.Shop, m *store.Message) (string, error) {
	return w.journeyStillTrue(ctx, shop, m)
}

// retryLater puts a message whose push failed transiently back in the queue
// on the retry schedule (never sooner than LINE's Retry-After). The
// database holds the next try, so it survives Redis and process restarts;
// the message's deadline, not a retry count, ends the attempts.
func (w *Worker) retryLater(ctx context.Context, m *store.Message, chKey string, failures int, cause error) error {
	now := w.now()
	next := now.Add(core.SendRetryDelay(failures))
	if until, open := w.Breaker.OpenUntil(chKey); open && until.Before(next) && until.After(now) {
		// LINE is down for the channel: wait for the breaker's probe, not
		// a long backoff, so the message goes soon after LINE is back.
		next = until
	}
	if d, ok := retryAfter(cause); ok && now.Add(d).After(next) {
		next = now.Add(d) // never sooner than LINE asked
	}
	if m.ExpiresAt != nil && next.After(*m.ExpiresAt) {
		_, err := w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgSending}, store.MsgSkipped,
			map[string]any{"reason": core.ReasonExpired + ": " + failReason(cause)})
		return err
	}
	w.log().InfoContext(ctx, "LINE push will be retried", "message_id", m.ID, "kind", m.Kind, "at", next, "err", cause)
	ok, err := w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgSending}, store.MsgQueued,
		map[string]any{"scheduled_for": next.UTC(), "reason": "retrying: " + failReason(cause)})
	if err != nil || !ok {
		return err
	}
	m.ScheduledFor = next.UTC()
	if err := w.Queue.EnqueueMessage(ctx, m); err != nil {
		w.log().WarnContext(ctx, "retry left for the relay", "message_id", m.ID, "err", err)
	}
	return nil
}

func (w *Worker) reschedule(ctx context.Context, m *store.Message, at time.Time) error {
	ok, err := w.DB.TransitionMessage(ctx, m.ID, []string{store.MsgQueued, store.MsgSending}, store.MsgQueued, map[string]any{"scheduled_for": at.UTC()})
	if err != nil || !ok {
		return err
	}
	m.ScheduledFor = at.UTC()
	return w.Queue.EnqueueMessage(ctx, m)
}

// render builds the LINE messages for m from the template of the LINE
// account (channel) sending it, else the shop's.
func (w *Worker) render(ctx context.Context, shop *store.Shop, channelID int64, cust *store.Customer, m *store.Message) ([]line.Message, error) {
	var order *store.Order
	shopped := ""
	switch m.RefType {
	case "order":
		o, err := w.DB.Order(ctx, shop.ID, m.RefID)
		if err != nil {
			return nil, err
		}
		order, shopped = o, o.Locale
	case "checkout":
		if c, err := w.DB.Checkout(ctx, shop.ID, m.RefID); err == nil {
			shopped = c.Locale
		}
	}
	lang := core.MessageLang(cust.Locale, shopped, shop.Locale)
	d := templates.Data{Lang: lang, ShopName: firstNonEmpty(shop.Name, shop.Domain), ShopURL: "https://" + shop.Domain, CustomerName: core.DisplayName(cust.Name(lang))}
	if order != nil {
		d.Order = templateOrder(order)
		d.OrderStatusURL = firstNonEmpty(order.OrderStatusURL, d.ShopURL)
	}
	if m.RefType == "coupon" {
		if err := w.couponData(ctx, shop, m, &d); err != nil {
			return nil, err
		}
	}
	if err := w.journeyData(ctx, shop, m, &d); err != nil {
		return nil, err
	}
	override := shop.Settings.TemplateFor(channelID, m.Kind+"."+lang)
	raw, err := w.Templates.Render(m.Kind, lang, override, d)
	if err != nil {
		return nil, err
	}
	out := make([]line.Message, len(raw))
	for i, r := range raw {
		out[i] = line.Message(r)
	}
	return out, nil
}

func isLastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	max, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= max
}

func failReason(err error) string { return core.FailReason(err) }

// retryAfter extracts LINE's Retry-After from a send error.
func retryAfter(err error) (time.Duration, bool) {
	var apiErr *line.APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		return apiErr.RetryAfter, true
	}
	return 0, false
}
