package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
)

// errIgnore marks an event that is understood but needs no work.
type errIgnore struct{ reason string }

func (e errIgnore) Error() string { return e.reason }

// ProcessEvent applies one stored event. Processing an event twice is
// harmless; a processed event is not processed again.
func (w *Worker) ProcessEvent(ctx context.Context, id int64) error {
	ev, err := w.DB.Event(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry) // erased by shop/redact
	}
	if err != nil {
		return err
	}
	if ev.ProcessedAt != nil {
		return nil
	}
	var (
		msgs []*store.Message
		perr error
	)
	switch ev.Source {
	case "shopify":
		msgs, perr = w.processShopify(ctx, ev)
	case SourceApp:
		msgs, perr = w.processApp(ctx, ev)
	case SourceLINE:
		msgs, perr = w.processLine(ctx, ev)
	case core.SourcePixel:
		msgs, perr = w.processPixel(ctx, ev)
	default:
		perr = errIgnore{"unknown source " + ev.Source}
	}
	status, errText := store.EventProcessed, ""
	var ign errIgnore
	var wait errWaitReauth
	switch {
	case errors.As(perr, &ign):
		status, errText = store.EventIgnored, ign.reason
	case errors.As(perr, &wait):
		// Not retried: it waits (with the reason) for the shop to authorise again.
		status, errText = store.EventWaitingReauth, wait.reason
	case errors.Is(perr, errInvalidPayload):
		status, errText = store.EventInvalid, perr.Error()
	case store.IsPermanent(perr):
		// The database refuses this data; retrying for half an hour cannot
		// help. Dead-letter it now, with the reason, for an operator.
		status, errText = store.EventDead, perr.Error()
		w.log().ErrorContext(ctx, "event dead-lettered", "event_id", ev.ID, "topic", ev.Topic, "err", perr)
	case perr != nil:
		_ = w.DB.CountEventAttempt(ctx, ev.ID, perr.Error())
		if !isLastAttempt(ctx) {
			return fmt.Errorf("processing event %d (%s): %w", ev.ID, ev.Topic, perr)
		}
		status, errText = store.EventDead, perr.Error()
		w.log().ErrorContext(ctx, "event dead-lettered after its last attempt", "event_id", ev.ID, "topic", ev.Topic, "err", perr)
	}
	if err := w.DB.FinishEvent(ctx, ev.ID, status, errText, w.now()); err != nil {
		return err
	}
	// Messages are enqueued after the commit; the relay covers a crash here.
	for _, m := range msgs {
		if err := w.Queue.EnqueueMessage(ctx, m); err != nil {
			w.log().WarnContext(ctx, "message left for the relay", "message_id", m.ID, "err", err)
		}
	}
	return nil
}

var errInvalidPayload = errors.New("invalid payload")

func decode(payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: %w", errInvalidPayload, err)
	}
	// NUL bytes, broken UTF-8 and overlong fields are cleaned here, once,
	// so nothing downstream can be refused by the database for them.
	core.CleanStrings(v)
	return nil
}

func (w *Worker) processShopify(ctx context.Context, ev *store.Event) ([]*store.Message, error) {
	shop, err := w.DB.ShopByDomain(ctx, ev.ShopDomain)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errIgnore{"shop not installed"}
	}
	if err != nil {
		return nil, err
	}
	switch ev.Topic {
	case shopify.TopicOrdersCreate, shopify.TopicOrdersPaid, shopify.TopicOrdersUpdated, shopify.TopicOrdersCancelled:
		var o shopify.Order
		if err := decode(ev.Payload, &o); err != nil {
			return nil, err
		}
		return w.applyOrder(ctx, shop, ev.Topic, &o)
	case shopify.TopicFulfillmentsCreate, shopify.TopicFulfillmentsUpdate:
		var f shopify.Fulfillment
		if err := decode(ev.Payload, &f); err != nil {
			return nil, err
		}
		return w.applyFulfillment(ctx, shop, &f)
	case shopify.TopicCheckoutsCreate, shopify.TopicCheckoutsUpdate:
		var c shopify.Checkout
		if err := decode(ev.Payload, &c); err != nil {
			return nil, err
		}
		return w.applyCheckout(ctx, shop, &c)
	case shopify.TopicCustomersCreate, shopify.TopicCustomersUpdate:
		var c shopify.Customer
		if err := decode(ev.Payload, &c); err != nil {
			return nil, err
		}
		return nil, w.applyCustomer(ctx, shop, &c)
	case shopify.TopicCustomerTagsAdded, shopify.TopicCustomerTagsRemoved:
		return nil, w.applyCustomerTags(ctx, shop, ev, ev.Topic == shopify.TopicCustomerTagsAdded)
	case shopify.TopicEmailConsentUpdate, shopify.TopicSMSConsentUpdate:
		return nil, w.applyConsent(ctx, shop, ev)
	case shopify.TopicBulkOperationsFinish:
		return nil, w.applyBulkFinish(ctx, shop, ev)
	case shopify.TopicAppUninstalled:
		return nil, w.shopUninstalled(ctx, shop, ev)
	case shopify.TopicCustomersDataRequest:
		return nil, w.customersDataRequest(ctx, shop, ev)
	case shopify.TopicCustomersRedact:
		return nil, w.customersRedact(ctx, shop, ev)
	case shopify.TopicShopRedact:
		return nil, w.shopRedact(ctx, shop, ev)
	}
	return nil, errIgnore{"no handler for topic " + ev.Topic}
}
