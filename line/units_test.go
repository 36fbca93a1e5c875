package line_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
)

func TestValidUnit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"j_thank_you", true},
		{"t0a1b2_c12_v0", true},
		{"", false},
		{"a-b", false},
		{"キャンペーン", false},
		{"abcdefghijabcdefghijabcdefghij", true},
		{"abcdefghijabcdefghijabcdefghijk", false},
	} {
		if got := line.ValidUnit(tc.name); got != tc.ok {
			t.Errorf("ValidUnit(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

// The fake refuses what LINE refuses: a unit name outside
// ^[a-zA-Z0-9_]{1,30}$ or more than one unit, on push and on multicast,
// sent raw (the client itself refuses such names before sending).
func TestFakeRejectsBadUnits(t *testing.T) {
	t.Parallel()
	fake, _ := newFake(t)
	text := `[{"type":"text","text":"hi"}]`
	for _, tc := range []struct{ path, body string }{
		{"/v2/bot/message/push", `{"to":"` + userID + `","messages":` + text + `,"customAggregationUnits":["bad-name"]}`},
		{"/v2/bot/message/push", `{"to":"` + userID + `","messages":` + text + `,"customAggregationUnits":["a","b"]}`},
		{"/v2/bot/message/push", `{"to":"` + userID + `","messages":` + text + `,"customAggregationUnits":["abcdefghijabcdefghijabcdefghijk"]}`},
		{"/v2/bot/message/multicast", `{"to":["` + userID + `"],"messages":` + text + `,"customAggregationUnits":["bad name"]}`},
		{"/v2/bot/message/multicast", `{"to":["` + userID + `"],"messages":` + text + `,"customAggregationUnits":["a","b"]}`},
	} {
		req, _ := http.NewRequest(http.MethodPost, fake.URL+tc.path, bytes.NewReader([]byte(tc.body)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := fake.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s %s: status %d, want 400", tc.path, tc.body, res.StatusCode)
		}
	}
	if n := len(fake.Pushes()) + len(fake.Multicasts()); n != 0 {
		t.Errorf("the fake sent %d requests with bad units", n)
	}
}

func TestUnitSendAndStatistics(t *testing.T) {
	t.Parallel()
	fake, m := newFake(t)
	ctx := context.Background()
	msgs := []line.Message{line.TextMessage("セール")}
	if _, err := m.MulticastUnit(ctx, token, []string{userID}, msgs, line.RetryKey("u1"), "t_c1_v0"); err != nil {
		t.Fatalf("MulticastUnit: %v (rejected %v)", err, fake.Rejected())
	}
	if _, err := m.PushUnit(ctx, token, userID, msgs, line.RetryKey("u2"), "j_thank_you"); err != nil {
		t.Fatalf("PushUnit: %v (rejected %v)", err, fake.Rejected())
	}
	if mc := fake.Multicasts(); len(mc) != 1 || len(mc[0].Units) != 1 || mc[0].Units[0] != "t_c1_v0" {
		t.Fatalf("multicasts = %+v", mc)
	}
	if p := fake.Pushes(); len(p) != 1 || len(p[0].Units) != 1 || p[0].Units[0] != "j_thank_you" {
		t.Fatalf("pushes = %+v", p)
	}
	if _, err := m.PushUnit(ctx, token, userID, msgs, "", "bad-name"); !errors.Is(err, line.ErrInvalidMessage) {
		t.Errorf("PushUnit with a bad unit: %v, want ErrInvalidMessage", err)
	}

	fake.SetUnitStats(token, "t_c1_v0", linetest.UnitStats{UniqueImpression: linetest.N(40), Clicks: []linetest.UnitClick{
		{Seq: 1, URL: "https://shop.example/sale", Click: linetest.N(35), UniqueClick: linetest.N(25)},
	}})
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, line.InsightTZ)
	st, err := m.UnitStatistics(ctx, token, "t_c1_v0", day, day.AddDate(0, 0, 30))
	if err != nil {
		t.Fatalf("UnitStatistics: %v (rejected %v)", err, fake.Rejected())
	}
	if st.Overview.UniqueImpression == nil || *st.Overview.UniqueImpression != 40 {
		t.Errorf("uniqueImpression = %v, want 40", st.Overview.UniqueImpression)
	}
	if st.Overview.UniqueClick != nil {
		t.Errorf("uniqueClick = %d, want nil (withheld under the threshold, not 0)", *st.Overview.UniqueClick)
	}
	if len(st.Clicks) != 1 || *st.Clicks[0].UniqueClick != 25 || st.Clicks[0].UniqueClickOfRequest != nil {
		t.Errorf("clicks = %+v", st.Clicks)
	}

	// LINE's parameter rules: at most 30 days, a unit that was used.
	var apiErr *line.APIError
	if _, err := m.UnitStatistics(ctx, token, "t_c1_v0", day, day.AddDate(0, 0, 31)); !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Errorf("31 days: %v, want a 400", err)
	}
	if _, err := m.UnitStatistics(ctx, token, "never_used", day, day); !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Errorf("unknown unit: %v, want a 400", err)
	}
}
