package core

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tsunagu/tsunagu/app/store"
)

// Step scenarios: messages a number of days after a friend-add, a link or a
// first order. jobs plans every step as a messages row when the scenario
// starts (so planned steps survive a Redis loss) and sends each through the
// journey path: dedupe key, quiet hours, daily cap, recorded reasons.

// KindScenarioStep is the message kind of a scenario step.
const KindScenarioStep = "scenario_step"

// Scenario triggers.
const (
	TriggerFriendAdd  = "friend_add"
	TriggerLink       = "link"
	TriggerFirstOrder = "first_order"
)

// Stop conditions: the scenario ends before a step when its condition holds
// (since the scenario started).
const (
	StopLinked  = "linked"
	StopOrdered = "ordered"
	StopClicked = "clicked"
	StopBlocked = "blocked"
)

// ReasonScenarioStopped prefixes the reason of steps not sent because the
// scenario stopped ("scenario_stopped: linked").
const ReasonScenarioStopped = "scenario_stopped"

// Bounds on what a merchant types.
const (
	MaxScenarios     = 20
	MaxScenarioSteps = 10
	MaxStepDays      = 365
	MaxStepRunes     = 1000
)

// ScenarioTriggers and StopConditions list the accepted values in the
// order the admin shows them.
var (
	ScenarioTriggers = []string{TriggerFriendAdd, TriggerLink, TriggerFirstOrder}
	StopConditions   = []string{"", StopLinked, StopOrdered, StopClicked, StopBlocked}
)

// CheckScenario validates a scenario before it is saved: a name, a known
// trigger, 1 to MaxScenarioSteps steps with days not going back, a
// Japanese text (English optional), and stop conditions that can happen
// after the trigger ("linked" only for friend-add).
func CheckScenario(s *store.Scenario) error {
	s.Name = strings.TrimSpace(s.Name)
	if n := utf8.RuneCountInString(s.Name); n == 0 || n > MaxTitleRunes {
		return Errorf(EINVALID, "the scenario needs a name of 1 to %d characters", MaxTitleRunes)
	}
	if !contains(ScenarioTriggers, s.TriggerOn) {
		return Errorf(EINVALID, "unknown trigger %q", s.TriggerOn)
	}
	if len(s.Steps) == 0 || len(s.Steps) > MaxScenarioSteps {
		return Errorf(EINVALID, "a scenario has 1 to %d steps", MaxScenarioSteps)
	}
	prev := 0
	for i := range s.Steps {
		st := &s.Steps[i]
		n := i + 1
		if st.Days < 0 || st.Days > MaxStepDays {
			return Errorf(EINVALID, "step %d: days must be 0 to %d", n, MaxStepDays)
		}
		if st.Days < prev {
			return Errorf(EINVALID, "step %d comes %d days after the start, before step %d", n, st.Days, n-1)
		}
		prev = st.Days
		var err error
		if st.TextJA, err = CheckText(fmt.Sprintf("step %d (Japanese)", n), st.TextJA, MaxStepRunes); err != nil {
			return err
		}
		if st.TextEN = strings.TrimSpace(st.TextEN); st.TextEN != "" {
			if st.TextEN, err = CheckText(fmt.Sprintf("step %d (English)", n), st.TextEN, MaxStepRunes); err != nil {
				return err
			}
		}
		if !contains(StopConditions, st.Stop) {
			return Errorf(EINVALID, "step %d: unknown stop condition %q", n, st.Stop)
		}
		if st.Stop == StopLinked && s.TriggerOn != TriggerFriendAdd {
			return Errorf(EINVALID, "step %d: a scenario started by a link or an order is always linked; stop on linked only after a friend-add", n)
		}
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ScenarioRecipient names who a scenario run is for: "f<friend id>" (a
// friend-add, linked or not) or "c<customer id>".
func ScenarioRecipient(friendID, customerID int64) string {
	if friendID != 0 {
		return "f" + strconv.FormatInt(friendID, 10)
	}
	return "c" + strconv.FormatInt(customerID, 10)
}

// ScenarioRunPrefix is the dedupe-key prefix of one recipient's run of a scenario.
func ScenarioRunPrefix(shopID, scenarioID int64, recipient string) string {
	return fmt.Sprintf("%s/s%d/sc%d/%s/", KindScenarioStep, shopID, scenarioID, recipient)
}

// ScenarioStepKey is the dedupe key of step pos (0-based) of a run: each
// step once per recipient, ever.
func ScenarioStepKey(shopID, scenarioID int64, recipient string, pos int) string {
	return ScenarioRunPrefix(shopID, scenarioID, recipient) + "p" + strconv.Itoa(pos)
}

// ParseScenarioStepKey returns the run prefix and step position of a key.
func ParseScenarioStepKey(key string) (prefix string, pos int, ok bool) {
	i := strings.LastIndex(key, "/p")
	if i < 0 || !strings.HasPrefix(key, KindScenarioStep+"/") {
		return "", 0, false
	}
	pos, err := strconv.Atoi(key[i+2:])
	if err != nil || pos < 0 {
		return "", 0, false
	}
	return key[:i+1], pos, true
}
