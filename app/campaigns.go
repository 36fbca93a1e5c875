package app

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
)

// decodeJSON reads a JSON body strictly: malformed input is a 400.
func bindJSON(c echo.Context, v any) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 4<<20))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "unreadable body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON: "+err.Error())
	}
	return nil
}

// storeError maps store errors to HTTP answers.
func storeError(err error) error {
	switch {
	case errors.Is(err, segment.ErrInvalid):
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	case errors.Is(err, store.ErrSegmentTimeout):
		return core.SegmentError(err)
	case errors.Is(err, store.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	return err
}

// segmentRef names a segment three ways; the first non-empty wins.
type segmentRef struct {
	SegmentID  int64           `json:"segment_id"`
	Builtin    string          `json:"builtin"`
	Definition json.RawMessage `json:"definition"`
}

func (a *App) listSegments(c echo.Context) error {
	shop := currentShop(c)
	saved, err := a.DB.Segments(c.Request().Context(), shop.ID)
	if err != nil {
		return err
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
	return c.JSON(http.StatusOK, map[string]any{"segments": saved, "builtins": bs, "fields": segment.FieldKeys()})
}

// segmentInput is a segment as the API takes it.
type segmentInput struct {
	Name       string          `json:"name"`
	Definition json.RawMessage `json:"definition"`
}

// bindSegment reads and validates a segment from the request body.
func bindSegment(c echo.Context) (*segmentInput, error) {
	var in segmentInput
	if err := bindJSON(c, &in); err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "name is required")
	}
	if _, err := segment.Parse(in.Definition); err != nil {
		return nil, storeError(err)
	}
	return &in, nil
}

func (a *App) createSegment(c echo.Context) error {
	in, err := bindSegment(c)
	if err != nil {
		return err
	}
	s := &store.Segment{ShopID: currentShop(c).ID, Name: in.Name, Definition: in.Definition}
	if err := a.DB.SaveSegment(c.Request().Context(), s); err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return echo.NewHTTPError(http.StatusConflict, "a segment with this name exists")
		}
		return err
	}
	a.enqueueRichMenuSync(c, s.ShopID)
	return c.JSON(http.StatusCreated, s)
}

func (a *App) getSegment(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	s, err := a.DB.SegmentByID(c.Request().Context(), currentShop(c).ID, id)
	if err != nil {
		return storeError(err)
	}
	return c.JSON(http.StatusOK, s)
}

func (a *App) updateSegment(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	in, err := bindSegment(c)
	if err != nil {
		return err
	}
	s := &store.Segment{ID: id, ShopID: currentShop(c).ID, Name: in.Name, Definition: in.Definition}
	if err := a.DB.SaveSegment(c.Request().Context(), s); err != nil {
		return storeError(err)
	}
	a.enqueueRichMenuSync(c, s.ShopID)
	return a.getSegment(c)
}

func (a *App) deleteSegment(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := a.DB.DeleteSegment(c.Request().Context(), currentShop(c).ID, id); err != nil {
		return storeError(err)
	}
	a.enqueueRichMenuSync(c, currentShop(c).ID)
	return c.NoContent(http.StatusNoContent)
}

// previewSegment answers the live count and a sample of 20 while editing.
func (a *App) previewSegment(c echo.Context) error {
	var in struct {
		segmentRef
		// Funnel asks for the reachability funnel too (admins): the
		// builder's one call per edit, which evaluates the segment once
		// for the count and the funnel.
		Funnel bool `json:"funnel"`
		// Estimate asks for a quick "about N" first (the builder's first
		// call per edit on a large shop): the answer is {"count", "estimated":
		// true} without a sample, and the exact count is a second call.
		// Where an estimate would not be quicker the answer is exact, as
		// without it.
		Estimate bool `json:"estimate"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	shop := currentShop(c)
	n, err := a.DB.ResolveSegment(ctx, shop.ID, in.SegmentID, in.Builtin, in.Definition)
	if err != nil {
		return storeError(err)
	}
	role := callerRole(c)
	if err := core.CheckSegmentRun(role, n); err != nil {
		return err
	}
	now := a.Now()
	out := map[string]any{}
	var count int64
	if in.Estimate && !in.Funnel {
		size, err := a.DB.EstimateSegment(ctx, shop, n, now)
		if err != nil {
			return storeError(err)
		}
		if size.Estimated {
			out := map[string]any{"count": size.Count, "estimated": true}
			if size.Under > 0 {
				out["under"] = size.Under
			}
			return c.JSON(http.StatusOK, out)
		}
		count = size.Count
	} else if in.Funnel && core.RoleAllows(role, core.RoleAdmin) {
		f, err := core.SegmentFunnel(ctx, a.DB, shop, n, now)
		if err != nil {
			return storeError(err)
		}
		count, out["funnel"] = f.InSegment(), f
	} else if count, err = a.DB.CountSegment(ctx, shop, n, now); err != nil {
		return storeError(err)
	}
	sample, err := a.DB.SampleSegment(ctx, shop, n, now, count, 20)
	if err != nil {
		return storeError(err)
	}
	out["count"], out["sample"] = count, sample
	return c.JSON(http.StatusOK, out)
}

type campaignIn struct {
	segmentRef
	Name        string                  `json:"name"`
	Messages    []json.RawMessage       `json:"messages"`
	Link        string                  `json:"link"`
	Variants    []store.CampaignVariant `json:"variants"`
	TestPercent int                     `json:"test_percent"`
	CouponCode  string                  `json:"coupon_code"`
	Delivery    string                  `json:"delivery"`
	ScheduledAt *time.Time              `json:"scheduled_at"`
	Send        bool                    `json:"send"`
	// LineChannelID is the LINE account to send from (0: the primary).
	LineChannelID int64 `json:"line_channel_id"`
}

func (a *App) createCampaign(c echo.Context) error {
	var in campaignIn
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	shop := currentShop(c)
	if in.Name == "" {
		return core.Errorf(core.EINVALID, "name is required")
	}
	n, err := a.DB.ResolveSegment(ctx, shop.ID, in.SegmentID, in.Builtin, in.Definition)
	if err != nil {
		return storeError(err)
	}
	camp, err := a.Campaigns().Create(ctx, shop.ID, core.CampaignDraft{Name: in.Name, Segment: n, SegmentID: in.SegmentID,
		Messages: in.Messages, Link: in.Link, Variants: in.Variants, TestPercent: in.TestPercent, CouponCode: in.CouponCode, Delivery: in.Delivery,
		LineChannelID: in.LineChannelID}, in.Send, in.ScheduledAt)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, camp)
}

func (a *App) sendCampaign(c echo.Context) error {
	camp, err := a.loadCampaign(c)
	if err != nil {
		return err
	}
	var in struct {
		ScheduledAt *time.Time `json:"scheduled_at"`
	}
	if c.Request().ContentLength > 0 {
		if err := bindJSON(c, &in); err != nil {
			return err
		}
	}
	if err := a.Campaigns().Schedule(c.Request().Context(), camp, in.ScheduledAt); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, camp)
}

func (a *App) loadCampaign(c echo.Context) (*store.Campaign, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	camp, err := a.DB.Campaign(c.Request().Context(), currentShop(c).ID, id)
	if err != nil {
		return nil, storeError(err)
	}
	return camp, nil
}

func (a *App) listCampaigns(c echo.Context) error {
	cs, err := a.DB.Campaigns(c.Request().Context(), currentShop(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"campaigns": cs})
}

// Progress is a campaign's recipients by status, for polling while it sends.
type Progress struct {
	Total     int64            `json:"total"`
	ByStatus  map[string]int64 `json:"by_status"`
	ByReason  map[string]int64 `json:"skipped_by_reason"`
	ByVariant map[string]int64 `json:"sent_by_variant"`
}

func progressOf(counts []store.RecipientCount) Progress {
	p := Progress{ByStatus: map[string]int64{}, ByReason: map[string]int64{}, ByVariant: map[string]int64{}}
	for _, rc := range counts {
		p.Total += rc.N
		p.ByStatus[rc.Status] += rc.N
		if rc.Reason != "" {
			p.ByReason[rc.Reason] += rc.N
		}
		if rc.Status == store.MsgSent {
			p.ByVariant[rc.Variant] += rc.N
		}
	}
	return p
}

func (a *App) getCampaign(c echo.Context) error {
	camp, err := a.loadCampaign(c)
	if err != nil {
		return err
	}
	counts, err := a.DB.CampaignCounts(c.Request().Context(), camp.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"campaign": camp, "progress": progressOf(counts)})
}

func (a *App) cancelCampaign(c echo.Context) error {
	camp, err := a.loadCampaign(c)
	if err != nil {
		return err
	}
	if err := a.Campaigns().Cancel(c.Request().Context(), camp); err != nil {
		return err
	}
	return a.getCampaign(c)
}

// campaignWinner sends the held rest of an A/B campaign with one variant:
// the one named, or with "auto" the best by conversions, then clicks.
func (a *App) campaignWinner(c echo.Context) error {
	camp, err := a.loadCampaign(c)
	if err != nil {
		return err
	}
	var in struct {
		Variant string `json:"variant"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if in.Variant == "auto" {
		rep, err := a.DB.CampaignReport(ctx, camp, a.reportOptions(currentShop(c)))
		if err != nil {
			return err
		}
		in.Variant = rep.Best()
	}
	if err := a.Campaigns().PickWinner(ctx, camp, in.Variant); err != nil {
		return err
	}
	return a.getCampaign(c)
}
