package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
)

// Step scenarios in the admin: one form per scenario, days per step.

// scenarioRows is how many step rows the form offers.
const scenarioRows = 5

func (a *App) pageScenarios(c echo.Context) error {
	shop := currentShop(c)
	scs, err := a.DB.Scenarios(c.Request().Context(), shop.ID)
	if err != nil {
		return err
	}
	_, canEdit, err := a.currentStaff(c)
	if err != nil {
		return err
	}
	type form struct {
		S    store.Scenario
		Rows []store.ScenarioStep
	}
	pad := func(s store.Scenario) form {
		rows := append([]store.ScenarioStep(nil), s.Steps...)
		for len(rows) < max(scenarioRows, len(s.Steps)) {
			rows = append(rows, store.ScenarioStep{})
		}
		return form{S: s, Rows: rows}
	}
	forms := make([]form, len(scs))
	for i := range scs {
		forms[i] = pad(scs[i])
	}
	notice, ok := c.QueryParam("notice"), c.QueryParam("ok") == "1"
	if ok {
		notice = tr(adminLang(c), "inbox.saved")
	}
	return a.renderAdmin(c, "scenarios", "scn.title", map[string]any{
		"Forms": forms, "New": pad(store.Scenario{TriggerOn: core.TriggerFriendAdd, Enabled: true}), "CanEdit": canEdit,
		"Triggers": core.ScenarioTriggers, "Stops": core.StopConditions, "Notice": notice, "NoticeOK": ok, "Max": core.MaxScenarios,
	})
}

// scenarioFromForm reads a scenario form: name, trigger, enabled and rows
// days_N, stop_N, text_ja_N, text_en_N (rows without text are left out).
func scenarioFromForm(c echo.Context) (*store.Scenario, error) {
	s := &store.Scenario{Name: c.FormValue("name"), TriggerOn: c.FormValue("trigger"), Enabled: c.FormValue("enabled") != ""}
	for i := range core.MaxScenarioSteps {
		n := strconv.Itoa(i)
		ja, en := strings.TrimSpace(c.FormValue("text_ja_"+n)), strings.TrimSpace(c.FormValue("text_en_"+n))
		if ja == "" && en == "" {
			continue
		}
		days, err := strconv.Atoi(strings.TrimSpace(c.FormValue("days_" + n)))
		if err != nil {
			return nil, core.Errorf(core.EINVALID, "step %d: days must be a whole number", len(s.Steps)+1)
		}
		s.Steps = append(s.Steps, store.ScenarioStep{Days: days, TextJA: ja, TextEN: en, Stop: c.FormValue("stop_" + n)})
	}
	return s, core.CheckScenario(s)
}

func (a *App) saveScenario(ctx context.Context, shopID, id int64, s *store.Scenario) error {
	if id == 0 {
		have, err := a.DB.Scenarios(ctx, shopID)
		if err != nil {
			return err
		}
		if len(have) >= core.MaxScenarios {
			return core.Errorf(core.ETOOLARGE, "at most %d scenarios", core.MaxScenarios)
		}
	} else {
		old, err := a.DB.Scenario(ctx, shopID, id)
		if errors.Is(err, store.ErrNotFound) {
			return core.Errorf(core.ENOTFOUND, "scenario %d not found", id)
		}
		if err != nil {
			return err
		}
		s.ID, s.CreatedAt = old.ID, old.CreatedAt
	}
	s.ShopID = shopID
	return a.DB.SaveScenario(ctx, s)
}

func (a *App) formSaveScenario(c echo.Context) error {
	var id int64
	if c.Param("id") != "" {
		var err error
		if id, err = pathID(c); err != nil {
			return err
		}
	}
	s, err := scenarioFromForm(c)
	if err == nil {
		err = a.saveScenario(c.Request().Context(), currentShop(c).ID, id, s)
	}
	if ferr := formErr(err); ferr != nil {
		return ferr
	}
	return back(c, "/admin/scenarios", err, "ok")
}

func (a *App) formDeleteScenario(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if _, err := a.DB.DeleteScenario(c.Request().Context(), currentShop(c).ID, id); err != nil {
		return fmt.Errorf("deleting scenario: %w", err)
	}
	return back(c, "/admin/scenarios", nil, "ok")
}
