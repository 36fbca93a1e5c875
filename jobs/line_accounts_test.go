package jobs

import (
	"encoding/json"
	"testing"

	"github.com/tsunagu/tsunagu/app/store"
)

// LINE keeps a unit's statistics on the channel that sent it: the insight
// read asks with the token of a campaign's own account, and with the
// primary's for journeys (no campaign) and campaigns on the primary.
func TestUnitTokenIsTheSendersAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	db := e.w.DB
	b := &store.LineChannel{ShopID: e.shop.ID, WebhookKey: e.shop.Domain + "-b", Name: "B", MessagingTokenEnc: e.w.Box.Seal("tok-b")}
	if err := db.SaveLineChannel(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	msgs := []store.CampaignVariant{{Name: "A", Weight: 1, Messages: []json.RawMessage{json.RawMessage(`{"type":"text","text":"hi"}`)}}}
	onB := &store.Campaign{ShopID: e.shop.ID, Name: "b", Status: store.CampaignDraft, LineChannelID: &b.ID, Variants: msgs}
	onPrimary := &store.Campaign{ShopID: e.shop.ID, Name: "a", Status: store.CampaignDraft, Variants: msgs}
	for _, c := range []*store.Campaign{onB, onPrimary} {
		if err := db.CreateCampaign(e.ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		campaign *int64
		want     string
	}{{"journey", nil, "tok"}, {"campaign on B", &onB.ID, "tok-b"}, {"campaign on the primary", &onPrimary.ID, "tok"}} {
		if got, err := e.w.unitToken(e.ctx, e.shop.ID, tc.campaign); err != nil || got != tc.want {
			t.Errorf("%s: token %q (%v), want %q", tc.name, got, err, tc.want)
		}
	}
}
