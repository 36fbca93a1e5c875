package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/templates"
)

// Automation message kinds (the "scenario delivery" a merchant switches on
// the automations page) and their defaults. jobs plans them; the admin
// lists and configures them.
const (
	KindBirthday     = "birthday"
	KindWinBack      = "win_back"
	KindCouponExpiry = "coupon_expiry"

	DefaultWinBackDays      = 90
	DefaultCouponExpiryDays = 3
)

// JourneyEdit switches a journey on or off and sets its delay (kept only
// where the journey's delay is editable).
type JourneyEdit struct {
	Kind         string `json:"kind"`
	Enabled      bool   `json:"enabled"`
	DelayMinutes int    `json:"delay_minutes"`
}

// AutomationEdit is one save of the automations page: the scenario
// messages, the measurement settings and (when Journeys is not nil) the
// journeys' switches and delays, made against Version, what the editor
// loaded (AutomationsVersion).
type AutomationEdit struct {
	Automations     store.Automations
	YenPerMessage   float64
	AttributionDays int
	Journeys        []JourneyEdit
	Version         string
}

// AutomationsVersion fingerprints what the automations page edits, as
// stored. It changes whenever any of it does, whoever changed it, and not
// when other settings (templates, quiet hours) change.
func AutomationsVersion(st store.Settings) string {
	type journey struct {
		Kind    string
		Enabled bool
		Delay   int
	}
	v := struct {
		A     store.Automations
		Yen   float64
		Days  int
		Flows []journey
	}{A: st.Automations, Yen: st.YenPerMessage, Days: st.AttributionDays}
	for _, k := range templates.KindNames(templates.Kind.IsJourney) {
		v.Flows = append(v.Flows, journey{k, st.JourneyEnabled(k), st.JourneyDelayMinutes(k)})
	}
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// staleAutomations is the refusal of a save made against settings that
// changed since the editor loaded them.
const staleAutomations = "these automation settings were changed by someone else after you loaded them; reload to see their change, then make yours again"

// SaveAutomations applies e if the automations are still as the editor
// loaded them (e.Version), under the shop's settings lock: of two staff
// editing at once, the second save is refused (ECONFLICT) instead of
// silently undoing the first.
func SaveAutomations(ctx context.Context, db *store.DB, shopID int64, e AutomationEdit) (store.Settings, error) {
	au := e.Automations
	if au.WinBackDays < 0 || au.WinBackDays > 3650 || au.CouponExpiryDays < 0 || au.CouponExpiryDays > 365 ||
		e.YenPerMessage < 0 || e.AttributionDays < 0 || e.AttributionDays > 90 {
		return store.Settings{}, Errorf(EINVALID, "a number is out of range")
	}
	if len(au.BirthdayCoupon) > 50 {
		return store.Settings{}, Errorf(EINVALID, "birthday_coupon is longer than 50 characters")
	}
	if e.Version == "" {
		return store.Settings{}, Errorf(EINVALID, "version is required: send the version GET /api/automations returned")
	}
	return db.UpdateShopSettings(ctx, shopID, func(st *store.Settings) error {
		if AutomationsVersion(*st) != e.Version {
			return Errorf(ECONFLICT, staleAutomations)
		}
		st.Automations, st.YenPerMessage, st.AttributionDays = au, e.YenPerMessage, e.AttributionDays
		if e.Journeys != nil {
			return ApplyJourneys(st, e.Journeys)
		}
		return nil
	})
}

// ApplyJourneys sets journeys' switches and delays (0 to 90 days).
func ApplyJourneys(st *store.Settings, js []JourneyEdit) error {
	if st.Journeys == nil {
		st.Journeys = map[string]store.JourneySetting{}
	}
	for _, j := range js {
		def, ok := templates.Lookup(j.Kind)
		if !ok || !def.Journey {
			return Errorf(EINVALID, "unknown journey %q", j.Kind)
		}
		if j.DelayMinutes < 0 || j.DelayMinutes > 90*24*60 {
			return Errorf(EINVALID, "delay of %s must be between 0 and 90 days", j.Kind)
		}
		on := j.Enabled
		s := store.JourneySetting{Enabled: &on}
		if def.DelayEditable {
			s.DelayMinutes = j.DelayMinutes
		}
		st.Journeys[j.Kind] = s
	}
	return nil
}
