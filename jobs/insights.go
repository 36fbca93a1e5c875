package jobs

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// Insight schedules: the daily read of every shop's units, and a one-off
// read for one shop requested from a campaign page ("insight:<shop id>",
// deleted after its run). Both are schedules rows, so a Redis loss only
// delays them to the reconciler's next pass.
const (
	ScheduleInsightSweep = "insight_sweep"
	ScheduleInsight      = "insight:"
	insightSweepEvery    = 24 * time.Hour
)

// insightSweepFirst is the first daily read: 04:00 in Japan, after LINE
// has counted the day before.
func insightSweepFirst(now time.Time) time.Time {
	t := now.In(line.InsightTZ)
	first := time.Date(t.Year(), t.Month(), t.Day(), 4, 0, 0, 0, line.InsightTZ)
	if !first.After(now) {
		first = first.AddDate(0, 0, 1)
	}
	return first.UTC()
}

// InsightSchedule is the name of shop's on-demand insight read.
func InsightSchedule(shopID int64) string {
	return ScheduleInsight + strconv.FormatInt(shopID, 10)
}

// RequestInsightRead makes a read of the shop's units due now and
// enqueues it (the schedules row survives a failed enqueue).
func RequestInsightRead(ctx context.Context, db *store.DB, q *Queue, shopID int64, now time.Time) error {
	name := InsightSchedule(shopID)
	at, err := db.RequestScheduleRun(ctx, name, insightSweepEvery, now)
	if err != nil {
		return err
	}
	if at.After(now) {
		return nil
	}
	return q.EnqueueScheduledRun(ctx, name, at)
}

// ReadInsights reads the units of shopID (every shop when 0) from LINE.
func (w *Worker) ReadInsights(ctx context.Context, shopID int64) (int, error) {
	r, ok := w.LINE.(core.UnitStatsReader)
	if !ok {
		w.log().WarnContext(ctx, "the LINE client cannot read unit statistics")
		return 0, nil
	}
	in := &core.Insights{DB: w.DB, LINE: r, Now: w.now, Token: w.unitToken}
	return in.Read(ctx, shopID)
}

// unitToken is the token of the channel a unit was sent on: its campaign's
// account, or the shop's primary (journeys; a campaign since erased).
func (w *Worker) unitToken(ctx context.Context, shopID int64, campaignID *int64) (string, error) {
	var chID int64
	if campaignID != nil {
		camp, err := w.DB.Campaign(ctx, shopID, *campaignID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		if err == nil && camp.LineChannelID != nil {
			chID = *camp.LineChannelID
		}
	}
	_, token, err := w.channelAndToken(ctx, shopID, chID)
	return token, err
}
