package jobs

import (
	"context"
	"errors"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
)

// TypeTokenSweep is the daily token sweep as it used to run: a task that
// enqueued its successor, which a Redis wipe ended for good. The sweep is
// now the "token_sweep" schedule (see Reconciler); a leftover task of this
// type runs one sweep and nothing more.
const TypeTokenSweep = "token:sweep"

// errWaitReauth marks an event whose Admin API work waits until the shop
// authorises again; it is reopened then (core.Tokens.Regranted).
type errWaitReauth struct{ reason string }

func (e errWaitReauth) Error() string { return e.reason }

func (w *Worker) registerTokens(mux *asynq.ServeMux) {
	mux.HandleFunc(TypeTokenSweep, func(ctx context.Context, _ *asynq.Task) error {
		return w.TokenSweep(ctx)
	})
}

// TokenSweep refreshes the token pairs of shops that have been idle so long
// that their 90-day refresh token would lapse (core.Tokens.Sweep).
func (w *Worker) TokenSweep(ctx context.Context) error {
	t := w.tokens()
	if t == nil {
		return nil
	}
	refreshed, lost, err := t.Sweep(ctx)
	if err != nil {
		return err
	}
	if refreshed+lost > 0 {
		w.log().InfoContext(ctx, "token sweep", "refreshed", refreshed, "needs_reauth", lost)
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
