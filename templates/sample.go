package templates

import (
	"time"

	"github.com/shopspring/decimal"
)

// Kinds with default templates, in the order merchants see them.
var Kinds = []string{"thank_you", "shipping", "cart_reminder", "cart_reminder_2", "follow_up_3", "follow_up_7", "follow_up_30", "link_coupon",
	"birthday", "win_back", "coupon_expiry", "browse_abandonment"}

// SampleData is realistic data for previewing and validating a template of
// kind in lang. It carries exactly what that kind gets at send time, so a
// template that validates cannot fail to render for lack of data.
func SampleData(kind, lang string) Data {
	if lang != "en" {
		lang = "ja"
	}
	d := Data{Lang: lang, Kind: kind, ShopName: "つなぐ商店", ShopURL: "https://tsunagu-demo.myshopify.com", CustomerName: "山田 花子"}
	if lang == "en" {
		d.ShopName, d.CustomerName = "Tsunagu Store", "Hanako Yamada"
	}
	ordered := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	items := []Item{
		{Title: "有機ほうじ茶 100g", Quantity: 2, Price: decimal.NewFromInt(1200), ImageURL: "https://cdn.shopify.com/s/files/sample/hojicha.jpg"},
		{Title: "美濃焼 湯呑み", Quantity: 1, Price: decimal.NewFromInt(3300)},
	}
	if lang == "en" {
		items[0].Title, items[1].Title = "Organic hojicha 100g", "Mino-ware teacup"
	}
	order := &Order{Name: "#1001", TotalPrice: decimal.NewFromInt(5700), SubtotalPrice: decimal.NewFromInt(5700), Currency: "JPY", Items: items, OrderedAt: ordered}
	switch kind {
	case "thank_you", "follow_up_3", "follow_up_7":
		d.Order, d.OrderStatusURL = order, "https://tsunagu-demo.myshopify.com/1234/orders/abcd/authenticate?key=sample"
	case "follow_up_30":
		d.Order, d.OrderStatusURL = order, "https://tsunagu-demo.myshopify.com/1234/orders/abcd/authenticate?key=sample"
		d.Coupon = sampleCoupon(lang, ordered)
	case "shipping":
		d.Order, d.OrderStatusURL = order, "https://tsunagu-demo.myshopify.com/1234/orders/abcd/authenticate?key=sample"
		d.Tracking = &Tracking{Company: "ヤマト運輸", Number: "1234-5678-9012", URL: "https://toi.kuronekoyamato.co.jp/cgi-bin/tneko?number=123456789012"}
		if lang == "en" {
			d.Tracking.Company = "Yamato Transport"
		}
	case "cart_reminder", "cart_reminder_2":
		d.Checkout = &Checkout{URL: "https://tsunagu-demo.myshopify.com/checkouts/sample/recover?key=sample", TotalPrice: decimal.NewFromInt(5700), Currency: "JPY", Items: items}
	case "link_coupon", "coupon_expiry":
		d.Coupon = sampleCoupon(lang, ordered)
	case "browse_abandonment":
		d.Product = &Product{Title: items[1].Title, URL: "https://tsunagu-demo.myshopify.com/products/mino-yunomi",
			ImageURL: "https://cdn.shopify.com/s/files/sample/yunomi.jpg", Price: decimal.NewFromInt(3300), Currency: "JPY"}
	case "birthday":
		// The merchant's birthday code, when one is set: no expiry of its own.
		d.Coupon = &Coupon{Code: "BIRTHDAY-2026"}
	}
	return d
}

func sampleCoupon(lang string, from time.Time) *Coupon {
	c := &Coupon{Code: "LINE-7QK2-M9XD", Title: "LINE連携特典 10%OFF", Value: "10%OFF", ExpiresAt: from.AddDate(0, 0, 30)}
	if lang == "en" {
		c.Title = "LINE welcome 10% off"
	}
	return c
}

// FormatDate formats a date for customers: 2026年12月25日 in Japanese and
// Dec 25, 2026 in English, in Japan time.
func FormatDate(t time.Time, lang string) string {
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		loc = time.FixedZone("JST", 9*3600)
	}
	t = t.In(loc)
	if lang == "en" {
		return t.Format("Jan 2, 2006")
	}
	return t.Format("2006年1月2日")
}

var labels = map[string]map[string]string{
	"total": {"ja": "合計", "en": "Total"},
}

func label(lang, key string) string {
	if l, ok := labels[key][lang]; ok {
		return l
	}
	return labels[key]["ja"]
}
