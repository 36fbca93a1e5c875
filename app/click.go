package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"

	"github.com/tsunagu/tsunagu/app/store"
)

// click records a click on a link in a message and redirects to its target
// with UTM parameters. The token is signed, so only links Tsunagu wrote
// redirect; a click is recorded at most once per request and never blocks
// the redirect.
func (a *App) click(c echo.Context) error {
	ctx := c.Request().Context()
	cl, err := core.ParseClickToken(a.Signer, c.Param("token"), a.Now())
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "this link is invalid or has expired")
	}
	if m, err := a.DB.Message(ctx, cl.MessageID); err == nil {
		act := &store.Activity{
			ShopID: m.ShopID, CustomerID: m.CustomerID, FriendID: m.FriendID, Kind: store.ActClick, RefType: "message", RefID: m.ID,
			Summary: fmt.Sprintf("clicked a link in %s", m.Kind), Data: clickData(cl.Target), OccurredAt: a.Now(),
		}
		if err := a.DB.AddActivity(ctx, act); err != nil {
			a.Log.Warn("click not recorded", "message_id", m.ID, "err", err)
		}
	} else {
		a.Log.Info("click on a link of a deleted message", "message_id", cl.MessageID)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	return c.Redirect(http.StatusFound, core.WithUTM(cl.Target, cl.Kind))
}

func clickData(target string) string {
	b, _ := json.Marshal(map[string]string{"url": target})
	return string(b)
}

// Campaign click counting. The tracked link is public (anyone a customer
// forwards it to can open it), so a hit is counted only within bounds:
// once per campaign, client address and visitor cookie per window, at most
// clickPerClient counted clicks per campaign and client address per hour
// (people behind one carrier NAT share an address), and at most
// clickPerCampaign per campaign per minute overall. Every hit still
// redirects; an uncounted one writes nothing. The counters live in Redis,
// shared by every process.
const (
	clickDedupeWindow = 24 * time.Hour
	clickPerClient    = 10
	clickPerCampaign  = 300
)

// campaignClick records a click on a campaign's tracked link (/cc/{token},
// see core.CampaignLinkURL) and redirects to the variant's destination
// with UTM parameters. The visitor cookie makes unique clicks countable
// without knowing who the reader is.
func (a *App) campaignClick(c echo.Context) error {
	id, variant, err := core.ParseCampaignClickToken(a.Signer, c.Param("token"), a.Now())
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "this link is invalid")
	}
	return a.redirectCampaign(c, id, variant, true, nil)
}

// recipientClick records a click on one recipient's link in a campaign
// sent per recipient (/cr/{token}, core.RecipientLinkURL) with the
// recipient's customer, so "clicked: campaign" segments match them, and
// redirects like a campaign link. The recipient is counted once a day
// however often the link is opened.
func (a *App) recipientClick(c echo.Context) error {
	id, variant, rid, err := core.ParseRecipientClickToken(a.Signer, c.Param("token"), a.Now())
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "this link is invalid")
	}
	r, err := a.DB.CampaignRecipientByID(c.Request().Context(), id, rid)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// A recipient removed since (customer redacted) still redirects, uncounted.
	return a.redirectCampaign(c, id, variant, r != nil, r)
}

// legacyCampaignClick answers the sequential links (/cc/{id}/{variant})
// sent before click ids were signed. Those messages sit in customers'
// LINE chats, so the link keeps taking them to the shop; but the URL can
// be enumerated and forged, so a hit is never counted, and only campaigns
// that were actually sent answer (a draft's destination stays private).
func (a *App) legacyCampaignClick(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	return a.redirectCampaign(c, id, c.Param("variant"), false, nil)
}

func (a *App) redirectCampaign(c echo.Context, id int64, variant string, count bool, r *store.CampaignRecipient) error {
	ctx := c.Request().Context()
	camp, err := a.DB.Campaign(ctx, 0, id)
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	if err != nil {
		return err
	}
	v := camp.Variant(variant)
	// A link saved before schemes were checked is re-checked here.
	if v == nil || v.Link == "" || camp.StartedAt == nil || core.CheckLink(v.Link) != nil {
		return echo.NewHTTPError(http.StatusNotFound, "not found")
	}
	visitor := ""
	if ck, err := c.Cookie("tsunagu_v"); err == nil && ck.Value != "" && len(ck.Value) <= 64 {
		visitor = ck.Value
	} else {
		visitor = randomToken()
		c.SetCookie(&http.Cookie{Name: "tsunagu_v", Value: visitor, Path: "/cc/", MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	dedupe := clientKey(c) + "\x00" + visitor
	var customerID *int64
	if r != nil {
		if r.ShopID != camp.ShopID {
			count = false
		}
		dedupe, customerID = "recipient\x00"+strconv.FormatInt(r.ID, 10), &r.CustomerID
	}
	if count && a.clickCounts(ctx, camp.ID, clientKey(c), dedupe) {
		data, _ := json.Marshal(map[string]string{"variant": v.Name, "visitor": visitor})
		if err := a.DB.AddActivity(ctx, &store.Activity{ShopID: camp.ShopID, CustomerID: customerID, Kind: store.ActClick, Summary: "campaign " + camp.Name,
			Data: string(data), RefType: "campaign", RefID: camp.ID, OccurredAt: a.Now()}); err != nil {
			a.Log.Warn("recording a campaign click", "campaign_id", camp.ID, "err", err)
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	return c.Redirect(http.StatusFound, core.UTMLink(v.Link, camp.ID, v.Name))
}

// clickCounts says whether a hit on campaign id from client, deduplicated
// on dedupe (client and visitor cookie, or the recipient), is counted (see
// the bounds above). When Redis cannot say,
// the click is not counted: the redirect matters more than the count.
func (a *App) clickCounts(ctx context.Context, campaignID int64, client, dedupe string) bool {
	camp := strconv.FormatInt(campaignID, 10)
	first, err := a.rdb.SetNX(ctx, "tsunagu:cc:seen:"+camp+":"+hashKey(dedupe), 1, clickDedupeWindow).Result()
	if err != nil {
		a.Log.Warn("click dedupe unavailable", "err", err)
		return false
	}
	if !first {
		return false
	}
	for _, l := range []struct {
		key string
		lim redis_rate.Limit
	}{
		{"tsunagu:cc:client:" + camp + ":" + hashKey(client), redis_rate.PerHour(clickPerClient)},
		{"tsunagu:cc:campaign:" + camp, redis_rate.PerMinute(clickPerCampaign)},
	} {
		res, err := a.rate.Allow(ctx, l.key, l.lim)
		if err != nil {
			a.Log.Warn("click limiter unavailable", "err", err)
			return false
		}
		if res.Allowed == 0 {
			return false
		}
	}
	return true
}
