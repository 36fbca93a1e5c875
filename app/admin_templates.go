package app

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/templates"
)

// messageKinds are the message kinds a merchant can edit a template of.
var messageKinds = []string{"thank_you", "shipping", "cart_reminder", "cart_reminder_2", "follow_up_3", "follow_up_7",
	"follow_up_30", "link_coupon", "birthday", "win_back", "coupon_expiry", "browse_abandonment"}

var templateLangs = []string{"ja", "en"}

func knownKind(k string) bool {
	for _, x := range messageKinds {
		if x == k {
			return true
		}
	}
	return false
}

type templateJSON struct {
	Kind       string `json:"kind"`
	Lang       string `json:"lang"`
	Source     string `json:"source"`
	Default    string `json:"default"`
	Overridden bool   `json:"overridden"`
}

func (a *App) templatesOf(st store.Settings) []templateJSON {
	var out []templateJSON
	for _, k := range messageKinds {
		for _, l := range templateLangs {
			def, _ := a.Templates.Default(k, l)
			t := templateJSON{Kind: k, Lang: l, Source: def, Default: def}
			if o, ok := st.Templates[k+"."+l]; ok && o != "" {
				t.Source, t.Overridden = o, true
			}
			out = append(out, t)
		}
	}
	return out
}

func (a *App) apiTemplates(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"templates": a.templatesOf(currentShop(c).Settings)})
}

func templateParams(c echo.Context) (kind, lang string, err error) {
	kind, lang = c.Param("kind"), c.QueryParam("lang")
	if lang == "" {
		lang = "ja"
	}
	if !knownKind(kind) {
		return "", "", echo.NewHTTPError(http.StatusNotFound, "unknown message kind")
	}
	if lang != "ja" && lang != "en" {
		return "", "", echo.NewHTTPError(http.StatusBadRequest, "lang must be ja or en")
	}
	return kind, lang, nil
}

// apiPutTemplate saves a shop's template for kind and lang after rendering
// it with sample data: a template that cannot render is refused here with
// the renderer's error, never discovered at send time. An empty source
// restores the default.
func (a *App) apiPutTemplate(c echo.Context) error {
	kind, lang, err := templateParams(c)
	if err != nil {
		return err
	}
	var in struct {
		Source string `json:"source"`
	}
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON")
	}
	ctx := c.Request().Context()
	shop, err := a.DB.Shop(ctx, currentShop(c).ID)
	if err != nil {
		return err
	}
	st := shop.Settings
	if st.Templates == nil {
		st.Templates = map[string]string{}
	}
	if in.Source == "" {
		delete(st.Templates, kind+"."+lang)
	} else {
		if err := a.Templates.Validate(kind, lang, in.Source); err != nil {
			return echo.NewHTTPError(http.StatusUnprocessableEntity, err.Error())
		}
		st.Templates[kind+"."+lang] = in.Source
	}
	if err := a.DB.SaveShopSettings(ctx, shop.ID, st); err != nil {
		return err
	}
	for _, t := range a.templatesOf(st) {
		if t.Kind == kind && t.Lang == lang {
			return c.JSON(http.StatusOK, t)
		}
	}
	return c.NoContent(http.StatusOK)
}

// apiPreviewTemplate renders source (or the saved template) with the shop's
// most recent order, or sample data when the shop has none yet.
func (a *App) apiPreviewTemplate(c echo.Context) error {
	kind, lang, err := templateParams(c)
	if err != nil {
		return err
	}
	var in struct {
		Source string `json:"source"`
	}
	if c.Request().ContentLength != 0 {
		if err := c.Bind(&in); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON")
		}
	}
	shop := currentShop(c)
	src := in.Source
	if src == "" {
		src = shop.Settings.Templates[kind+"."+lang]
	}
	data, from := sampleData(shop, kind, lang), "sample"
	if o, err := a.DB.RecentOrder(c.Request().Context(), shop.ID); err == nil {
		orderData(&data, o)
		from = "order " + o.Name
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	msgs, err := a.Templates.Render(kind, lang, src, data)
	if err != nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, err.Error())
	}
	return c.JSON(http.StatusOK, map[string]any{"messages": msgs, "data_from": from})
}

// sampleData is what a preview or validation renders with when there is no
// real order: every field a template may use is filled, so a template that
// renders here renders for any message. (issue 5's templates.SampleData may
// replace it.)
func sampleData(shop *store.Shop, kind, lang string) templates.Data {
	d := templates.SampleData(kind, lang)
	if shop.Name != "" {
		d.ShopName = shop.Name
	}
	d.ShopURL = "https://" + shop.Domain
	return d
}

func orderData(d *templates.Data, o *store.Order) {
	d.Order = &templates.Order{Name: o.Name, TotalPrice: o.TotalPrice, Currency: o.Currency, OrderedAt: o.OrderedAt}
	for _, it := range o.Items {
		d.Order.Items = append(d.Order.Items, templates.Item{Title: it.Title, Quantity: it.Quantity, Price: it.Price})
	}
	if o.OrderStatusURL != "" {
		d.OrderStatusURL = o.OrderStatusURL
	}
}
