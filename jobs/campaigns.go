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
		return w.settleCampaign(ctx, id)
	}
	return nil
}

// SendCampaignBatch sends one batch with one multicast. The batch's
// recipients and its X-Line-Retry-Key are fixed, so a retry after a crash
// (even one after LINE accepted the request) cannot deliver twice.
func (w *Worker) SendCampaignBatch(ctx context.Context, id int64, batch int) error {
	camp, err := w.DB.Campaign(ctx, 0, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if camp.Status != store.CampaignSending {
		return nil // cancelled (the cancel marked the rows) or finished
	}
	shop, err := w.DB.Shop(ctx, camp.ShopID)
	if err != nil {
		return err
	}
	now := w.now()
	if next, quiet := w.quietDefer(shop, now); quiet {
		return w.Queue.EnqueueCampaignBatch(ctx, id, batch, next)
	}
	mc, ok := w.LINE.(Multicaster)
	if !ok {
		return fmt.Errorf("campaign %d: the LINE client cannot multicast: %w", id, asynq.SkipRetry)
	}
	token, err := w.channelToken(ctx, shop.ID)
	if err != nil {
		return err
	}
	if token == "" {
		return w.failBatch(ctx, camp, batch, ReasonNoChannel)
	}
	loc := shop.Location()
	local := now.In(loc)
	dayStart := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	rs, err := w.DB.PrepareBatch(ctx, id, batch, dayStart, shop.Settings.Cap(), transactionalKinds, now)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		if err := w.DB.FinishBatch(ctx, shop.ID, id, batch, store.MsgSent, "", "", now); err != nil {
			return err
		}
		return w.settleCampaign(ctx, id)
	}
	variant := camp.Variant(rs[0].Variant)
	if variant == nil {
		return w.failBatch(ctx, camp, batch, "unknown variant "+rs[0].Variant)
	}
	msgs, err := w.campaignMessages(camp, variant)
	if err != nil {
		return w.failBatch(ctx, camp, batch, ReasonRenderFailed+": "+err.Error())
	}
	to := make([]string, len(rs))
	for i, r := range rs {
		to[i] = r.LineUserID
	}
	if reason, err := w.marketingQuota(ctx, shop, token, int64(len(to))); err != nil || reason != "" {
		if err != nil {
			return err
		}
		return w.skipBatch(ctx, camp, batch, reason)
	}
	res, err := mc.Multicast(ctx, token, to, msgs, w.retryKey(store.CampaignTaskKey(id, batch), 0))
	if err != nil && line.IsMonthlyLimit(err) {
		if merr := w.monthlyLimitReached(ctx, shop); merr != nil {
			return merr
		}
		return w.skipBatch(ctx, camp, batch, core.ReasonMonthlyLimit)
	}
	if err != nil {
		var apiErr *line.APIError
		if errors.As(err, &apiErr) && !apiErr.Retryable() || isLastAttempt(ctx) {
			w.log().WarnContext(ctx, "campaign multicast failed", "campaign_id", id, "batch", batch, "err", err)
			return w.failBatch(ctx, camp, batch, failReason(err))
		}
		return fmt.Errorf("multicasting batch %d of campaign %d: %w", batch, id, err)
	}
	reqID := res.RequestID
	if res.Duplicate {
		reqID = res.AcceptedRequestID
	} else {
		w.countQuotaUse(ctx, shop.ID, int64(len(to)))
	}
	if err := w.DB.FinishBatch(ctx, shop.ID, id, batch, store.MsgSent, "", reqID, w.now()); err != nil {
		return err
	}
	return w.settleCampaign(ctx, id)
}

func (w *Worker) failBatch(ctx context.Context, camp *store.Campaign, batch int, reason string) error {
	if err := w.DB.FinishBatch(ctx, camp.ShopID, camp.ID, batch, store.MsgFailed, reason, "", w.now()); err != nil {
		return err
	}
	return w.settleCampaign(ctx, camp.ID)
}

// skipBatch settles a batch as not sent, with reason (the quota's).
func (w *Worker) skipBatch(ctx context.Context, camp *store.Campaign, batch int, reason string) error {
	if err := w.DB.FinishBatch(ctx, camp.ShopID, camp.ID, batch, store.MsgSkipped, reason, "", w.now()); err != nil {
		return err
	}
	return w.settleCampaign(ctx, camp.ID)
}

// settleCampaign finishes a campaign with nothing left to send, or parks an
// A/B test waiting for its winner.
func (w *Worker) settleCampaign(ctx context.Context, id int64) error {
	open, err := w.DB.HasOpenBatches(ctx, id)
	if err != nil || open {
		return err
	}
	var held []int64
	if err := w.DB.WithContext(ctx).Raw("SELECT id FROM campaign_recipients WHERE campaign_id = ? AND status = ? LIMIT 1", id, store.RecipientHeld).
		Scan(&held).Error; err != nil {
		return fmt.Errorf("checking held recipients of campaign %d: %w", id, err)
	}
	if len(held) > 0 {
		_, err = w.DB.TransitionCampaign(ctx, id, []string{store.CampaignSending}, store.CampaignWaitingWinner, nil)
		return err
	}
	_, err = w.DB.TransitionCampaign(ctx, id, []string{store.CampaignSending}, store.CampaignDone, map[string]any{"finished_at": w.now()})
	return err
}

// channelToken is the shop's Messaging API token; "" means LINE is not
// connected.
func (w *Worker) channelToken(ctx context.Context, shopID int64) (string, error) {
	ch, err := w.DB.LineChannel(ctx, shopID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	token, err := w.Box.Open(ch.MessagingTokenEnc)
	if err != nil {
		return "", nil
	}
	return token, nil
}

// campaignMessages renders a variant: "{{link}}" becomes its tracked link.
func (w *Worker) campaignMessages(camp *store.Campaign, v *store.CampaignVariant) ([]line.Message, error) {
	link := ""
	if v.Link != "" {
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
