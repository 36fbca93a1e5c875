package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
)

// TypeForwardWebhook delivers one verified LINE webhook request, unchanged,
// to one of the shop's forwarding destinations. Each destination has its
// own task, so one that is down is retried (Asynq's backoff, RetryDelay)
// without holding up the others.
const TypeForwardWebhook = "line:forward"

// QueueForwards is the queue of forwarded webhooks: below events and
// messages, so a slow destination never delays Tsunagu's own work.
const QueueForwards = "forwards"

// forwardRetries spans about an hour of backoff (2 s doubling to 10 min).
const forwardRetries = 12

// forwardPayload names an outbox row (QueueID). Tasks queued before the
// outbox existed carry the request itself (ForwardID, Body, Signature).
type forwardPayload struct {
	QueueID   int64  `json:"queue_id,omitempty"`
	ForwardID int64  `json:"forward_id,omitempty"`
	Body      []byte `json:"body,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// ForwardTaskID is the task id of an outbox row: the hand-off and the relay
// offering the same row make one task.
func ForwardTaskID(queueID int64) string { return "fwd:" + strconv.FormatInt(queueID, 10) }

// EnqueueQueuedForward asks a worker to deliver outbox row id; a task
// already there for it is not an error.
func (q *Queue) EnqueueQueuedForward(ctx context.Context, id int64) error {
	b, _ := json.Marshal(forwardPayload{QueueID: id})
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeForwardWebhook, b), asynq.TaskID(ForwardTaskID(id)),
		asynq.Queue(QueueForwards), asynq.MaxRetry(forwardRetries), asynq.Timeout(30*time.Second), asynq.Retention(0))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueueing queued forward %d: %w", id, err)
	}
	return nil
}

func (w *Worker) registerForwards(mux *asynq.ServeMux) {
	mux.HandleFunc(TypeForwardWebhook, func(ctx context.Context, t *asynq.Task) error {
		var p forwardPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("decoding %s payload: %w: %w", t.Type(), err, asynq.SkipRetry)
		}
		if w.Forwards == nil {
			return fmt.Errorf("forwarding not configured: %w", asynq.SkipRetry)
		}
		if p.QueueID != 0 {
			return w.Forwards.DeliverQueued(ctx, p.QueueID, isLastAttempt(ctx))
		}
		return w.Forwards.Deliver(ctx, p.ForwardID, p.Body, p.Signature)
	})
}

// Forwarder records a verified LINE webhook request for forwarding and
// hands it to the queue. Forward writes one outbox row per destination
// (forward_outbox) before the webhook is answered; a background goroutine
// enqueues them and records that the channel's webhook reaches Tsunagu
// (the admin's no-webhook indication). When Redis is down or the buffer is
// full the rows wait for the relay, so no forward is lost.
type Forwarder struct {
	db    *store.DB
	queue *Queue
	log   *slog.Logger
	ch    chan forwardJob
	wg    sync.WaitGroup

	mu sync.Mutex
	// touched is when this process last recorded a webhook per channel: the
	// column is written at most once a minute, so most requests skip it.
	touched map[int64]time.Time
	// dests caches each shop's destination ids for forwardCacheTTL.
	dests map[int64]cachedDests
}

// forwardCacheTTL is how long a shop's destination list is reused: a
// destination added or removed takes effect within it.
const forwardCacheTTL = 10 * time.Second

type cachedDests struct {
	ids []int64
	at  time.Time
}

type forwardJob struct {
	shopID    int64
	channelID int64   // the channel whose webhook URL received the request
	rows      []int64 // outbox rows to enqueue
}

// NewForwarder starts workers goroutines enqueueing forwards.
func NewForwarder(db *store.DB, q *Queue, log *slog.Logger, workers, buffer int) *Forwarder {
	f := &Forwarder{db: db, queue: q, log: log, ch: make(chan forwardJob, buffer), touched: map[int64]time.Time{}, dests: map[int64]cachedDests{}}
	for range workers {
		f.wg.Add(1)
		go f.loop()
	}
	return f
}

func (f *Forwarder) loop() {
	defer f.wg.Done()
	for j := range f.ch {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		now := time.Now()
		f.mu.Lock()
		touch := now.Sub(f.touched[j.channelID]) >= time.Minute
		if touch {
			f.touched[j.channelID] = now
		}
		f.mu.Unlock()
		if touch {
			if err := f.db.TouchLineWebhook(ctx, j.channelID, now); err != nil {
				f.log.Warn("LINE webhook arrival not recorded", "shop_id", j.shopID, "err", err)
			}
		}
		for _, id := range j.rows {
			if err := f.queue.EnqueueQueuedForward(ctx, id); err != nil {
				f.log.Debug("forward left for the relay", "shop_id", j.shopID, "queue_id", id, "err", err)
				break
			}
		}
		cancel()
	}
}

// Forward stores the request for each of the shop's destinations (one
// outbox row each, before the webhook is answered: an error means it was
// not stored) and offers the rows to the queue without waiting.
func (f *Forwarder) Forward(ctx context.Context, shopID, channelID int64, body []byte, signature string) error {
	ids, err := f.destinations(ctx, shopID)
	if err != nil {
		return err
	}
	var rows []int64
	if len(ids) > 0 {
		now := time.Now()
		if rows, err = f.db.QueueForwards(ctx, shopID, ids, body, signature, now, now.Add(core.ForwardGrace)); err != nil {
			return err
		}
	}
	select {
	case f.ch <- forwardJob{shopID: shopID, channelID: channelID, rows: rows}:
	default:
		if len(rows) > 0 {
			f.log.Debug("forward hand-off buffer full; left for the relay", "shop_id", shopID)
		}
	}
	return nil
}

func (f *Forwarder) destinations(ctx context.Context, shopID int64) ([]int64, error) {
	now := time.Now()
	f.mu.Lock()
	c, ok := f.dests[shopID]
	f.mu.Unlock()
	if ok && now.Sub(c.at) < forwardCacheTTL {
		return c.ids, nil
	}
	dests, err := f.db.WebhookForwards(ctx, shopID)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(dests))
	for i, d := range dests {
		ids[i] = d.ID
	}
	f.mu.Lock()
	f.dests[shopID] = cachedDests{ids: ids, at: now}
	f.mu.Unlock()
	return ids, nil
}

// Close stops accepting requests and waits for the ones in hand.
func (f *Forwarder) Close() {
	close(f.ch)
	f.wg.Wait()
}
