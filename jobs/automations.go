package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/store"
)

// Automation message kinds (the seeds' "scenario delivery").
const (
	KindBirthday     = "birthday"
	KindWinBack      = "win_back"
	KindCouponExpiry = "coupon_expiry"
)

// TypeAutomationSweep plans automation messages for every shop. Each run
// enqueues the next one an hour later (task id per hour), so one enqueue at
// start-up keeps the chain going; the messages' dedupe keys make a repeated
// sweep harmless.
const TypeAutomationSweep = "automation:sweep"

// Defaults for automations.
const (
	DefaultWinBackDays      = 90
	DefaultCouponExpiryDays = 3
)

func (w *Worker) registerAutomations(mux *asynq.ServeMux) {
	mux.HandleFunc(TypeAutomationSweep, func(ctx context.Context, t *asynq.Task) error {
		now := w.now()
		ids, err := w.DB.ActiveShopIDs(ctx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			shop, err := w.DB.Shop(ctx, id)
			if err != nil {
				return err
			}
			if _, err := w.PlanAutomations(ctx, shop, now); err != nil {
				return fmt.Errorf("automations of shop %d: %w", id, err)
			}
			// Segments like "days since last order" drift with time: refresh menus daily.
			if menus, err := w.DB.RichMenus(ctx, id); err == nil && len(menus) > 0 {
				if err := w.Queue.EnqueueRichMenuSync(ctx, id, now); err != nil {
					return err
				}
			}
		}
		// Recovery: campaigns whose tasks Redis lost (or never got) start again;
		// their rows say what is left, so this never sends twice.
		resume, err := w.DB.CampaignsToResume(ctx, now)
		if err != nil {
			return err
		}
		for _, id := range resume {
			if err := w.Queue.EnqueueCampaign(ctx, id, now.Truncate(time.Hour)); err != nil {
				return err
			}
		}
		return w.Queue.EnqueueAutomationSweep(ctx, now.Truncate(time.Hour).Add(time.Hour))
	})
}

// EnqueueAutomationSweep schedules the sweep for at (one task per hour).
func (q *Queue) EnqueueAutomationSweep(ctx context.Context, at time.Time) error {
	at = at.Truncate(time.Hour)
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeAutomationSweep, []byte("{}")),
		asynq.TaskID("automation:sweep@"+strconv.FormatInt(at.Unix(), 10)), asynq.ProcessAt(at),
		asynq.Queue(QueueMessages), asynq.MaxRetry(5), asynq.Timeout(30*time.Minute))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueueing the automation sweep: %w", err)
	}
	return nil
}

// PlanAutomations plans today's birthday, win-back and coupon-expiry
// messages for a shop. Keys are deterministic, so each is planned once:
//
//	birthday:<shop>:<customer>:<year>
//	win_back:<shop>:<customer>:<last order date>
//	coupon_expiry:<shop>:<coupon>
//
// Sends go through the usual message path (gate, quiet hours, daily cap).
func (w *Worker) PlanAutomations(ctx context.Context, shop *store.Shop, now time.Time) (int, error) {
	au := shop.Settings.Automations
	if !shop.Active() {
		return 0, nil
	}
	local := now.In(shop.Location())
	today := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, local.Location())
	planned := 0
	plan := func(c *store.Customer, kind, refType string, refID int64, key string) error {
		m, err := w.plan(ctx, w.DB, shop, c, kind, refType, refID, key, now)
		if err != nil || m == nil {
			return err
		}
		planned++
		return w.Queue.EnqueueMessage(ctx, m)
	}
	sid := strconv.FormatInt(shop.ID, 10)
	if au.Birthday {
		cs, err := w.DB.BirthdayCustomers(ctx, shop.ID, today.Format("01-02"))
		if err != nil {
			return planned, err
		}
		for i := range cs {
			key := KindBirthday + ":" + sid + ":" + strconv.FormatInt(cs[i].ID, 10) + ":" + strconv.Itoa(today.Year())
			if err := plan(&cs[i], KindBirthday, "customer", cs[i].ID, key); err != nil {
				return planned, err
			}
		}
	}
	if au.WinBack {
		days := au.WinBackDays
		if days <= 0 {
			days = DefaultWinBackDays
		}
		// A week of slack covers missed sweeps; the key (per last order) keeps it once.
		to := today.AddDate(0, 0, -days+1)
		cs, err := w.DB.DormantSince(ctx, shop.ID, to.AddDate(0, 0, -7), to)
		if err != nil {
			return planned, err
		}
		for i := range cs {
			key := KindWinBack + ":" + sid + ":" + strconv.FormatInt(cs[i].ID, 10) + ":" + cs[i].LastOrderAt.UTC().Format("20060102")
			if err := plan(&cs[i], KindWinBack, "customer", cs[i].ID, key); err != nil {
				return planned, err
			}
		}
	}
	if au.CouponExpiry {
		days := au.CouponExpiryDays
		if days <= 0 {
			days = DefaultCouponExpiryDays
		}
		cps, err := w.DB.ExpiringCoupons(ctx, shop.ID, now, now.AddDate(0, 0, days))
		if err != nil {
			return planned, err
		}
		for _, cp := range cps {
			c, err := w.DB.Customer(ctx, shop.ID, *cp.CustomerID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return planned, err
			}
			key := KindCouponExpiry + ":" + sid + ":" + strconv.FormatInt(cp.ID, 10)
			if err := plan(c, KindCouponExpiry, "coupon", cp.ID, key); err != nil {
				return planned, err
			}
		}
	}
	return planned, nil
}
