package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
)

// TypeTokenSweep refreshes the token pairs of shops that have been idle so
// long that their 90-day refresh token would lapse. It runs daily; each run
// enqueues the next (one task id per day).
const TypeTokenSweep = "token:sweep"

// errWaitReauth marks an event whose Admin API work waits until the shop
// authorises again; it is reopened then (core.Tokens.Regranted).
type errWaitReauth struct{ reason string }

func (e errWaitReauth) Error() string { return e.reason }

func (w *Worker) registerTokens(mux *asynq.ServeMux) {
	mux.HandleFunc(TypeTokenSweep, func(ctx context.Context, _ *asynq.Task) error {
		now := w.now()
		if t := w.tokens(); t != nil {
			refreshed, lost, err := t.Sweep(ctx)
			if err != nil {
				return err
			}
			if refreshed+lost > 0 {
				w.log().InfoContext(ctx, "token sweep", "refreshed", refreshed, "needs_reauth", lost)
			}
		}
		return w.Queue.EnqueueTokenSweep(ctx, now.Add(24*time.Hour))
	})
}

// EnqueueTokenSweep schedules the token sweep for the day of at.
func (q *Queue) EnqueueTokenSweep(ctx context.Context, at time.Time) error {
	day := at.UTC().Truncate(24 * time.Hour)
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeTokenSweep, []byte("{}")),
		asynq.TaskID("token:sweep@"+strconv.FormatInt(day.Unix(), 10)), asynq.ProcessAt(at),
		asynq.Queue(QueueEvents), asynq.MaxRetry(5), asynq.Timeout(30*time.Minute))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueueing the token sweep: %w", err)
	}
	return nil
}

// tokens is the token lifecycle, built from the worker's parts when the
// wiring did not pass one.
func (w *Worker) tokens() *core.Tokens {
	if w.Tokens != nil {
		return w.Tokens
	}
	if w.Shopify == nil {
		return nil
	}
	return &core.Tokens{DB: w.DB, Box: w.Box, Shopify: w.Shopify, Now: w.Now, Log: w.Log}
}

// shopAdmin is the shop's Admin API client, nil when the app has no Shopify
// credentials or the shop no token. A shop that must authorise again gives
// errWaitReauth: its work waits, no call is made.
func (w *Worker) shopAdmin(shop *store.Shop) (*shopify.Admin, error) {
	ad, err := w.tokens().Admin(shop)
	return ad, waitReauth(err)
}

// waitReauth turns core.ErrNeedsReauth into errWaitReauth.
func waitReauth(err error) error {
	if errors.Is(err, core.ErrNeedsReauth) {
		return errWaitReauth{"needs_reauth: " + core.ErrorMessage(err)}
	}
	return err
}
