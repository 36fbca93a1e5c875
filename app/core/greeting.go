package core

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// The greeting welcomes a new friend with a button into ID linking; the
// nudge invites a friend who has not linked after some days, once.

// FriendLinkPurpose signs the link in greetings and nudges.
const FriendLinkPurpose = "friend-link"

// FriendLinkTTL is how long a greeting's link button works.
const FriendLinkTTL = 30 * 24 * time.Hour

// Greeting bounds, checked when the merchant saves them.
const (
	MaxGreetingRunes = 1000
	MaxButtonRunes   = 20
)

var greetingDefaults = map[string][2]string{
	"ja": {"友だち追加ありがとうございます！LINEとショップのアカウントを連携すると、特典クーポンをお送りします。", "連携してクーポンを受け取る"},
	"en": {"Thanks for adding us! Link LINE to your store account and we'll send you a coupon.", "Link and get a coupon"},
}

var nudgeDefaults = map[string]string{
	"ja": "まだLINE連携がお済みでないようです。連携するとクーポンをお受け取りいただけます。",
	"en": "You haven't linked LINE to your store account yet. Link now and receive your coupon.",
}

// CheckGreeting validates the merchant's greeting before it is saved.
func CheckGreeting(g store.Greeting) error {
	for what, v := range map[string]string{"Japanese greeting": g.TextJA, "English greeting": g.TextEN} {
		if utf8.RuneCountInString(v) > MaxGreetingRunes {
			return Errorf(EINVALID, "%s is over %d characters", what, MaxGreetingRunes)
		}
	}
	for what, v := range map[string]string{"Japanese button": g.ButtonJA, "English button": g.ButtonEN} {
		if utf8.RuneCountInString(v) > MaxButtonRunes {
			return Errorf(EINVALID, "%s is over %d characters", what, MaxButtonRunes)
		}
	}
	if g.NudgeDays < 0 || g.NudgeDays > 365 {
		return Errorf(EINVALID, "nudge days must be between 1 and 365")
	}
	return nil
}

func friendLang(f *store.LineFriend) string {
	if strings.HasPrefix(f.Language, "en") {
		return "en"
	}
	return "ja"
}

// FriendLinkURL is the signed entry into ID linking for a friend: it
// records the click and leads through the store's sign-in to LINE Login,
// which matches the LINE user to the customer.
func (s *Friends) FriendLinkURL(shopID, friendID int64) string {
	tok := s.Signer.Sign(FriendLinkPurpose, []byte(fmt.Sprintf("%d:%d", shopID, friendID)), s.now().Add(FriendLinkTTL))
	return strings.TrimRight(s.BaseURL, "/") + "/link/friend?t=" + tok
}

// ParseFriendLink reads a FriendLinkURL token.
func (s *Friends) ParseFriendLink(tok string) (shopID, friendID int64, err error) {
	p, err := s.Signer.Verify(FriendLinkPurpose, tok, s.now())
	if err != nil {
		return 0, 0, Errorf(EINVALID, "this link is invalid or has expired")
	}
	a, b, ok := strings.Cut(string(p), ":")
	shopID, err1 := strconv.ParseInt(a, 10, 64)
	friendID, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, Errorf(EINVALID, "this link is invalid")
	}
	return shopID, friendID, nil
}

// linkButtonMessage is a Flex bubble with text and one button.
func linkButtonMessage(text, label, uri string) line.Message {
	alt := text
	if utf8.RuneCountInString(alt) > 400 {
		alt = string([]rune(alt)[:400])
	}
	m := map[string]any{
		"type": "flex", "altText": alt,
		"contents": map[string]any{
			"type": "bubble",
			"body": map[string]any{"type": "box", "layout": "vertical", "contents": []any{
				map[string]any{"type": "text", "text": text, "wrap": true},
			}},
			"footer": map[string]any{"type": "box", "layout": "vertical", "contents": []any{
				map[string]any{"type": "button", "style": "primary", "action": map[string]any{"type": "uri", "label": label, "uri": uri}},
			}},
		},
	}
	b, _ := json.Marshal(m)
	return b
}

// GreetingMessage is the welcome for a friend in their language.
func (s *Friends) GreetingMessage(shop *store.Shop, f *store.LineFriend) line.Message {
	lang := friendLang(f)
	g := shop.Settings.Greeting
	text, label := g.TextJA, g.ButtonJA
	if lang == "en" {
		text, label = g.TextEN, g.ButtonEN
	}
	if strings.TrimSpace(text) == "" {
		text = greetingDefaults[lang][0]
	}
	if strings.TrimSpace(label) == "" {
		label = greetingDefaults[lang][1]
	}
	return linkButtonMessage(text, label, s.FriendLinkURL(shop.ID, f.ID))
}

// Greet welcomes a friend who just followed, with the follow event's reply
// token (free). Already-linked friends, and returning ones unless the shop
// asks for it, are not greeted. The outcome is a message row either way.
func (s *Friends) Greet(ctx context.Context, shop *store.Shop, f *store.LineFriend, ev line.Event) (*store.Message, error) {
	if ev.Type != "follow" || ev.ReplyToken == "" {
		return nil, nil
	}
	key := fmt.Sprintf("greeting/s%d/%s", shop.ID, ev.WebhookEventID)
	g := shop.Settings.Greeting
	switch {
	case g.Disabled:
		return nil, nil
	case ev.Unblocked && !g.Returning:
		return nil, nil
	case f.CustomerID != nil:
		return nil, nil // linked already: nothing to invite to
	}
	// The reply token of this very event (not one stored from a message).
	if err := s.DB.UpdateFriend(ctx, f.ID, map[string]any{"reply_token_enc": s.Box.Seal(ev.ReplyToken), "reply_token_at": ev.Timestamp.UTC()}); err != nil {
		return nil, err
	}
	m, err := s.send(ctx, f, KindGreeting, key, "", []line.Message{s.GreetingMessage(shop, f)}, false)
	if ErrorCode(err) == ECONFLICT {
		return m, nil // refused, with its reason recorded
	}
	return m, err
}

// NudgeMessage invites a friend to link.
func (s *Friends) NudgeMessage(shop *store.Shop, f *store.LineFriend) line.Message {
	lang := friendLang(f)
	label := shop.Settings.Greeting.ButtonJA
	if lang == "en" {
		label = shop.Settings.Greeting.ButtonEN
	}
	if strings.TrimSpace(label) == "" {
		label = greetingDefaults[lang][1]
	}
	return linkButtonMessage(nudgeDefaults[lang], label, s.FriendLinkURL(shop.ID, f.ID))
}
