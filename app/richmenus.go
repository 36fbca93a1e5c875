package app

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
)

// richMenuJSON is a menu as the API and the page show it: its sync state
// and how many LINE users it is linked to.
type richMenuJSON struct {
	store.RichMenu
	Users int64 `json:"users"`
}

func (a *App) richMenusOf(c echo.Context) ([]richMenuJSON, error) {
	ctx := c.Request().Context()
	shop := currentShop(c)
	ms, err := a.DB.RichMenus(ctx, shop.ID)
	if err != nil {
		return nil, err
	}
	users, err := a.DB.RichMenuUsers(ctx, shop.ID)
	if err != nil {
		return nil, err
	}
	out := make([]richMenuJSON, len(ms))
	for i, m := range ms {
		out[i] = richMenuJSON{RichMenu: m, Users: users[m.ID]}
	}
	return out, nil
}

func (a *App) listRichMenus(c echo.Context) error {
	ms, err := a.richMenusOf(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"rich_menus": ms})
}

// createRichMenu stores a menu (checked against LINE's rules) and asks the
// rich-menu sync to publish it: create at LINE, upload the image, link.
func (a *App) createRichMenu(c echo.Context) error {
	var in struct {
		Menu      json.RawMessage `json:"menu"`
		Image     string          `json:"image"` // base64, or a data: URL
		Audience  string          `json:"audience"`
		SegmentID *int64          `json:"segment_id"`
		Priority  int             `json:"priority"`
		Replaces  int64           `json:"replaces"`
		ChannelID int64           `json:"channel_id"` // LINE account; 0: the primary
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	raw := in.Image
	if i := strings.Index(raw, ";base64,"); strings.HasPrefix(raw, "data:") && i > 0 {
		raw = raw[i+len(";base64,"):]
	}
	img, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "image: not base64")
	}
	shop := currentShop(c)
	m, err := core.CreateRichMenu(c.Request().Context(), a.DB, shop.ID, core.RichMenuInput{
		Definition: in.Menu, Image: img, Audience: in.Audience, SegmentID: in.SegmentID, Priority: in.Priority, Replaces: in.Replaces, ChannelID: in.ChannelID,
	})
	if err != nil {
		return err
	}
	a.enqueueRichMenuSync(c, shop.ID)
	return c.JSON(http.StatusCreated, richMenuJSON{RichMenu: *m})
}

// richMenuImage serves a menu's image to the editor and the preview.
func (a *App) richMenuImage(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	m, err := a.DB.RichMenu(c.Request().Context(), currentShop(c).ID, id)
	if err != nil {
		return storeError(err)
	}
	if len(m.Image) == 0 {
		return echo.NewHTTPError(http.StatusNotFound, "this menu's image was uploaded before images were kept")
	}
	c.Response().Header().Set("Cache-Control", "private, max-age=3600")
	return c.Blob(http.StatusOK, m.ImageType, m.Image)
}

func (a *App) deleteRichMenu(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := a.DB.DeleteRichMenu(c.Request().Context(), currentShop(c).ID, id); err != nil {
		return storeError(err)
	}
	a.enqueueRichMenuSync(c, currentShop(c).ID)
	return c.NoContent(http.StatusNoContent)
}

func (a *App) syncRichMenus(c echo.Context) error {
	a.enqueueRichMenuSync(c, currentShop(c).ID)
	return c.JSON(http.StatusAccepted, map[string]string{"status": "queued"})
}

// richMenusPage lists the menus with their sync state and holds the editor:
// image upload, tap areas drawn on the image, actions, audience, preview.
func (a *App) richMenusPage(c echo.Context) error {
	ms, err := a.richMenusOf(c)
	if err != nil {
		return err
	}
	ss, err := a.DB.Segments(c.Request().Context(), currentShop(c).ID)
	if err != nil {
		return err
	}
	names := map[int64]string{}
	for _, s := range ss {
		names[s.ID] = s.Name
	}
	// With several LINE accounts each menu names its account and the
	// editor asks which one it is for (a menu without one is the primary's).
	chs, err := a.DB.LineChannels(c.Request().Context(), currentShop(c).ID)
	if err != nil {
		return err
	}
	var accounts []lineAccountView
	accountNames := map[int64]string{}
	var primary int64
	if len(chs) > 1 {
		for i := range chs {
			accounts = append(accounts, lineAccountView{ID: chs[i].ID, Label: chs[i].Label(), Primary: chs[i].IsPrimary})
			accountNames[chs[i].ID] = chs[i].Label()
			if chs[i].IsPrimary {
				primary = chs[i].ID
				accountNames[0] = chs[i].Label()
			}
		}
	}
	return a.renderAdmin(c, "richmenus", "rm.title", map[string]any{
		"Menus": ms, "Segments": ss, "SegmentNames": names, "Accounts": accounts, "AccountNames": accountNames, "Primary": primary,
		"Rules": map[string]any{"max_bytes": core.RichMenuMaxImageBytes, "min_w": core.RichMenuMinWidth, "max_w": core.RichMenuMaxWidth,
			"min_h": core.RichMenuMinHeight, "min_aspect": core.RichMenuMinAspect, "max_areas": core.RichMenuMaxAreas, "max_chat": core.RichMenuMaxChatBar},
	})
}
