package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// LINE friends and one-to-one replies. A friend is every LINE user the
// shop's account has met, linked to a customer or not; these rules decide
// what is stored about them and when staff (or a keyword) may answer.

// Message kinds of the conversation features.
const (
	KindStaffReply = "staff_reply"
	KindAutoReply  = "auto_reply"
	KindGreeting   = "greeting"
	KindLinkNudge  = "link_nudge"
)

// Reasons a reply is not sent (recorded on the message row).
const (
	ReasonBlocked       = "blocked"
	ReasonRedacted      = "redacted"
	ReasonNotLinked     = "not_linked"
	ReasonUnlinked      = "unlinked"
	ReasonNoChannel     = "line_not_connected"
	ReasonReplyExpired  = "reply_token_expired"
	ReasonNotFriend     = "not_friend"
	ReasonSendFailed    = "send_failed"
	ReasonShopInactive  = "shop_uninstalled"
	ReasonGreetingOff   = "greeting_disabled"
	ReasonAlreadyLinked = "already_linked"
)

// Bounds on what staff and merchants type.
const (
	MaxReplyRunes   = 5000 // LINE's limit for one text message
	MaxTitleRunes   = 100
	MaxKeywordRunes = 100
	MaxCanned       = 200
	MaxAutoReplies  = 100
	// ProfileMaxAge is when a stored LINE profile is fetched again.
	ProfileMaxAge = 7 * 24 * time.Hour
	// SupportWindow is how long after a not-linked friend's last message
	// staff may still answer them by push. It is Tsunagu's own rule, not
	// LINE's (the Messaging API lets an account push to any friend; only
	// the reply token expires): support answers questions, it does not
	// start conversations with people who never linked.
	SupportWindow = 7 * 24 * time.Hour
	// replyMargin keeps a reply token from being used in the last seconds
	// of its minute, when it may expire in flight.
	replyMargin = 10 * time.Second
)

// LINEClient is what the conversation rules need from LINE.
type LINEClient interface {
	Reply(ctx context.Context, channelToken, replyToken string, msgs []line.Message) (line.SendResult, error)
	Push(ctx context.Context, channelToken, to string, msgs []line.Message, retryKey string) (line.SendResult, error)
	Profile(ctx context.Context, channelToken, userID string) (line.Profile, error)
}

// Friends applies the rules about LINE friends and replies.
type Friends struct {
	DB      *store.DB
	Box     *secretbox.Box
	LINE    LINEClient
	Signer  *secretbox.Signer
	BaseURL string
	// InstallationID salts retry keys, as for every other push.
	InstallationID string
	Log            *slog.Logger
	Now            func() time.Time
}

func (s *Friends) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Friends) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// channel returns a channel of the shop (channelID, or the primary when
// zero) and its access token; ok is false when LINE is not connected.
func (s *Friends) channel(ctx context.Context, shopID, channelID int64) (*store.LineChannel, string, bool, error) {
	ch, err := s.DB.LineChannelFor(ctx, shopID, channelID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	tok, err := MessagingToken(s.Box, ch)
	if err != nil {
		return ch, "", false, nil
	}
	return ch, tok, true, nil
}

// Seen is a LINE webhook event as the friend rules need it.
type Seen struct {
	ShopID int64
	// ChannelID is the channel whose webhook URL received the event (0:
	// the shop's primary, as for events stored before migration 0049).
	ChannelID  int64
	Event      line.Event
	ReceivedAt time.Time
}

// Observe records that a LINE user was seen (follow, unfollow, message,
// postback): it creates the friend on first sight, tracks friendship and
// blocks, counts messages for the inbox and refreshes a stale profile. It
// returns the friend as it now stands.
func (s *Friends) Observe(ctx context.Context, in Seen) (*store.LineFriend, error) {
	ev := in.Event
	at := ev.Timestamp
	if at.IsZero() {
		at = s.now()
	}
	f := &store.LineFriend{ShopID: in.ShopID, ChannelID: in.ChannelID, LineUserID: ev.UserID, FirstSeenAt: at}
	switch ev.Type {
	case "follow":
		f.FollowSource, f.IsFriend, f.FriendSince = store.SourceFollow, true, &at
		if ev.Unblocked {
			f.FollowSource = store.SourceUnblocked
		}
	case "message":
		// Only a friend (or someone who blocked since) can write to the account.
		f.FollowSource, f.IsFriend, f.FriendSince = store.SourceMessage, true, &at
	case "postback":
		f.FollowSource, f.IsFriend, f.FriendSince = store.SourcePostback, true, &at
	case "unfollow":
		f.Blocked, f.BlockedAt = true, &at
	}
	// A friend already linked (before this feature) is merged at once. A
	// customer is one person across the shop's accounts: a link made on
	// another channel of the same LINE provider (same user id) names them.
	if l, err := s.DB.LiveLinkByUser(ctx, in.ShopID, ev.UserID); err == nil {
		cid := l.CustomerID
		f.CustomerID = &cid
		f.DisplayName, f.PictureURL = l.DisplayName, l.PictureURL
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	created, err := s.DB.EnsureFriend(ctx, f)
	if err != nil {
		return nil, err
	}
	cols := map[string]any{}
	switch ev.Type {
	case "follow":
		cols["is_friend"], cols["blocked"], cols["blocked_at"] = true, false, nil
		if !created && (!f.IsFriend || f.Blocked) {
			// A returning friend: the friendship starts again.
			cols["friend_since"] = at
			cols["follow_source"] = store.SourceUnblocked
			if !ev.Unblocked {
				cols["follow_source"] = store.SourceFollow
			}
		}
	case "unfollow":
		cols["is_friend"], cols["blocked"], cols["blocked_at"] = false, true, at
		cols["reply_token_enc"], cols["reply_token_at"] = nil, nil
	case "message", "postback":
		if !f.IsFriend && !f.Blocked {
			cols["is_friend"] = true
		}
	}
	if len(cols) > 0 && !created {
		if err := s.DB.UpdateFriend(ctx, f.ID, cols); err != nil {
			return nil, err
		}
	}
	if ev.Type == "message" {
		text := ev.Text
		if text == "" {
			text = "(" + ev.MessageType + ")"
		}
		if utf8.RuneCountInString(text) > 200 {
			text = string([]rune(text)[:200])
		}
		var tok []byte
		if ev.ReplyToken != "" {
			tok = s.Box.Seal(ev.ReplyToken)
		}
		if err := s.DB.RecordInbound(ctx, f.ID, at, text, tok); err != nil {
			return nil, err
		}
	}
	if ev.Type != "unfollow" {
		s.refreshProfile(ctx, f)
	}
	return s.DB.Friend(ctx, in.ShopID, f.ID)
}

// refreshProfile fetches the LINE profile when it was never fetched or is
// older than ProfileMaxAge. A failure is logged, never fatal: the profile
// is a convenience and the next event tries again.
func (s *Friends) refreshProfile(ctx context.Context, f *store.LineFriend) {
	if f.ProfileAt != nil && s.now().Sub(*f.ProfileAt) < ProfileMaxAge {
		return
	}
	_, tok, ok, err := s.channel(ctx, f.ShopID, f.ChannelID)
	if err != nil || !ok {
		return
	}
	p, err := s.LINE.Profile(ctx, tok, f.LineUserID)
	if err != nil {
		s.log().WarnContext(ctx, "LINE profile not fetched", "friend_id", f.ID, "err", err)
		return
	}
	if err := s.DB.UpdateFriend(ctx, f.ID, map[string]any{"display_name": p.DisplayName, "picture_url": p.PictureURL,
		"language": p.Language, "profile_at": s.now()}); err != nil {
		s.log().WarnContext(ctx, "LINE profile not stored", "friend_id", f.ID, "err", err)
	}
}

// MergeOnLink makes the LINE user's friend row part of the customer when
// they link (run inside the linking transaction): the friend and all its
// history are the customer's from now on. The friend is the one on the
// channel the link was made on (0: the primary).
func MergeOnLink(ctx context.Context, tx *store.DB, shopID, channelID, customerID int64, lineUserID, name, picture string, friend bool, at time.Time) error {
	f := &store.LineFriend{ShopID: shopID, ChannelID: channelID, LineUserID: lineUserID, DisplayName: name, PictureURL: picture, FirstSeenAt: at}
	if friend {
		f.IsFriend, f.FriendSince, f.FollowSource = true, &at, store.SourceLogin
	}
	if _, err := tx.EnsureFriend(ctx, f); err != nil {
		return err
	}
	if friend && !f.IsFriend && !f.Blocked {
		if err := tx.UpdateFriend(ctx, f.ID, map[string]any{"is_friend": true, "friend_since": at}); err != nil {
			return err
		}
	}
	return tx.MergeFriend(ctx, f.ID, customerID)
}

// ReplyInput is one staff answer.
type ReplyInput struct {
	ShopID   int64
	FriendID int64
	Text     string
	Staff    string // shown on the reply and recorded
	CanReply bool   // false for viewers
	// Key makes a resubmitted form send nothing twice (any unique string
	// per composed reply; the form carries one).
	Key string
}

// CheckText validates a message text staff or a merchant typed.
func CheckText(what, text string, max int) (string, error) {
	text = strings.TrimSpace(text)
	n := utf8.RuneCountInString(text)
	switch {
	case n == 0:
		return "", Errorf(EINVALID, "%s is empty", what)
	case n > max:
		return "", Errorf(EINVALID, "%s is %d characters; at most %d", what, n, max)
	case !utf8.ValidString(text):
		return "", Errorf(EINVALID, "%s is not valid UTF-8", what)
	}
	return text, nil
}

// senderName is the staff name LINE shows on the reply (sender.name: at
// most 20 characters, and LINE refuses names containing "LINE").
func senderName(staff string) string {
	staff = strings.TrimSpace(staff)
	if staff == "" || strings.Contains(strings.ToLower(staff), "line") {
		return ""
	}
	if utf8.RuneCountInString(staff) > 20 {
		staff = string([]rune(staff)[:20])
	}
	return staff
}

// TextMessage is a LINE text message, signed with the staff name when given.
func TextMessage(text, staff string) line.Message {
	m := map[string]any{"type": "text", "text": text}
	if n := senderName(staff); n != "" {
		m["sender"] = map[string]string{"name": n}
	}
	b, _ := json.Marshal(m)
	return b
}

// replyBlock returns why a friend may not be answered now ("" when they
// may): never when redacted or blocked; a linked customer always; a friend
// who is not (or no longer) linked only within SupportWindow of their last
// message, by reply token or push alike.
func (s *Friends) replyBlock(ctx context.Context, f *store.LineFriend, kind string) (string, error) {
	if f.RedactedAt != nil {
		return ReasonRedacted, nil
	}
	if f.Blocked {
		return ReasonBlocked, nil
	}
	if kind == KindGreeting || kind == KindLinkNudge {
		// Invitations to link go to friends who are not linked, by design.
		if !f.IsFriend {
			return ReasonNotFriend, nil
		}
		return "", nil
	}
	if f.CustomerID != nil {
		c, err := s.DB.Customer(ctx, f.ShopID, *f.CustomerID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && c.RedactedAt != nil) {
			return ReasonRedacted, nil
		}
		if err != nil {
			return "", err
		}
		if _, err := s.DB.LiveLinkByUser(ctx, f.ShopID, f.LineUserID); err == nil {
			return "", nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
	}
	if f.LastInboundAt != nil && s.now().Sub(*f.LastInboundAt) <= SupportWindow {
		return "", nil
	}
	if f.CustomerID != nil {
		return ReasonUnlinked, nil
	}
	return ReasonNotLinked, nil
}

// Reply sends a staff answer to a friend: with the stored reply token while
// it is valid (free), else as a push (counted against the quota); the
// message row records which, and who answered. A refusal is recorded as a
// skipped message with its reason and returned as a conflict.
func (s *Friends) Reply(ctx context.Context, in ReplyInput) (*store.Message, error) {
	if !in.CanReply {
		return nil, Errorf(EFORBIDDEN, "viewers cannot reply")
	}
	text, err := CheckText("reply", in.Text, MaxReplyRunes)
	if err != nil {
		return nil, err
	}
	key := strings.TrimSpace(in.Key)
	if key == "" || len(key) > 64 {
		key = uuid.NewString()
	}
	f, err := s.DB.Friend(ctx, in.ShopID, in.FriendID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errorf(ENOTFOUND, "conversation %d not found", in.FriendID)
	}
	if err != nil {
		return nil, err
	}
	msgs := []line.Message{TextMessage(text, in.Staff)}
	return s.send(ctx, f, KindStaffReply, fmt.Sprintf("reply/s%d/f%d/%s", f.ShopID, f.ID, key), in.Staff, msgs, true)
}

// send records and sends one conversation message to a friend. allowPush
// false means reply token or nothing (auto-replies and greetings are free
// or not sent at all).
func (s *Friends) send(ctx context.Context, f *store.LineFriend, kind, key, staff string, msgs []line.Message, allowPush bool) (*store.Message, error) {
	content, _ := json.Marshal(msgs)
	fid := f.ID
	m := &store.Message{ShopID: f.ShopID, CustomerID: f.CustomerID, FriendID: &fid, Kind: kind, DedupeKey: key,
		RefType: "line_friend", RefID: f.ID, LineUserID: f.LineUserID, ScheduledFor: s.now(), Status: store.MsgSending,
		Content: string(content), StaffName: staff}
	skip := func(reason string) (*store.Message, error) {
		m.Status, m.Reason = store.MsgSkipped, reason
		if _, err := s.DB.PlanMessage(ctx, m); err != nil {
			return nil, err
		}
		return m, Errorf(ECONFLICT, "not sent: %s", reason)
	}
	if shop, err := s.DB.Shop(ctx, f.ShopID); err != nil {
		return nil, err
	} else if !shop.Active() {
		return skip(ReasonShopInactive)
	}
	reason, err := s.replyBlock(ctx, f, kind)
	if err != nil {
		return nil, err
	}
	if reason != "" {
		return skip(reason)
	}
	// A conversation is answered on the account it is on.
	_, tok, ok, err := s.channel(ctx, f.ShopID, f.ChannelID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return skip(ReasonNoChannel)
	}
	created, err := s.DB.PlanMessage(ctx, m)
	if err != nil {
		return nil, err
	}
	if !created {
		return m, nil // the same form submitted again: sent (or refused) once
	}
	// The Messenger waits on the channel's rate limit itself.
	now := s.now()
	delivery, res, sendErr := "", line.SendResult{}, error(nil)
	sealed, took, err := s.DB.TakeReplyToken(ctx, f.ID, now.Add(-(line.ReplyTokenTTL - replyMargin)))
	if err != nil {
		return nil, err
	}
	if took {
		if rt, err := s.Box.Open(sealed); err == nil && rt != "" {
			delivery = store.DeliveryReply
			res, sendErr = s.LINE.Reply(ctx, tok, rt, msgs)
			var apiErr *line.APIError
			if sendErr != nil && errors.As(sendErr, &apiErr) && apiErr.Status == 400 && allowPush {
				// The token expired in flight: answer by push instead.
				delivery, sendErr = "", nil
			}
		}
	}
	if delivery == "" {
		if !allowPush {
			_, err := s.DB.TransitionMessage(ctx, m.ID, []string{store.MsgSending}, store.MsgSkipped, map[string]any{"reason": ReasonReplyExpired})
			m.Status, m.Reason = store.MsgSkipped, ReasonReplyExpired
			return m, err
		}
		delivery = store.DeliveryPush
		res, sendErr = s.LINE.Push(ctx, tok, f.LineUserID, msgs, line.RetryKey(s.InstallationID+"/"+m.DedupeKey))
	}
	if sendErr != nil {
		reason := ReasonSendFailed + ": " + sendErr.Error()
		if _, err := s.DB.TransitionMessage(ctx, m.ID, []string{store.MsgSending}, store.MsgFailed,
			map[string]any{"reason": reason, "delivery": delivery}); err != nil {
			return nil, err
		}
		m.Status, m.Reason, m.Delivery = store.MsgFailed, reason, delivery
		return m, Errorf(EUNAVAILABLE, "LINE did not take the message; try again")
	}
	reqID := res.RequestID
	if res.Duplicate {
		reqID = res.AcceptedRequestID
	}
	if _, err := s.DB.TransitionMessage(ctx, m.ID, []string{store.MsgSending}, store.MsgSent,
		map[string]any{"sent_at": now, "line_request_id": reqID, "delivery": delivery, "reason": ""}); err != nil {
		return nil, err
	}
	m.Status, m.Delivery, m.SentAt, m.LineRequestID = store.MsgSent, delivery, &now, reqID
	if kind == KindStaffReply {
		if err := s.DB.MarkAnswered(ctx, f.ID, now); err != nil {
			return nil, err
		}
	} else if err := s.DB.UpdateFriend(ctx, f.ID, map[string]any{"last_outbound_at": now}); err != nil {
		return nil, err
	}
	return m, nil
}

// AutoReply answers an inbound text with the first enabled keyword rule
// that matches, using the message's reply token (free). It returns nil when
// no rule matches.
func (s *Friends) AutoReply(ctx context.Context, f *store.LineFriend, text, eventID string) (*store.Message, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	rules, err := s.DB.AutoReplies(ctx, f.ShopID)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if !r.Enabled || !KeywordMatches(r, text) {
			continue
		}
		m, err := s.send(ctx, f, KindAutoReply, fmt.Sprintf("auto/s%d/%s", f.ShopID, eventID), "", []line.Message{TextMessage(r.Body, "")}, false)
		if ErrorCode(err) == ECONFLICT {
			return m, nil // refused and recorded
		}
		return m, err
	}
	return nil, nil
}

// KeywordMatches reports whether an inbound text triggers rule r: the
// whole text (exact) or any part of it (contains), ignoring case and
// surrounding space.
func KeywordMatches(r store.AutoReply, text string) bool {
	kw := strings.ToLower(strings.TrimSpace(r.Keyword))
	t := strings.ToLower(strings.TrimSpace(text))
	if kw == "" {
		return false
	}
	if r.MatchMode == "exact" {
		return t == kw
	}
	return strings.Contains(t, kw)
}

// NewAutoReply validates and stores a keyword rule.
func (s *Friends) NewAutoReply(ctx context.Context, shopID int64, keyword, mode, body string) (*store.AutoReply, error) {
	kw, err := CheckText("keyword", keyword, MaxKeywordRunes)
	if err != nil {
		return nil, err
	}
	if mode == "" {
		mode = "contains"
	}
	if mode != "contains" && mode != "exact" {
		return nil, Errorf(EINVALID, "match must be contains or exact")
	}
	b, err := CheckText("auto-reply", body, MaxReplyRunes)
	if err != nil {
		return nil, err
	}
	rules, err := s.DB.AutoReplies(ctx, shopID)
	if err != nil {
		return nil, err
	}
	if len(rules) >= MaxAutoReplies {
		return nil, Errorf(ETOOLARGE, "at most %d auto-replies", MaxAutoReplies)
	}
	r := &store.AutoReply{ShopID: shopID, Keyword: kw, MatchMode: mode, Body: b, Enabled: true}
	return r, s.DB.CreateAutoReply(ctx, r)
}

// NewCannedReply validates and stores a canned reply.
func (s *Friends) NewCannedReply(ctx context.Context, shopID int64, title, body string) (*store.CannedReply, error) {
	t, err := CheckText("title", title, MaxTitleRunes)
	if err != nil {
		return nil, err
	}
	b, err := CheckText("canned reply", body, MaxReplyRunes)
	if err != nil {
		return nil, err
	}
	n, err := s.DB.CountCannedReplies(ctx, shopID)
	if err != nil {
		return nil, err
	}
	if n >= MaxCanned {
		return nil, Errorf(ETOOLARGE, "at most %d canned replies", MaxCanned)
	}
	c := &store.CannedReply{ShopID: shopID, Title: t, Body: b}
	return c, s.DB.CreateCannedReply(ctx, c)
}
