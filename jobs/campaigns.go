package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// Campaign task types. A campaign runs as one start task (materialize the
// recipients, fan out) and one task per batch of up to 500 recipients; the
// campaign_recipients rows, not the tasks, say who still needs a message.
const (
	TypeCampaignStart = "campaign:start"
	TypeCampaignBatch = "campaign:batch"
)

// Multicaster sends one multicast (line.Messenger).
type Multicaster interface {
	Multicast(ctx context.Context, channelToken string, to []string, msgs []line.Message, retryKey string) (line.SendResult, error)
}

type campaignPayload struct {
	CampaignID int64 `json:"campaign_id"`
	Batch      int   `json:"batch"`
}

// registerCampaigns adds the campaign, automation and rich menu handlers.
func (w *Worker) registerCampaigns(mux *asynq.ServeMux) {
	decode := func(t *asynq.Task) (campaignPayload, error) {
		var p campaignPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return p, fmt.Errorf("decoding %s payload: %w: %w", t.Type(), err, asynq.SkipRetry)
		}
		return p, nil
	}
	mux.HandleFunc(TypeCampaignStart, func(ctx context.Context, t *asynq.Task) error {
		p, err := decode(t)
		if err != nil {
			return err
		}
		return w.StartCampaign(ctx, p.CampaignID)
	})
	mux.HandleFunc(TypeCampaignBatch, func(ctx context.Context, t *asynq.Task) error {
		p, err := decode(t)
		if err != nil {
			return err
		}
		return w.SendCampaignBatch(ctx, p.CampaignID, p.Batch)
	})
	w.registerAutomations(mux)
	w.registerRichMenus(mux)
}

// EnqueueCampaign schedules a campaign's start task for at.
func (q *Queue) EnqueueCampaign(ctx context.Context, campaignID int64, at time.Time) error {
	b, _ := json.Marshal(campaignPayload{CampaignID: campaignID})
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeCampaignStart, b),
		asynq.TaskID("campaign:"+strconv.FormatInt(campaignID, 10)+":start@"+strconv.FormatInt(at.Unix(), 10)),
		asynq.Queue(QueueMessages), asynq.ProcessAt(at), asynq.MaxRetry(10), asynq.Timeout(10*time.Minute))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueueing campaign %d: %w", campaignID, err)
	}
	return nil
}

// EnqueueCampaignBatch schedules one batch send; at zero means now.
func (q *Queue) EnqueueCampaignBatch(ctx context.Context, campaignID int64, batch int, at time.Time) error {
	b, _ := json.Marshal(campaignPayload{CampaignID: campaignID, Batch: batch})
	var unix int64
	opts := []asynq.Option{asynq.Queue(QueueMessages), asynq.MaxRetry(12), asynq.Timeout(2 * time.Minute)}
	if !at.IsZero() {
		unix = at.Unix()
		opts = append(opts, asynq.ProcessAt(at))
	}
	opts = append(opts, asynq.TaskID(store.CampaignTaskKey(campaignID, batch)+"@"+strconv.FormatInt(unix, 10)))
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeCampaignBatch, b), opts...)
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueueing batch %d of campaign %d: %w", batch, campaignID, err)
	}
	return nil
}

// StartCampaign materializes a due campaign's recipients (once) and
// enqueues every batch that still has someone to send to.
func (w *Worker) StartCampaign(ctx context.Context, id int64) error {
	campaigns := &core.Campaigns{DB: w.DB, Queue: w.Queue, Now: w.now}
	sending, err := campaigns.Start(ctx, id)
	if err != nil || !sending {
		return err
	}
	batches, err := w.DB.OpenBatches(ctx, id)
	if err != nil {
		return err
	}
	for _, b := range batches {
		if err := w.Queue.EnqueueCampaignBatch(ctx, id, b, time.Time{}); err != nil {
			return err
		}
	}
	if len(batches) == 0 {
		return w.campaignBatches().Settle(ctx, id, true)
	}
	return nil
}

func (w *Worker) campaignBatches() *core.CampaignBatches {
	return &core.CampaignBatches{DB: w.DB, Now: w.now}
}

// SendCampaignBatch sends one batch with one multicast, as core decides.
// The batch's recipients and its X-Line-Retry-Key are fixed, so a retry
// after a crash (even one after LINE accepted the request) cannot deliver
// twice.
func (w *Worker) SendCampaignBatch(ctx context.Context, id int64, batch int) error {
	cb := w.campaignBatches()
	p, err := cb.Plan(ctx, id, batch)
	if err != nil {
		return err
	}
	if !p.DeferUntil.IsZero() {
		return w.Queue.EnqueueCampaignBatch(ctx, id, batch, p.DeferUntil)
	}
	if len(p.Send) == 0 || p.Variant == nil {
		return nil
	}
	mc, ok := w.LINE.(Multicaster)
	if !ok {
		return fmt.Errorf("campaign %d: the LINE client cannot multicast: %w", id, asynq.SkipRetry)
	}
	var chID int64
	if p.Camp.LineChannelID != nil {
		chID = *p.Camp.LineChannelID
	}
	ch, token, err := w.channelAndToken(ctx, p.Shop.ID, chID)
	if err != nil {
		return err
	}
	if token == "" {
		return cb.Finish(ctx, p, store.MsgFailed, ReasonNoChannel, "")
	}
	if p.Camp.Delivery == store.CampaignPush {
		return w.sendCampaignPushes(ctx, cb, p, ch, token)
	}
	msgs, err := w.campaignMessages(p.Camp, p.Variant, 0)
	if err != nil {
		return cb.Finish(ctx, p, store.MsgFailed, ReasonRenderFailed+": "+err.Error(), "")
	}
	to := p.To()
	if reason, err := w.marketingQuota(ctx, p.Shop, ch, token, int64(len(to))); err != nil || reason != "" {
		if err != nil {
			return err
		}
		return cb.Finish(ctx, p, store.MsgSkipped, reason, "")
	}
	var res line.SendResult
	if um, ok := w.LINE.(UnitMulticaster); ok {
		res, err = um.MulticastUnit(ctx, token, to, msgs, w.retryKey(store.CampaignTaskKey(id, batch), 0), w.campaignUnit(ctx, p.Camp, p.Variant))
	} else {
		res, err = mc.Multicast(ctx, token, to, msgs, w.retryKey(store.CampaignTaskKey(id, batch), 0))
	}
	out := core.Outcome(res, err, isLastAttempt(ctx))
	if out.MonthlyLimit {
		if merr := w.monthlyLimitReached(ctx, p.Shop, ch); merr != nil {
			return merr
		}
	}
	if out.Status == "" {
		return fmt.Errorf("multicasting batch %d of campaign %d: %w", batch, id, err)
	}
	if out.Status == store.MsgFailed {
		w.log().WarnContext(ctx, "campaign multicast failed", "campaign_id", id, "batch", batch, "err", err)
	}
	var use store.QuotaUse
	if out.Delivered {
		use = store.QuotaUse{ChannelID: ch.ID, N: int64(len(to))}
	}
	return cb.FinishUsing(ctx, p, out.Status, out.Reason, out.RequestID, use)
}

// channelAndToken is a channel of the shop (channelID, or the primary when
// zero) and its Messaging API token; "" means LINE is not connected.
func (w *Worker) channelAndToken(ctx context.Context, shopID, channelID int64) (*store.LineChannel, string, error) {
	ch, err := w.DB.LineChannelFor(ctx, shopID, channelID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	token, err := core.MessagingToken(w.Box, ch)
	if err != nil {
		return ch, "", nil
	}
	return ch, token, nil
}

// campaignMessages renders a variant: "{{link}}" becomes its tracked link,
// recipient's own when recipient is not 0 (a campaign sent per recipient).
func (w *Worker) campaignMessages(camp *store.Campaign, v *store.CampaignVariant, recipient int64) ([]line.Message, error) {
	link := ""
	switch {
	case v.Link != "" && recipient != 0:
		link = core.RecipientLinkURL(w.BaseURL, w.Signer, camp.ID, v.Name, recipient)
	case v.Link != "":
		link = core.CampaignLinkURL(w.BaseURL, w.Signer, camp.ID, v.Name)
	}
	out := make([]line.Message, 0, len(v.Messages))
	for _, m := range v.Messages {
		s := string(m)
		if link != "" {
			enc, _ := json.Marshal(link)
			s = strings.ReplaceAll(s, "{{link}}", strings.Trim(string(enc), `"`))
		}
		msg := line.Message(s)
		if _, err := line.ValidateMessage(msg); err != nil {
			return nil, err
		}
		out = append(out, msg)
	}
	if len(out) == 0 || len(out) > line.MaxMessagesPerRequest {
		return nil, fmt.Errorf("a campaign sends 1 to %d messages, not %d", line.MaxMessagesPerRequest, len(out))
	}
	return out, nil
}

// sendCampaignPushes sends a batch of a campaign sent per recipient: one
// push each, with the recipient's own link, under the variant's unit and
// a retry key per recipient. Each outcome is recorded as it comes; the
// batch's last recipient is recorded through Finish, which counts the
// batch. A failure worth retrying stops the loop: the task runs again and
// the gate hands back only the recipients still queued.
func (w *Worker) sendCampaignPushes(ctx context.Context, cb *core.CampaignBatches, p *core.BatchPlan, ch *store.LineChannel, token string) error {
	id, batch := p.Camp.ID, p.Batch
	if reason, err := w.marketingQuota(ctx, p.Shop, ch, token, int64(len(p.Send))); err != nil || reason != "" {
		if err != nil {
			return err
		}
		return cb.Finish(ctx, p, store.MsgSkipped, reason, "")
	}
	unit := w.campaignUnit(ctx, p.Camp, p.Variant)
	up, _ := w.LINE.(UnitPusher)
	for i, r := range p.Send {
		one := *p
		one.Send = p.Send[i : i+1]
		settle := func(status, reason, requestID string) error {
			if i == len(p.Send)-1 {
				return cb.Finish(ctx, &one, status, reason, requestID)
			}
			return w.DB.SettleRecipient(ctx, id, batch, r.ID, status, reason, requestID, w.now())
		}
		msgs, err := w.campaignMessages(p.Camp, p.Variant, r.ID)
		if err != nil {
			if err := settle(store.MsgFailed, ReasonRenderFailed+": "+err.Error(), ""); err != nil {
				return err
			}
			continue
		}
		key := w.retryKey(store.CampaignTaskKey(id, batch)+"/r"+strconv.FormatInt(r.ID, 10), 0)
		var res line.SendResult
		if up != nil {
			res, err = up.PushUnit(ctx, token, r.LineUserID, msgs, key, unit)
		} else {
			res, err = w.LINE.Push(ctx, token, r.LineUserID, msgs, key)
		}
		out := core.Outcome(res, err, isLastAttempt(ctx))
		if out.MonthlyLimit {
			if merr := w.monthlyLimitReached(ctx, p.Shop, ch); merr != nil {
				return merr
			}
		}
		if out.Status == "" {
			return fmt.Errorf("pushing recipient %d of campaign %d: %w", r.ID, id, err)
		}
		if out.Delivered {
			w.countQuotaUse(ctx, ch, 1)
		}
		if err := settle(out.Status, out.Reason, out.RequestID); err != nil {
			return err
		}
	}
	return nil
}
