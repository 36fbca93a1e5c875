package app

import (
	"bytes"
	"html/template"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/store"
)

// The shopper-facing link pages: Japanese first, English when the browser
// prefers it.

type pageKind int

const (
	pageLinked pageKind = iota
	pageInvalidLink
	pageSessionGone
	pageLoginFailed
	pageCancelled
	pageUnavailable
	pageUserTaken
	pageCustomerTaken
	pageUnlinked
)

type pageText struct{ Heading, Body string }

var pageTexts = map[string]map[pageKind]pageText{
	"ja": {
		pageLinked:        {"LINE連携が完了しました", "発送のお知らせなど、ショップからのご連絡をLINEでお届けします。"},
		pageInvalidLink:   {"リンクが無効か、有効期限が切れています", "ショップから届いた最新のリンクを開いてください。"},
		pageSessionGone:   {"この手続きは完了済みか、有効期限が切れています", "お手数ですが、もう一度リンクを開いてやり直してください。"},
		pageLoginFailed:   {"LINEログインを確認できませんでした", "お手数ですが、もう一度リンクを開いてやり直してください。"},
		pageCancelled:     {"LINE連携はキャンセルされました", "連携する場合は、もう一度リンクを開いてください。"},
		pageUnavailable:   {"現在LINE連携はご利用いただけません", "時間をおいて、もう一度お試しください。"},
		pageUserTaken:     {"このLINEアカウントは別のお客様情報と連携済みです", "以前の連携を解除してから、もう一度お試しください。"},
		pageCustomerTaken: {"このお客様情報は別のLINEアカウントと連携済みです", "以前の連携を解除してから、もう一度お試しください。"},
		pageUnlinked:      {"LINE連携を解除しました", "今後、このLINEアカウントにショップからのメッセージは届きません。"},
	},
	"en": {
		pageLinked:        {"Your LINE account is linked", "The shop will send you updates, such as shipping notices, on LINE."},
		pageInvalidLink:   {"This link is invalid or has expired", "Please open the latest link from the shop."},
		pageSessionGone:   {"This sign-in was already used or has expired", "Please open the link again to start over."},
		pageLoginFailed:   {"We could not verify your LINE login", "Please open the link again to start over."},
		pageCancelled:     {"LINE linking was cancelled", "Open the link again whenever you want to link."},
		pageUnavailable:   {"LINE linking is not available right now", "Please try again later."},
		pageUserTaken:     {"This LINE account is already linked to another customer", "Unlink it first, then try again."},
		pageCustomerTaken: {"This customer is already linked to another LINE account", "Unlink it first, then try again."},
		pageUnlinked:      {"LINE is unlinked", "The shop will no longer send messages to this LINE account."},
	},
}

var pageLabels = map[string]map[string]string{
	"ja": {"coupon": "連携特典のクーポンコード", "expires": "有効期限", "sentOnLINE": "同じクーポンをLINEでもお送りします。",
		"addFriend": "LINEでお知らせを受け取るには、公式アカウントを友だち追加してください。", "unlink": "LINE連携を解除する",
		"shop": "ショップに戻る", "dateFmt": "2006年1月2日", "onceOnly": "1回限り・ご本人様のみ有効"},
	"en": {"coupon": "Your thank-you coupon code", "expires": "Valid until", "sentOnLINE": "We are sending the same code to you on LINE.",
		"addFriend": "Add the shop's LINE account as a friend to receive updates.", "unlink": "Unlink LINE",
		"shop": "Back to the shop", "dateFmt": "Jan 2, 2006", "onceOnly": "One use, for you only"},
}

type pageData struct {
	Shop          *store.Shop
	Friend        bool
	UnlinkToken   string
	CouponCode    string
	CouponTitle   string
	CouponExpires time.Time
}

// pageLang picks ja or en from Accept-Language, in the browser's order.
func pageLang(c echo.Context) string {
	for _, part := range strings.Split(c.Request().Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "ja"):
			return "ja"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return "ja"
}

var linkPageTmpl = template.Must(template.New("link").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Text.Heading}}{{if .ShopName}} | {{.ShopName}}{{end}}</title>
<style>
body{margin:0;font-family:-apple-system,BlinkMacSystemFont,"Hiragino Sans","Noto Sans JP",sans-serif;background:#f5f6f7;color:#222}
main{max-width:28rem;margin:0 auto;padding:2rem 1.25rem}
.card{background:#fff;border-radius:12px;padding:1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:.25rem 0 1rem}
.shop{color:#666;font-size:.9rem}
.ok{color:#06c755}
.coupon{margin:1.25rem 0;padding:1rem;border:2px dashed #06c755;border-radius:8px;text-align:center}
.code{font-size:1.6rem;font-weight:700;letter-spacing:.08em;color:#06c755;user-select:all}
.small{font-size:.8rem;color:#777}
a.btn,button{display:block;width:100%;box-sizing:border-box;margin-top:1rem;padding:.8rem;border-radius:8px;font-size:1rem;text-align:center;text-decoration:none}
a.btn{background:#06c755;color:#fff}
button{background:#fff;color:#c0392b;border:1px solid #ddd}
</style></head>
<body><main><div class="card">
{{if .ShopName}}<div class="shop">{{.ShopName}}</div>{{end}}
<h1 id="heading"{{if .Success}} class="ok"{{end}}>{{.Text.Heading}}</h1>
<p id="message">{{.Text.Body}}</p>
{{if .CouponCode}}<div class="coupon" id="coupon">
<div>{{.L.coupon}}{{if .CouponTitle}}<br><span class="small">{{.CouponTitle}}</span>{{end}}</div>
<div class="code" id="coupon-code">{{.CouponCode}}</div>
{{if .Expires}}<div class="small">{{.L.expires}}: {{.Expires}}</div>{{end}}
<div class="small">{{.L.onceOnly}}</div>
{{if .Friend}}<p class="small">{{.L.sentOnLINE}}</p>{{end}}
</div>{{end}}
{{if and .Success (not .Friend)}}<p class="small" id="add-friend">{{.L.addFriend}}</p>{{end}}
{{if .ShopURL}}<a class="btn" href="{{.ShopURL}}">{{.L.shop}}</a>{{end}}
{{if .UnlinkToken}}<form method="post" action="/link/unlink"><input type="hidden" name="t" value="{{.UnlinkToken}}"><button type="submit" id="unlink">{{.L.unlink}}</button></form>{{end}}
</div></main></body></html>`))

func (a *App) linkPage(c echo.Context, status int, kind pageKind, pd *pageData) error {
	lang := pageLang(c)
	if pd == nil {
		pd = &pageData{}
	}
	v := map[string]any{
		"Lang": lang, "Text": pageTexts[lang][kind], "L": pageLabels[lang], "Success": kind == pageLinked,
		"Friend": pd.Friend, "CouponCode": pd.CouponCode, "CouponTitle": pd.CouponTitle, "UnlinkToken": pd.UnlinkToken,
	}
	if pd.Shop != nil {
		v["ShopName"] = pd.Shop.Name
		if pd.Shop.Name == "" {
			v["ShopName"] = pd.Shop.Domain
		}
		v["ShopURL"] = "https://" + pd.Shop.Domain
	}
	if !pd.CouponExpires.IsZero() {
		v["Expires"] = pd.CouponExpires.Format(pageLabels[lang]["dateFmt"])
	}
	var buf bytes.Buffer
	if err := linkPageTmpl.Execute(&buf, v); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", lang)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Add("Vary", "Accept-Language")
	return c.HTMLBlob(status, buf.Bytes())
}
