package jobs

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
)

// ScheduleHistory is a prefix: "history:<shop id>", the shop's history
// import. It polls every historyPollEvery until the import has ended (the
// bulk_operations/finish webhook makes it due at once), then it is deleted.
// The row in schedules, not a task, carries it, so a Redis loss or a worker
// crash resumes it from the import's cursor.
const ScheduleHistory = "history:"

const historyPollEvery = 30 * time.Second

// HistorySchedule is the name of the shop's history import schedule.
func HistorySchedule(shopID int64) string { return ScheduleHistory + strconv.FormatInt(shopID, 10) }

// RequestHistoryRun makes the shop's history import step due now and
// enqueues it (the reconciler enqueues it if this enqueue fails).
func RequestHistoryRun(ctx context.Context, db *store.DB, q *Queue, shopID int64, now time.Time) error {
	name := HistorySchedule(shopID)
	at, err := db.RequestScheduleRun(ctx, name, historyPollEvery, now)
	if err != nil {
		return err
	}
	if at.After(now) {
		return nil
	}
	return q.EnqueueScheduledRun(ctx, name, at)
}

// history is the history import built from the worker's parts.
func (w *Worker) history() *core.History {
	h := &core.History{DB: w.DB, Tokens: w.tokens(), Log: w.Log, Now: w.Now}
	if w.Shopify != nil {
		h.Results = w.Shopify
	}
	return h
}

// HistoryStep moves the shop's history import on; ended when nothing is
// left to do. A shop that must authorise again waits without Admin API
// calls (the poll only reads the database) and resumes after.
func (w *Worker) HistoryStep(ctx context.Context, shopID int64) (ended bool, err error) {
	shop, err := w.DB.Shop(ctx, shopID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if !shop.Active() {
		return true, nil
	}
	if w.Shopify == nil {
		return true, nil
	}
	ended, err = w.history().Step(ctx, shop)
	if errors.Is(err, core.ErrNeedsReauth) {
		w.log().InfoContext(ctx, "history import waits for the shop to authorise again", "shop", shop.Domain)
		return false, nil
	}
	return ended, err
}

// applyBulkFinish handles bulk_operations/finish: the import it belongs to
// takes its next step now instead of at the next poll.
func (w *Worker) applyBulkFinish(ctx context.Context, shop *store.Shop, ev *store.Event) error {
	var f shopify.BulkOperationFinish
	if err := decode(ev.Payload, &f); err != nil {
		return err
	}
	imp, err := w.DB.HistoryImportByBulkID(ctx, f.AdminGraphQLAPIID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && imp.ShopID != shop.ID) {
		return errIgnore{"not a history import's bulk operation"}
	}
	if err != nil {
		return err
	}
	return RequestHistoryRun(ctx, w.DB, w.Queue, shop.ID, w.now())
}
