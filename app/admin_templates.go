package app

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/templates"
)

var templateLangs = []string{"ja", "en"}

// knownKind reports whether kind has templates a merchant can edit.
func knownKind(kind string) bool {
	k, ok := templates.Lookup(kind)
	return ok && k.Template
}

type templateJSON struct {
	Kind       string `json:"kind"`
	Lang       string `json:"lang"`
	Source     string `json:"source"`
	Default    string `json:"default"`
	Overridden bool   `json:"overridden"`
	// ChannelID is the LINE account asked about (0: all accounts, the
	// shop's template); AccountOverride: that account has its own.
	ChannelID       int64 `json:"channel_id,omitempty"`
	AccountOverride bool  `json:"account_override,omitempty"`
}

// templatesOf lists the templates messages sent from LINE account channel
// use (0: the shop's, for every account without its own).
func (a *App) templatesOf(st store.Settings, channel int64) []templateJSON {
	var out []templateJSON
	for _, k := range templates.KindNames(templates.Kind.HasTemplate) {
		for _, l := range templateLangs {
			def, _ := a.Templates.Default(k, l)
			t := templateJSON{Kind: k, Lang: l, Source: def, Default: def, ChannelID: channel}
			if o := st.TemplateFor(channel, k+"."+l); o != "" {
				t.Source, t.Overridden = o, true
			}
			t.AccountOverride = channel != 0 && st.AccountTemplates[strconv.FormatInt(channel, 10)][k+"."+l] != ""
			out = append(out, t)
		}
	}
	return out
}

// templateChannel is the LINE account of ?channel= (0: none, the shop's
// templates); another shop's account is not found.
func (a *App) templateChannel(c echo.Context) (int64, error) {
	raw := c.QueryParam("channel")
	if raw == "" || raw == "0" {
		return 0, nil
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 0 {
		return 0, echo.NewHTTPError(http.StatusBadRequest, "channel: a LINE account id")
	}
	if _, err := a.DB.LineChannelByID(c.Request().Context(), currentShop(c).ID, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return 0, echo.NewHTTPError(http.StatusNotFound, "channel: no such LINE account")
		}
		return 0, err
	}
	return id, nil
}

func (a *App) apiTemplates(c echo.Context) error {
	ch, err := a.templateChannel(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"templates": a.templatesOf(currentShop(c).Settings, ch)})
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
// restores the default. With ?channel= it is that LINE account's own
// template, and an empty source returns the account to the shop's.
func (a *App) apiPutTemplate(c echo.Context) error {
	kind, lang, err := templateParams(c)
	if err != nil {
		return err
	}
	channel, err := a.templateChannel(c)
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
	set := st.Templates
	if channel != 0 {
		set = st.AccountTemplates[strconv.FormatInt(channel, 10)]
	}
	if set == nil {
		set = map[string]string{}
	}
	if in.Source == "" {
		delete(set, kind+"."+lang)
	} else {
		if err := a.Templates.Validate(kind, lang, in.Source); err != nil {
			return echo.NewHTTPError(http.StatusUnprocessableEntity, err.Error())
		}
		set[kind+"."+lang] = in.Source
	}
	switch {
	case channel == 0:
		st.Templates = set
	case len(set) == 0:
		delete(st.AccountTemplates, strconv.FormatInt(channel, 10))
	default:
		if st.AccountTemplates == nil {
			st.AccountTemplates = map[string]map[string]string{}
		}
		st.AccountTemplates[strconv.FormatInt(channel, 10)] = set
	}
	if err := a.DB.SaveShopSettings(ctx, shop.ID, st); err != nil {
		return err
	}
	for _, t := range a.templatesOf(st, channel) {
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
	channel, err := a.templateChannel(c)
	if err != nil {
		return err
	}
	shop := currentShop(c)
	src := in.Source
	if src == "" {
		src = shop.Settings.TemplateFor(channel, kind+"."+lang)
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
