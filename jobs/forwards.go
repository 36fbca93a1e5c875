package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

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

type forwardPayload struct {
	ForwardID int64  `json:"forward_id"`
	Body      []byte `json:"body"`
	Signature string `json:"signature"`
}

// EnqueueForward asks a worker to deliver body with its signature to destination id.
func (q *Queue) EnqueueForward(ctx context.Context, id int64, body []byte, signature string) error {
	b, _ := json.Marshal(forwardPayload{ForwardID: id, Body: body, Signature: signature})
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeForwardWebhook, b),
		asynq.Queue(QueueForwards), asynq.MaxRetry(forwardRetries), asynq.Timeout(30*time.Second), asynq.Retention(0))
	if err != nil {
		return fmt.Errorf("enqueueing forward to destination %d: %w", id, err)
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
		return w.Forwards.Deliver(ctx, p.ForwardID, p.Body, p.Signature)
	})
}

// Forwarder does what follows a verified LINE webhook request off the
// request path: it records that the channel's webhook reaches Tsunagu (the
// admin's no-webhook indication) and queues one forward per destination;
// the webhook is acknowledged without waiting for either. A full buffer or a Redis outage drops the
// forward (logged); LINE's own delivery to Tsunagu is not affected.
type Forwarder struct {
	db    *store.DB
	queue *Queue
	log   *slog.Logger
	ch    chan forwardJob
	wg    sync.WaitGroup

	mu sync.Mutex
	// touched is when this process last recorded a webhook per shop: the
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
	body      []byte
	signature string
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
		touch := now.Sub(f.touched[j.shopID]) >= time.Minute
		if touch {
			f.touched[j.shopID] = now
		}
		f.mu.Unlock()
		if touch {
			if err := f.db.TouchLineWebhook(ctx, j.shopID, now); err != nil {
				f.log.Warn("LINE webhook arrival not recorded", "shop_id", j.shopID, "err", err)
			}
		}
		if err := f.Enqueue(ctx, j.shopID, j.body, j.signature); err != nil {
			f.log.Warn("LINE webhook not forwarded", "shop_id", j.shopID, "err", err)
		}
		cancel()
	}
}

// Enqueue enqueues one delivery per destination of the shop.
func (f *Forwarder) Enqueue(ctx context.Context, shopID int64, body []byte, signature string) error {
	ids, err := f.destinations(ctx, shopID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := f.queue.EnqueueForward(ctx, id, body, signature); err != nil {
			return err
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

// Forward offers a request without blocking.
func (f *Forwarder) Forward(shopID int64, body []byte, signature string) {
	select {
	case f.ch <- forwardJob{shopID: shopID, body: body, signature: signature}:
	default:
		f.log.Warn("LINE webhook not forwarded: buffer full", "shop_id", shopID)
	}
}

// Close stops accepting requests and waits for the ones in hand.
func (f *Forwarder) Close() {
	close(f.ch)
	f.wg.Wait()
}
