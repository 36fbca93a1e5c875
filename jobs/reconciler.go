package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/store"
)

// Everything scheduled lives in the database as well as in Redis: campaign
// starts in campaigns, periodic work in schedules. The Reconciler, run by
// every process, puts back into Redis whatever it lost (a flush, a failover
// without persistence) within one interval, without a restart. Task ids
// make its re-enqueues harmless while the tasks still exist.

// TypeScheduledRun runs one due run of a schedule; its handler moves the
// schedule on, so a run is repeated only if it did not finish.
const TypeScheduledRun = "schedule:run"

// Schedules.
const (
	// ScheduleAutomationSweep plans automations every hour.
	ScheduleAutomationSweep = "automation_sweep"
	// ScheduleTokenSweep refreshes idle shops' token pairs every day.
	ScheduleTokenSweep = "token_sweep"
	// ScheduleRichMenuSync is a prefix: "richmenu_sync:<shop id>", hourly
	// and on demand (RequestRichMenuSync).
	ScheduleRichMenuSync = "richmenu_sync:"
)

// Intervals of the built-in schedules.
const (
	automationSweepEvery = time.Hour
	tokenSweepEvery      = 24 * time.Hour
	richMenuSyncEvery    = time.Hour
)

// RichMenuSchedule is the name of shop's rich-menu sync schedule.
func RichMenuSchedule(shopID int64) string {
	return ScheduleRichMenuSync + strconv.FormatInt(shopID, 10)
}

// RequestRichMenuSync makes the shop's rich-menu sync due now (stored in
// schedules, so a Redis loss cannot drop it) and enqueues it; if the
// enqueue fails the reconciler enqueues it within its interval.
func RequestRichMenuSync(ctx context.Context, db *store.DB, q *Queue, shopID int64, now time.Time) error {
	name := RichMenuSchedule(shopID)
	at, err := db.RequestScheduleRun(ctx, name, richMenuSyncEvery, now)
	if err != nil {
		return err
	}
	if at.After(now) {
		return nil
	}
	return q.EnqueueScheduledRun(ctx, name, at)
}

type scheduledRunPayload struct {
	Name string `json:"name"`
	At   int64  `json:"at"`
}

// EnqueueScheduledRun enqueues the run of schedule name due at (one task per run).
func (q *Queue) EnqueueScheduledRun(ctx context.Context, name string, at time.Time) error {
	b, _ := json.Marshal(scheduledRunPayload{Name: name, At: at.Unix()})
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeScheduledRun, b),
		asynq.TaskID("schedule:"+name+"@"+strconv.FormatInt(at.Unix(), 10)),
		asynq.Queue(QueueMessages), asynq.MaxRetry(5), asynq.Timeout(30*time.Minute))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueueing run of %s: %w", name, err)
	}
	return nil
}

func (w *Worker) registerSchedules(mux *asynq.ServeMux) {
	mux.HandleFunc(TypeScheduledRun, func(ctx context.Context, t *asynq.Task) error {
		var p scheduledRunPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("decoding %s payload: %w: %w", t.Type(), err, asynq.SkipRetry)
		}
		return w.RunScheduled(ctx, p.Name, time.Unix(p.At, 0).UTC())
	})
}

// RunScheduled does the run of schedule name due at, unless it was done.
func (w *Worker) RunScheduled(ctx context.Context, name string, at time.Time) error {
	due, err := w.DB.ScheduleDue(ctx, name, at)
	if err != nil || !due {
		return err
	}
	now := w.now()
	switch {
	case name == ScheduleAutomationSweep:
		err = w.AutomationSweep(ctx, now)
	case name == ScheduleTokenSweep:
		err = w.TokenSweep(ctx)
	case strings.HasPrefix(name, ScheduleRichMenuSync):
		id, perr := strconv.ParseInt(strings.TrimPrefix(name, ScheduleRichMenuSync), 10, 64)
		if perr != nil {
			return fmt.Errorf("schedule %s: %w: %w", name, perr, asynq.SkipRetry)
		}
		_, err = w.SyncRichMenus(ctx, id)
	case name == ScheduleInsightSweep:
		_, err = w.ReadInsights(ctx, 0)
	case strings.HasPrefix(name, ScheduleInsight):
		id, perr := strconv.ParseInt(strings.TrimPrefix(name, ScheduleInsight), 10, 64)
		if perr != nil {
			return fmt.Errorf("schedule %s: %w: %w", name, perr, asynq.SkipRetry)
		}
		if _, err = w.ReadInsights(ctx, id); err == nil {
			return w.DB.DeleteSchedule(ctx, name, at)
		}
	case strings.HasPrefix(name, ScheduleHistory):
		id, perr := strconv.ParseInt(strings.TrimPrefix(name, ScheduleHistory), 10, 64)
		if perr != nil {
			return fmt.Errorf("schedule %s: %w: %w", name, perr, asynq.SkipRetry)
		}
		ended, herr := w.HistoryStep(ctx, id)
		if herr == nil && ended {
			return w.DB.DeleteSchedule(ctx, name, at)
		}
		err = herr
	default:
		w.log().WarnContext(ctx, "unknown schedule", "schedule", name)
	}
	if err != nil {
		return fmt.Errorf("running %s: %w", name, err)
	}
	_, err = w.DB.FinishScheduledRun(ctx, name, at, now)
	return err
}

// Reconciler re-creates in Redis the work the database says is due.
type Reconciler struct {
	DB       *store.DB
	Queue    *Queue
	Log      *slog.Logger
	Interval time.Duration // default 30s
	Now      func() time.Time
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// Run reconciles until ctx is done, first ensuring the built-in schedules.
func (r *Reconciler) Run(ctx context.Context) {
	interval := r.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	ensured, failing := false, false
	for {
		var err error
		if !ensured {
			err = r.EnsureBuiltins(ctx)
			ensured = err == nil
		}
		if err == nil {
			_, err = r.Reconcile(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && !failing:
			r.log().Warn("reconciler cannot restore scheduled work; will retry", "err", err)
			failing = true
		case err == nil && failing:
			r.log().Info("reconciler recovered")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// EnsureBuiltins creates the built-in schedules that do not exist yet: the
// automation sweep from the next full hour, the insight read at the next
// 04:00 in Japan, the token sweep at once.
func (r *Reconciler) EnsureBuiltins(ctx context.Context) error {
	now := r.now()
	if err := r.DB.EnsureSchedule(ctx, ScheduleAutomationSweep, automationSweepEvery, now.Truncate(time.Hour).Add(time.Hour)); err != nil {
		return err
	}
	if err := r.DB.EnsureSchedule(ctx, ScheduleInsightSweep, insightSweepEvery, insightSweepFirst(now)); err != nil {
		return err
	}
	return r.DB.EnsureSchedule(ctx, ScheduleTokenSweep, tokenSweepEvery, now)
}

func (r *Reconciler) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// Reconcile enqueues every due schedule run and every campaign that should
// be running; it returns how many tasks it offered.
func (r *Reconciler) Reconcile(ctx context.Context) (int, error) {
	now := r.now()
	n := 0
	due, err := r.DB.DueSchedules(ctx, now)
	if err != nil {
		return n, err
	}
	for _, s := range due {
		if err := r.Queue.EnqueueScheduledRun(ctx, s.Name, s.NextAt); err != nil {
			return n, err
		}
		n++
	}
	camps, err := r.DB.CampaignStarts(ctx, now)
	if err != nil {
		return n, err
	}
	for _, c := range camps {
		// Keyed on the scheduled time, the same task id the scheduling
		// request used: while that task exists this is a no-op.
		at := c.CreatedAt
		if c.ScheduledAt != nil {
			at = *c.ScheduledAt
		}
		if err := r.Queue.EnqueueCampaign(ctx, c.ID, at); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
