package jobs

import (
	"context"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// QuotaReader reads a channel's monthly message quota (line.Messenger).
type QuotaReader interface {
	Quota(ctx context.Context, channelToken string) (line.Quota, error)
}

// marketingQuota returns why n marketing messages of shop on channel ch may not go now
// ("" when they may): the month's monthly-limit stop, or the share kept for
// transactional messages. The quota is read from LINE at most every
// core.QuotaTTL and counted forward locally in between.
func (w *Worker) marketingQuota(ctx context.Context, shop *store.Shop, ch *store.LineChannel, token string, n int64) (string, error) {
	q, err := w.DB.ChannelQuota(ctx, shop.ID, ch.ID)
	if err != nil {
		return "", err
	}
	now := w.now()
	if r, ok := w.LINE.(QuotaReader); ok && (q.CheckedAt == nil || now.Sub(*q.CheckedAt) > core.QuotaTTL) {
		lq, err := r.Quota(ctx, token)
		if err != nil {
			w.log().WarnContext(ctx, "reading the LINE quota failed; deciding on what is known", "shop_id", shop.ID, "channel_id", ch.ID, "err", err)
		} else {
			if err := w.DB.SaveChannelQuotaReading(ctx, shop.ID, ch.ID, lq.Limited, lq.Limit, lq.Used, now); err != nil {
				return "", err
			}
			q.Limited, q.MonthlyLimit, q.Used = lq.Limited, lq.Limit, lq.Used
		}
	}
	return core.MarketingQuota(core.Quota{Limited: q.Limited, Limit: q.MonthlyLimit, Used: q.Used, ExhaustedMonth: q.ExhaustedMonth},
		core.QuotaMonth(now, shop.Location()), core.QuotaReserve(shop.Settings.QuotaReservePercent), n), nil
}

// monthlyLimitReached records LINE's monthly-limit answer on channel ch:
// marketing on it stops for the rest of the month, and the merchant is
// alerted once. The shop's other accounts have quotas of their own.
// Transactional messages keep retrying (the limit may be a reservation
// held by a delivery in progress, or the merchant may upgrade the plan).
func (w *Worker) monthlyLimitReached(ctx context.Context, shop *store.Shop, ch *store.LineChannel) error {
	now := w.now()
	first, err := w.DB.MarkChannelMonthlyLimit(ctx, shop.ID, ch.ID, core.QuotaMonth(now, shop.Location()), now)
	if err != nil {
		return err
	}
	if first {
		w.log().ErrorContext(ctx, "LINE monthly message limit reached: marketing messages stop until next month, transactional messages keep retrying",
			"shop_id", shop.ID, "shop", shop.Domain, "channel_id", ch.ID, "alert", "line_monthly_limit")
	}
	return nil
}

// countQuotaUse counts n sent messages against channel ch's cached quota.
func (w *Worker) countQuotaUse(ctx context.Context, ch *store.LineChannel, n int64) {
	if err := w.DB.AddChannelQuotaUse(ctx, ch.ID, n); err != nil {
		w.log().WarnContext(ctx, "counting LINE quota use", "shop_id", ch.ShopID, "channel_id", ch.ID, "err", err)
	}
}
