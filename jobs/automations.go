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
)

// Automation message kinds (the seeds' "scenario delivery").
const (
	KindBirthday     = core.KindBirthday
	KindWinBack      = core.KindWinBack
	KindCouponExpiry = core.KindCouponExpiry
)

// TypeAutomationSweep plans automation messages for every shop. It used to
// re-enqueue itself, which a Redis wipe ended for good; the sweep is now
// the "automation_sweep" schedule (see Reconciler), and a leftover task of
// this type runs one sweep and nothing more.
const TypeAutomationSweep = "automation:sweep"

// Defaults for automations.
const (
	DefaultWinBackDays      = core.DefaultWinBackDays
	DefaultCouponExpiryDays = core.DefaultCouponExpiryDays
)

func (w *Worker) registerAutomations(mux *asynq.ServeMux) {
	mux.HandleFunc(TypeAutomationSweep, func(ctx context.Context, t *asynq.Task) error {
		return w.AutomationSweep(ctx, w.now())
	})
}

// AutomationSweep plans automations and link nudges for every shop and refreshes rich menus
// (segments like "days since last order" drift with time). Keys make a
// repeated sweep harmless.
func (w *Worker) AutomationSweep(ctx context.Context, now time.Time) error {
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
		if _, err := w.PlanNudges(ctx, shop, now); err != nil {
			return fmt.Errorf("link nudges of shop %d: %w", id, err)
		}
		if menus, err := w.DB.RichMenus(ctx, id); err == nil && len(menus) > 0 {
			if err := RequestRichMenuSync(ctx, w.DB, w.Queue, id, now); err != nil {
				return err
			}
		}
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
