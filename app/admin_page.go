package app

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// adminHome is the admin landing page shell (issue 6 replaces its content):
// it shows which shop the session is scoped to.
func (a *App) adminHome(c echo.Context) error {
	shop := currentShop(c)
	apiKey := ""
	if a.Shopify != nil {
		apiKey = a.Shopify.APIKey()
	}
	var b strings.Builder
	err := adminHomeTmpl.Execute(&b, map[string]any{
		"Domain": shop.Domain, "Name": shop.Name, "APIKey": apiKey,
		// App Bridge only inside the Shopify admin; a local page works offline.
		"Embedded": c.QueryParam("embedded") == "1" || c.QueryParam("host") != "",
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTML(http.StatusOK, b.String())
}

var adminHomeTmpl = template.Must(template.New("admin").Parse(`<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tsunagu — {{if .Name}}{{.Name}}{{else}}{{.Domain}}{{end}}</title>
{{if .Embedded}}<meta name="shopify-api-key" content="{{.APIKey}}"><script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>{{end}}
<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#202223}</style></head>
<body><h1>Tsunagu</h1>
<p>Connected store: <strong id="shop">{{.Domain}}</strong>{{if .Name}} (<span id="shop-name">{{.Name}}</span>){{end}}</p>
<p>Tsunagu is installed: Shopify webhooks are subscribed. Next, connect your LINE Official Account.</p>
</body></html>`))
