package jobs

import (
	"testing"

	"github.com/tsunagu/tsunagu/templates"
)

// Every kind the workers plan is declared in the catalogue, so it has a
// label, a category for the daily cap and (for journeys) a switch and delay.
func TestKindsAreCatalogued(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{KindThankYou, KindShipping, KindCartReminder, KindCartReminder2, KindFollowUp3, KindFollowUp7,
		KindFollowUp30, KindLinkCoupon, KindBirthday, KindWinBack, KindCouponExpiry, KindBrowse} {
		if _, ok := templates.Lookup(kind); !ok {
			t.Errorf("%s is not in templates' catalogue", kind)
		}
	}
	for _, kinds := range [][]string{followUpKinds, cartKinds} {
		for _, kind := range kinds {
			if k, _ := templates.Lookup(kind); !k.Journey {
				t.Errorf("%s is planned as a journey but the catalogue has no switch for it", kind)
			}
		}
	}
}
