package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// CampaignBatches decides how one batch of a sending campaign goes: whether
// it waits (quiet hours), who in it may still be sent to, what a LINE answer
// means for it, and when the campaign is finished. The task handler only
// renders, multicasts and enqueues.
type CampaignBatches struct {
	DB  *store.DB
	Now func() time.Time
}

// BatchPlan is what to do with one batch now. Nothing to do when Send is
// empty and DeferUntil is zero.
type BatchPlan struct {
	Camp  *store.Campaign
	Shop  *store.Shop
	Batch int
	// DeferUntil is set when the batch must wait (quiet hours).
	DeferUntil time.Time
	// Send are the recipients to multicast to, all of Variant.
	Send    []store.CampaignRecipient
	Variant *store.CampaignVariant
}

// To lists the plan's LINE user ids.
func (p *BatchPlan) To() []string {
	to := make([]string, len(p.Send))
	for i, r := range p.Send {
		to[i] = r.LineUserID
	}
	return to
}

func (p *BatchPlan) ids() []int64 {
	ids := make([]int64, len(p.Send))
	for i, r := range p.Send {
		ids[i] = r.ID
	}
	return ids
}

// Plan loads a batch and gates it: a campaign no longer sending has nothing
// to do; in quiet hours the batch waits; otherwise the recipients that can
// no longer be sent to (unlinked, blocked, redacted, at today's cap) are
// skipped with their reason and the rest are returned to send. A batch left
// empty settles the campaign.
func (s *CampaignBatches) Plan(ctx context.Context, id int64, batch int) (*BatchPlan, error) {
	camp, err := s.DB.Campaign(ctx, 0, id)
	if errors.Is(err, store.ErrNotFound) {
		return &BatchPlan{Batch: batch}, nil
	}
	if err != nil {
		return nil, err
	}
	p := &BatchPlan{Camp: camp, Batch: batch}
	if camp.Status != store.CampaignSending {
		return p, nil // cancelled (the cancel marked the rows) or finished
	}
	if p.Shop, err = s.DB.Shop(ctx, camp.ShopID); err != nil {
		return nil, err
	}
	now := s.Now()
	start, end := p.Shop.Settings.Quiet()
	if next, quiet := QuietUntil(now, p.Shop.Location(), start, end); quiet {
		p.DeferUntil = next
		return p, nil
	}
	g, err := s.DB.GateBatch(ctx, id, batch, DailyCapRule(p.Shop, store.CampaignMessageKind, now), now)
	if err != nil {
		return nil, err
	}
	if len(g.Send) == 0 {
		return p, s.settleAfter(ctx, id, g.Progress)
	}
	p.Send = g.Send
	if p.Variant = camp.Variant(g.Send[0].Variant); p.Variant == nil {
		return p, s.Finish(ctx, p, store.MsgFailed, "unknown variant "+g.Send[0].Variant, "")
	}
	return p, nil
}

// Finish records the batch's outcome on its recipients (all of the batch
// still queued when the plan was not gated, e.g. no channel) and settles
// the campaign.
func (s *CampaignBatches) Finish(ctx context.Context, p *BatchPlan, status, reason, requestID string) error {
	return s.FinishUsing(ctx, p, status, reason, requestID, store.QuotaUse{})
}

// FinishUsing is Finish for a batch LINE accepted, counting use against
// the channel's cached quota in the same round trip as the batch.
func (s *CampaignBatches) FinishUsing(ctx context.Context, p *BatchPlan, status, reason, requestID string, use store.QuotaUse) error {
	var ids []int64
	if len(p.Send) > 0 {
		ids = p.ids()
	}
	prog, err := s.DB.FinishBatchUsing(ctx, p.Camp.ID, p.Batch, ids, status, reason, requestID, s.Now(), use)
	if err != nil {
		return err
	}
	return s.settleAfter(ctx, p.Camp.ID, prog)
}

// settleAfter settles the campaign after a batch was counted finished, from
// the progress that count returned (no read of the campaign row: one round
// trip less per batch); with none (nothing was counted) it reads the row.
func (s *CampaignBatches) settleAfter(ctx context.Context, id int64, prog *store.CampaignProgress) error {
	if prog == nil {
		return s.Settle(ctx, id, false)
	}
	return s.settle(ctx, id, *prog, false)
}

// MulticastOutcome is what a multicast's answer means for its batch.
type MulticastOutcome struct {
	// Status and Reason settle the batch; Status "" means retry the task.
	Status, Reason, RequestID string
	// MonthlyLimit: LINE refused for the month; marketing stops.
	MonthlyLimit bool
	// Delivered: LINE accepted this request (count it against the quota).
	Delivered bool
}

// Outcome reads a multicast's answer: sent (a 409 for our own retry key is
// the earlier accepted request), skipped for the month on LINE's monthly
// limit, failed when LINE refuses for good or on the task's last attempt,
// and otherwise retried.
func Outcome(res line.SendResult, err error, lastAttempt bool) MulticastOutcome {
	switch {
	case err == nil && res.Duplicate:
		return MulticastOutcome{Status: store.MsgSent, RequestID: res.AcceptedRequestID}
	case err == nil:
		return MulticastOutcome{Status: store.MsgSent, RequestID: res.RequestID, Delivered: true}
	case line.IsMonthlyLimit(err):
		return MulticastOutcome{Status: store.MsgSkipped, Reason: ReasonMonthlyLimit, MonthlyLimit: true}
	}
	var apiErr *line.APIError
	if errors.As(err, &apiErr) && !apiErr.Retryable() || lastAttempt {
		return MulticastOutcome{Status: store.MsgFailed, Reason: FailReason(err)}
	}
	return MulticastOutcome{}
}

// FailReason is the recorded reason of a send LINE refused or that failed.
func FailReason(err error) string {
	var apiErr *line.APIError
	if errors.As(err, &apiErr) {
		s := fmt.Sprintf("LINE %d: %s", apiErr.Status, apiErr.Message)
		if len(apiErr.Details) > 0 {
			s += " (" + strings.Join(apiErr.Details, "; ") + ")"
		}
		return s
	}
	return "send error: " + err.Error()
}

// Settle finishes a campaign with nothing left to send, or parks an A/B
// test waiting for its winner. The campaign row's count of finished batches
// answers "not yet" without reading the recipients; force (a sweep that
// found no open batch) skips that shortcut.
func (s *CampaignBatches) Settle(ctx context.Context, id int64, force bool) error {
	camp, err := s.DB.Campaign(ctx, 0, id)
	if err != nil {
		return err
	}
	return s.settle(ctx, id, camp.Progress(), force)
}

func (s *CampaignBatches) settle(ctx context.Context, id int64, camp store.CampaignProgress, force bool) error {
	if camp.Status != store.CampaignSending {
		return nil
	}
	need := camp.Batches
	if camp.Winner == "" {
		need = camp.HeldFrom
	}
	if !force && camp.BatchesDone < need {
		return nil
	}
	open, err := s.DB.HasOpenBatches(ctx, id)
	if err != nil || open {
		return err
	}
	held, err := s.DB.HasHeld(ctx, id)
	if err != nil {
		return err
	}
	if held {
		_, err = s.DB.TransitionCampaign(ctx, id, []string{store.CampaignSending}, store.CampaignWaitingWinner, nil)
		return err
	}
	_, err = s.DB.TransitionCampaign(ctx, id, []string{store.CampaignSending}, store.CampaignDone, map[string]any{"finished_at": s.Now()})
	return err
}
