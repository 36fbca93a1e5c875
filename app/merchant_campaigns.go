package app

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// campaignForecast answers who a campaign to a segment would reach and
// what it would cost, before the merchant confirms, against the quota of
// the LINE account it is sent from (?channel=; none: the primary).
func (a *App) campaignForecast(c echo.Context) error {
	f, err := a.funnelOfRequest(c)
	if err != nil {
		return err
	}
	ctx, shop := c.Request().Context(), currentShop(c)
	var q *store.LineQuota
	if ch := channelParam(c.QueryParam("channel")); ch != 0 {
		if _, err := a.DB.LineChannelByID(ctx, shop.ID, ch); errors.Is(err, store.ErrNotFound) {
			return core.Errorf(core.EINVALID, "channel: LINE account %d not found", ch)
		} else if err != nil {
			return err
		}
		q, err = a.DB.ChannelQuota(ctx, shop.ID, ch)
	} else {
		q, err = a.DB.LineQuota(ctx, shop.ID)
	}
	if err != nil {
		return err
	}
	// A campaign waits out quiet hours, so everyone under the cap gets it.
	fc := core.ForecastSend(f.ReachableLater, shop.Settings.ReportOptions().YenPerMessage, quotaLeft(q, a.Now(), shop.Location()))
	return c.JSON(http.StatusOK, map[string]any{"funnel": f, "forecast": fc})
}

// validateCampaignMessages checks messages as LINE would, with {{link}}
// standing in for the tracked link.
func validateCampaignMessages(msgs []json.RawMessage) error {
	if len(msgs) == 0 || len(msgs) > line.MaxMessagesPerRequest {
		return core.Errorf(core.EINVALID, "a message needs 1 to %d parts", line.MaxMessagesPerRequest)
	}
	for i, m := range msgs {
		probe := strings.ReplaceAll(string(m), "{{link}}", "https://example.com/c")
		if _, err := line.ValidateMessage(line.Message(probe)); err != nil {
			return core.Errorf(core.EINVALID, "message %d: %v", i+1, err)
		}
	}
	return nil
}

// campaignTestSend pushes a draft message to a staff member's own LINE
// account (never to a customer), with {{link}} going straight to the link,
// from the LINE account the campaign is sent from (line_channel_id; 0:
// the primary).
func (a *App) campaignTestSend(c echo.Context) error {
	var in struct {
		StaffLineID   int64             `json:"staff_line_id"`
		Messages      []json.RawMessage `json:"messages"`
		Link          string            `json:"link"`
		LineChannelID int64             `json:"line_channel_id"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if err := validateCampaignMessages(in.Messages); err != nil {
		return err
	}
	if in.Link != "" {
		if err := core.CheckLink(in.Link); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	shop := currentShop(c)
	sl, err := a.DB.StaffLine(ctx, shop.ID, in.StaffLineID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sl.LineUserID == "") {
		return core.Errorf(core.EINVALID, "pick a staff member whose LINE is linked")
	}
	if err != nil {
		return err
	}
	token, err := a.channelToken(c, in.LineChannelID)
	if err != nil {
		return err
	}
	link := in.Link
	if link == "" {
		link = "https://" + shop.Domain
	}
	enc, _ := json.Marshal(link)
	msgs := make([]line.Message, len(in.Messages))
	for i, m := range in.Messages {
		msgs[i] = line.Message(strings.ReplaceAll(string(m), "{{link}}", strings.Trim(string(enc), `"`)))
	}
	if _, err := a.Messenger.Push(ctx, token, sl.LineUserID, msgs, line.RetryKey("test:"+randomToken())); err != nil {
		return core.Errorf(core.EUNAVAILABLE, "LINE refused the test message: %v", err)
	}
	return c.JSON(http.StatusOK, map[string]any{"sent_to": sl.Name})
}

// channelToken is the Messaging API token of the shop's LINE account id
// (0: the primary), or a conflict saying LINE is not connected.
func (a *App) channelToken(c echo.Context, id int64) (string, error) {
	ch, err := a.DB.LineChannelFor(c.Request().Context(), currentShop(c).ID, id)
	if errors.Is(err, store.ErrNotFound) && id != 0 {
		return "", core.Errorf(core.EINVALID, "line_channel_id: LINE account %d not found", id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return "", core.Errorf(core.ECONFLICT, "connect a LINE channel first (Settings)")
	}
	if err != nil {
		return "", err
	}
	token, err := core.MessagingToken(a.Box, ch)
	if err != nil {
		return "", core.Errorf(core.ECONFLICT, "connect a LINE channel first (Settings)")
	}
	return token, nil
}

func (a *App) listStaffLines(c echo.Context) error {
	ls, err := a.DB.StaffLines(c.Request().Context(), currentShop(c).ID)
	if err != nil {
		return err
	}
	now := a.Now()
	out := ls[:0]
	for _, l := range ls {
		if l.LinkedAt == nil && !l.CodeExpiresAt.After(now) {
			continue // an expired, unused code
		}
		if l.LinkedAt != nil {
			l.Code = ""
		}
		out = append(out, l)
	}
	return c.JSON(http.StatusOK, map[string]any{"staff_lines": out})
}

// createStaffLine starts linking a staff member's LINE: it answers a code
// to send to the official account from LINE.
func (a *App) createStaffLine(c echo.Context) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len([]rune(in.Name)) > 60 {
		return core.Errorf(core.EINVALID, "name is required (at most 60 characters)")
	}
	now := a.Now()
	sl := &store.StaffLine{ShopID: currentShop(c).ID, Name: in.Name, Code: core.NewStaffLineCode(),
		CodeExpiresAt: now.Add(core.StaffCodeTTL), CreatedAt: now, UpdatedAt: now}
	if err := a.DB.CreateStaffLine(c.Request().Context(), sl); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, sl)
}

func (a *App) deleteStaffLine(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := a.DB.DeleteStaffLine(c.Request().Context(), currentShop(c).ID, id); err != nil {
		return storeError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// abView is a campaign's A/B comparison on clicks and on conversions.
type abView struct {
	Variants    []store.Metrics `json:"variants"`
	Clicks      *core.ABResult  `json:"clicks,omitempty"`
	Conversions *core.ABResult  `json:"conversions,omitempty"`
}

func (a *App) abOf(c echo.Context, camp *store.Campaign) (*store.CampaignReport, *abView, error) {
	rep, err := a.DB.CampaignReport(c.Request().Context(), camp, a.reportOptions(currentShop(c)))
	if err != nil {
		return nil, nil, err
	}
	v := &abView{}
	for _, m := range rep.Variants {
		if m.Key != "" {
			v.Variants = append(v.Variants, m)
		}
	}
	if len(v.Variants) == 2 {
		x, y := v.Variants[0], v.Variants[1]
		cl := core.CompareAB(core.ABArm{Name: x.Key, Trials: x.Sent, Successes: x.UniqueClicks}, core.ABArm{Name: y.Key, Trials: y.Sent, Successes: y.UniqueClicks})
		cv := core.CompareAB(core.ABArm{Name: x.Key, Trials: x.Sent, Successes: x.Conversions}, core.ABArm{Name: y.Key, Trials: y.Sent, Successes: y.Conversions})
		v.Clicks, v.Conversions = &cl, &cv
	}
	return rep, v, nil
}

func (a *App) campaignAB(c echo.Context) error {
	camp, err := a.loadCampaign(c)
	if err != nil {
		return err
	}
	_, v, err := a.abOf(c, camp)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// quotaLeft is this month's remaining LINE messages from the last reading,
// nil when unknown or unlimited (quotaOf decides; loc is the shop's).
func quotaLeft(q *store.LineQuota, now time.Time, loc *time.Location) *int64 {
	v := quotaOf(q, now, loc)
	if !v.Known {
		return nil
	}
	return &v.Left
}
