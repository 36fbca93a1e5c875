package app

import (
	"context"
	"testing"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

func TestCustomerUpsertFromWebhooks(t *testing.T) {
	t.Parallel()
	type want struct {
		email, first, last, tags, region, country, birthday string
		marketing                                           bool
	}
	cases := []struct {
		name   string
		topic  string
		body   string
		id     int64
		status string
		want   want
	}{
		{"published example", "customers/create", string(testenv.Fixture(t, "shopify/webhooks/customers__create.json")), 706405506930370000, store.EventProcessed,
			want{email: "bob@biller.com", first: "Bob", last: "Biller", region: "ON", country: "CA"}},
		{"consent, tags, Japanese address", "customers/create", `{"id":11,"email":" hanako@example.jp ","first_name":"花子","last_name":"山田",
"tags":" vip, 定期便 ,,","email_marketing_consent":{"state":"subscribed","opt_in_level":"single_opt_in"},
"default_address":{"province":"東京都","province_code":"JP-13","country_code":"JP"}}`, 11, store.EventProcessed,
			want{email: "hanako@example.jp", first: "花子", last: "山田", tags: "vip, 定期便", region: "JP-13", country: "JP", marketing: true}},
		{"legacy accepts_marketing", "customers/create", `{"id":12,"email":"a@example.jp","accepts_marketing":true}`, 12, store.EventProcessed,
			want{email: "a@example.jp", marketing: true}},
		{"consent wins over legacy flag", "customers/update", `{"id":12,"email":"a@example.jp","accepts_marketing":true,"email_marketing_consent":{"state":"unsubscribed"}}`, 12, store.EventProcessed,
			want{email: "a@example.jp"}},
		{"birthday metafield", "customers/create", `{"id":13,"email":"b@example.jp","metafields":[
{"namespace":"custom","key":"note","value":"x","type":"single_line_text_field"},
{"namespace":"facts","key":"birth_date","value":"1990-04-01","type":"date"}]}`, 13, store.EventProcessed,
			want{email: "b@example.jp", birthday: "1990-04-01"}},
		{"update without metafields keeps the birthday", "customers/update", `{"id":13,"email":"b2@example.jp","first_name":"B"}`, 13, store.EventProcessed,
			want{email: "b2@example.jp", first: "B", birthday: "1990-04-01"}},
		{"custom birthday without year", "customers/update", `{"id":14,"metafields":[{"namespace":"custom","key":"birthday","value":"04/01"}]}`, 14, store.EventProcessed,
			want{birthday: "--04-01"}},
		{"unparseable birthday ignored", "customers/update", `{"id":15,"metafields":[{"namespace":"custom","key":"birthday","value":"someday"}]}`, 15, store.EventProcessed,
			want{}},
		{"region from the address book", "customers/update", `{"id":16,"default_address":null,"addresses":[{"province":"Osaka","country_code":"JP"}]}`, 16, store.EventProcessed,
			want{region: "Osaka", country: "JP"}},
		{"update with updated_at", "customers/update", `{"id":17,"email":"new@example.jp","updated_at":"2026-11-20T10:00:00+09:00"}`, 17, store.EventProcessed,
			want{email: "new@example.jp"}},
		{"older update delivered late is ignored", "customers/update", `{"id":17,"email":"old@example.jp","updated_at":"2026-11-20T09:59:59+09:00"}`, 17, store.EventIgnored,
			want{email: "new@example.jp"}},
		{"no id", "customers/create", `{"email":"x@example.jp"}`, 0, store.EventInvalid, want{}},
	}
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		a := newTestApp(t, db, testenv.Redis(t), "http://127.0.0.1:1")
		shop, _ := seedLinkedCustomer(t, a, 1, "")
		for _, tc := range cases {
			ev := process(t, a, tc.topic, tc.body)
			if ev.Status != tc.status {
				t.Fatalf("%s: event %s (%s), want %s", tc.name, ev.Status, ev.Error, tc.status)
			}
			if tc.id == 0 {
				continue
			}
			c, err := db.CustomerByShopifyID(context.Background(), shop.ID, tc.id)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got := want{c.Email, c.FirstName, c.LastName, c.Tags, c.Region, c.Country, c.Birthday, c.AcceptsMarketing}
			if got != tc.want {
				t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
			}
		}
	})
}
