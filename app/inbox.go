package app

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
)

// The inbox: conversations with LINE friends (linked or not), staff
// replies, canned replies and keyword auto-replies. Handlers are adapters
// around core.Friends.

// maxInboxBody bounds the inbox's forms and JSON bodies.
const maxInboxBody = 64 << 10

// limitBody refuses request bodies over n bytes with 413.
func limitBody(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > n {
				return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "request body too large")
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, n)
			return next(c)
		}
	}
}

// currentStaff names the person behind an admin request and says whether
// they may reply: staff accounts by their name and role, Shopify staff (who
// manage the app) as admins.
func (a *App) currentStaff(c echo.Context) (name string, canReply bool, err error) {
	staff, _ := c.Get(ctxStaff).(string)
	idStr, isStaff := strings.CutPrefix(staff, staffPrefix)
	if !isStaff {
		return "Shopify staff", true, nil
	}
	id, _ := strconv.ParseInt(idStr, 10, 64)
	acct, err := a.DB.Staff(c.Request().Context(), currentShop(c).ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", false, echo.NewHTTPError(http.StatusUnauthorized, "this staff account is gone")
	}
	if err != nil {
		return "", false, err
	}
	name = acct.Name
	if name == "" {
		name = acct.Email
	}
	return name, acct.Role == store.RoleAdmin, nil
}

type inboxJSON struct {
	Counts        store.InboxCounts `json:"counts"`
	Conversations []friendJSON      `json:"conversations"`
	Next          string            `json:"next,omitempty"`
}

type friendJSON struct {
	ID            int64      `json:"id"`
	LineUserID    string     `json:"line_user_id"`
	CustomerID    *int64     `json:"customer_id"`
	DisplayName   string     `json:"display_name"`
	PictureURL    string     `json:"picture_url"`
	Language      string     `json:"language"`
	FriendSince   *time.Time `json:"friend_since"`
	FollowSource  string     `json:"follow_source"`
	Blocked       bool       `json:"blocked"`
	LastInboundAt *time.Time `json:"last_inbound_at"`
	LastText      string     `json:"last_text"`
	Unread        int        `json:"unread"`
	Unanswered    bool       `json:"unanswered"`
	AssignedStaff string     `json:"assigned_staff"`
}

func toFriendJSON(f *store.LineFriend) friendJSON {
	return friendJSON{ID: f.ID, LineUserID: f.LineUserID, CustomerID: f.CustomerID, DisplayName: f.DisplayName,
		PictureURL: f.PictureURL, Language: f.Language, FriendSince: f.FriendSince, FollowSource: f.FollowSource,
		Blocked: f.Blocked, LastInboundAt: f.LastInboundAt, LastText: f.LastText, Unread: f.Unread,
		Unanswered: f.Unanswered, AssignedStaff: f.AssignedStaff}
}

// inboxQuery reads the inbox filters and cursor from the query string.
func inboxQuery(c echo.Context) (store.InboxFilter, time.Time, int64) {
	f := store.InboxFilter{Unanswered: c.QueryParam("filter") == "unanswered", Unread: c.QueryParam("filter") == "unread",
		Unlinked: c.QueryParam("filter") == "unlinked", Assigned: strings.TrimSpace(c.QueryParam("assigned"))}
	var at time.Time
	var id int64
	if cur := c.QueryParam("cursor"); cur != "" {
		a, b, ok := strings.Cut(cur, "_")
		us, err1 := strconv.ParseInt(a, 10, 64)
		i, err2 := strconv.ParseInt(b, 10, 64)
		if ok && err1 == nil && err2 == nil {
			at, id = time.UnixMicro(us).UTC(), i
		}
	}
	return f, at, id
}

func (a *App) loadInbox(c echo.Context) (*store.InboxPage, store.InboxCounts, string, error) {
	shop := currentShop(c)
	ctx := c.Request().Context()
	f, at, id := inboxQuery(c)
	page, err := a.DB.Inbox(ctx, shop.ID, f, at, id, 50)
	if err != nil {
		return nil, store.InboxCounts{}, "", err
	}
	counts, err := a.DB.CountInbox(ctx, shop.ID)
	if err != nil {
		return nil, counts, "", err
	}
	next := ""
	if page.Next != 0 {
		next = strconv.FormatInt(page.Next, 10) + "_" + strconv.FormatInt(page.NextID, 10)
	}
	return page, counts, next, nil
}

func (a *App) apiInbox(c echo.Context) error {
	page, counts, next, err := a.loadInbox(c)
	if err != nil {
		return err
	}
	out := inboxJSON{Counts: counts, Next: next, Conversations: []friendJSON{}}
	for i := range page.Conversations {
		out.Conversations = append(out.Conversations, toFriendJSON(&page.Conversations[i]))
	}
	return c.JSON(http.StatusOK, out)
}

type replyInput struct {
	Text string `json:"text" form:"text"`
	Key  string `json:"key" form:"key"`
}

type replyJSON struct {
	ID        int64  `json:"id"`
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
	Delivery  string `json:"delivery,omitempty"`
	StaffName string `json:"staff_name"`
}

// reply sends a staff reply for the request's shop and staff member.
func (a *App) reply(c echo.Context, friendID int64, in replyInput) (*store.Message, error) {
	name, canReply, err := a.currentStaff(c)
	if err != nil {
		return nil, err
	}
	return a.Friends().Reply(c.Request().Context(), core.ReplyInput{ShopID: currentShop(c).ID, FriendID: friendID,
		Text: in.Text, Staff: name, CanReply: canReply, Key: in.Key})
}

func (a *App) apiReply(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in replyInput
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed body")
	}
	m, err := a.reply(c, id, in)
	if m != nil && core.ErrorCode(err) == core.ECONFLICT {
		return c.JSON(http.StatusConflict, replyJSON{ID: m.ID, Status: m.Status, Reason: m.Reason, StaffName: m.StaffName})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, replyJSON{ID: m.ID, Status: m.Status, Reason: m.Reason, Delivery: m.Delivery, StaffName: m.StaffName})
}

func (a *App) apiAssign(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in struct {
		Staff string `json:"staff" form:"staff"`
	}
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed body")
	}
	if err := a.assign(c, id, in.Staff); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true})
}

func (a *App) assign(c echo.Context, friendID int64, staff string) error {
	ctx := c.Request().Context()
	shop := currentShop(c)
	staff = strings.TrimSpace(staff)
	if len([]rune(staff)) > 100 {
		return core.Errorf(core.EINVALID, "staff name is over 100 characters")
	}
	if _, err := a.DB.Friend(ctx, shop.ID, friendID); errors.Is(err, store.ErrNotFound) {
		return core.Errorf(core.ENOTFOUND, "conversation %d not found", friendID)
	} else if err != nil {
		return err
	}
	return a.DB.UpdateFriend(ctx, friendID, map[string]any{"assigned_staff": staff})
}

func (a *App) apiCannedReplies(c echo.Context) error {
	out, err := a.DB.CannedReplies(c.Request().Context(), currentShop(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (a *App) apiNewCannedReply(c echo.Context) error {
	var in struct {
		Title string `json:"title" form:"title"`
		Body  string `json:"body" form:"body"`
	}
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed body")
	}
	r, err := a.Friends().NewCannedReply(c.Request().Context(), currentShop(c).ID, in.Title, in.Body)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, r)
}

func (a *App) apiDeleteCannedReply(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ok, err := a.DB.DeleteCannedReply(c.Request().Context(), currentShop(c).ID, id)
	if err != nil {
		return err
	}
	if !ok {
		return core.Errorf(core.ENOTFOUND, "canned reply %d not found", id)
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *App) apiAutoReplies(c echo.Context) error {
	out, err := a.DB.AutoReplies(c.Request().Context(), currentShop(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (a *App) apiNewAutoReply(c echo.Context) error {
	var in struct {
		Keyword string `json:"keyword" form:"keyword"`
		Match   string `json:"match_mode" form:"match_mode"`
		Body    string `json:"body" form:"body"`
	}
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed body")
	}
	r, err := a.Friends().NewAutoReply(c.Request().Context(), currentShop(c).ID, in.Keyword, in.Match, in.Body)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, r)
}

func (a *App) apiDeleteAutoReply(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ok, err := a.DB.DeleteAutoReply(c.Request().Context(), currentShop(c).ID, id)
	if err != nil {
		return err
	}
	if !ok {
		return core.Errorf(core.ENOTFOUND, "auto-reply %d not found", id)
	}
	return c.NoContent(http.StatusNoContent)
}

// friendLink is the greeting's button: it records the click on the
// friend's timeline and sends them through the store's sign-in (the app
// proxy) into LINE Login, which matches them to their customer account.
func (a *App) friendLink(c echo.Context) error {
	ctx := c.Request().Context()
	shopID, friendID, err := a.Friends().ParseFriendLink(c.QueryParam("t"))
	if err != nil {
		return a.linkPage(c, http.StatusBadRequest, pageInvalidLink, nil)
	}
	shop, err := a.DB.Shop(ctx, shopID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !shop.Active()) {
		return a.linkPage(c, http.StatusNotFound, pageUnavailable, nil)
	}
	if err != nil {
		return err
	}
	target := "https://" + shop.Domain + "/apps/tsunagu/link"
	if f, err := a.DB.Friend(ctx, shopID, friendID); err == nil {
		// A friend of another account than the primary links on it.
		if primary, err := a.DB.LineChannel(ctx, shopID); err == nil && f.ChannelID != 0 && f.ChannelID != primary.ID {
			target += "?c=" + strconv.FormatInt(f.ChannelID, 10)
		}
		fid := f.ID
		if err := a.DB.AddActivity(ctx, &store.Activity{ShopID: shopID, CustomerID: f.CustomerID, FriendID: &fid, Kind: store.ActClick,
			Summary: "Opened the link invitation", Data: `{"link":"friend_link"}`, RefType: "line_friend", RefID: f.ID, OccurredAt: a.Now()}); err != nil {
			return err
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusFound, target)
}
