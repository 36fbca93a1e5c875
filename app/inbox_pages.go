package app

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
)

// Server-rendered inbox pages: the conversation list, one conversation
// with its reply form, and the setup of canned and auto-replies and the
// greeting. Forms post and redirect back (303) with a short notice.

func (a *App) pageInbox(c echo.Context) error {
	page, counts, next, err := a.loadInbox(c)
	if err != nil {
		return err
	}
	accounts, err := a.accountNames(c.Request().Context(), currentShop(c).ID)
	if err != nil {
		return err
	}
	return a.renderAdmin(c, "inbox", "inbox.title", map[string]any{
		"Rows": page.Conversations, "Counts": counts, "Next": next, "Filter": c.QueryParam("filter"), "Accounts": accounts,
	})
}

// accountNames names the shop's LINE accounts by channel id when it has
// more than one (nil otherwise: a single account is not worth showing).
// Conversations of the primary stored before it had an id show under 0.
func (a *App) accountNames(ctx context.Context, shopID int64) (map[int64]string, error) {
	chs, err := a.DB.LineChannels(ctx, shopID)
	if err != nil || len(chs) < 2 {
		return nil, err
	}
	out := make(map[int64]string, len(chs)+1)
	for i := range chs {
		out[chs[i].ID] = chs[i].Label()
		if chs[i].IsPrimary {
			out[0] = chs[i].Label()
		}
	}
	return out, nil
}

func (a *App) pageConversation(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	cv, err := core.OpenConversation(c.Request().Context(), a.DB, currentShop(c).ID, id)
	if err != nil {
		return err
	}
	_, canReply, err := a.currentStaff(c)
	if err != nil {
		return err
	}
	notice, ok := c.QueryParam("notice"), c.QueryParam("ok") == "1"
	if c.QueryParam("sent") == "1" {
		notice, ok = tr(adminLang(c), "inbox.sent"), true
	}
	accounts, err := a.accountNames(c.Request().Context(), currentShop(c).ID)
	if err != nil {
		return err
	}
	return a.renderAdmin(c, "conversation", "inbox.title", map[string]any{
		"Account": accounts[cv.Friend.ChannelID], "F": cv.Friend, "Thread": cv.Thread, "CanReply": canReply, "Canned": cv.Canned, "Staff": cv.Staff, "Key": uuid.NewString(),
		"Notice": notice, "NoticeOK": ok,
	})
}

// back redirects to path with a notice (an error message, or "" for none).
func back(c echo.Context, path string, err error, okParam string) error {
	q := url.Values{}
	if err != nil {
		q.Set("notice", core.ErrorMessage(err))
	} else if okParam != "" {
		q.Set(okParam, "1")
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.Redirect(http.StatusSeeOther, path)
}

// formErr keeps a domain refusal on the page and lets anything else (a bug,
// the database down) take the normal error path.
func formErr(err error) error {
	if err == nil || core.ErrorCode(err) == core.EINTERNAL {
		return err
	}
	return nil
}

func (a *App) formReply(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	page := "/admin/inbox/" + strconv.FormatInt(id, 10)
	_, err = a.reply(c, id, replyInput{Text: c.FormValue("text"), Key: c.FormValue("key")})
	if core.ErrorCode(err) == core.EFORBIDDEN {
		return err
	}
	if ferr := formErr(err); ferr != nil {
		return ferr
	}
	return back(c, page, err, "sent")
}

func (a *App) formAssign(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	err = a.assign(c, id, c.FormValue("staff"))
	if ferr := formErr(err); ferr != nil {
		return ferr
	}
	return back(c, "/admin/inbox/"+strconv.FormatInt(id, 10), err, "")
}

func (a *App) pageInboxSetup(c echo.Context) error {
	ctx := c.Request().Context()
	shop := currentShop(c)
	canned, err := a.DB.CannedReplies(ctx, shop.ID)
	if err != nil {
		return err
	}
	auto, err := a.DB.AutoReplies(ctx, shop.ID)
	if err != nil {
		return err
	}
	_, canEdit, err := a.currentStaff(c)
	if err != nil {
		return err
	}
	on, days := shop.Settings.Greeting.Nudge()
	notice, ok := c.QueryParam("notice"), c.QueryParam("ok") == "1"
	if ok {
		notice = tr(adminLang(c), "inbox.saved")
	}
	return a.renderAdmin(c, "inboxsetup", "inbox.setup", map[string]any{
		"Canned": canned, "Auto": auto, "CanEdit": canEdit, "Notice": notice, "NoticeOK": ok,
		"G": shop.Settings.Greeting, "NudgeOn": on, "NudgeDays": days,
	})
}

func (a *App) formNewCanned(c echo.Context) error {
	_, err := a.Friends().NewCannedReply(c.Request().Context(), currentShop(c).ID, c.FormValue("title"), c.FormValue("body"))
	if ferr := formErr(err); ferr != nil {
		return ferr
	}
	return back(c, "/admin/inbox/setup", err, "ok")
}

func (a *App) formDeleteCanned(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if _, err := a.DB.DeleteCannedReply(c.Request().Context(), currentShop(c).ID, id); err != nil {
		return err
	}
	return back(c, "/admin/inbox/setup", nil, "ok")
}

func (a *App) formNewAuto(c echo.Context) error {
	_, err := a.Friends().NewAutoReply(c.Request().Context(), currentShop(c).ID, c.FormValue("keyword"), c.FormValue("match_mode"), c.FormValue("body"))
	if ferr := formErr(err); ferr != nil {
		return ferr
	}
	return back(c, "/admin/inbox/setup", err, "ok")
}

func (a *App) formDeleteAuto(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if _, err := a.DB.DeleteAutoReply(c.Request().Context(), currentShop(c).ID, id); err != nil {
		return err
	}
	return back(c, "/admin/inbox/setup", nil, "ok")
}

func (a *App) formGreeting(c echo.Context) error {
	ctx := c.Request().Context()
	shop := currentShop(c)
	days, _ := strconv.Atoi(strings.TrimSpace(c.FormValue("nudge_days")))
	g := store.Greeting{
		Disabled: c.FormValue("enabled") == "", Returning: c.FormValue("returning") != "",
		TextJA: strings.TrimSpace(c.FormValue("text_ja")), TextEN: strings.TrimSpace(c.FormValue("text_en")),
		ButtonJA: strings.TrimSpace(c.FormValue("button_ja")), ButtonEN: strings.TrimSpace(c.FormValue("button_en")),
		NudgeDays: days, NudgeOff: c.FormValue("nudge") == "",
	}
	if err := core.CheckGreeting(g); err != nil {
		return back(c, "/admin/inbox/setup", err, "")
	}
	st := shop.Settings
	st.Greeting = g
	if err := a.DB.SaveShopSettings(ctx, shop.ID, st); err != nil {
		return err
	}
	return back(c, "/admin/inbox/setup", nil, "ok")
}
