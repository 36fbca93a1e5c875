package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
)

// DemoShop is the store `tsunagu demo` fills with sample data.
const DemoShop = "tsunagu-demo.myshopify.com"

// DemoUnlinkedCustomer is the Shopify id of the demo shopper who has not
// linked LINE yet: the one a newcomer links through the sandbox.
const DemoUnlinkedCustomer = 7003

// demoCustomer is one shopper of the demo shop and how their story goes.
type demoCustomer struct {
	first, last, email, region, lineName, lang string
	orders                                     int
	linked, blocked                            bool
	// since is how many days ago the story starts (within the dashboard's
	// 30 days, so its charts have something to show).
	since int
}

var demoCustomers = []demoCustomer{
	{"花子", "山田", "hanako@example.jp", "JP-13", "はなこ", "ja", 3, true, false, 27},
	{"太郎", "佐藤", "taro@example.jp", "JP-27", "たろう", "ja", 1, true, false, 12},
	{"美咲", "鈴木", "misaki@example.jp", "JP-14", "みさき", "ja", 4, true, false, 25},
	{"健", "高橋", "ken@example.jp", "JP-23", "", "ja", 2, false, false, 20},
	{"陽菜", "田中", "hina@example.jp", "JP-01", "ひな", "ja", 2, true, true, 16},
	{"Emily", "Clark", "emily@example.com", "JP-13", "Emily", "en", 2, true, false, 22},
}

// demoText is what the demo's messages say, per language.
var demoText = map[string]map[string]string{
	"ja": {
		"link_coupon":  "LINE連携ありがとうございます！次回のお買い物で使える10%OFFクーポンをお送りします。",
		"thank_you":    "%s様、ご注文ありがとうございます！ ご注文番号 %s",
		"shipping":     "ご注文 %s を発送しました（%s %s）。お届けまで少々お待ちください。",
		"follow_up_3":  "商品はいかがですか？おすすめの使い方をご紹介します。 %s",
		"reply":        "届くのを楽しみにしています！",
		"carrier":      "ヤマト運輸",
		"coupon_title": "LINE連携特典 10%OFF",
	},
	"en": {
		"link_coupon":  "Thanks for linking your LINE account! Here is 10% off your next order.",
		"thank_you":    "Thank you for your order, %s! Order %s",
		"shipping":     "Your order %s has shipped (%s %s). It will be with you soon.",
		"follow_up_3":  "How are you enjoying your order? Here are a few ideas: %s",
		"reply":        "Looking forward to it, thank you!",
		"carrier":      "Yamato Transport",
		"coupon_title": "10% off for linking LINE",
	},
}

var demoProducts = []string{"有機ほうじ茶 100g", "美濃焼 湯呑み", "抹茶スイーツ詰め合わせ"}

const demoGuideURL = "https://" + DemoShop + "/pages/how-to-brew"

// SeedDemo creates a demo shop whose customers' timelines read like what a
// support person sees: a shopper links LINE (and gets the link coupon),
// orders, gets a thank-you a few minutes later, the parcel is fulfilled the
// next afternoon and the shipping notice follows, a follow-up three days
// on whose link they click, and they answer on LINE. One shopper blocks the
// account after the first thank-you, so later messages are skipped as
// blocked; one never links; one shops in English and gets English messages.
// Everything happens within the 30 days before now. It refuses to touch a
// shop that is already there.
//
// The shop's LINE channel and Shopify token are the sandbox's
// (sandboxmode.go, derived from key, the installation's secret key): with
// `TSUNAGU_SANDBOX=on tsunagu serve` a newcomer links the shopper who has
// not linked yet end to end, coupon and LINE message included. Quiet hours
// are off, so the coupon arrives whatever the hour of the demo.
func SeedDemo(ctx context.Context, db *store.DB, key []byte, now time.Time) (*store.Shop, error) {
	if _, err := db.ShopByDomain(ctx, DemoShop); err == nil {
		return nil, fmt.Errorf("%s already exists: open it with `tsunagu admin-url --shop %s`", DemoShop, DemoShop)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	now = now.UTC()
	installed := now.AddDate(0, 0, -30)
	box, err := secretbox.New(key)
	if err != nil {
		return nil, err
	}
	creds := newSandboxCredentials(key)
	shop := &store.Shop{Domain: DemoShop, Name: "つなぐ商店（デモ）", Email: "owner@example.jp", InstalledAt: &installed,
		AccessTokenEnc: box.Seal(creds.ShopifyToken), Scopes: strings.Join(DefaultScopes, ",")}
	shop.Settings.QuietStart, shop.Settings.QuietEnd = "00:00", "00:00"
	shop.Settings.Incentive = store.Incentive{Enabled: true, Kind: "percentage", Value: 10, ValidDays: 30, Title: demoText["ja"]["coupon_title"]}
	err = db.Tx(ctx, func(tx *store.DB) error {
		if err := tx.CreateShop(ctx, shop); err != nil {
			return err
		}
		if err := tx.SaveLineChannel(ctx, &store.LineChannel{ShopID: shop.ID, WebhookKey: newWebhookKey(),
			LoginChannelID: creds.LoginChannelID, LoginSecretEnc: box.Seal(creds.LoginSecret),
			MessagingChannelID: creds.MessagingChannelID, MessagingSecretEnc: box.Seal(creds.MessagingSecret),
			MessagingTokenEnc: box.Seal(creds.MessagingToken), BotUserID: creds.BotUserID, BotName: creds.BotName,
			CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		s := &demoSeeder{db: tx, shop: shop, now: now, loc: shop.Location(), orderNo: 1001}
		for i, dc := range demoCustomers {
			if err := s.customer(ctx, i, dc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seeding the demo shop: %w", err)
	}
	return shop, nil
}

type demoSeeder struct {
	db      *store.DB
	shop    *store.Shop
	now     time.Time
	loc     *time.Location
	orderNo int
}

// at is a moment daysAgo days before now at the shop's local clock time
// hh:mm:ss.
func (s *demoSeeder) at(daysAgo, hh, mm, ss int) time.Time {
	d := s.now.In(s.loc).AddDate(0, 0, -daysAgo)
	return time.Date(d.Year(), d.Month(), d.Day(), hh, mm, ss, 0, s.loc).UTC()
}

func (s *demoSeeder) past(t time.Time) bool { return !t.After(s.now) }

func textContent(text string) string {
	b, _ := json.Marshal([]map[string]string{{"type": "text", "text": text}})
	return string(b)
}

// message records a message planned at planned; sent (when not skipped) a
// few seconds later.
func (s *demoSeeder) message(ctx context.Context, c *store.Customer, link *store.LineLink, kind, dedupe, refType string, refID int64,
	planned time.Time, text, skipReason string) (*store.Message, error) {
	m := &store.Message{ShopID: s.shop.ID, CustomerID: &c.ID, Kind: kind, DedupeKey: "demo/" + dedupe, RefType: refType, RefID: refID,
		ScheduledFor: planned, CreatedAt: planned, Attempts: 1}
	if link != nil {
		m.LineUserID = link.LineUserID
	}
	if skipReason != "" {
		m.Status, m.Reason, m.Attempts = store.MsgSkipped, skipReason, 0
	} else {
		sent := planned.Add(12 * time.Second)
		m.Status, m.Content, m.SentAt, m.Delivery = store.MsgSent, textContent(text), &sent, store.DeliveryPush
	}
	return m, s.db.RecordPastMessage(ctx, m)
}

func (s *demoSeeder) customer(ctx context.Context, i int, dc demoCustomer) error {
	tx, txt := s.db, demoText[dc.lang]
	c := &store.Customer{ShopID: s.shop.ID, ShopifyID: int64(7000 + i), FirstName: dc.first, LastName: dc.last,
		Email: dc.email, Region: dc.region, Country: "JP", Locale: dc.lang, AcceptsMarketing: true}
	if err := tx.UpsertCustomer(ctx, c); err != nil {
		return err
	}
	var link *store.LineLink
	blockedAt := time.Time{} // when the shopper blocked the account (zero: never)
	if dc.linked {
		// Linked from the shop's email in the evening, just before quiet hours.
		linkedAt := s.at(dc.since, 19, 4+7*i, 31)
		link = &store.LineLink{ShopID: s.shop.ID, CustomerID: c.ID, LineUserID: fmt.Sprintf("U%032x", 0xdead0000+i),
			DisplayName: dc.lineName, Friend: !dc.blocked, Blocked: dc.blocked, LinkedAt: linkedAt}
		if err := tx.CreateLink(ctx, link); err != nil {
			return err
		}
		if err := tx.AddActivity(ctx, &store.Activity{ShopID: s.shop.ID, CustomerID: &c.ID, Kind: store.ActLinked,
			Summary: dc.lineName, RefType: "line_link", RefID: link.ID, OccurredAt: linkedAt}); err != nil {
			return err
		}
		if err := tx.AddActivity(ctx, &store.Activity{ShopID: s.shop.ID, CustomerID: &c.ID, Kind: store.ActFollow,
			Summary: "Added the LINE account as a friend", Data: `{"unblocked":false}`, OccurredAt: linkedAt.Add(40 * time.Second)}); err != nil {
			return err
		}
		if _, err := s.message(ctx, c, link, "link_coupon", fmt.Sprintf("link_coupon/%d", c.ID), "line_link", link.ID,
			linkedAt.Add(time.Minute+20*time.Second), txt["link_coupon"], ""); err != nil {
			return err
		}
	}
	var lastShipped time.Time
	for n := 0; n < dc.orders; n++ {
		daysAgo := dc.since - 1 - 7*n
		orderedAt := s.at(daysAgo, 11+(i*3+n*2)%8, (i*17+n*23)%60, 7+i)
		if daysAgo < 1 || !s.past(orderedAt) {
			break
		}
		price := decimal.NewFromInt(int64(2400 + 1100*((i+n)%4)))
		o := &store.Order{ShopID: s.shop.ID, ShopifyID: int64(500000 + s.orderNo), CustomerID: &c.ID,
			Name: fmt.Sprintf("#%d", s.orderNo), Email: dc.email, Currency: "JPY", TotalPrice: price, SubtotalPrice: price,
			FinancialStatus: "paid", Locale: dc.lang, OrderedAt: orderedAt,
			Items: []store.OrderItem{{ShopifyID: int64(900000 + s.orderNo), ProductID: int64(100 + (i+n)%3),
				Title: demoProducts[(i+n)%3], Quantity: 1, Price: price}}}
		fulfilledAt := s.at(daysAgo-1, 14, (i*11+n*7)%50, 40)
		if s.past(fulfilledAt) {
			o.FulfillmentStatus = "fulfilled"
		}
		s.orderNo++
		if err := tx.UpsertOrder(ctx, o); err != nil {
			return err
		}
		// skip says why a message to this shopper is not sent at t.
		skip := func(t time.Time) string {
			switch {
			case link == nil:
				return "not_linked"
			case !blockedAt.IsZero() && !t.Before(blockedAt):
				return "blocked"
			}
			return ""
		}
		// The thank-you is planned when orders/paid arrives, a couple of minutes after the order.
		thanks := orderedAt.Add(2*time.Minute + 5*time.Second)
		if _, err := s.message(ctx, c, link, "thank_you", fmt.Sprintf("thank_you/%d", o.ID), "order", o.ID, thanks,
			fmt.Sprintf(txt["thank_you"], c.Name(dc.lang), o.Name), skip(thanks)); err != nil {
			return err
		}
		if dc.blocked && n == 0 {
			// Blocked the account that evening: nothing more is pushed.
			blockedAt = orderedAt.Add(5*time.Hour + 12*time.Minute)
			if err := tx.AddActivity(ctx, &store.Activity{ShopID: s.shop.ID, CustomerID: &c.ID, Kind: store.ActUnfollow,
				Summary: "Blocked the LINE account", Data: `{}`, OccurredAt: blockedAt}); err != nil {
				return err
			}
		}
		if !s.past(fulfilledAt) {
			continue
		}
		tracking := fmt.Sprintf("4821-%04d-%04d", 3000+s.orderNo, 17*i+n)
		f := &store.Fulfillment{ShopID: s.shop.ID, ShopifyID: int64(800000 + s.orderNo), OrderID: &o.ID, ShopifyOrderID: o.ShopifyID,
			Status: "success", ShipmentStatus: "in_transit", TrackingCompany: txt["carrier"], TrackingNumber: tracking,
			TrackingURL: "https://toi.kuronekoyamato.co.jp/cgi-bin/tneko?number=" + tracking, CreatedAt: fulfilledAt}
		if err := tx.UpsertFulfillment(ctx, f); err != nil {
			return err
		}
		// The shipping notice follows the fulfillments/create webhook.
		notice := fulfilledAt.Add(time.Minute + 3*time.Second)
		if _, err := s.message(ctx, c, link, "shipping", fmt.Sprintf("shipping/%d", f.ID), "fulfillment", f.ID, notice,
			fmt.Sprintf(txt["shipping"], o.Name, txt["carrier"], tracking), skip(notice)); err != nil {
			return err
		}
		lastShipped = notice
		// Three days after the order, at ten in the morning (outside quiet hours).
		follow := s.at(daysAgo-3, 10, 0, 0)
		if link == nil || !s.past(follow) {
			continue
		}
		m, err := s.message(ctx, c, link, "follow_up_3", fmt.Sprintf("follow_up_3/%d", o.ID), "order", o.ID, follow,
			fmt.Sprintf(txt["follow_up_3"], demoGuideURL), skip(follow))
		if err != nil {
			return err
		}
		if m.SentAt == nil || n > 0 {
			continue
		}
		if clicked := m.SentAt.Add(23 * time.Minute); s.past(clicked) {
			if err := tx.AddActivity(ctx, &store.Activity{ShopID: s.shop.ID, CustomerID: &c.ID, Kind: store.ActClick,
				RefType: "message", RefID: m.ID, Summary: fmt.Sprintf("clicked a link in %s", m.Kind),
				Data: clickData(demoGuideURL), OccurredAt: clicked}); err != nil {
				return err
			}
		}
	}
	if err := tx.RefreshCustomerStats(ctx, c.ID); err != nil {
		return err
	}
	// A linked shopper answers the shipping notice on LINE.
	if reply := lastShipped.Add(2*time.Hour + 14*time.Minute); link != nil && blockedAt.IsZero() && !lastShipped.IsZero() && s.past(reply) {
		data, _ := json.Marshal(map[string]string{"text": txt["reply"]})
		if err := tx.AddActivity(ctx, &store.Activity{ShopID: s.shop.ID, CustomerID: &c.ID, Kind: store.ActLineMessageIn,
			Summary: txt["reply"], Data: string(data), OccurredAt: reply}); err != nil {
			return err
		}
	}
	return nil
}
