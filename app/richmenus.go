package app

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/store"
)

func (a *App) listRichMenus(c echo.Context) error {
	ms, err := a.DB.RichMenus(c.Request().Context(), currentShop(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"rich_menus": ms})
}

// createRichMenu uploads a rich menu to LINE (definition with its areas,
// then the image) and maps it to a segment.
func (a *App) createRichMenu(c echo.Context) error {
	var in struct {
		Name        string          `json:"name"`
		SegmentID   *int64          `json:"segment_id"`
		Priority    int             `json:"priority"`
		Menu        json.RawMessage `json:"menu"`
		Image       string          `json:"image"` // base64
		ImageType   string          `json:"image_type"`
		Description string          `json:"description"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	shop := currentShop(c)
	img, err := base64.StdEncoding.DecodeString(in.Image)
	if err != nil || len(img) == 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "image must be base64 PNG or JPEG")
	}
	if in.ImageType != "image/png" && in.ImageType != "image/jpeg" {
		return echo.NewHTTPError(http.StatusBadRequest, "image_type must be image/png or image/jpeg")
	}
	if in.Name == "" || len(in.Menu) == 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "name and menu are required")
	}
	if in.SegmentID != nil {
		if _, err := a.DB.SegmentByID(ctx, shop.ID, *in.SegmentID); err != nil {
			return storeError(err)
		}
	}
	ch, err := a.DB.LineChannel(ctx, shop.ID)
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusConflict, "connect a LINE channel first")
	}
	if err != nil {
		return err
	}
	token, err := a.Box.Open(ch.MessagingTokenEnc)
	if err != nil || token == "" {
		return echo.NewHTTPError(http.StatusConflict, "connect a LINE channel first")
	}
	lineID, err := a.Messenger.CreateRichMenu(ctx, token, in.Menu)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "LINE refused the rich menu: "+err.Error())
	}
	if err := a.Messenger.UploadRichMenuImage(ctx, token, lineID, in.ImageType, img); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "LINE refused the image: "+err.Error())
	}
	m := &store.RichMenu{ShopID: shop.ID, Name: in.Name, LineRichMenuID: lineID, Definition: in.Menu, SegmentID: in.SegmentID, Priority: in.Priority}
	if err := a.DB.CreateRichMenu(ctx, m); err != nil {
		return err
	}
	a.enqueueRichMenuSync(c, shop.ID)
	return c.JSON(http.StatusCreated, m)
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
