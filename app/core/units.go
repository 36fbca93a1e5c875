package core

import (
	"context"
	"strconv"
	"strings"
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
	ok, err := u.DB.UseUnit(ctx, lu, now, UnitMonthStart(now), budget)
	if err != nil || !ok {
		return "", err
	}
	return lu.Unit, nil
}
