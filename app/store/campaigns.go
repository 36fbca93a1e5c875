package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
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
	ID          int64             `json:"id"`
	ShopID      int64             `json:"-"`
	Name        string            `json:"name"`
	SegmentID   *int64            `json:"segment_id,omitempty"`
	Definition  json.RawMessage   `json:"definition" gorm:"serializer:json;type:text"`
	Variants    []CampaignVariant `json:"variants" gorm:"serializer:json;type:text"`
	TestPercent int               `json:"test_percent"`
	Winner      string            `json:"winner"`
	CouponCode  string            `json:"coupon_code"`
	Status      string            `json:"status"`
	Reason      string            `json:"reason"`
	ScheduledAt *time.Time        `json:"scheduled_at,omitempty"`
	StartedAt   *time.Time        `json:"started_at,omitempty"`
	FinishedAt  *time.Time        `json:"finished_at,omitempty"`
	CancelledAt *time.Time        `json:"cancelled_at,omitempty"`
	Batches     int               `json:"batches"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
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

// MaterializeCampaign writes the campaign's recipients from its segment,
// records who cannot be sent to and why, splits variants, numbers batches
// and moves the campaign to sending — all in one transaction, so a crash
// leaves either nothing or everything. It is a no-op once done.
func (db *DB) MaterializeCampaign(ctx context.Context, shop *Shop, camp *Campaign, n SegmentNode, now time.Time) error {
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
		ins := `INSERT INTO campaign_recipients (campaign_id, shop_id, customer_id, variant, batch, status, reason, line_user_id, line_request_id, updated_at)
SELECT ?, c.shop_id, c.id, '', -1, ?, '', COALESCE(l.line_user_id, ''), '', ? FROM customers c
LEFT JOIN line_links l ON l.customer_id = c.id AND l.unlinked_at IS NULL
WHERE ` + where + ` ON CONFLICT (campaign_id, customer_id) DO NOTHING`
		if err := g.Exec(ins, append([]any{camp.ID, MsgQueued, now}, args...)...).Error; err != nil {
			return fmt.Errorf("materializing recipients of campaign %d: %w", camp.ID, err)
		}
		if err := tx.skipUnsendable(ctx, camp.ID, -1, nil, now); err != nil {
			return err
		}
		// Variant split over the whole audience; beyond the test share, hold for the winner.
		testCut := 10000
		if camp.TestPercent > 0 && camp.TestPercent < 100 && len(camp.Variants) > 1 {
			testCut = camp.TestPercent * 100
		}
		total := 0
		for _, v := range camp.Variants {
			total += max(v.Weight, 1)
		}
		var cases []string
		var cargs []any
		acc := 0
		for _, v := range camp.Variants {
			acc += max(v.Weight, 1)
			cases = append(cases, "WHEN "+bucketSQL+" < ? THEN ?")
			cargs = append(cargs, testCut*acc/total, v.Name)
		}
		setVariant := "UPDATE campaign_recipients SET variant = CASE " + strings.Join(cases, " ") + " ELSE '' END WHERE campaign_id = ?"
		if err := g.Exec(setVariant, append(cargs, camp.ID)...).Error; err != nil {
			return fmt.Errorf("splitting variants of campaign %d: %w", camp.ID, err)
		}
		if err := g.Exec("UPDATE campaign_recipients SET status = ? WHERE campaign_id = ? AND variant = '' AND status = ?",
			RecipientHeld, camp.ID, MsgQueued).Error; err != nil {
			return fmt.Errorf("holding recipients of campaign %d: %w", camp.ID, err)
		}
		batches, err := tx.numberBatches(ctx, camp.ID, 0)
		if err != nil {
			return err
		}
		camp.Batches = batches
		camp.Status = CampaignSending
		return g.Model(&Campaign{}).Where("id = ?", camp.ID).Update("batches", batches).Error
	})
}

// numberBatches gives queued, unbatched recipients batch numbers from
// first, one variant per batch, in customer id order; it returns the new
// total number of batches.
func (db *DB) numberBatches(ctx context.Context, campaignID int64, first int) (int, error) {
	g := db.WithContext(ctx)
	var variants []string
	if err := g.Raw("SELECT DISTINCT variant FROM campaign_recipients WHERE campaign_id = ? AND status = ? AND batch = -1 ORDER BY variant",
		campaignID, MsgQueued).Scan(&variants).Error; err != nil {
		return 0, fmt.Errorf("listing variants of campaign %d: %w", campaignID, err)
	}
	next := first
	for _, v := range variants {
		var ids []int64
		if err := g.Raw("SELECT customer_id FROM campaign_recipients WHERE campaign_id = ? AND status = ? AND batch = -1 AND variant = ? ORDER BY customer_id",
			campaignID, MsgQueued, v).Scan(&ids).Error; err != nil {
			return 0, fmt.Errorf("listing recipients of campaign %d: %w", campaignID, err)
		}
		// Ranges of customer ids, 500 at a time: plain indexed updates
		// whose plan cannot go wrong on freshly inserted rows.
		for k := 0; k*CampaignBatchSize < len(ids); k++ {
			lo, hi := ids[k*CampaignBatchSize], ids[min((k+1)*CampaignBatchSize, len(ids))-1]
			if err := g.Exec("UPDATE campaign_recipients SET batch = ? WHERE campaign_id = ? AND status = ? AND batch = -1 AND variant = ? AND customer_id BETWEEN ? AND ?",
				next, campaignID, MsgQueued, v, lo, hi).Error; err != nil {
				return 0, fmt.Errorf("numbering batches of campaign %d: %w", campaignID, err)
			}
			next++
		}
	}
	return next, nil
}

// capRule is the daily frequency cap check for skipUnsendable.
type capRule struct {
	dayStart time.Time
	limit    int
	exempt   []string
}

// skipUnsendable marks queued recipients (of one batch, or batch -1: the
// unbatched) who are redacted, unlinked, blocked or (with cr) at today's cap
// as skipped with the reason, in one statement.
func (db *DB) skipUnsendable(ctx context.Context, campaignID int64, batch int, cr *capRule, now time.Time) error {
	// Correlated EXISTS keeps each check to index lookups for the batch's
	// rows; the reason is computed again in SET only for the few skipped.
	const me = "campaign_recipients.customer_id"
	const live = "SELECT 1 FROM line_links l WHERE l.customer_id = " + me + " AND l.unlinked_at IS NULL"
	reason := `CASE
  WHEN EXISTS (SELECT 1 FROM customers c WHERE c.id = ` + me + ` AND c.redacted_at IS NOT NULL) THEN 'redacted'
  WHEN EXISTS (` + live + ` AND l.blocked = ?) THEN 'blocked'
  WHEN NOT EXISTS (` + live + `) AND EXISTS (SELECT 1 FROM line_links l WHERE l.customer_id = ` + me + `) THEN 'unlinked'
  WHEN NOT EXISTS (` + live + `) THEN 'not_linked'`
	rargs := []any{true}
	if cr != nil {
		reason += `
  WHEN (SELECT COUNT(*) FROM messages m WHERE m.customer_id = ` + me + ` AND m.status = ? AND m.sent_at >= ? AND m.kind NOT IN ?) >= ? THEN 'frequency_cap'`
		rargs = append(rargs, MsgSent, cr.dayStart.UTC(), cr.exempt, cr.limit)
	}
	reason += " END"
	q := "UPDATE campaign_recipients SET status = ?, updated_at = ?, reason = " + reason +
		" WHERE campaign_id = ? AND batch = ? AND status = ? AND " + reason + " IS NOT NULL"
	args := append([]any{MsgSkipped, now}, rargs...)
	args = append(args, campaignID, batch, MsgQueued)
	args = append(args, rargs...)
	if err := db.WithContext(ctx).Exec(q, args...).Error; err != nil {
		return fmt.Errorf("skipping unsendable recipients of campaign %d: %w", campaignID, err)
	}
	return nil
}

// PrepareBatch re-checks a batch's queued recipients (gate and daily cap)
// just before sending and returns the ones still to send.
func (db *DB) PrepareBatch(ctx context.Context, campaignID int64, batch int, capDayStart time.Time, dailyCap int, exemptKinds []string, now time.Time) ([]CampaignRecipient, error) {
	if err := db.skipUnsendable(ctx, campaignID, batch, &capRule{capDayStart, dailyCap, exemptKinds}, now); err != nil {
		return nil, err
	}
	// No intermediate "sending" write: if the worker dies after LINE took the
	// batch, the retry finds the same rows queued and the same retry key
	// makes LINE answer 409 instead of sending again.
	var rs []CampaignRecipient
	err := db.WithContext(ctx).Where("campaign_id = ? AND batch = ? AND status IN ?", campaignID, batch, []string{MsgQueued, MsgSending}).
		Order("customer_id").Find(&rs).Error
	if err != nil {
		return nil, fmt.Errorf("loading batch %d of campaign %d: %w", batch, campaignID, err)
	}
	return rs, nil
}

// FinishBatch records a batch's outcome (sent or failed) and mirrors every
// settled recipient of the batch into messages, so timelines and the
// journeys' frequency cap see campaign sends.
func (db *DB) FinishBatch(ctx context.Context, shopID, campaignID int64, batch int, status, reason, requestID string, now time.Time) error {
	return db.Tx(ctx, func(tx *DB) error {
		g := tx.WithContext(ctx)
		cols := map[string]any{"status": status, "reason": reason, "updated_at": now, "line_request_id": requestID}
		if status == MsgSent {
			cols["sent_at"] = now
		}
		if err := g.Model(&CampaignRecipient{}).Where("campaign_id = ? AND batch = ? AND status IN ?", campaignID, batch, []string{MsgQueued, MsgSending}).
			Updates(cols).Error; err != nil {
			return fmt.Errorf("settling batch %d of campaign %d: %w", batch, campaignID, err)
		}
		return tx.mirrorMessages(ctx, campaignID, "batch = ?", []any{batch}, now)
	})
}

func (db *DB) mirrorMessages(ctx context.Context, campaignID int64, cond string, args []any, now time.Time) error {
	q := `INSERT INTO messages (shop_id, customer_id, kind, dedupe_key, ref_type, ref_id, campaign_id, line_user_id, scheduled_for,
  status, reason, content, line_request_id, attempts, sent_at, created_at, updated_at)
SELECT r.shop_id, r.customer_id, 'campaign', 'campaign:' || r.campaign_id || ':' || r.customer_id, 'campaign', r.campaign_id, r.campaign_id,
  r.line_user_id, ?, r.status, r.reason, '', r.line_request_id, 1, r.sent_at, ?, ?
FROM campaign_recipients r WHERE r.campaign_id = ? AND r.status IN (?, ?, ?, ?) AND r.line_user_id <> '' AND r.` + cond + `
ON CONFLICT (dedupe_key) DO NOTHING`
	all := append([]any{now, now, now, campaignID, MsgSent, MsgSkipped, MsgFailed, MsgCancelled}, args...)
	if err := db.WithContext(ctx).Exec(q, all...).Error; err != nil {
		return fmt.Errorf("recording messages of campaign %d: %w", campaignID, err)
	}
	return nil
}

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
		return tx.mirrorMessages(ctx, id, "status = ?", []any{MsgCancelled}, now)
	})
	return moved, err
}

// ReleaseHeld sends the held part of an A/B campaign with the winner.
func (db *DB) ReleaseHeld(ctx context.Context, camp *Campaign, winner string, now time.Time) (int, error) {
	var batches int
	err := db.Tx(ctx, func(tx *DB) error {
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
		if batches, err = tx.numberBatches(ctx, camp.ID, camp.Batches); err != nil {
			return err
		}
		return tx.WithContext(ctx).Model(&Campaign{}).Where("id = ?", camp.ID).Update("batches", batches).Error
	})
	return batches, err
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
	return "campaign:" + itoa(campaignID) + ":batch:" + itoa(int64(batch))
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
