package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// LineFriend is one LINE user the shop's account has met (follow, message or
// postback), linked to a customer or not. The row is also the user's inbox
// conversation.
type LineFriend struct {
	ID     int64
	ShopID int64
	// ChannelID is the LINE channel the friend follows (migration 0049);
	// zero on insert means the shop's primary channel.
	ChannelID      int64 `gorm:"default:null"`
	LineUserID     string
	CustomerID     *int64
	DisplayName    string
	PictureURL     string
	Language       string
	ProfileAt      *time.Time
	FollowSource   string
	FriendSince    *time.Time
	IsFriend       bool
	Blocked        bool
	BlockedAt      *time.Time
	RedactedAt     *time.Time
	FirstSeenAt    time.Time
	LastInboundAt  *time.Time
	LastOutboundAt *time.Time
	LastText       string
	Unread         int
	Unanswered     bool
	AssignedStaff  string
	ReplyTokenEnc  []byte `json:"-"`
	ReplyTokenAt   *time.Time
	NudgedAt       *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Linked reports whether the friend is merged into a customer.
func (f *LineFriend) Linked() bool { return f.CustomerID != nil }

// Follow sources: how Tsunagu first learnt of the friendship. LINE's webhook
// does not say where a follow came from (QR, search, ad); these are what it
// does tell.
const (
	SourceFollow    = "follow"     // a follow event
	SourceUnblocked = "unblocked"  // a follow event with isUnblocked
	SourceMessage   = "message"    // first seen writing (friend before the webhook was set)
	SourcePostback  = "postback"   // first seen on a postback
	SourceLogin     = "line_login" // LINE Login's friendship flag (no-webhook mode)
)

// EnsureFriend returns the friend row of a LINE user, inserting it (with
// f's fields) when the shop has never seen them. created tells which.
func (db *DB) EnsureFriend(ctx context.Context, f *LineFriend) (created bool, err error) {
	now := time.Now().UTC()
	if f.FirstSeenAt.IsZero() {
		f.FirstSeenAt = now
	}
	f.CreatedAt, f.UpdatedAt = now, now
	if f.ChannelID == 0 {
		if f.ChannelID, err = db.primaryChannelID(ctx, f.ShopID); err != nil {
			return false, err
		}
	}
	res := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Omit("id").Create(f)
	if res.Error != nil {
		return false, fmt.Errorf("recording LINE friend: %w", res.Error)
	}
	q := db.WithContext(ctx).Where("shop_id = ? AND line_user_id = ?", f.ShopID, f.LineUserID)
	if f.ChannelID != 0 {
		q = q.Where("channel_id = ?", f.ChannelID)
	}
	if err := q.Order("id").Take(f).Error; err != nil {
		return false, fmt.Errorf("reloading LINE friend: %w", err)
	}
	return res.RowsAffected == 1, nil
}

// Friend loads one friend of a shop.
func (db *DB) Friend(ctx context.Context, shopID, id int64) (*LineFriend, error) {
	var f LineFriend
	if err := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&f).Error; err != nil {
		return nil, fmt.Errorf("loading LINE friend %d: %w", id, notFound(err))
	}
	return &f, nil
}

// FriendByUser loads the friend of a LINE user in a shop: on the primary
// channel when they follow it, else the first channel that met them.
func (db *DB) FriendByUser(ctx context.Context, shopID int64, lineUserID string) (*LineFriend, error) {
	var f LineFriend
	err := db.WithContext(ctx).Where("shop_id = ? AND line_user_id = ?", shopID, lineUserID).
		Order(clause.Expr{SQL: "CASE WHEN channel_id = (SELECT id FROM line_channels WHERE shop_id = ? AND is_primary) THEN 0 ELSE 1 END, id", Vars: []any{shopID}}).
		Take(&f).Error
	if err != nil {
		return nil, fmt.Errorf("loading LINE friend of user: %w", notFound(err))
	}
	return &f, nil
}

// FriendOnChannel loads the friend of a LINE user on one channel.
func (db *DB) FriendOnChannel(ctx context.Context, channelID int64, lineUserID string) (*LineFriend, error) {
	var f LineFriend
	if err := db.WithContext(ctx).Where("channel_id = ? AND line_user_id = ?", channelID, lineUserID).Take(&f).Error; err != nil {
		return nil, fmt.Errorf("loading LINE friend of user on channel %d: %w", channelID, notFound(err))
	}
	return &f, nil
}

// primaryChannelID is the id of the shop's primary LINE channel, 0 when the
// shop has none.
func (db *DB) primaryChannelID(ctx context.Context, shopID int64) (int64, error) {
	var ids []int64
	if err := db.WithContext(ctx).Model(&LineChannel{}).Where("shop_id = ? AND is_primary", shopID).Limit(1).Pluck("id", &ids).Error; err != nil {
		return 0, fmt.Errorf("looking up the primary LINE channel of shop %d: %w", shopID, err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	return ids[0], nil
}

// FriendByCustomer loads the friend merged into a customer (the most
// recently seen one, should a customer have had two LINE accounts).
func (db *DB) FriendByCustomer(ctx context.Context, shopID, customerID int64) (*LineFriend, error) {
	var f LineFriend
	err := db.WithContext(ctx).Where("shop_id = ? AND customer_id = ?", shopID, customerID).Order("id DESC").Take(&f).Error
	if err != nil {
		return nil, fmt.Errorf("loading LINE friend of customer %d: %w", customerID, notFound(err))
	}
	return &f, nil
}

// UpdateFriend sets columns of a friend.
func (db *DB) UpdateFriend(ctx context.Context, id int64, cols map[string]any) error {
	cols["updated_at"] = time.Now().UTC()
	if err := db.WithContext(ctx).Model(&LineFriend{}).Where("id = ?", id).Updates(cols).Error; err != nil {
		return fmt.Errorf("updating LINE friend %d: %w", id, err)
	}
	return nil
}

// RecordInbound counts a message from the friend: unread and unanswered,
// and keeps the reply token it came with (sealed) for a staff answer.
func (db *DB) RecordInbound(ctx context.Context, id int64, at time.Time, text string, replyTokenEnc []byte) error {
	cols := map[string]any{"unread": gorm.Expr("unread + 1"), "unanswered": true, "last_inbound_at": at.UTC(),
		"last_text": text, "updated_at": time.Now().UTC()}
	if len(replyTokenEnc) > 0 {
		cols["reply_token_enc"], cols["reply_token_at"] = replyTokenEnc, at.UTC()
	}
	if err := db.WithContext(ctx).Model(&LineFriend{}).Where("id = ?", id).Updates(cols).Error; err != nil {
		return fmt.Errorf("recording message of LINE friend %d: %w", id, err)
	}
	return nil
}

// TakeReplyToken claims the friend's stored reply token if it was received
// after notBefore. Only one caller can take a token (LINE accepts it once).
func (db *DB) TakeReplyToken(ctx context.Context, id int64, notBefore time.Time) ([]byte, bool, error) {
	var f LineFriend
	if err := db.WithContext(ctx).Select("id", "reply_token_enc", "reply_token_at").Where("id = ?", id).Take(&f).Error; err != nil {
		return nil, false, fmt.Errorf("loading reply token of LINE friend %d: %w", id, notFound(err))
	}
	if len(f.ReplyTokenEnc) == 0 || f.ReplyTokenAt == nil || !f.ReplyTokenAt.After(notBefore) {
		return nil, false, nil
	}
	res := db.WithContext(ctx).Model(&LineFriend{}).Where("id = ? AND reply_token_at = ?", id, f.ReplyTokenAt.UTC()).
		Updates(map[string]any{"reply_token_enc": nil, "reply_token_at": nil})
	if res.Error != nil {
		return nil, false, fmt.Errorf("taking reply token of LINE friend %d: %w", id, res.Error)
	}
	return f.ReplyTokenEnc, res.RowsAffected == 1, nil
}

// MarkFriendRead clears the unread count of a conversation.
func (db *DB) MarkFriendRead(ctx context.Context, shopID, id int64) error {
	err := db.WithContext(ctx).Model(&LineFriend{}).Where("shop_id = ? AND id = ? AND unread > 0", shopID, id).
		Updates(map[string]any{"unread": 0, "updated_at": time.Now().UTC()}).Error
	if err != nil {
		return fmt.Errorf("marking LINE friend %d read: %w", id, err)
	}
	return nil
}

// MarkAnswered records an answer to the friend: read and answered.
func (db *DB) MarkAnswered(ctx context.Context, id int64, at time.Time) error {
	return db.UpdateFriend(ctx, id, map[string]any{"unread": 0, "unanswered": false, "last_outbound_at": at.UTC()})
}

// MergeFriend links a friend to a customer: the friend row, and every
// timeline entry and message recorded before the link, now belong to the
// customer. Nothing is deleted.
func (db *DB) MergeFriend(ctx context.Context, friendID, customerID int64) error {
	g := db.WithContext(ctx)
	if err := g.Model(&LineFriend{}).Where("id = ?", friendID).
		Updates(map[string]any{"customer_id": customerID, "updated_at": time.Now().UTC()}).Error; err != nil {
		return fmt.Errorf("merging LINE friend %d into customer %d: %w", friendID, customerID, err)
	}
	if err := g.Model(&Activity{}).Where("friend_id = ? AND customer_id IS NULL", friendID).Update("customer_id", customerID).Error; err != nil {
		return fmt.Errorf("moving the timeline of LINE friend %d: %w", friendID, err)
	}
	if err := g.Model(&Message{}).Where("friend_id = ? AND customer_id IS NULL", friendID).Update("customer_id", customerID).Error; err != nil {
		return fmt.Errorf("moving the messages of LINE friend %d: %w", friendID, err)
	}
	return nil
}

// InboxFilter narrows the inbox list.
type InboxFilter struct {
	Unanswered bool
	Unread     bool
	Unlinked   bool
	Assigned   string // a staff name; "" means anyone
}

// InboxPage is one page of conversations, newest inbound first; Next is the
// cursor of the following page (0 when none).
type InboxPage struct {
	Conversations []LineFriend
	Next          int64 // last_inbound_at of the last row, Unix microseconds
	NextID        int64
}

// Inbox lists the conversations of a shop (friends who wrote at least
// once), newest first, keyset-paginated on (last_inbound_at, id).
func (db *DB) Inbox(ctx context.Context, shopID int64, f InboxFilter, beforeAt time.Time, beforeID int64, limit int) (*InboxPage, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	q := db.WithContext(ctx).Model(&LineFriend{}).Where("shop_id = ? AND last_inbound_at IS NOT NULL", shopID)
	if f.Unanswered {
		q = q.Where("unanswered")
	}
	if f.Unread {
		q = q.Where("unread > 0")
	}
	if f.Unlinked {
		q = q.Where("customer_id IS NULL")
	}
	if f.Assigned != "" {
		q = q.Where("assigned_staff = ?", f.Assigned)
	}
	if !beforeAt.IsZero() {
		q = q.Where("(last_inbound_at < ? OR (last_inbound_at = ? AND id < ?))", beforeAt.UTC(), beforeAt.UTC(), beforeID)
	}
	var rows []LineFriend
	if err := q.Omit("reply_token_enc").Order("last_inbound_at DESC, id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing the inbox of shop %d: %w", shopID, err)
	}
	p := &InboxPage{Conversations: rows}
	if len(rows) > limit {
		p.Conversations = rows[:limit]
		last := rows[limit-1]
		p.Next, p.NextID = last.LastInboundAt.UnixMicro(), last.ID
	}
	return p, nil
}

// InboxCountCap bounds the inbox badges: a count stops one past the cap
// (the badge then reads "999+"), so each badge reads at most
// InboxCountCap+1 entries of its partial index, however large the shop's
// inbox. An exact count of tens of thousands of conversations cost 0.2-0.3 s
// per badge on the 1M-customer bench (docs/BENCHMARKS.md, issue 13): the
// rows of a busy inbox are updated all the time, so the count visits the
// heap, not just the index.
const InboxCountCap = 999

// InboxCounts are the inbox's badges.
type InboxCounts struct {
	Unread     int64 // conversations with unread messages (at most InboxCountCap)
	Unanswered int64 // conversations whose last word is the customer's (at most InboxCountCap)
	// UnreadMore and UnansweredMore: there are more than InboxCountCap.
	UnreadMore     bool
	UnansweredMore bool
}

// CountInbox counts unread and unanswered conversations of a shop, each
// from its own partial index and up to InboxCountCap.
func (db *DB) CountInbox(ctx context.Context, shopID int64) (InboxCounts, error) {
	var c InboxCounts
	g := db.WithContext(ctx)
	capped := func(cond string, n *int64, more *bool) error {
		if err := g.Raw("SELECT count(*) FROM (SELECT 1 FROM line_friends WHERE shop_id = ? AND "+cond+" LIMIT ?) s", shopID, InboxCountCap+1).Scan(n).Error; err != nil {
			return err
		}
		if *n > InboxCountCap {
			*n, *more = InboxCountCap, true
		}
		return nil
	}
	if err := capped("unread > 0", &c.Unread, &c.UnreadMore); err != nil {
		return c, fmt.Errorf("counting unread conversations: %w", err)
	}
	if err := capped("unanswered AND last_inbound_at IS NOT NULL", &c.Unanswered, &c.UnansweredMore); err != nil {
		return c, fmt.Errorf("counting unanswered conversations: %w", err)
	}
	return c, nil
}

// SearchFriends finds friends not linked to a customer by the start of
// their LINE display name (linked friends are found as customers).
func (db *DB) SearchFriends(ctx context.Context, shopID int64, q string, limit int) ([]LineFriend, error) {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return nil, nil
	}
	cond, args := db.prefixCond("lower(display_name)", q)
	var out []LineFriend
	err := db.WithContext(ctx).Omit("reply_token_enc").Where("shop_id = ? AND customer_id IS NULL AND redacted_at IS NULL", shopID).
		Where(cond, args...).Order("id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("searching LINE friends: %w", err)
	}
	return out, nil
}

// FriendTimeline is a friend's history: their timeline entries and the
// messages sent to them, newest first.
func (db *DB) FriendTimeline(ctx context.Context, friendID int64, limit int) ([]Activity, []Message, error) {
	var acts []Activity
	var msgs []Message
	g := db.WithContext(ctx)
	if err := g.Where("friend_id = ?", friendID).Order("occurred_at DESC, id DESC").Limit(limit).Find(&acts).Error; err != nil {
		return nil, nil, fmt.Errorf("loading the timeline of LINE friend %d: %w", friendID, err)
	}
	if err := g.Where("friend_id = ?", friendID).Order("created_at DESC, id DESC").Limit(limit).Find(&msgs).Error; err != nil {
		return nil, nil, fmt.Errorf("loading the messages of LINE friend %d: %w", friendID, err)
	}
	return acts, msgs, nil
}

// FriendsForNudge returns friends of a shop who have been friends since
// before cutoff, never linked, never nudged, and can be reached.
func (db *DB) FriendsForNudge(ctx context.Context, shopID int64, cutoff time.Time, limit int) ([]LineFriend, error) {
	var out []LineFriend
	err := db.WithContext(ctx).Omit("reply_token_enc").Where(`shop_id = ? AND customer_id IS NULL AND is_friend AND NOT blocked
		AND redacted_at IS NULL AND nudged_at IS NULL AND friend_since <= ?`, shopID, cutoff.UTC()).
		Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("listing friends to invite: %w", err)
	}
	return out, nil
}

// FriendCounts are a shop's friend totals for the dashboard and segments.
type FriendCounts struct {
	Friends  int64 // following now
	Unlinked int64 // following, not linked
	Blocked  int64
}

// CountFriends counts a shop's friends; minDays > 0 counts only those who
// have been friends for at least that many days at now.
func (db *DB) CountFriends(ctx context.Context, shopID int64, minDays int, now time.Time) (FriendCounts, error) {
	var c FriendCounts
	base := func() *gorm.DB {
		q := db.WithContext(ctx).Model(&LineFriend{}).Where("shop_id = ?", shopID)
		if minDays > 0 {
			q = q.Where("friend_since <= ?", now.UTC().AddDate(0, 0, -minDays))
		}
		return q
	}
	if err := base().Where("is_friend AND NOT blocked").Count(&c.Friends).Error; err != nil {
		return c, fmt.Errorf("counting friends: %w", err)
	}
	if err := base().Where("is_friend AND NOT blocked AND customer_id IS NULL").Count(&c.Unlinked).Error; err != nil {
		return c, fmt.Errorf("counting unlinked friends: %w", err)
	}
	if err := base().Where("blocked").Count(&c.Blocked).Error; err != nil {
		return c, fmt.Errorf("counting blocked friends: %w", err)
	}
	return c, nil
}

// CannedReply is a saved answer staff pick in the inbox.
type CannedReply struct {
	ID        int64     `json:"id"`
	ShopID    int64     `json:"-"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"-"`
}

// AutoReply answers an inbound text matching Keyword.
type AutoReply struct {
	ID        int64     `json:"id"`
	ShopID    int64     `json:"-"`
	Keyword   string    `json:"keyword"`
	MatchMode string    `json:"match_mode"` // "exact" or "contains"
	Body      string    `json:"body"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"-"`
}

// WebhookForward is a merchant URL that receives every verified LINE
// webhook request unchanged.
type WebhookForward struct {
	ID            int64      `json:"id"`
	ShopID        int64      `json:"-"`
	URL           string     `json:"url"`
	LastStatus    int        `json:"last_status"`
	LastError     string     `json:"last_error"`
	LastAttemptAt *time.Time `json:"last_attempt_at"`
	LastSuccessAt *time.Time `json:"last_success_at"`
	Delivered     int64      `json:"delivered"`
	Failed        int64      `json:"failed"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"-"`
}

// CannedReplies lists a shop's canned replies by title.
func (db *DB) CannedReplies(ctx context.Context, shopID int64) ([]CannedReply, error) {
	var out []CannedReply
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Order("title, id").Limit(500).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("listing canned replies: %w", err)
	}
	return out, nil
}

// CountCannedReplies counts a shop's canned replies.
func (db *DB) CountCannedReplies(ctx context.Context, shopID int64) (int64, error) {
	var n int64
	err := db.WithContext(ctx).Model(&CannedReply{}).Where("shop_id = ?", shopID).Count(&n).Error
	return n, err
}

// CreateCannedReply stores a canned reply.
func (db *DB) CreateCannedReply(ctx context.Context, c *CannedReply) error {
	now := time.Now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	if err := db.WithContext(ctx).Create(c).Error; err != nil {
		return fmt.Errorf("saving canned reply: %w", err)
	}
	return nil
}

// DeleteCannedReply removes a canned reply of a shop; false when none.
func (db *DB) DeleteCannedReply(ctx context.Context, shopID, id int64) (bool, error) {
	res := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Delete(&CannedReply{})
	if res.Error != nil {
		return false, fmt.Errorf("deleting canned reply %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// AutoReplies lists a shop's keyword auto-replies.
func (db *DB) AutoReplies(ctx context.Context, shopID int64) ([]AutoReply, error) {
	var out []AutoReply
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Order("id").Limit(500).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("listing auto-replies: %w", err)
	}
	return out, nil
}

// CreateAutoReply stores a keyword auto-reply.
func (db *DB) CreateAutoReply(ctx context.Context, r *AutoReply) error {
	now := time.Now().UTC()
	r.CreatedAt, r.UpdatedAt = now, now
	if err := db.WithContext(ctx).Create(r).Error; err != nil {
		return fmt.Errorf("saving auto-reply: %w", err)
	}
	return nil
}

// DeleteAutoReply removes an auto-reply of a shop; false when none.
func (db *DB) DeleteAutoReply(ctx context.Context, shopID, id int64) (bool, error) {
	res := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Delete(&AutoReply{})
	if res.Error != nil {
		return false, fmt.Errorf("deleting auto-reply %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// WebhookForwards lists a shop's forwarding destinations.
func (db *DB) WebhookForwards(ctx context.Context, shopID int64) ([]WebhookForward, error) {
	var out []WebhookForward
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("listing webhook forwards: %w", err)
	}
	return out, nil
}

// WebhookForward loads one destination.
func (db *DB) WebhookForward(ctx context.Context, id int64) (*WebhookForward, error) {
	var w WebhookForward
	if err := db.WithContext(ctx).Take(&w, id).Error; err != nil {
		return nil, fmt.Errorf("loading webhook forward %d: %w", id, notFound(err))
	}
	return &w, nil
}

// CreateWebhookForward stores a destination; a duplicate URL is a conflict
// reported as created=false.
func (db *DB) CreateWebhookForward(ctx context.Context, w *WebhookForward) (bool, error) {
	now := time.Now().UTC()
	w.CreatedAt, w.UpdatedAt = now, now
	res := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Omit("id").Create(w)
	if res.Error != nil {
		return false, fmt.Errorf("saving webhook forward: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// DeleteWebhookForward removes a destination of a shop; false when none.
func (db *DB) DeleteWebhookForward(ctx context.Context, shopID, id int64) (bool, error) {
	res := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Delete(&WebhookForward{})
	if res.Error != nil {
		return false, fmt.Errorf("deleting webhook forward %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RecordForwardAttempt stores the outcome of one delivery attempt.
func (db *DB) RecordForwardAttempt(ctx context.Context, id int64, status int, errText string, at time.Time) error {
	cols := map[string]any{"last_status": status, "last_error": errText, "last_attempt_at": at.UTC(), "updated_at": at.UTC()}
	if errText == "" {
		cols["last_success_at"] = at.UTC()
		cols["delivered"] = gorm.Expr("delivered + 1")
	} else {
		cols["failed"] = gorm.Expr("failed + 1")
	}
	if err := db.WithContext(ctx).Model(&WebhookForward{}).Where("id = ?", id).Updates(cols).Error; err != nil {
		return fmt.Errorf("recording forward attempt %d: %w", id, err)
	}
	return nil
}
