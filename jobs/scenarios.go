package jobs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// Step scenarios run on the journey path: StartScenarios plans every step
// of a run as a messages row at once (the database holds the plan, not
// only Redis), with plan or planFriend; SendMessage checks the step's stop
// condition first (scenarioStop), then the usual gate, quiet hours and cap.

// ReasonScenarioGone is recorded on steps of a scenario that was deleted,
// or edited so that the step no longer exists.
const ReasonScenarioGone = "scenario_removed"

// StartScenarios plans the steps of the shop's enabled scenarios started by
// trigger for a friend (friend-add) or a customer (link, first order), from
// start. It returns the messages to enqueue; keys make a second start of
// the same run plan nothing.
func (w *Worker) StartScenarios(ctx context.Context, db *store.DB, shop *store.Shop, trigger string, f *store.LineFriend, cust *store.Customer, start time.Time) ([]*store.Message, error) {
	if !shop.Active() || (f == nil && cust == nil) {
		return nil, nil
	}
	scs, err := db.ScenariosOn(ctx, shop.ID, trigger)
	if err != nil || len(scs) == 0 {
		return nil, err
	}
	var fid, cid int64
	if f != nil {
		fid = f.ID
	} else {
		cid = cust.ID
	}
	who := core.ScenarioRecipient(fid, cid)
	var out []*store.Message
	for _, sc := range scs {
		for pos, st := range sc.Steps {
			at := start.Add(w.scaled(time.Duration(st.Days) * 24 * time.Hour))
			key := core.ScenarioStepKey(shop.ID, sc.ID, who, pos)
			var m *store.Message
			if f != nil {
				m, err = w.planFriend(ctx, db, shop, f, core.KindScenarioStep, "scenario", sc.ID, key, at)
			} else {
				m, err = w.plan(ctx, db, shop, cust, core.KindScenarioStep, "scenario", sc.ID, key, at)
			}
			if err != nil {
				return nil, fmt.Errorf("planning step %d of scenario %d: %w", pos+1, sc.ID, err)
			}
			if m != nil {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// scenarioStep loads the scenario and step of a step message; reason is
// set when the step cannot go (scenario removed, changed or switched off).
func (w *Worker) scenarioStep(ctx context.Context, shop *store.Shop, m *store.Message) (*store.Scenario, *store.ScenarioStep, string, error) {
	sc, err := w.DB.Scenario(ctx, shop.ID, m.RefID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ReasonScenarioGone, nil
	}
	if err != nil {
		return nil, nil, "", err
	}
	_, pos, ok := core.ParseScenarioStepKey(m.DedupeKey)
	if !ok || pos >= len(sc.Steps) {
		return nil, nil, ReasonScenarioGone, nil
	}
	if !sc.Enabled {
		return sc, &sc.Steps[pos], ReasonJourneyOff, nil
	}
	return sc, &sc.Steps[pos], "", nil
}

// scenarioStop checks a due step against its scenario: when the scenario is
// gone or off, or the step's stop condition holds since the run started,
// it returns the reason, and a stop also cancels the run's later steps.
func (w *Worker) scenarioStop(ctx context.Context, shop *store.Shop, m *store.Message) (string, error) {
	sc, st, reason, err := w.scenarioStep(ctx, shop, m)
	if err != nil || reason != "" || st.Stop == "" {
		return reason, err
	}
	var f *store.LineFriend
	var custID, friendID int64
	if m.FriendID != nil {
		friendID = *m.FriendID
		if f, err = w.DB.Friend(ctx, shop.ID, friendID); errors.Is(err, store.ErrNotFound) {
			return ReasonRedacted, nil
		} else if err != nil {
			return "", err
		}
		if f.CustomerID != nil {
			custID = *f.CustomerID
		}
	}
	if m.CustomerID != nil {
		custID = *m.CustomerID
	}
	start, err := w.scenarioStart(ctx, shop, sc, f, custID)
	if err != nil {
		return "", err
	}
	hit := false
	switch st.Stop {
	case core.StopLinked:
		hit = f != nil && f.CustomerID != nil
		if f != nil && !hit {
			if _, err := w.DB.LiveLinkByUser(ctx, shop.ID, f.LineUserID); err == nil {
				hit = true
			} else if !errors.Is(err, store.ErrNotFound) {
				return "", err
			}
		}
	case core.StopOrdered:
		if custID != 0 {
			if hit, err = w.DB.OrderedSince(ctx, shop.ID, custID, start); err != nil {
				return "", err
			}
		}
	case core.StopClicked:
		if hit, err = w.DB.ClickedSince(ctx, custID, friendID, start); err != nil {
			return "", err
		}
	case core.StopBlocked:
		if f != nil {
			hit = f.Blocked
		} else if custID != 0 {
			l, err := w.DB.LastLink(ctx, custID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return "", err
			}
			hit = l != nil && l.Blocked
		}
	}
	if !hit {
		return "", nil
	}
	reason = core.ReasonScenarioStopped + ": " + st.Stop
	prefix, _, _ := core.ParseScenarioStepKey(m.DedupeKey)
	if _, err := w.DB.CancelQueuedByPrefix(ctx, shop.ID, prefix, m.ID, reason); err != nil {
		return "", err
	}
	return reason, nil
}

// scenarioStart is when a run began: the friendship (friend-add), the link
// or the first order.
func (w *Worker) scenarioStart(ctx context.Context, shop *store.Shop, sc *store.Scenario, f *store.LineFriend, custID int64) (time.Time, error) {
	switch sc.TriggerOn {
	case core.TriggerFriendAdd:
		if f != nil && f.FriendSince != nil {
			return *f.FriendSince, nil
		}
		if f != nil {
			return f.FirstSeenAt, nil
		}
	case core.TriggerLink:
		if l, err := w.DB.LiveLink(ctx, custID); err == nil {
			return l.LinkedAt, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return time.Time{}, err
		}
	case core.TriggerFirstOrder:
		id, err := w.DB.FirstOrderID(ctx, shop.ID, custID)
		if err != nil {
			return time.Time{}, err
		}
		if id != 0 {
			o, err := w.DB.Order(ctx, shop.ID, id)
			if err != nil {
				return time.Time{}, err
			}
			return o.OrderedAt, nil
		}
	}
	return time.Time{}, nil
}

var stepURL = regexp.MustCompile(`https?://[^\s<>"]+`)

// renderScenario is a step's text in the recipient's language, its links
// tracked (a click can stop the scenario).
func (w *Worker) renderScenario(ctx context.Context, shop *store.Shop, cust *store.Customer, f *store.LineFriend, m *store.Message) ([]line.Message, error) {
	_, st, reason, err := w.scenarioStep(ctx, shop, m)
	if err != nil {
		return nil, err
	}
	if reason != "" {
		return nil, fmt.Errorf("step of scenario %d: %s", m.RefID, reason)
	}
	lang := "ja"
	switch {
	case f != nil:
		if strings.HasPrefix(f.Language, "en") {
			lang = "en"
		}
	case cust != nil:
		lang = core.MessageLang(cust.Locale, "", shop.Locale)
	}
	text := st.TextJA
	if lang == "en" && st.TextEN != "" {
		text = st.TextEN
	}
	text = stepURL.ReplaceAllStringFunc(text, func(u string) string { return w.trackedURL(m, u) })
	return []line.Message{core.TextMessage(text, "")}, nil
}
