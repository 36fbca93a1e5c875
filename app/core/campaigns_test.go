package core_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
)

// The campaign rules hold without HTTP: each refusal is EINVALID with a
// message naming what is wrong.
func TestNewCampaignRules(t *testing.T) {
	t.Parallel()
	text := json.RawMessage(`{"type":"text","text":"Sale {{link}}"}`)
	seg := segment.Node{Field: "linked", Op: "=", Value: json.RawMessage(`true`)}
	costly := segment.Node{Or: make([]segment.Node, 30)}
	for i := range costly.Or {
		costly.Or[i] = segment.Node{Field: "clicked", Op: "=", Value: json.RawMessage(`"any"`)}
	}
	for _, tc := range []struct {
		name string
		d    core.CampaignDraft
		want string // "" = accepted
	}{
		{"one variant from messages", core.CampaignDraft{Name: "Sale", Segment: seg, Messages: []json.RawMessage{text}, Link: "https://shop.example/sale"}, ""},
		{"no name", core.CampaignDraft{Segment: seg, Messages: []json.RawMessage{text}}, "name is required"},
		{"no messages", core.CampaignDraft{Name: "x", Segment: seg}, "needs 1 to 5 messages"},
		{"six messages", core.CampaignDraft{Name: "x", Segment: seg, Messages: []json.RawMessage{text, text, text, text, text, text}}, "needs 1 to 5 messages"},
		{"javascript link", core.CampaignDraft{Name: "x", Segment: seg, Messages: []json.RawMessage{text}, Link: "javascript:alert(1)"}, "variant A"},
		{"invalid LINE message", core.CampaignDraft{Name: "x", Segment: seg, Messages: []json.RawMessage{json.RawMessage(`{"type":"text"}`)}}, "variant A"},
		{"duplicate variants", core.CampaignDraft{Name: "x", Segment: seg, Variants: []store.CampaignVariant{
			{Name: "A", Messages: []json.RawMessage{text}}, {Name: "A", Messages: []json.RawMessage{text}}}}, "unique name"},
		{"test share over 100", core.CampaignDraft{Name: "x", Segment: seg, Messages: []json.RawMessage{text}, TestPercent: 101}, "test_percent"},
		{"segment over the cost limit", core.CampaignDraft{Name: "x", Segment: costly, Messages: []json.RawMessage{text}}, "too costly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			camp, err := core.NewCampaign(7, tc.d)
			if tc.want == "" {
				if err != nil || camp.ShopID != 7 || len(camp.Variants) != 1 || camp.Variants[0].Name != "A" {
					t.Fatalf("%+v %v", camp, err)
				}
				return
			}
			if core.ErrorCode(err) != core.EINVALID || !strings.Contains(core.ErrorMessage(err), tc.want) {
				t.Fatalf("got %v, want EINVALID saying %q", err, tc.want)
			}
		})
	}
}
