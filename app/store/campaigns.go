package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/migrations"
)

// Campaign statuses.
const (
	CampaignDraft         = "draft"
	CampaignScheduled     = "scheduled"
	CampaignSending       = "sending"
	CampaignWaitingWinner = "waiting_winner"
	CampaignDone          = "done"
	CampaignCancelled     = "cancelled"
)

// Campaign deliveries: one multicast per 500 recipients, or one push per
// recipient (small segments; each recipient's link names them).
const (
	CampaignMulticast = "multicast"
	CampaignPush      = "push"
)

// Recipient statuses beyond the message ones: held waits for an A/B winner.
const RecipientHeld = "held"

// CampaignBatchSize is LINE's multicast limit.
const CampaignBatchSize = 500

// ReasonCampaignCancelled is recorded on recipients a cancel stopped.
const ReasonCampaignCancelled = "campaign_cancelled"

// CampaignVariant is one version of a campaign's message (A/B).
type CampaignVariant struct {
	Name string `json:"name"`
	// Weight is the variant's share of the test group (relative).
	Weight int `json:"weight"`
	// Messages are LINE message objects (text, flex...). "{{link}}" in them
	// becomes the variant's tracked link to Link.
	Messages []json.RawMessage `json:"messages"`
	Link     string            `json:"link,omitempty"`
}

// Campaign is one message sent to a segment.
type Campaign struct {
	ID        int64  `json:"id"`
	ShopID    int64  `json:"-"`
	Name      string `json:"name"`
	SegmentID *int64 `json:"segment_id,omitempty"`
	// LineChannelID is the LINE account the campaign is sent from (nil:
	// the shop's primary); it reaches only customers linked on it.
	LineChannelID *int64            `json:"line_channel_id,omitempty"`
	Definition    json.RawMessage   `json:"definition" gorm:"serializer:json;type:text"`
	Variants      []CampaignVariant `json:"variants" gorm:"serializer:json;type:text"`
	TestPercent   int               `json:"test_percent"`
	Winner        string            `json:"winner"`
	CouponCode    string            `json:"coupon_code"`
	Status        string            `json:"status"`
	Reason        string            `json:"reason"`
	ScheduledAt   *time.Time        `json:"scheduled_at,omitempty"`
	StartedAt     *time.Time        `json:"started_at,omitempty"`
	FinishedAt    *time.Time        `json:"finished_at,omitempty"`
	CancelledAt   *time.Time        `json:"cancelled_at,omitempty"`
	Batches       int               `json:"batches"`
	// BatchesDone counts finished batches; HeldFrom is the first batch of
	// the recipients held for an A/B winner (Batches when none are).
	BatchesDone int `json:"batches_done"`
	HeldFrom    int `json:"-"`
	// Delivery is CampaignMulticast or CampaignPush (migration 0052).
	Delivery  string    `json:"delivery"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Variant returns the named variant, or nil.
func (c *Campaign) Variant(name string) *CampaignVariant {
	for i := range c.Variants {
		if c.Variants[i].Name == name {
			return &c.Variants[i]
		}
	}
	return nil
}

// CampaignRecipient is one customer a campaign was meant for.
type CampaignRecipient struct {
	ID            int64
	CampaignID    int64
	ShopID        int64
	CustomerID    int64
	Variant       string
	Batch         int
	Status        string
	Reason        string
	LineUserID    string
	LineRequestID string
	SentAt        *time.Time
	UpdatedAt     time.Time
}

// CampaignBucket places a customer in [0, 10000) for a campaign. It is the
// Go twin of bucketSQL (tests hold them equal): the split is a pure function
// of (campaign, customer), so a restart or a re-run assigns the same variant.
func CampaignBucket(campaignID, customerID int64) int {
	return int(((customerID%1000003)*7919 + (campaignID%1000003)*104729 + (customerID/1000003)*31) % 10000)
}

const bucketSQL = "(((customer_id % 1000003) * 7919 + (campaign_id % 1000003) * 104729 + (customer_id / 1000003) * 31) % 10000)"

// CreateCampaign stores a new campaign.
func (db *DB) CreateCampaign(ctx context.Context, c *Campaign) error {
	now := time.Now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	if c.Status == "" {
		c.Status = CampaignDraft
	}
	if c.Delivery == "" {
		c.Delivery = CampaignMulticast
	}
	if c.Variants == nil {
		c.Variants = []CampaignVariant{}
	}
	if len(c.Definition) == 0 {
		c.Definition = json.RawMessage(`{}`)
	}
	if err := db.WithContext(ctx).Omit("id").Create(c).Error; err != nil {
		return fmt.Errorf("creating campaign: %w", err)
	}
	return nil
}

// Campaign loads a campaign of a shop (shopID 0: any shop, for workers).
func (db *DB) Campaign(ctx context.Context, shopID, id int64) (*Campaign, error) {
	var c Campaign
	q := db.WithContext(ctx).Where("id = ?", id)
	if shopID != 0 {
		q = q.Where("shop_id = ?", shopID)
	}
	if err := q.Take(&c).Error; err != nil {
		return nil, fmt.Errorf("loading campaign %d: %w", id, notFound(err))
	}
	return &c, nil
}

// Campaigns lists a shop's campaigns, newest first.
func (db *DB) Campaigns(ctx context.Context, shopID int64) ([]Campaign, error) {
	out := []Campaign{}
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Order("id DESC").Limit(200).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("listing campaigns: %w", err)
	}
	return out, nil
}

// TransitionCampaign moves a campaign from one of from to status with extra
// columns; false when it was no longer in a from status.
func (db *DB) TransitionCampaign(ctx context.Context, id int64, from []string, to string, cols map[string]any) (bool, error) {
	upd := map[string]any{"status": to, "updated_at": time.Now().UTC()}
	for k, v := range cols {
		upd[k] = v
	}
	res := db.WithContext(ctx).Model(&Campaign{}).Where("id = ? AND status IN ?", id, from).Updates(upd)
	if res.Error != nil {
		return false, fmt.Errorf("moving campaign %d to %s: %w", id, to, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// MaterializeCampaign writes the campaign's recipients from its segment in
// one INSERT … SELECT that also records who cannot be sent to and why,
// splits variants, holds the rest of an A/B test for its winner and numbers
// the batches (one variant per batch, in customer id order; held recipients
// after the test batches, from held_from) — so nothing is updated row by row
// afterwards. It moves the campaign to sending in the same transaction, so a
// crash leaves either nothing or everything, and is a no-op once done.
func (db *DB) MaterializeCampaign(ctx context.Context, shop *Shop, camp *Campaign, n segment.Node, now time.Time) error {
	where, args, err := segmentWhere(shop, n, now)
	if err != nil {
		return err
	}
	return db.Tx(ctx, func(tx *DB) error {
		ok, err := tx.TransitionCampaign(ctx, camp.ID, []string{CampaignScheduled}, CampaignSending, map[string]any{"started_at": now})
		if err != nil || !ok {
			return err
		}
		g := tx.WithContext(ctx)
		// Variant split over the whole audience; beyond the test share, '' (held for the winner).
		testCut := 10000
		if camp.TestPercent > 0 && camp.TestPercent < 100 && len(camp.Variants) > 1 {
			testCut = camp.TestPercent * 100
		}
		total := 0
		for _, v := range camp.Variants {
			total += max(v.Weight, 1)
		}
		var cases []string
		var vargs []any
		acc := 0
		for _, v := range camp.Variants {
			acc += max(v.Weight, 1)
			cases = append(cases, "WHEN "+bucketSQL+" < ? THEN ?")
			vargs = append(vargs, testCut*acc/total, v.Name)
		}
		variant := "CASE " + strings.Join(cases, " ") + " ELSE '' END"
		if len(cases) == 0 {
			variant = "''"
		}
		// The campaign's LINE account: a customer linked on another of the
		// shop's accounts is not reached by it (reason other_line_account).
		// A link without a channel (its channel deleted) is the primary's.
		primary, err := tx.primaryChannelID(ctx, shop.ID)
		if err != nil {
			return err
		}
		chID := primary
		if camp.LineChannelID != nil {
			chID = *camp.LineChannelID
		}
		// l is the customer's live link (at most one: line_links_live_customer).
		gate := `CASE WHEN c.redacted_at IS NOT NULL THEN 'redacted'
  WHEN l.id IS NOT NULL AND COALESCE(l.channel_id, ?) <> ? THEN '` + ReasonOtherLineAccount + `'
  WHEN l.id IS NOT NULL AND l.blocked = ? THEN 'blocked'
  WHEN l.id IS NULL AND EXISTS (SELECT 1 FROM line_links x WHERE x.customer_id = c.id) THEN 'unlinked'
  WHEN l.id IS NULL THEN 'not_linked' ELSE '' END`
		// s: who and why; t: status and the row number within its variant;
		// the outer SELECT turns (held?, variant, row / 500) into batch numbers.
		ins := `INSERT INTO campaign_recipients (campaign_id, shop_id, customer_id, variant, batch, status, reason, line_user_id, line_request_id, updated_at)
SELECT campaign_id, shop_id, customer_id, variant,
  CASE WHEN st = ? THEN -1 ELSE DENSE_RANK() OVER (PARTITION BY st = ? ORDER BY st = ?, variant, (rn - 1) / ?) - 1 END,
  st, reason, line_user_id, '', ? FROM (
  SELECT s.*, CASE WHEN reason <> '' THEN ? WHEN variant = '' THEN ? ELSE ? END AS st,
    ROW_NUMBER() OVER (PARTITION BY reason <> '', variant ORDER BY customer_id) AS rn FROM (
    SELECT campaign_id, customer_id, shop_id, line_user_id, reason, ` + variant + ` AS variant FROM (
      SELECT CAST(? AS BIGINT) AS campaign_id, c.id AS customer_id, c.shop_id, COALESCE(l.line_user_id, '') AS line_user_id, ` + gate + ` AS reason
      FROM customers c LEFT JOIN line_links l ON l.customer_id = c.id AND l.unlinked_at IS NULL
      WHERE ` + where + `) b) s) t
WHERE true ON CONFLICT (campaign_id, customer_id) DO NOTHING`
		all := []any{MsgSkipped, MsgSkipped, RecipientHeld, CampaignBatchSize, now, MsgSkipped, RecipientHeld, MsgQueued}
		all = append(all, vargs...)
		all = append(all, camp.ID, primary, chID, true)
		all = append(all, args...)
		if err := g.Exec(ins, all...).Error; err != nil {
			return fmt.Errorf("materializing recipients of campaign %d: %w", camp.ID, err)
		}
		var nums struct{ Batches, HeldFrom int }
		if err := g.Raw(`SELECT COALESCE(MAX(batch) + 1, 0) AS batches, COALESCE(MIN(CASE WHEN status = ? THEN batch END), MAX(batch) + 1, 0) AS held_from
FROM campaign_recipients WHERE campaign_id = ? AND batch >= 0`, RecipientHeld, camp.ID).Scan(&nums).Error; err != nil {
			return fmt.Errorf("counting batches of campaign %d: %w", camp.ID, err)
		}
		camp.Batches, camp.HeldFrom, camp.Status = nums.Batches, nums.HeldFrom, CampaignSending
		return g.Model(&Campaign{}).Where("id = ?", camp.ID).Updates(map[string]any{"batches": nums.Batches, "held_from": nums.HeldFrom}).Error
	})
}

// ReasonOtherLineAccount is why a campaign skips a customer linked on
// another of the shop's LINE accounts than the one it is sent from.
const ReasonOtherLineAccount = "other_line_account"

// CampaignMessageKind is the message kind of a campaign recipient row: the
// row itself is the campaign message (its status, reason and send time).
const CampaignMessageKind = "campaign"

// campaignSentSince counts the campaign messages sent to customer of shop
// (SQL expressions, their bind parameters in order in args) since a time:
// the campaigns' share of the daily cap. It reaches the customer's row of
// each campaign of the shop that may have sent since then through the
// (campaign_id, customer_id) key, not every campaign row of the customer:
// since migration 0061 the customer index holds no send time (marking a
// batch sent is a HOT update), and a customer of a long-running shop has a
// row for each of its campaigns.
func campaignSentSince(customer, shop string, args []any, since time.Time) (string, []any) {
	q := "(SELECT COUNT(*) FROM campaign_recipients x WHERE x.customer_id = " + customer + " AND x.campaign_id IN (" + campaignsSince(shop) +
		") AND x.status = ? AND x.sent_at >= ?)"
	return q, append(append([]any{}, args...), since.UTC().Add(-finishMargin), MsgSent, since.UTC())
}

// campaignsSince selects the ids of the campaigns of shop (an SQL
// expression) not finished before a time (bind parameter): only those can
// have recipients sent since finishMargin after it. finished_at is set once,
// when a campaign is done (after its last batch) or cancelled (its unsent
// rows are cancelled with it), and never cleared.
func campaignsSince(shop string) string {
	return "SELECT k.id FROM campaigns k WHERE k.shop_id = " + shop + " AND (k.finished_at IS NULL OR k.finished_at >= ?)"
}

// finishMargin is how long before a time a campaign may have finished and
// still have sent since then, by another worker's clock.
const finishMargin = time.Hour

// shopCampaignsSince limits recipient rows (alias r) to the campaigns of a
// shop that were still running at a time (bind parameters: shop id, time),
// read through the (campaign_id, customer_id) key: campaign_recipients has
// no shop index, and a shop's recent campaigns are few.
func shopCampaignsSince(r string) string {
	return r + ".campaign_id IN (SELECT k.id FROM campaigns k WHERE k.shop_id = ? AND k.started_at IS NOT NULL AND (k.finished_at IS NULL OR k.finished_at >= ?))"
}

// settledCampaignMessages are the recipient rows that stand for a message
// (what was mirrored into messages before): settled, and to someone who had
// a LINE link (or sent: a redaction erases the LINE user id afterwards).
const settledCampaignMessages = "r.status IN ('sent', 'skipped', 'failed', 'cancelled') AND (r.line_user_id <> '' OR r.sent_at IS NOT NULL)"

// MessageCount is a count of messages by kind, status and reason.
type MessageCount struct {
	Kind, Status, Reason string
	N                    int64
}

// campaignMessageCounts counts a shop's campaign messages settled in
// [since, until) by status and reason, as the messages rows of kind
// "campaign" used to be counted.
func (db *DB) campaignMessageCounts(ctx context.Context, shopID int64, since, until time.Time) ([]MessageCount, error) {
	var rows []MessageCount
	if err := db.WithContext(ctx).Raw("SELECT ? AS kind, r.status, r.reason, COUNT(*) AS n FROM campaign_recipients r WHERE "+shopCampaignsSince("r")+
		" AND "+settledCampaignMessages+" AND r.updated_at >= ? AND r.updated_at < ? GROUP BY r.status, r.reason",
		CampaignMessageKind, shopID, since.UTC(), since.UTC(), until.UTC()).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("counting campaign messages: %w", err)
	}
	return rows, nil
}

// MessageTotals counts every message by kind and status (Reason empty),
// campaign messages included.
func (db *DB) MessageTotals(ctx context.Context) ([]MessageCount, error) {
	var rows []MessageCount
	if err := db.WithContext(ctx).Raw(`SELECT kind, status, SUM(n) AS n FROM (SELECT kind, status, COUNT(*) AS n FROM messages GROUP BY kind, status
UNION ALL SELECT ? AS kind, r.status, COUNT(*) AS n FROM campaign_recipients r WHERE `+settledCampaignMessages+` GROUP BY r.status) t GROUP BY kind, status`, CampaignMessageKind).
		Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("counting messages: %w", err)
	}
	return rows, nil
}

// CapRule is the daily frequency cap a message or batch is checked
// against: at most Limit non-exempt messages per customer since DayStart,
// where a queued message of a Reserve kind (one that outranks the message
// being checked) due before DayEnd and not expired at Now holds its slot
// already.
type CapRule struct {
	DayStart, DayEnd, Now time.Time
	Limit                 int
	Exempt                []string
	Reserve               []string
}

// sentDayBin is messages_sent_day's leading key (migration 0062, PostgreSQL):
// the day in Japan (UTC+9, no daylight saving; shops' default zone) a
// message was sent, as the index spells it. Probed by day and customer,
// the last days' sends sit together at the index's recent end, whose pages
// stay in memory. messages_customer_sent keeps each customer's whole
// history beside today's, so a batch's 500 probes read a page for every
// few customers across the whole index: about 120 pages of 192 MB a batch
// on a database of 5M messages and 100k customers, most of them from
// outside shared_buffers, half the gate's time.
const sentDayBin = "date_bin('1 day', m.sent_at, TIMESTAMPTZ '2000-01-01 00:00:00+09')"

// sentDays are the days (sentDayBin) a message sent since the day's start
// can carry: from the start's to that of now plus clockSkew; without a now,
// to the day's end or two days on. For a shop in Japan one day, but in the
// last minutes of its day.
func (cr CapRule) sentDays() []time.Time {
	end := cr.Now
	if end.Before(cr.DayStart) {
		end = cr.DayEnd
	}
	if !end.After(cr.DayStart) {
		end = cr.DayStart.Add(48 * time.Hour)
	}
	end = end.Add(clockSkew)
	origin := time.Date(1999, 12, 31, 15, 0, 0, 0, time.UTC) // sentDayBin's: midnight in Japan
	var days []time.Time
	for d := origin.Add(cr.DayStart.Sub(origin).Truncate(24 * time.Hour)); !d.After(end); d = d.Add(24 * time.Hour) {
		days = append(days, d)
	}
	return days
}

// clockSkew is how far ahead of this process's clock another worker's may
// run: a message it sent may carry a time that is still to come here.
const clockSkew = 5 * time.Minute

// capDays are the days capMessagesSQL probes messages_sent_day by: none on
// SQLite, which has no date_bin and keeps messages_customer_sent.
func (db *DB) capDays(cr CapRule) []time.Time {
	if db.Dialect != migrations.Postgres {
		return nil
	}
	return cr.sentDays()
}

// capMessagesSQL counts the messages (alias m) whose column col is who (an
// SQL expression with its arguments whoArgs, bound at each of its places)
// that use up a slot of today's cap under cr: sent since the day's start,
// or queued today for a kind that outranks the message being checked, and
// (with self non-zero) being sent by another worker since sendingSince,
// leaving out message self. One statement, so a message moving from
// sending to sent meanwhile is counted once (the two counts below split
// the messages by status, so none is counted twice).
//
// Two index probes per customer, each reaching only what it counts: the
// sent ones through messages_sent_day on PostgreSQL (days given, one probe
// a day: today's only, kept together at the index's recent end) or
// messages_customer_sent on SQLite (today's only, beside the customer's
// history), the pending ones through messages_customer_pending (migration
// 0059: only queued and sending messages). One probe over both read every
// message of the customer, or a bitmap OR of two indexes per recipient.
// The statuses are literals, not parameters, so a generic plan of a
// prepared statement (and SQLite) can prove the partial indexes apply;
// a queued message is "pending and not sending", not "queued", so that
// messages_due (status = 'queued') cannot be proven to apply: with no queued
// messages in the statistics PostgreSQL chose it, a range scan of every
// message due before the day ends, once per recipient.
//
// days, when given (capDays), are the days in Japan the sent ones can
// carry, for messages_sent_day, which is keyed by customer: a count by
// another column (a friend's) ignores them.
func capMessagesSQL(col, who string, whoArgs []any, cr CapRule, days []time.Time, self int64, sendingSince time.Time) (string, []any) {
	if col != "customer_id" {
		days = nil
	}
	reserve := cr.Reserve
	if len(reserve) == 0 {
		reserve = []string{""} // IN () is not SQL
	}
	notSelf := ""
	if self != 0 {
		notSelf = " AND m.id <> ?"
	}
	// Sent since the day's start: on PostgreSQL (days given) one count per
	// day, each by equality on messages_sent_day's first two columns. With
	// both days in one IN list the planner costed two descents against one
	// into the customer's whole history (messages_customer) and chose that.
	var sent []string
	var args []any
	sentSince := func(dayCond string, dayArgs ...any) {
		sent = append(sent, "(SELECT COUNT(*) FROM messages m WHERE "+dayCond+"m."+col+" = "+who+" AND m.status = '"+MsgSent+"' AND m.sent_at >= ? AND m.kind NOT IN ?"+notSelf+")")
		args = append(append(append(args, dayArgs...), whoArgs...), cr.DayStart.UTC(), cr.Exempt)
		if self != 0 {
			args = append(args, self)
		}
	}
	if len(days) == 0 {
		sentSince("")
	}
	for _, d := range days {
		sentSince(sentDayBin+" = ? AND ", d)
	}
	q := "((" + strings.Join(sent, " + ") + ")"
	q += " + (SELECT COUNT(*) FROM messages m WHERE m." + col + " = " + who + " AND m.status IN ('" + MsgQueued + "', '" + MsgSending + "') AND m.kind NOT IN ?" + notSelf +
		" AND ((m.status <> '" + MsgSending + "' AND m.kind IN ? AND m.scheduled_for < ? AND (m.expires_at IS NULL OR m.expires_at > ?))"
	args = append(append(args, whoArgs...), cr.Exempt)
	if self != 0 {
		args = append(args, self)
	}
	args = append(args, reserve, cr.DayEnd.UTC(), cr.Now.UTC())
	if self != 0 {
		q += " OR (m.status = '" + MsgSending + "' AND m.updated_at >= ?)"
		args = append(args, sendingSince.UTC())
	}
	return q + ")))", args
}

// gateSQL is the reason a recipient r cannot be sent to now, or empty. Each
// check is a scalar subquery on r.customer_id, which PostgreSQL runs as an
// index lookup per row of the batch. EXISTS would not do: the planner may
// answer it with a hashed subplan that reads all of line_links or
// customers once per batch, the plan that collapsed once
// campaign_recipients had statistics (TestGateBatchPlanKeepsIndexes).
// Each subquery appears once, so each runs at most once per recipient, and
// the cap is counted only for those who pass.
//
// The probes read indexes of the exceptions where they can (migration
// 0059), since almost every recipient passes: redaction through
// customers_redacted (the redacted customers only); the link through
// line_links_live_blocked (the customer's live link and its blocked flag,
// index only), which answers blocked or sendable for anyone linked; only
// a customer without a live link takes the lookup of all their links that
// tells unlinked from not linked. A customer has at most one live link
// (line_links_live_customer is unique), so that probe reads the row with
// LIMIT 1 instead of aggregating: an aggregate node rescanned per
// recipient cost about 5 % of the gate.
//
// The campaigns' share of the cap is probed only when another campaign of
// the shop may have sent since the day's start (otherCampaignsSince, one
// lookup per batch): a customer has one recipient row per campaign, and
// this campaign's row is the one being gated (queued, not sent), so with
// no other campaign the count is 0 without a lookup per recipient.
func gateSQL(campaignID int64, cr CapRule, days []time.Time) (string, []any) {
	const me = "r.customer_id"
	link := `COALESCE((SELECT CASE WHEN l.blocked = ? THEN 'blocked' ELSE '' END
  FROM line_links l WHERE l.customer_id = ` + me + ` AND l.unlinked_at IS NULL LIMIT 1),
 (SELECT CASE WHEN COUNT(*) = 0 THEN 'not_linked' ELSE 'unlinked' END
  FROM line_links l WHERE l.customer_id = ` + me + `))`
	capped, capArgs := capMessagesSQL("customer_id", me, nil, cr, days, 0, time.Time{})
	campaigns, campArgs := campaignSentSince(me, "r.shop_id", nil, cr.DayStart)
	q := `CASE
  WHEN (SELECT c.id FROM customers c WHERE c.id = ` + me + ` AND c.redacted_at IS NOT NULL) IS NOT NULL THEN 'redacted'
  ELSE COALESCE(NULLIF(` + link + `, ''), CASE
    WHEN ` + capped + `
      + CASE WHEN ` + otherCampaignsSince() + ` THEN ` + campaigns + ` ELSE 0 END >= ? THEN 'frequency_cap' ELSE '' END) END`
	args := append([]any{true}, capArgs...)
	args = append(append(args, campaignID, cr.DayStart.UTC().Add(-finishMargin), campaignID), campArgs...)
	return q, append(args, cr.Limit)
}

// otherCampaignsSince is true when the shop of a campaign (bind parameters:
// its id, a time, its id again) has another campaign that was not finished
// before that time (campaignsSince). Uncorrelated, so PostgreSQL answers it
// once per statement (an InitPlan).
func otherCampaignsSince() string {
	return "EXISTS (" + campaignsSince("(SELECT o.shop_id FROM campaigns o WHERE o.id = ?)") + " AND k.id <> ?)"
}

// gateSelect reads a batch's queued recipients with the reason each cannot
// be sent to now (empty to send). The campaign and batch are the caller's
// (GateBatch fills them in), not read back 500 times; days are capDays's.
func gateSelect(campaignID int64, batch int, cr CapRule, days []time.Time) (string, []any) {
	gate, gargs := gateSQL(campaignID, cr, days)
	sel := "SELECT r.id, r.shop_id, r.customer_id, r.variant, r.line_user_id, " + gate +
		" AS reason FROM campaign_recipients r WHERE r.campaign_id = ? AND r.batch = ? AND r.status IN ?"
	return sel, append(gargs, campaignID, batch, []string{MsgQueued, MsgSending})
}

// scanGated runs the gate statement and reads its rows (gateSelect's
// columns, in order) into recipients by position. On PostgreSQL outside a
// transaction it goes through pgx itself: gorm's Scan matches every column
// of every row to a field by reflection, and database/sql converts each of
// the 3,000 values of a batch of 500 on its own (about a millisecond of the
// worker's CPU per batch together). gorm still builds the statement
// (placeholders, lists). SQLite, or a transaction's own connection, reads
// through database/sql.
func (db *DB) scanGated(ctx context.Context, q string, args []any) ([]CampaignRecipient, error) {
	if _, ok := db.G.Statement.ConnPool.(*sql.DB); !ok || db.Dialect != migrations.Postgres {
		return scanGatedRows(db.WithContext(ctx).Raw(q, args...))
	}
	stmt := db.G.Session(&gorm.Session{DryRun: true, NewDB: true}).WithContext(ctx).Raw(q, args...).Statement
	if stmt.Error != nil {
		return nil, stmt.Error
	}
	var out []CampaignRecipient
	err := db.withPGX(ctx, func(c *pgx.Conn) error {
		return queryGeneric(ctx, c, stmt.SQL.String(), stmt.Vars, func(rs pgx.Rows) error {
			var err error
			out, err = readGated(rs)
			return err
		})
	})
	return out, err
}

// queryGeneric runs q with args on c under its cached generic plan
// (genericPlanSQL first, in the same pipeline) and hands its rows to read.
func queryGeneric(ctx context.Context, c *pgx.Conn, q string, args []any, read func(pgx.Rows) error) error {
	b := &pgx.Batch{}
	b.Queue(genericPlanSQL)
	b.Queue(q, args...)
	br := c.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	rs, err := br.Query()
	if err != nil {
		return err
	}
	err = read(rs)
	rs.Close()
	if err != nil {
		return err
	}
	if err := rs.Err(); err != nil {
		return err
	}
	return br.Close()
}

// genericPlanSQL, sent in the same pipeline before a prepared statement
// (one implicit transaction up to the Sync, so set_config's is_local lasts
// exactly that long), makes PostgreSQL run the statement's cached generic
// plan, made without sequential scans. The gate's parameters changed its
// estimates enough that the plan cache kept choosing custom plans: the
// whole gate statement planned again for every batch, about a quarter of
// its CPU. Its plan cannot depend on the values (TestGateBatchPlanKeepsIndexes
// checks the generic plan too): each check is a per-row index probe
// whatever they are. On a new shop's database, with no message in the
// statistics, the planner read messages by a sequential scan per recipient
// instead (an empty table is cheap to scan, and so the plan said), a plan
// that stays cached while the table grows; each of those scans also asked
// the kernel for the table's size (an lseek per recipient and probe).
const genericPlanSQL = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true)"

func scanGatedRows(q *gorm.DB) ([]CampaignRecipient, error) {
	rs, err := q.Rows()
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	return readGated(rs)
}

// gatedRows is what readGated needs of pgx's and database/sql's rows.
type gatedRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// readGated reads the gate statement's rows (gateSelect's columns, in
// order) into recipients by position.
func readGated(rs gatedRows) ([]CampaignRecipient, error) {
	out := make([]CampaignRecipient, 0, CampaignBatchSize)
	for rs.Next() {
		out = append(out, CampaignRecipient{})
		r := &out[len(out)-1] // scanned in place: a row of its own would escape to the heap
		if err := rs.Scan(&r.ID, &r.ShopID, &r.CustomerID, &r.Variant, &r.LineUserID, &r.Reason); err != nil {
			return nil, err
		}
	}
	return out, rs.Err()
}

// GatedBatch is one batch after the gate: who to send to now, and how many
// were skipped by this call.
type GatedBatch struct {
	Send    []CampaignRecipient
	Skipped int
	// Progress is the campaign as this call counted the batch finished
	// (every recipient skipped); nil when it did not.
	Progress *CampaignProgress
}

// CampaignProgress is what decides whether a sending campaign is finished,
// as read back by the statement that counted a batch: the count returned by
// the last batch's update includes every batch counted before it, so the
// caller settles the campaign without reading its row again.
type CampaignProgress struct {
	Status, Winner                 string
	Batches, HeldFrom, BatchesDone int
}

// Progress is the campaign's CampaignProgress.
func (c *Campaign) Progress() CampaignProgress {
	return CampaignProgress{Status: c.Status, Winner: c.Winner, Batches: c.Batches, HeldFrom: c.HeldFrom, BatchesDone: c.BatchesDone}
}

// GateBatch re-checks a batch's queued recipients (redacted, unlinked,
// blocked, today's cap) just before sending: it marks the ones that cannot
// be sent to as skipped with the reason and returns the rest. There is no
// "sending" write: if the worker dies after LINE took the batch, the retry
// finds the same rows queued and the same retry key makes LINE answer 409
// instead of sending again. A batch that this call skips entirely counts
// as finished on the campaign row.
//
// The read is one statement and the skips (rare: the segment chose these
// customers minutes ago) are written after it by id, only where a row is
// still queued, so a row settled meanwhile by another run of the batch
// keeps its outcome; no transaction needs to hold the two together.
// Writing the skips in the read's own statement (a data-modifying WITH over
// the materialised read) cost every batch 10–20 % more gate time for the
// few that skip anyone.
func (db *DB) GateBatch(ctx context.Context, campaignID int64, batch int, cr CapRule, now time.Time) (*GatedBatch, error) {
	sel, args := gateSelect(campaignID, batch, cr, db.capDays(cr))
	rows, err := db.scanGated(ctx, sel, args)
	if err != nil {
		return nil, fmt.Errorf("gating batch %d of campaign %d: %w", batch, campaignID, err)
	}
	// In customer order, sorted here: with ORDER BY in the statement the
	// planner could read the batch through the (campaign_id, customer_id)
	// key, already in that order, with the batch as a filter — every
	// recipient of the campaign for each batch — and the per-recipient
	// probes' cost, the same either way, dwarfed the scans' difference.
	slices.SortFunc(rows, func(a, b CampaignRecipient) int { return cmp.Compare(a.CustomerID, b.CustomerID) })
	out := &GatedBatch{Send: rows[:0]} // filtered in place
	byReason := map[string][]int64{}
	for _, r := range rows {
		if r.Reason != "" {
			byReason[r.Reason] = append(byReason[r.Reason], r.ID)
			continue
		}
		r.CampaignID, r.Batch, r.Status = campaignID, batch, MsgQueued
		out.Send = append(out.Send, r)
	}
	for reason, ids := range byReason {
		res := db.WithContext(ctx).Model(&CampaignRecipient{}).Where("id IN ? AND status IN ?", ids, []string{MsgQueued, MsgSending}).
			Updates(map[string]any{"status": MsgSkipped, "reason": reason, "updated_at": now})
		if res.Error != nil {
			return nil, fmt.Errorf("skipping recipients of campaign %d: %w", campaignID, res.Error)
		}
		out.Skipped += int(res.RowsAffected)
	}
	if len(out.Send) == 0 && out.Skipped > 0 {
		if out.Progress, err = db.batchDone(ctx, campaignID, QuotaUse{}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// batchDone counts a finished batch on the campaign row in its own short
// statement, after the recipients' update: every batch updates this one
// row, and holding its lock through the recipients' write (or through that
// write's commit) serialised the workers. On PostgreSQL the count commits
// asynchronously (asyncCommitFrom), so the row is not held while the WAL is
// flushed either. A count lost to a crash in between (or to a database
// crash within the async-commit window) only delays the campaign's end to
// the sweep (Settle with force), which reads the recipients themselves.
//
// It returns the campaign's progress after the count (nil when the campaign
// row is gone), so settling the campaign needs no second read of the row.
//
// A non-zero use is added to its channel's cached quota count in the same
// statement on PostgreSQL (a data-modifying WITH; one round trip for both
// counters, both hot rows committed asynchronously): that count is a
// forecast replaced by the next reading from LINE.
func (db *DB) batchDone(ctx context.Context, campaignID int64, use QuotaUse) (*CampaignProgress, error) {
	q := "UPDATE campaigns SET batches_done = batches_done + 1, updated_at = ?" + db.asyncCommitFrom() +
		" WHERE id = ? RETURNING status, winner, batches, held_from, batches_done"
	args := []any{time.Now().UTC(), campaignID}
	if use.N > 0 {
		if db.Dialect == migrations.Postgres {
			q = "WITH quota AS (UPDATE line_channel_quotas SET used = used + ? WHERE channel_id = ?) " + q
			args = append([]any{use.N, use.ChannelID}, args...)
		} else if err := db.AddChannelQuotaUse(ctx, use.ChannelID, use.N); err != nil {
			return nil, err
		}
	}
	var ps []CampaignProgress
	if err := db.WithContext(ctx).Raw(q, args...).Scan(&ps).Error; err != nil {
		return nil, fmt.Errorf("counting a finished batch of campaign %d: %w", campaignID, err)
	}
	if len(ps) == 0 {
		return nil, nil
	}
	return &ps[0], nil
}

// FinishBatch records a batch's outcome (sent, failed or skipped) on the
// given recipients by id in one statement — or, with ids nil, on every
// recipient of the batch still queued — and then counts the batch as
// finished on the campaign row when it settled anyone. The recipient row is the
// campaign message: timelines, reports and the daily cap read it
// (CampaignMessageKind), so no messages row is written per recipient. The
// progress it returns is the campaign's after the count; nil when this call
// settled no one (a retry) or the campaign is gone.
func (db *DB) FinishBatch(ctx context.Context, campaignID int64, batch int, ids []int64, status, reason, requestID string, now time.Time) (*CampaignProgress, error) {
	return db.FinishBatchUsing(ctx, campaignID, batch, ids, status, reason, requestID, now, QuotaUse{})
}

// QuotaUse is a number of messages LINE accepted on a channel, to count
// against the channel's cached monthly quota.
type QuotaUse struct{ ChannelID, N int64 }

// FinishBatchUsing is FinishBatch for a batch LINE accepted: use is added
// to the channel's quota count by the statement that counts the batch (one
// round trip less per batch than AddChannelQuotaUse on its own), or on its
// own when this call settled no one.
func (db *DB) FinishBatchUsing(ctx context.Context, campaignID int64, batch int, ids []int64, status, reason, requestID string, now time.Time, use QuotaUse) (*CampaignProgress, error) {
	n, err := db.settleRecipients(ctx, campaignID, batch, ids, status, reason, requestID, now)
	if err != nil {
		return nil, fmt.Errorf("settling batch %d of campaign %d: %w", batch, campaignID, err)
	}
	if n == 0 { // settled before (a retry)
		if use.N > 0 {
			return nil, db.AddChannelQuotaUse(ctx, use.ChannelID, use.N)
		}
		return nil, nil
	}
	return db.batchDone(ctx, campaignID, use)
}

// settleRecipients is FinishBatch's recipient update. The batch number is
// always in the WHERE, so campaign_recipients_batch reaches the batch's own
// rows (at most 500) whichever index the planner picks: with the campaign
// id alone as its index condition and the ids as a filter, every batch read
// all of the campaign's recipients (the send phase's 4 req/s of issue 16).
// On PostgreSQL the ids are one array parameter, not 500.
func (db *DB) settleRecipients(ctx context.Context, campaignID int64, batch int, ids []int64, status, reason, requestID string, now time.Time) (int64, error) {
	var sentAt *time.Time
	if status == MsgSent {
		sentAt = &now
	}
	if db.Dialect == migrations.Postgres {
		res, err := db.WithContext(ctx).Statement.ConnPool.ExecContext(ctx, settleRecipientsSQL, status, reason, now, requestID, sentAt,
			campaignID, batch, []string{MsgQueued, MsgSending}, ids, ids == nil)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	cols := map[string]any{"status": status, "reason": reason, "updated_at": now, "line_request_id": requestID}
	if sentAt != nil {
		cols["sent_at"] = now
	}
	q := db.WithContext(ctx).Model(&CampaignRecipient{}).Where("campaign_id = ? AND batch = ? AND status IN ?", campaignID, batch, []string{MsgQueued, MsgSending})
	if ids != nil {
		q = q.Where("id IN ?", ids)
	}
	res := q.Updates(cols)
	return res.RowsAffected, res.Error
}

// settleRecipientsSQL updates the recipients ($9 the ids, or every queued
// recipient of the batch when $10) and reports how many it settled: 0 when
// the batch was settled before. It commits synchronously (the recipient
// row is the campaign message); the campaign row's count follows in its own
// statement (batchDone).
const settleRecipientsSQL = `UPDATE campaign_recipients SET status = $1, reason = $2, updated_at = $3, line_request_id = $4, sent_at = COALESCE($5, sent_at)
  WHERE campaign_id = $6 AND batch = $7 AND status = ANY ($8::text[]) AND ($10 OR id = ANY ($9::bigint[]))`

// HasOpenBatches reports whether any recipient still waits to be sent.
func (db *DB) HasOpenBatches(ctx context.Context, campaignID int64) (bool, error) {
	var ids []int64
	err := db.WithContext(ctx).Raw("SELECT id FROM campaign_recipients WHERE campaign_id = ? AND status IN (?, ?) AND batch >= 0 LIMIT 1",
		campaignID, MsgQueued, MsgSending).Scan(&ids).Error
	if err != nil {
		return false, fmt.Errorf("checking open batches of campaign %d: %w", campaignID, err)
	}
	return len(ids) > 0, nil
}

// OpenBatches lists batch numbers that still have recipients to send.
func (db *DB) OpenBatches(ctx context.Context, campaignID int64) ([]int, error) {
	var bs []int
	err := db.WithContext(ctx).Raw("SELECT DISTINCT batch FROM campaign_recipients WHERE campaign_id = ? AND status IN (?, ?) AND batch >= 0 ORDER BY batch",
		campaignID, MsgQueued, MsgSending).Scan(&bs).Error
	if err != nil {
		return nil, fmt.Errorf("listing open batches of campaign %d: %w", campaignID, err)
	}
	return bs, nil
}

// CancelCampaign stops a campaign: unsent recipients become cancelled.
// A batch already handed to LINE still completes.
func (db *DB) CancelCampaign(ctx context.Context, shopID, id int64, now time.Time) (bool, error) {
	var moved bool
	err := db.Tx(ctx, func(tx *DB) error {
		var err error
		moved, err = tx.TransitionCampaign(ctx, id, []string{CampaignDraft, CampaignScheduled, CampaignSending, CampaignWaitingWinner},
			CampaignCancelled, map[string]any{"cancelled_at": now, "finished_at": now})
		if err != nil || !moved {
			return err
		}
		if err := tx.WithContext(ctx).Model(&CampaignRecipient{}).Where("campaign_id = ? AND status IN ?", id, []string{MsgQueued, RecipientHeld}).
			Updates(map[string]any{"status": MsgCancelled, "reason": ReasonCampaignCancelled, "updated_at": now}).Error; err != nil {
			return fmt.Errorf("cancelling recipients of campaign %d: %w", id, err)
		}
		return nil
	})
	return moved, err
}

// ReleaseHeld sends the held part of an A/B campaign with the winner. The
// held recipients were numbered into batches when the campaign started.
func (db *DB) ReleaseHeld(ctx context.Context, camp *Campaign, winner string, now time.Time) error {
	return db.Tx(ctx, func(tx *DB) error {
		ok, err := tx.TransitionCampaign(ctx, camp.ID, []string{CampaignWaitingWinner, CampaignSending}, CampaignSending, map[string]any{"winner": winner})
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("campaign %d is not waiting for a winner: %w", camp.ID, ErrNotFound)
		}
		if err := tx.WithContext(ctx).Model(&CampaignRecipient{}).Where("campaign_id = ? AND status = ?", camp.ID, RecipientHeld).
			Updates(map[string]any{"status": MsgQueued, "variant": winner, "updated_at": now}).Error; err != nil {
			return fmt.Errorf("releasing held recipients of campaign %d: %w", camp.ID, err)
		}
		return nil
	})
}

// HasHeld reports whether recipients of the campaign wait for an A/B winner.
func (db *DB) HasHeld(ctx context.Context, campaignID int64) (bool, error) {
	var ids []int64
	if err := db.WithContext(ctx).Raw("SELECT id FROM campaign_recipients WHERE campaign_id = ? AND status = ? LIMIT 1", campaignID, RecipientHeld).
		Scan(&ids).Error; err != nil {
		return false, fmt.Errorf("checking held recipients of campaign %d: %w", campaignID, err)
	}
	return len(ids) > 0, nil
}

// RecipientCount is a count of recipients by variant, status and reason.
type RecipientCount struct {
	Variant string `json:"variant"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	N       int64  `json:"n"`
}

// CampaignCounts groups a campaign's recipients for progress and reports.
func (db *DB) CampaignCounts(ctx context.Context, campaignID int64) ([]RecipientCount, error) {
	out := []RecipientCount{}
	err := db.WithContext(ctx).Raw(`SELECT variant, status, reason, COUNT(*) AS n FROM campaign_recipients WHERE campaign_id = ?
GROUP BY variant, status, reason ORDER BY variant, status, reason`, campaignID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("counting recipients of campaign %d: %w", campaignID, err)
	}
	return out, nil
}

// CampaignRecipients lists recipients (tests, exports).
func (db *DB) CampaignRecipients(ctx context.Context, campaignID int64) ([]CampaignRecipient, error) {
	var rs []CampaignRecipient
	if err := db.WithContext(ctx).Where("campaign_id = ?", campaignID).Order("customer_id").Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("listing recipients of campaign %d: %w", campaignID, err)
	}
	return rs, nil
}

// CampaignTaskKey is the deterministic key of one batch: its Asynq task id
// stem and, through line.RetryKey, its X-Line-Retry-Key.
func CampaignTaskKey(campaignID int64, batch int) string {
	return "campaign:" + strconv.FormatInt(campaignID, 10) + ":batch:" + strconv.Itoa(batch)
}

// CampaignsToResume lists campaigns that should be running by now: scheduled
// ones past their time and ones still sending. The hourly sweep re-enqueues
// them, so a campaign survives Redis losing its tasks.
func (db *DB) CampaignsToResume(ctx context.Context, now time.Time) ([]int64, error) {
	var ids []int64
	err := db.WithContext(ctx).Model(&Campaign{}).
		Where("(status = ? AND scheduled_at <= ?) OR status = ?", CampaignScheduled, now.UTC(), CampaignSending).
		Order("id").Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("listing campaigns to resume: %w", err)
	}
	return ids, nil
}

// SettleRecipient records one recipient's outcome (a campaign sent per
// recipient) without counting the batch: the batch's last recipient goes
// through FinishBatch, which does.
func (db *DB) SettleRecipient(ctx context.Context, campaignID int64, batch int, id int64, status, reason, requestID string, now time.Time) error {
	cols := map[string]any{"status": status, "reason": reason, "updated_at": now, "line_request_id": requestID}
	if status == MsgSent {
		cols["sent_at"] = now
	}
	err := db.WithContext(ctx).Model(&CampaignRecipient{}).
		Where("id = ? AND campaign_id = ? AND batch = ? AND status IN ?", id, campaignID, batch, []string{MsgQueued, MsgSending}).Updates(cols).Error
	if err != nil {
		return fmt.Errorf("settling recipient %d of campaign %d: %w", id, campaignID, err)
	}
	return nil
}

// CampaignRecipientByID is one recipient row of campaign campaignID.
func (db *DB) CampaignRecipientByID(ctx context.Context, campaignID, id int64) (*CampaignRecipient, error) {
	var r CampaignRecipient
	if err := db.WithContext(ctx).Where("id = ? AND campaign_id = ?", id, campaignID).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("loading recipient %d of campaign %d: %w", id, campaignID, notFound(err))
	}
	return &r, nil
}
