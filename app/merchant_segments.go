package app

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/templates"
)

// segmentFunnel answers the reachability funnel of a segment reference.
func (a *App) segmentFunnel(c echo.Context) error {
	f, err := a.funnelOfRequest(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, f)
}

// segmentProducts backs the product picker with what the shop has sold.
func (a *App) segmentProducts(c echo.Context) error {
	q := c.QueryParam("q")
	if len(q) > 100 {
		return echo.NewHTTPError(http.StatusBadRequest, "q is too long")
	}
	ctx := c.Request().Context()
	shop := currentShop(c)
	ps, err := a.DB.SoldProducts(ctx, shop.ID, q, 20)
	if err != nil {
		return err
	}
	vs, err := a.DB.SoldVendors(ctx, shop.ID, 50)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"products": ps, "vendors": vs})
}

// segmentsPage is the segment builder: saved segments on the left, the
// point-and-click editor with its live count, funnel and sample.
func (a *App) segmentsPage(c echo.Context) error {
	ctx := c.Request().Context()
	shop := currentShop(c)
	ss, err := a.DB.Segments(ctx, shop.ID)
	if err != nil {
		return err
	}
	var cur *store.Segment
	if id, _ := strconv.ParseInt(c.QueryParam("id"), 10, 64); id > 0 {
		cur, err = a.DB.SegmentByID(ctx, shop.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			cur = nil
		} else if err != nil {
			return err
		}
	}
	type builtin struct {
		Key        string       `json:"key"`
		Definition segment.Node `json:"definition"`
	}
	var bs []builtin
	for _, k := range segment.BuiltinKeys() {
		n, _ := segment.Builtin(k)
		bs = append(bs, builtin{k, n})
	}
	// Segments select customers: LINE friends who never linked have no
	// customer row, so the page says how many stay outside every segment.
	friends, err := a.DB.CountFriends(ctx, shop.ID, 0, a.Now())
	if err != nil {
		return err
	}
	return a.renderAdmin(c, "segments", "segb.title", map[string]any{
		"Segments": ss, "Cur": cur, "Builtins": bs, "Fields": segment.BuilderFields(), "Kinds": templates.KindNames(nil), "Currency": shop.Currency,
		"UnlinkedFriends": friends.Unlinked, "CanFunnel": core.RoleAllows(callerRole(c), core.RoleAdmin),
	})
}

// funnelOfRequest resolves the segment reference in the JSON body and
// answers its reachability funnel: shared by the builder and the composer.
func (a *App) funnelOfRequest(c echo.Context) (*core.Funnel, error) {
	var in segmentRef
	if err := bindJSON(c, &in); err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	shop := currentShop(c)
	n, err := a.DB.ResolveSegment(ctx, shop.ID, in.SegmentID, in.Builtin, in.Definition)
	if err != nil {
		return nil, storeError(err)
	}
	if err := core.CheckSegmentRun(callerRole(c), n); err != nil {
		return nil, err
	}
	f, err := core.SegmentFunnel(ctx, a.DB, shop, n, a.Now())
	return f, storeError(err)
}
