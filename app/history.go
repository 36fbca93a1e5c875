package app

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
)

// History builds the history import with the app's dependencies.
func (a *App) History() *core.History {
	h := &core.History{DB: a.DB, Tokens: a.Tokens, Log: a.Log, Now: a.Now}
	if a.Shopify != nil {
		h.Results = a.Shopify
	}
	return h
}

// startHistory starts the shop's history import and makes its first step
// due now (the schedule row polls it to the end; the reconciler enqueues
// it if Redis is away). One already under way is a conflict, and its
// schedule is requested again so that it cannot be left without one.
func (a *App) startHistory(ctx context.Context, shopID int64, since *time.Time) ([]store.HistoryImport, error) {
	hs, err := a.History().Start(ctx, shopID, since)
	if rerr := a.requestHistoryRun(ctx, shopID); rerr != nil {
		a.Log.WarnContext(ctx, "requesting the history import's run", "shop_id", shopID, "err", rerr)
		if err == nil {
			err = rerr
		}
	}
	return hs, err
}

// historyJSON is one kind's progress as the Settings page shows it.
type historyJSON struct {
	Kind     string     `json:"kind"`
	Status   string     `json:"status"`
	Done     int64      `json:"done"`
	Total    int64      `json:"total"`
	Written  int64      `json:"written"`
	Error    string     `json:"error,omitempty"`
	Started  time.Time  `json:"started_at"`
	Finished *time.Time `json:"finished_at,omitempty"`
	// LeftSeconds estimates the time left from the rate so far (importing only).
	LeftSeconds *int64 `json:"left_seconds,omitempty"`
}

func historyView(hs []store.HistoryImport, now time.Time) []historyJSON {
	out := make([]historyJSON, 0, len(hs))
	for _, h := range hs {
		v := historyJSON{Kind: h.Kind, Status: h.Status, Done: h.RowsDone, Total: h.RowsTotal, Written: h.RowsWritten,
			Error: h.Error, Started: h.StartedAt, Finished: h.FinishedAt}
		if h.Status == store.HistoryImporting && h.ImportingAt != nil && h.RowsDone > 0 && h.RowsTotal > h.RowsDone {
			el := now.Sub(*h.ImportingAt).Seconds()
			left := int64(el / float64(h.RowsDone) * float64(h.RowsTotal-h.RowsDone))
			v.LeftSeconds = &left
		}
		out = append(out, v)
	}
	return out
}

// getHistory is the import's progress (every role that sees Settings).
func (a *App) getHistory(c echo.Context) error {
	hs, err := a.DB.HistoryImports(c.Request().Context(), currentShop(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"imports": historyView(hs, a.Now())})
}

// postHistory starts an import (admins): {"since": "2024-01-01"} bounds the
// orders imported; empty imports all of it.
func (a *App) postHistory(c echo.Context) error {
	var in struct {
		Since string `json:"since"`
	}
	if err := c.Bind(&in); err != nil {
		return core.Errorf(core.EINVALID, "malformed request")
	}
	var since *time.Time
	if in.Since != "" {
		t, err := time.Parse("2006-01-02", in.Since)
		if err != nil {
			return core.Errorf(core.EINVALID, "since must be a date (YYYY-MM-DD)")
		}
		since = &t
	}
	if a.Shopify == nil {
		return core.Errorf(core.EUNAVAILABLE, "Shopify is not connected for this shop")
	}
	shop := currentShop(c)
	hs, err := a.startHistory(c.Request().Context(), shop.ID, since)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"imports": historyView(hs, a.Now())})
}

// historyOnInstall starts the import of a newly installed shop; a failure
// is logged, not an install failure (Settings can start it again).
func (a *App) historyOnInstall(ctx context.Context, s *store.Shop) {
	if _, err := a.startHistory(ctx, s.ID, nil); err != nil && !errors.Is(err, core.ErrConflict) {
		a.Log.WarnContext(ctx, "starting the history import", "shop", s.Domain, "err", err)
	}
}
