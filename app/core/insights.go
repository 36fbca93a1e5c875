package core

import (
	"context"
	"fmt"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// Insight read-back (issue 16): once a day, and on demand from a campaign
// page, the statistics of every unit sent under in the last
// InsightWindow (campaigns sent lately, journeys still sending) are read
// from LINE (GET /v2/bot/insight/message/event/aggregation) and stored on
// the unit's row. LINE withholds values under its privacy threshold (fewer
// than 20 users) as null; they are stored as NULL and shown as "fewer than
// 20", never as 0.

// InsightWindow is how long after its last send a unit is still read.
const InsightWindow = 14 * 24 * time.Hour

// UnitStatsReader reads a unit's statistics (line.Messenger).
type UnitStatsReader interface {
	UnitStatistics(ctx context.Context, channelToken, unit string, from, to time.Time) (line.UnitStats, error)
}

// Insights reads units' statistics from LINE into the database.
type Insights struct {
	DB   *store.DB
	LINE UnitStatsReader
	// Token is the access token of the channel a unit was sent on (a
	// campaign's own account; the shop's primary for journeys and when
	// campaignID is nil), "" when LINE is not connected.
	Token func(ctx context.Context, shopID int64, campaignID *int64) (string, error)
	Now   func() time.Time
}

// InsightPeriod is the days (UTC+9) a unit's statistics are read for: from
// the day it was first sent under, or, for a unit older than LINE's
// 30-day window, the last 30 days up to today.
func InsightPeriod(u store.LineUnit, now time.Time) (from, to time.Time) {
	day := func(t time.Time) time.Time {
		t = t.In(line.InsightTZ)
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, line.InsightTZ)
	}
	to = day(now)
	from = day(u.FirstSentAt)
	if earliest := to.AddDate(0, 0, -line.MaxUnitStatsDays); from.Before(earliest) {
		from = earliest
	}
	if from.After(to) {
		from = to
	}
	return from, to
}

// Read reads the units of shopID (every shop when 0) sent under within
// InsightWindow. A unit LINE refuses (unknown to it, say) keeps its last
// numbers with the refusal recorded; a shop without a channel is passed
// over. It returns how many units were read.
func (in *Insights) Read(ctx context.Context, shopID int64) (int, error) {
	now := in.Now()
	units, err := in.DB.UnitsToRead(ctx, shopID, now.Add(-InsightWindow))
	if err != nil {
		return 0, err
	}
	read := 0
	// LINE keeps a unit's statistics on the channel that sent it.
	type sender struct{ shop, campaign int64 }
	tokens := map[sender]string{}
	for i := range units {
		u := &units[i]
		key := sender{shop: u.ShopID}
		if u.CampaignID != nil {
			key.campaign = *u.CampaignID
		}
		token, ok := tokens[key]
		if !ok {
			if token, err = in.Token(ctx, u.ShopID, u.CampaignID); err != nil {
				return read, err
			}
			tokens[key] = token
		}
		if token == "" {
			continue
		}
		from, to := InsightPeriod(*u, now)
		st, err := in.LINE.UnitStatistics(ctx, token, u.Unit, from, to)
		if err != nil {
			if line.IsRetryable(err) {
				return read, fmt.Errorf("reading statistics of unit %s: %w", u.Unit, err)
			}
			if serr := in.DB.SaveUnitStats(ctx, u, FailReason(err), now); serr != nil {
				return read, serr
			}
			continue
		}
		u.UniqueImpression, u.UniqueClick = st.Overview.UniqueImpression, st.Overview.UniqueClick
		u.UniqueMediaPlayed, u.UniqueMediaPlayed100 = st.Overview.UniqueMediaPlayed, st.Overview.UniqueMediaPlayed100Percent
		u.StatsFrom, u.StatsTo = from.Format("20060102"), to.Format("20060102")
		u.Clicks = u.Clicks[:0]
		for _, c := range st.Clicks {
			u.Clicks = append(u.Clicks, store.LineUnitClick{Seq: c.Seq, URL: c.URL, Click: c.Click, UniqueClick: c.UniqueClick, UniqueClickOfRequest: c.UniqueClickOfRequest})
		}
		if err := in.DB.SaveUnitStats(ctx, u, "", now); err != nil {
			return read, err
		}
		read++
	}
	return read, nil
}
