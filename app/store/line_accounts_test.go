package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// Migration 0049 (several LINE accounts per shop) keeps a shop's channel,
// with its encrypted columns byte for byte, and its links, friends,
// messages, timeline entries, LINE Login attempts and quota: the channel
// becomes the shop's primary, and its friends and links are on it.
func TestMigration0049KeepsLineData(t *testing.T) {
	t.Parallel()
	testenv.EachEmptyDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.MigrateTo(ctx, nil, "0048"); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		secret, token, login := []byte{0, 1, 2, 0xff, 0xfe, 'a'}, []byte{9, 8, 7, 0, 0x80}, []byte{0x7f, 0, 0x10}
		exec := func(sql string, args ...any) {
			t.Helper()
			if err := db.G.Exec(sql, args...).Error; err != nil {
				t.Fatalf("%v\n%s", err, sql)
			}
		}
		// Two shops, so the backfill is seen to pick each shop's own channel.
		for i, dom := range []string{"a.myshopify.com", "b.myshopify.com"} {
			id := int64(i + 1)
			exec("INSERT INTO shops (id, domain, created_at, updated_at) VALUES (?, ?, ?, ?)", id, dom, at, at)
			exec(`INSERT INTO line_channels (id, shop_id, webhook_key, messaging_channel_id, messaging_secret_enc, messaging_token_enc,
				login_channel_id, login_secret_enc, bot_user_id, bot_basic_id, bot_name, created_at, updated_at, last_webhook_at)
				VALUES (?, ?, ?, '2000', ?, ?, '3000', ?, 'Ubot', '@bot', ?, ?, ?, ?)`,
				10+id, id, "key"+dom, secret, token, login, "Bot "+dom, at, at, at)
			exec("INSERT INTO customers (id, shop_id, shopify_id, email, created_at, updated_at) VALUES (?, ?, ?, 'c@example.com', ?, ?)", 100+id, id, 5000+id, at, at)
			exec(`INSERT INTO line_links (id, shop_id, customer_id, line_user_id, friend, linked_at, created_at, updated_at)
				VALUES (?, ?, ?, 'Ulinked', TRUE, ?, ?, ?)`, 200+id, id, 100+id, at, at, at)
			exec(`INSERT INTO line_friends (id, shop_id, line_user_id, customer_id, display_name, is_friend, first_seen_at, reply_token_enc, unread, created_at, updated_at)
				VALUES (?, ?, 'Ulinked', ?, 'Hana', TRUE, ?, ?, 2, ?, ?)`, 300+id, id, 100+id, at, token, at, at)
			exec(`INSERT INTO line_friends (id, shop_id, line_user_id, display_name, is_friend, first_seen_at, created_at, updated_at)
				VALUES (?, ?, 'Ufriend', 'Ken', TRUE, ?, ?, ?)`, 310+id, id, at, at, at)
			exec(`INSERT INTO messages (id, shop_id, customer_id, friend_id, kind, dedupe_key, line_user_id, scheduled_for, status, created_at, updated_at)
				VALUES (?, ?, ?, ?, 'staff_reply', ?, 'Ulinked', ?, 'sent', ?, ?)`, 400+id, id, 100+id, 300+id, "m"+dom, at, at, at)
			exec(`INSERT INTO messages (id, shop_id, friend_id, kind, dedupe_key, line_user_id, scheduled_for, status, created_at, updated_at)
				VALUES (?, ?, ?, 'greeting', ?, 'Ufriend', ?, 'sent', ?, ?)`, 410+id, id, 310+id, "g"+dom, at, at, at)
			exec(`INSERT INTO activities (id, shop_id, friend_id, kind, occurred_at) VALUES (?, ?, ?, 'line_message', ?)`, 500+id, id, 310+id, at)
			exec(`INSERT INTO link_logins (id, state_hash, shop_id, customer_id, nonce, verifier_enc, expires_at, created_at)
				VALUES (?, ?, ?, ?, 'n', ?, ?, ?)`, 600+id, "s"+dom, id, 100+id, secret, at, at)
			exec(`INSERT INTO line_quotas (shop_id, limited, monthly_limit, used, checked_at, exhausted_month) VALUES (?, TRUE, 200, 150, ?, '2026-11')`, id, at)
		}
		counts := func() map[string]int64 {
			out := map[string]int64{}
			for _, tbl := range []string{"line_channels", "line_links", "line_friends", "messages", "activities", "link_logins", "customers"} {
				var n int64
				if err := db.G.Raw("SELECT count(*) FROM " + tbl).Scan(&n).Error; err != nil {
					t.Fatal(err)
				}
				out[tbl] = n
			}
			return out
		}
		before := counts()
		if err := db.Migrate(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if after := counts(); len(after) != len(before) || after["line_friends"] != 4 || after["messages"] != 4 {
			t.Fatalf("rows before %v, after %v", before, after)
		} else {
			for k, v := range before {
				if after[k] != v {
					t.Fatalf("%s: %d rows before, %d after", k, v, after[k])
				}
			}
		}
		for i := range 2 {
			shopID := int64(i + 1)
			ch, err := db.LineChannel(ctx, shopID)
			if err != nil {
				t.Fatal(err)
			}
			if ch.ID != 10+shopID || !ch.IsPrimary || ch.Name != ch.BotName || ch.WebhookKey == "" || ch.LastWebhookAt == nil ||
				!bytes.Equal(ch.MessagingSecretEnc, secret) || !bytes.Equal(ch.MessagingTokenEnc, token) || !bytes.Equal(ch.LoginSecretEnc, login) {
				t.Fatalf("channel after migration: %+v", ch)
			}
			if all, err := db.LineChannels(ctx, shopID); err != nil || len(all) != 1 {
				t.Fatalf("channels: %v %v", all, err)
			}
			for _, user := range []string{"Ulinked", "Ufriend"} {
				f, err := db.FriendOnChannel(ctx, ch.ID, user)
				if err != nil || f.ShopID != shopID {
					t.Fatalf("friend %s of shop %d: %+v %v", user, shopID, f, err)
				}
				if user == "Ulinked" && (f.CustomerID == nil || *f.CustomerID != 100+shopID || f.Unread != 2 || !bytes.Equal(f.ReplyTokenEnc, token)) {
					t.Fatalf("linked friend: %+v", f)
				}
			}
			l, err := db.LiveLink(ctx, 100+shopID)
			if err != nil || l.ChannelID != ch.ID || l.LineUserID != "Ulinked" {
				t.Fatalf("link: %+v %v", l, err)
			}
			var friendIDs []int64
			if err := db.G.Raw("SELECT friend_id FROM messages WHERE shop_id = ? ORDER BY id", shopID).Scan(&friendIDs).Error; err != nil {
				t.Fatal(err)
			}
			if len(friendIDs) != 2 || friendIDs[0] != 300+shopID || friendIDs[1] != 310+shopID {
				t.Fatalf("messages lost their friend: %v", friendIDs)
			}
			var actFriend int64
			if err := db.G.Raw("SELECT friend_id FROM activities WHERE id = ?", 500+shopID).Scan(&actFriend).Error; err != nil || actFriend != 310+shopID {
				t.Fatalf("activity lost its friend: %d %v", actFriend, err)
			}
			q, err := db.LineQuota(ctx, shopID)
			if err != nil || q.ChannelID != ch.ID || !q.Limited || q.MonthlyLimit != 200 || q.Used != 150 || q.ExhaustedMonth != "2026-11" {
				t.Fatalf("quota: %+v %v", q, err)
			}
		}
		// Foreign keys still hold after the rebuild: a message cannot name a
		// friend that does not exist.
		err := db.G.Exec(`INSERT INTO messages (shop_id, friend_id, kind, dedupe_key, scheduled_for, status, created_at, updated_at)
			VALUES (1, 999999, 'x', 'fk', ?, 'sent', ?, ?)`, at, at, at).Error
		if err == nil {
			t.Fatal("a message naming a missing friend was accepted: foreign keys are off")
		}
	})
}

// A shop may hold several channels, exactly one of them primary; a LINE
// user met on two channels is two friends, one per channel.
func TestLineChannelsPerShop(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		a := &store.LineChannel{ShopID: shop.ID, WebhookKey: "ka", Name: "A"}
		b := &store.LineChannel{ShopID: shop.ID, WebhookKey: "kb", Name: "B"}
		for _, c := range []*store.LineChannel{a, b} {
			if err := db.SaveLineChannel(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if !a.IsPrimary || b.IsPrimary {
			t.Fatalf("first channel should be primary: a %v b %v", a.IsPrimary, b.IsPrimary)
		}
		if p, err := db.LineChannel(ctx, shop.ID); err != nil || p.ID != a.ID {
			t.Fatalf("primary: %+v %v", p, err)
		}
		if err := db.G.Exec("UPDATE line_channels SET is_primary = TRUE WHERE id = ?", b.ID).Error; err == nil {
			t.Fatal("a second primary channel was accepted")
		}
		if err := db.SetPrimaryLineChannel(ctx, shop.ID, b.ID); err != nil {
			t.Fatal(err)
		}
		if p, err := db.LineChannel(ctx, shop.ID); err != nil || p.ID != b.ID {
			t.Fatalf("primary after switch: %+v %v", p, err)
		}
		if all, err := db.LineChannels(ctx, shop.ID); err != nil || len(all) != 2 || all[0].ID != b.ID {
			t.Fatalf("channels: %+v %v", all, err)
		}
		other := newShopNamed(t, db, "other.myshopify.com")
		if _, err := db.LineChannelByID(ctx, other.ID, a.ID); err == nil {
			t.Fatal("another shop's channel was loaded")
		}
		for _, c := range []*store.LineChannel{a, b, a} {
			if _, err := db.EnsureFriend(ctx, &store.LineFriend{ShopID: shop.ID, ChannelID: c.ID, LineUserID: "Usame", IsFriend: true}); err != nil {
				t.Fatal(err)
			}
		}
		var n int64
		db.G.Model(&store.LineFriend{}).Where("shop_id = ? AND line_user_id = 'Usame'", shop.ID).Count(&n)
		if n != 2 {
			t.Fatalf("friend rows of one LINE user on two channels: %d, want 2", n)
		}
		fa, errA := db.FriendOnChannel(ctx, a.ID, "Usame")
		fb, errB := db.FriendOnChannel(ctx, b.ID, "Usame")
		if errA != nil || errB != nil || fa.ID == fb.ID {
			t.Fatalf("friends per channel: %+v %+v %v %v", fa, fb, errA, errB)
		}
	})
}

func newShopNamed(t *testing.T, db *store.DB, domain string) *store.Shop {
	t.Helper()
	s := &store.Shop{Domain: domain, Name: "Other"}
	if err := db.CreateShop(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A campaign is sent from one LINE account (the primary unless chosen) and
// reaches only customers linked on it; a customer linked on another of the
// shop's accounts is a recipient skipped with a reason.
func TestCampaignReachesItsAccountOnly(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		a := &store.LineChannel{ShopID: shop.ID, WebhookKey: "ca", Name: "A"}
		b := &store.LineChannel{ShopID: shop.ID, WebhookKey: "cb", Name: "B"}
		for _, c := range []*store.LineChannel{a, b} {
			if err := db.SaveLineChannel(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().UTC()
		onA, onB := map[int64]bool{}, map[int64]bool{}
		for i := range 4 {
			c := &store.Customer{ShopID: shop.ID, ShopifyID: int64(9100 + i), FirstName: "C"}
			if err := db.UpsertCustomer(ctx, c); err != nil {
				t.Fatal(err)
			}
			l := &store.LineLink{ShopID: shop.ID, CustomerID: c.ID, LineUserID: "U" + string(rune('a'+i)), Friend: true, LinkedAt: now}
			if i%2 == 1 {
				l.ChannelID = b.ID
				onB[c.ID] = true
			} else {
				onA[c.ID] = true // zero: the primary, A
			}
			if err := db.CreateLink(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		seg, err := segment.Parse([]byte(`{"field":"linked","value":true}`))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name    string
			channel *int64
			reached map[int64]bool
		}{{"primary", nil, onA}, {"second", &b.ID, onB}} {
			camp := &store.Campaign{ShopID: shop.ID, Name: tc.name, Status: store.CampaignScheduled, ScheduledAt: &now, LineChannelID: tc.channel,
				Variants: []store.CampaignVariant{{Name: "A", Weight: 1, Messages: []json.RawMessage{json.RawMessage(`{"type":"text","text":"hi"}`)}}}}
			if err := db.CreateCampaign(ctx, camp); err != nil {
				t.Fatal(err)
			}
			if err := db.MaterializeCampaign(ctx, shop, camp, seg, now); err != nil {
				t.Fatal(err)
			}
			var rs []store.CampaignRecipient
			if err := db.G.Where("campaign_id = ?", camp.ID).Find(&rs).Error; err != nil {
				t.Fatal(err)
			}
			if len(rs) != 4 {
				t.Fatalf("%s: %d recipients, want 4", tc.name, len(rs))
			}
			for _, r := range rs {
				want := store.ReasonOtherLineAccount
				if tc.reached[r.CustomerID] {
					want = ""
				}
				if r.Reason != want {
					t.Errorf("%s: customer %d reason %q, want %q", tc.name, r.CustomerID, r.Reason, want)
				}
			}
		}
	})
}

// A LINE event keeps the channel it arrived on (both insert paths).
func TestEventKeepsLineChannel(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		shop := newShop(t, db)
		ch := &store.LineChannel{ShopID: shop.ID, WebhookKey: "ev"}
		if err := db.SaveLineChannel(ctx, ch); err != nil {
			t.Fatal(err)
		}
		ev := &store.Event{Source: "line", Topic: "follow", ExternalID: "line:ev-1", ShopID: &shop.ID, LineChannelID: &ch.ID, Payload: []byte("{}")}
		if ok, err := db.InsertEvent(ctx, ev); err != nil || !ok {
			t.Fatalf("insert: %v %v", ok, err)
		}
		got, err := db.Event(ctx, ev.ID)
		if err != nil || got.LineChannelID == nil || *got.LineChannelID != ch.ID {
			t.Fatalf("event %+v %v", got, err)
		}
	})
}
