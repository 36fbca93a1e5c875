package core

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/templates"
)

// LINE aggregation units (customAggregationUnits, issue 16): every campaign
// variant and every journey message kind is sent under a unit whose name
// Tsunagu derives (never typed by anyone), so LINE can report its opens and
// clicks. Names are "<p>_c<campaign>_v<variant index>" and "<p>_j_<kind>",
// where <p> is "t" and the first 5 hex digits of the installation id: two
// installations on one channel (staging and production) keep their
// numbers apart. The longest, "t12345_c" + 19 digits + "_v9", is 30
// characters, LINE's limit; a name that is not valid is not used (the
// message goes without a unit).

// UnitBudget is how many distinct units a shop's channel may start in a
// month. LINE counts 1,000 names per channel a month; 50 are left for
// other tools sharing the channel. A campaign beyond it goes without a
// unit (its page says so), journeys keep theirs (they are a few names, used
// every month).
const UnitBudget = line.MaxUnitsPerMonth - 50

// Units names and records the units of sends.
type Units struct {
	DB             *store.DB
	InstallationID string
	// Seen, when set, spares a read of line_units for a unit recorded a
	// moment ago (every batch of a campaign uses the same unit); nil reads
	// it every time.
	Seen *UnitsSeen
}

// UnitSeenFor is how long a recorded unit is used without reading its
// line_units row again. UseUnit moves a unit's last_sent_at on at most
// once an hour, so with it the row lags the last send by at most
// 1 h + UnitSeenFor (insights are read for units sent in the last days).
const UnitSeenFor = 10 * time.Minute

// UnitsSeen remembers when each unit was last recorded by this process
// (UseUnit answered yes). The zero value is ready; safe for concurrent use.
type UnitsSeen struct {
	mu sync.Mutex
	at map[unitKey]time.Time
}

type unitKey struct {
	shopID int64
	unit   string
}

// fresh reports whether unit of shop was recorded within UnitSeenFor
// before now and in the same month (a new month starts the budget again).
func (s *UnitsSeen) fresh(shopID int64, unit string, now, monthStart time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.at[unitKey{shopID, unit}]
	return ok && !at.Before(monthStart) && !now.Before(at) && now.Sub(at) < UnitSeenFor
}

func (s *UnitsSeen) mark(shopID int64, unit string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at == nil {
		s.at = map[unitKey]time.Time{}
	}
	for k, at := range s.at { // old entries go, so the map stays small
		if now.Sub(at) >= UnitSeenFor {
			delete(s.at, k)
		}
	}
	s.at[unitKey{shopID, unit}] = now
}

func (u *Units) prefix() string {
	id := strings.ToLower(u.InstallationID)
	if len(id) > 5 {
		id = id[:5]
	}
	return "t" + id
}

// CampaignUnitName is the unit of variant index i of campaign id.
func (u *Units) CampaignUnitName(id int64, i int) string {
	return u.prefix() + "_c" + strconv.FormatInt(id, 10) + "_v" + strconv.Itoa(i)
}

// KindUnitName is the unit of journey kind.
func (u *Units) KindUnitName(kind string) string {
	return u.prefix() + "_j_" + kind
}

// UnitMonthStart is the start of now's month in UTC+9 (Japan, where LINE
// counts), which is never later than the UTC month's start.
func UnitMonthStart(now time.Time) time.Time {
	t := now.In(line.InsightTZ)
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, line.InsightTZ)
}

// ForCampaign returns the unit to multicast or push variant v of camp
// under, recording it; "" when there is none (over the month's budget).
func (u *Units) ForCampaign(ctx context.Context, camp *store.Campaign, v *store.CampaignVariant, now time.Time) (string, error) {
	if u == nil || u.DB == nil {
		return "", nil
	}
	idx := -1
	for i := range camp.Variants {
		if camp.Variants[i].Name == v.Name {
			idx = i
		}
	}
	if idx < 0 {
		return "", nil
	}
	name := u.CampaignUnitName(camp.ID, idx)
	id := camp.ID
	return u.use(ctx, store.LineUnit{ShopID: camp.ShopID, Unit: name, CampaignID: &id, Variant: v.Name}, now, UnitBudget)
}

// ForKind returns the unit a journey message of kind is pushed under;
// "" for kinds that are not journeys in the catalogue (staff replies,
// greetings, campaign tests).
func (u *Units) ForKind(ctx context.Context, shopID int64, kind string, now time.Time) (string, error) {
	if u == nil || u.DB == nil || kind == store.CampaignMessageKind {
		return "", nil
	}
	if _, ok := templates.Lookup(kind); !ok {
		return "", nil
	}
	// Journeys are a fixed handful of names, so they may use the reserve.
	return u.use(ctx, store.LineUnit{ShopID: shopID, Unit: u.KindUnitName(kind), Kind: kind}, now, line.MaxUnitsPerMonth)
}

func (u *Units) use(ctx context.Context, lu store.LineUnit, now time.Time, budget int) (string, error) {
	if !line.ValidUnit(lu.Unit) {
		return "", nil
	}
	month := UnitMonthStart(now)
	if u.Seen != nil && u.Seen.fresh(lu.ShopID, lu.Unit, now, month) {
		return lu.Unit, nil
	}
	ok, err := u.DB.UseUnit(ctx, lu, now, month, budget)
	if err != nil || !ok {
		return "", err
	}
	if u.Seen != nil {
		u.Seen.mark(lu.ShopID, lu.Unit, now)
	}
	return lu.Unit, nil
}
