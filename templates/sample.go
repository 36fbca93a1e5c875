package templates

import "time"

// SampleData is realistic data for previewing and validating a template of
// kind in lang: the catalogue entry's Sample adds exactly what that kind gets
// at send time.
func SampleData(kind, lang string) Data {
	if lang != "en" {
		lang = "ja"
	}
	d := Data{Lang: lang, Kind: kind, ShopName: "つなぐ商店", ShopURL: "https://tsunagu-demo.myshopify.com", CustomerName: "山田 花子"}
	if lang == "en" {
		d.ShopName, d.CustomerName = "Tsunagu Store", "Hanako Yamada"
	}
	if k, ok := Lookup(kind); ok && k.Sample != nil {
		k.Sample(&d)
	}
	return d
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
