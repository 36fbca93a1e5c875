package jobs

import (
	"context"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// UnitPusher pushes under a LINE aggregation unit (line.Messenger).
type UnitPusher interface {
	PushUnit(ctx context.Context, channelToken, to string, msgs []line.Message, retryKey, unit string) (line.SendResult, error)
}

// UnitMulticaster multicasts under a LINE aggregation unit (line.Messenger).
type UnitMulticaster interface {
	MulticastUnit(ctx context.Context, channelToken string, to []string, msgs []line.Message, retryKey, unit string) (line.SendResult, error)
}

func (w *Worker) units() *core.Units {
	return &core.Units{DB: w.DB, InstallationID: w.InstallationID, Seen: w.UnitsSeen}
}

// pushKind pushes a message of kind under its journey unit when the LINE
// client can (a unit that cannot be recorded is left off: counting opens
// never stops a message).
func (w *Worker) pushKind(ctx context.Context, shopID int64, kind, token, to string, msgs []line.Message, retryKey string) (line.SendResult, error) {
	if up, ok := w.LINE.(UnitPusher); ok {
		unit, err := w.units().ForKind(ctx, shopID, kind, w.now())
		if err != nil {
			w.log().WarnContext(ctx, "no aggregation unit for a push", "kind", kind, "err", err)
			unit = ""
		}
		return up.PushUnit(ctx, token, to, msgs, retryKey, unit)
	}
	return w.LINE.Push(ctx, token, to, msgs, retryKey)
}

// campaignUnit is the unit a campaign variant goes under ("" for none).
func (w *Worker) campaignUnit(ctx context.Context, camp *store.Campaign, v *store.CampaignVariant) string {
	unit, err := w.units().ForCampaign(ctx, camp, v, w.now())
	if err != nil {
		w.log().WarnContext(ctx, "no aggregation unit for a campaign", "campaign_id", camp.ID, "err", err)
		return ""
	}
	return unit
}
