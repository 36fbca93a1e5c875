package core

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/line"
)

// CampaignDraft is a campaign as a merchant composes it. Without Variants,
// Messages and Link make the one variant "A".
type CampaignDraft struct {
	Name        string
	Segment     segment.Node // resolved and within the segment limits
	SegmentID   int64        // the saved segment it came from, if any
	Messages    []json.RawMessage
	Link        string
	Variants    []store.CampaignVariant
	TestPercent int
	CouponCode  string
	// LineChannelID is the LINE account to send from (0: the primary).
	LineChannelID int64
	// Delivery is store.CampaignMulticast (default) or store.CampaignPush.
	Delivery string
}

// MaxPushRecipients bounds a campaign sent per recipient (one push each,
// so each recipient's link can name them). LINE prices a push like a
// multicast message, but each is a request: 1,000 pushes take 2 of the
// channel's 2,000 push requests a second for about half a second and
// share them with journey messages, and a 500-recipient batch stays well
// inside its task's two minutes even at a tenth of LINE's rate. Larger
// audiences go by multicast, whose clicks are counted but not attributed.
const MaxPushRecipients = 1000

// ReasonPushOverLimit is recorded on a per-recipient campaign whose
// audience grew past MaxPushRecipients by the time it started: it is sent
// by multicast instead.
const ReasonPushOverLimit = "per_recipient_over_limit: sent as multicast"

// NewCampaign checks a draft and returns the campaign row to create: a
// name; variants with unique names, http(s) links and 1 to 5 valid LINE
// messages each ({{link}} stands for the tracked URL); a test share of 0 to
// 100 percent.
func NewCampaign(shopID int64, d CampaignDraft) (*store.Campaign, error) {
	if d.Name == "" {
		return nil, Errorf(EINVALID, "name is required")
	}
	if _, err := segment.Cost(d.Segment); err != nil {
		return nil, SegmentError(err)
	}
	if len(d.Variants) == 0 {
		d.Variants = []store.CampaignVariant{{Name: "A", Weight: 1, Messages: d.Messages, Link: d.Link}}
	}
	seen := map[string]bool{}
	for i, v := range d.Variants {
		if v.Name == "" || seen[v.Name] {
			return nil, Errorf(EINVALID, "variant %d needs a unique name", i+1)
		}
		seen[v.Name] = true
		if v.Link != "" {
			if err := CheckLink(v.Link); err != nil {
				return nil, Errorf(EINVALID, "variant %s: %s", v.Name, ErrorMessage(err))
			}
		}
		if len(v.Messages) == 0 || len(v.Messages) > line.MaxMessagesPerRequest {
			return nil, Errorf(EINVALID, "variant %s needs 1 to %d messages", v.Name, line.MaxMessagesPerRequest)
		}
		for _, m := range v.Messages {
			// {{link}} becomes the tracked URL at send time; validate with a stand-in.
			probe := strings.ReplaceAll(string(m), "{{link}}", "https://example.com/c")
			if _, err := line.ValidateMessage(line.Message(probe)); err != nil {
				return nil, Errorf(EINVALID, "variant %s: %v", v.Name, err)
			}
		}
	}
	if d.TestPercent < 0 || d.TestPercent > 100 {
		return nil, Errorf(EINVALID, "test_percent must be 0 to 100")
	}
	switch d.Delivery {
	case "":
		d.Delivery = store.CampaignMulticast
	case store.CampaignMulticast, store.CampaignPush:
	default:
		return nil, Errorf(EINVALID, "delivery must be %q or %q", store.CampaignMulticast, store.CampaignPush)
	}
	def, err := json.Marshal(d.Segment)
	if err != nil {
		return nil, err
	}
	camp := &store.Campaign{ShopID: shopID, Name: d.Name, Definition: def, Variants: d.Variants,
		TestPercent: d.TestPercent, CouponCode: d.CouponCode, Delivery: d.Delivery}
	if d.SegmentID != 0 {
		id := d.SegmentID
		camp.SegmentID = &id
	}
	return camp, nil
}

// CampaignQueue starts a campaign at a time (jobs.Queue).
type CampaignQueue interface {
	EnqueueCampaign(ctx context.Context, campaignID int64, at time.Time) error
}

// Campaigns is a campaign's lifecycle: draft → scheduled → sending →
// (waiting_winner →) sent, or cancelled. The campaign row is the truth; the
// queue only wakes the worker, and a lost task is re-enqueued by sending
// again.
type Campaigns struct {
	DB    *store.DB
	Queue CampaignQueue
	Now   func() time.Time
}

// Create validates and stores a draft, scheduling it when send is set or a
// time is given.
func (s *Campaigns) Create(ctx context.Context, shopID int64, d CampaignDraft, send bool, at *time.Time) (*store.Campaign, error) {
	camp, err := NewCampaign(shopID, d)
	if err != nil {
		return nil, err
	}
	if d.LineChannelID != 0 {
		// Only one of the shop's own accounts.
		ch, err := s.DB.LineChannelByID(ctx, shopID, d.LineChannelID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, Errorf(EINVALID, "LINE account %d is not one of this shop's", d.LineChannelID)
		}
		if err != nil {
			return nil, err
		}
		camp.LineChannelID = &ch.ID
	}
	if err := s.DB.CreateCampaign(ctx, camp); err != nil {
		return nil, err
	}
	if send || at != nil {
		if err := s.Schedule(ctx, camp, at); err != nil {
			return nil, err
		}
	}
	return camp, nil
}

// Schedule moves a draft or scheduled campaign to scheduled at (now when at
// is nil or past) and enqueues its start. A campaign that started is a
// conflict.
func (s *Campaigns) Schedule(ctx context.Context, camp *store.Campaign, at *time.Time) error {
	when := s.Now()
	if at != nil && at.After(when) {
		when = at.UTC()
	}
	ok, err := s.DB.TransitionCampaign(ctx, camp.ID, []string{store.CampaignDraft, store.CampaignScheduled},
		store.CampaignScheduled, map[string]any{"scheduled_at": when})
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(ECONFLICT, "campaign already started")
	}
	camp.Status, camp.ScheduledAt = store.CampaignScheduled, &when
	// If Redis is down the campaign stays scheduled and a resend enqueues it.
	return s.Queue.EnqueueCampaign(ctx, camp.ID, when)
}

// Cancel stops a campaign that has not finished.
func (s *Campaigns) Cancel(ctx context.Context, camp *store.Campaign) error {
	ok, err := s.DB.CancelCampaign(ctx, camp.ShopID, camp.ID, s.Now())
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(ECONFLICT, "campaign already %s", camp.Status)
	}
	return nil
}

// PickWinner sends the held rest of an A/B campaign with one variant.
func (s *Campaigns) PickWinner(ctx context.Context, camp *store.Campaign, variant string) error {
	if camp.Variant(variant) == nil {
		return Errorf(EINVALID, "unknown variant")
	}
	if camp.Status != store.CampaignWaitingWinner {
		return Errorf(ECONFLICT, "campaign is %s, not waiting for a winner", camp.Status)
	}
	if err := s.DB.ReleaseHeld(ctx, camp, variant, s.Now()); errors.Is(err, store.ErrNotFound) {
		return Errorf(ENOTFOUND, "campaign %d is not waiting for a winner", camp.ID)
	} else if err != nil {
		return err
	}
	return s.Queue.EnqueueCampaign(ctx, camp.ID, s.Now())
}

// ReasonShopUninstalled cancels a campaign whose shop removed the app.
const ReasonShopUninstalled = "shop_uninstalled"

// Start materializes a due, scheduled campaign's recipients (once). A
// campaign of a shop that uninstalled, or whose definition no longer passes
// the segment limits, is cancelled with the reason. It reports whether the
// campaign is sending, so that its open batches should be enqueued.
func (s *Campaigns) Start(ctx context.Context, id int64) (sending bool, err error) {
	camp, err := s.DB.Campaign(ctx, 0, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch camp.Status {
	case store.CampaignSending:
		return true, nil
	case store.CampaignScheduled:
	default:
		return false, nil
	}
	now := s.Now()
	if camp.ScheduledAt != nil && camp.ScheduledAt.After(now.Add(time.Second)) {
		return false, nil // rescheduled; the task for the new time will come
	}
	cancel := func(reason string) (bool, error) {
		_, err := s.DB.TransitionCampaign(ctx, id, []string{store.CampaignScheduled}, store.CampaignCancelled, map[string]any{"reason": reason})
		return false, err
	}
	shop, err := s.DB.Shop(ctx, camp.ShopID)
	if err != nil {
		return false, err
	}
	if !shop.Active() {
		return cancel(ReasonShopUninstalled)
	}
	n, err := segment.Parse(camp.Definition)
	if err != nil {
		return cancel(err.Error())
	}
	if err := s.DB.MaterializeCampaign(ctx, shop, camp, n, now); err != nil {
		return false, err
	}
	if camp.Delivery == store.CampaignPush {
		return true, s.boundPush(ctx, camp)
	}
	return true, nil
}

// boundPush sends a per-recipient campaign whose audience is over
// MaxPushRecipients by multicast, with the reason on the campaign.
func (s *Campaigns) boundPush(ctx context.Context, camp *store.Campaign) error {
	counts, err := s.DB.CampaignCounts(ctx, camp.ID)
	if err != nil {
		return err
	}
	var total int64
	for _, c := range counts {
		total += c.N
	}
	if total <= MaxPushRecipients {
		return nil
	}
	_, err = s.DB.TransitionCampaign(ctx, camp.ID, []string{store.CampaignSending}, store.CampaignSending,
		map[string]any{"delivery": store.CampaignMulticast, "reason": ReasonPushOverLimit})
	return err
}
