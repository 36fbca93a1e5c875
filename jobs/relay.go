package jobs

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
)

// Relay is the outbox sweeper. Events and messages are written to the
// database first; the relay enqueues whatever was not enqueued (Redis down,
// a crash between commit and enqueue, a worker killed mid-send). Task ids
// make its re-enqueues harmless, so every process may run one.
type Relay struct {
	DB       *store.DB
	Queue    *Queue
	Log      *slog.Logger
	Interval time.Duration // default 2s
	Grace    time.Duration // how long a row may wait before the relay steps in; default 5s
	Batch    int           // default 500
	Now      func() time.Time
}

func (r *Relay) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Run sweeps until ctx is done.
func (r *Relay) Run(ctx context.Context) {
	interval := r.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		n, err := r.Sweep(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && !failing:
			r.log().Warn("outbox relay cannot enqueue; will retry", "err", err)
			failing = true
		case err == nil && failing:
			r.log().Info("outbox relay recovered", "enqueued", n)
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Relay) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// Sweep enqueues one round of waiting events and messages; it returns how many.
func (r *Relay) Sweep(ctx context.Context) (int, error) {
	grace := r.Grace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	batch := r.Batch
	if batch <= 0 {
		batch = 500
	}
	now := r.now()
	cutoff := now.Add(-grace)
	n := 0
	// Events are taken by next-attempt time and held for a while once
	// offered, so each round offers different events: old ones that keep
	// failing (and sit in Asynq's retry set) cannot hide new ones.
	ids, err := r.DB.ClaimPendingEvents(ctx, now, cutoff, time.Minute, batch)
	if err != nil {
		return n, err
	}
	for i, id := range ids {
		if err := r.Queue.EnqueueEvent(ctx, id); err != nil {
			// Not offered after all: let the next round take them at once.
			_ = r.DB.ReleaseEvents(context.WithoutCancel(ctx), ids[i:])
			return n, err
		}
		n++
	}
	// Forwards whose hand-off did not happen (Redis down, a full buffer, a
	// crash) or whose task was lost; a row whose task is still retrying is
	// held (core.ForwardHold), and the task id makes a second offer harmless.
	fwd, err := r.DB.ClaimDueForwards(ctx, now, core.ForwardHold, batch)
	if err != nil {
		return n, err
	}
	for i, id := range fwd {
		if err := r.Queue.EnqueueQueuedForward(ctx, id); err != nil {
			_ = r.DB.ReleaseForwards(context.WithoutCancel(ctx), fwd[i:], now)
			return n, err
		}
		n++
	}
	due, err := r.DB.DueMessages(ctx, cutoff, batch)
	if err != nil {
		return n, err
	}
	stuck, err := r.DB.StuckSending(ctx, r.now().Add(-2*time.Minute), batch)
	if err != nil {
		return n, err
	}
	for _, m := range append(due, stuck...) {
		if err := r.Queue.EnqueueMessage(ctx, &m); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Dispatcher hands freshly stored events to the queue off the request path,
// so a webhook is acknowledged as soon as it is stored. When the queue is
// full or Redis is down, events simply wait for the relay.
type Dispatcher struct {
	queue *Queue
	log   *slog.Logger
	ch    chan int64
	wg    sync.WaitGroup
}

// NewDispatcher starts workers goroutines enqueueing event ids.
func NewDispatcher(q *Queue, log *slog.Logger, workers, buffer int) *Dispatcher {
	d := &Dispatcher{queue: q, log: log, ch: make(chan int64, buffer)}
	for i := 0; i < workers; i++ {
		d.wg.Add(1)
		go d.loop()
	}
	return d
}

func (d *Dispatcher) loop() {
	defer d.wg.Done()
	for id := range d.ch {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := d.queue.EnqueueEvent(ctx, id); err != nil {
			d.log.Debug("event left for the relay", "event_id", id, "err", err)
		}
		cancel()
	}
}

// Dispatch offers an event id without blocking.
func (d *Dispatcher) Dispatch(id int64) {
	select {
	case d.ch <- id:
	default:
	}
}

// Close stops accepting ids and waits for the ones in hand.
func (d *Dispatcher) Close() {
	close(d.ch)
	d.wg.Wait()
}
