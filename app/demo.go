package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tsunagu/tsunagu/app/store"
)

// DemoShop is the store `tsunagu demo` fills with sample data.
const DemoShop = "tsunagu-demo.myshopify.com"

type demoCustomer struct {
	first, last, email, region, lineName string
	orders                               int
	linked, blocked                      bool
}

var demoCustomers = []demoCustomer{
	{"花子", "山田", "hanako@example.jp", "JP-13", "はなこ", 3, true, false},
	{"太郎", "佐藤", "taro@example.jp", "JP-27", "たろう", 1, true, false},
	{"美咲", "鈴木", "misaki@example.jp", "JP-14", "みさき", 5, true, false},
	{"健", "高橋", "ken@example.jp", "JP-23", "", 2, false, false},
	{"陽菜", "田中", "hina@example.jp", "JP-01", "ひな", 1, true, true},
	{"Emily", "Clark", "emily@example.com", "JP-13", "Emily", 2, true, false},
}

// SeedDemo creates a demo shop with customers, orders, LINE links,
// messages and timeline activity so the admin can be explored without a
// Shopify store. It refuses to touch a shop that is already there.
func SeedDemo(ctx context.Context, db *store.DB, now time.Time) (*store.Shop, error) {
	if _, err := db.ShopByDomain(ctx, DemoShop); err == nil {
		return nil, fmt.Errorf("%s already exists: open it with `tsunagu admin-url --shop %s`", DemoShop, DemoShop)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	shop := &store.Shop{Domain: DemoShop, Name: "つなぐ商店（デモ）", Email: "owner@example.jp", InstalledAt: &now}
	err := db.Tx(ctx, func(tx *store.DB) error {
		if err := tx.CreateShop(ctx, shop); err != nil {
			return err
		}
		orderNo := 1001
		for i, dc := range demoCustomers {
			c := &store.Customer{ShopID: shop.ID, ShopifyID: int64(7000 + i), FirstName: dc.first, LastName: dc.last,
				Email: dc.email, Region: dc.region, Country: "JP", AcceptsMarketing: true}
			if err := tx.UpsertCustomer(ctx, c); err != nil {
				return err
			}
			var link *store.LineLink
			if dc.linked {
				link = &store.LineLink{ShopID: shop.ID, CustomerID: c.ID, LineUserID: fmt.Sprintf("U%032x", 0xdead0000+i),
					DisplayName: dc.lineName, Friend: true, Blocked: dc.blocked, LinkedAt: now.AddDate(0, 0, -40+i)}
				if err := tx.CreateLink(ctx, link); err != nil {
					return err
				}
				if err := tx.AddActivity(ctx, &store.Activity{ShopID: shop.ID, CustomerID: &c.ID, Kind: store.ActLinked,
					Summary: dc.lineName, RefType: "line_link", RefID: link.ID, OccurredAt: link.LinkedAt}); err != nil {
					return err
				}
			}
			for n := 0; n < dc.orders; n++ {
				at := now.AddDate(0, 0, -30+n*7+i).Truncate(time.Minute)
				price := decimal.NewFromInt(int64(2400 + 1100*((i+n)%4)))
				o := &store.Order{ShopID: shop.ID, ShopifyID: int64(500000 + orderNo), CustomerID: &c.ID,
					Name: fmt.Sprintf("#%d", orderNo), Email: dc.email, Currency: "JPY", TotalPrice: price, SubtotalPrice: price,
					FinancialStatus: "paid", OrderedAt: at,
					Items: []store.OrderItem{{ShopifyID: int64(900000 + orderNo), ProductID: int64(100 + (i+n)%3),
						Title: []string{"有機ほうじ茶 100g", "美濃焼 湯呑み", "抹茶スイーツ詰め合わせ"}[(i+n)%3], Quantity: 1, Price: price}}}
				orderNo++
				if err := tx.UpsertOrder(ctx, o); err != nil {
					return err
				}
				if link == nil {
					m := &store.Message{ShopID: shop.ID, CustomerID: &c.ID, Kind: "thank_you",
						DedupeKey: fmt.Sprintf("demo/thank_you/%d", o.ID), RefType: "order", RefID: o.ID, ScheduledFor: at,
						Status: store.MsgSkipped, Reason: "not_linked"}
					if _, err := tx.PlanMessage(ctx, m); err != nil {
						return err
					}
					continue
				}
				for _, k := range []struct {
					kind  string
					after time.Duration
					text  string
				}{
					{"thank_you", time.Minute, dc.first + "様、ご注文ありがとうございます！ " + o.Name},
					{"shipping", 26 * time.Hour, o.Name + " を発送しました。お届けまで少々お待ちください。"},
					{"follow_up_3", 72 * time.Hour, "商品はいかがですか？おすすめの使い方をご紹介します。"},
				} {
					sendAt := at.Add(k.after)
					if sendAt.After(now) {
						continue
					}
					status, reason, content := store.MsgSent, "", `[{"type":"text","text":"`+k.text+`"}]`
					if dc.blocked && k.kind != "thank_you" {
						status, reason, content = store.MsgSkipped, "blocked", ""
					}
					m := &store.Message{ShopID: shop.ID, CustomerID: &c.ID, Kind: k.kind,
						DedupeKey: fmt.Sprintf("demo/%s/%d", k.kind, o.ID), RefType: "order", RefID: o.ID, LineUserID: link.LineUserID,
						ScheduledFor: sendAt, Status: status, Reason: reason, Content: content}
					if status == store.MsgSent {
						m.SentAt = &sendAt
					}
					if _, err := tx.PlanMessage(ctx, m); err != nil {
						return err
					}
					// The timeline orders messages by when they were planned.
					if err := tx.G.Model(m).Update("created_at", sendAt.Add(-k.after)).Error; err != nil {
						return err
					}
					if k.kind == "follow_up_3" && status == store.MsgSent && n == 0 {
						if err := tx.AddActivity(ctx, &store.Activity{ShopID: shop.ID, CustomerID: &c.ID, Kind: store.ActClick,
							RefType: "message", RefID: m.ID, OccurredAt: sendAt.Add(20 * time.Minute)}); err != nil {
							return err
						}
					}
				}
			}
			if err := tx.RefreshCustomerStats(ctx, c.ID); err != nil {
				return err
			}
			if dc.linked && !dc.blocked {
				if err := tx.AddActivity(ctx, &store.Activity{ShopID: shop.ID, CustomerID: &c.ID, Kind: store.ActLineMessageIn,
					Summary: "届くのを楽しみにしています！", Data: `{"text":"届くのを楽しみにしています！"}`,
					OccurredAt: now.Add(-time.Duration(i+1) * time.Hour)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seeding the demo shop: %w", err)
	}
	return shop, nil
}
