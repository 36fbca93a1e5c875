package linetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// Aggregation units and the insight API's per-unit statistics
// (GET /v2/bot/insight/message/event/aggregation, insight.yml).

// unitRE is LINE's unit name rule: the pattern of
// MulticastRequest.customAggregationUnits items in messaging-api.yml and of
// the customAggregationUnit parameter in insight.yml. The document leaves
// PushMessageRequest's items unconstrained, but LINE documents one rule for
// both ("Get statistics of sent messages": one unit name per request), so
// the fake checks push by hand too.
var unitRE = regexp.MustCompile(`^[a-zA-Z0-9_]{1,30}$`)

// maxUnitDays is LINE's longest statistics period: "The end date can be
// specified for up to 30 days later" (insight.yml, parameter to).
const maxUnitDays = 30

// insightTZ is the insight API's time zone, UTC+9.
var insightTZ = time.FixedZone("UTC+9", 9*3600)

// InsightSpecPath returns the path of LINE's insight OpenAPI document.
func InsightSpecPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(FixturesDir(t), "line", "openapi", "insight.yml")
}

// UnitStats is what the fake answers for a unit. A nil value is one LINE
// withholds under its privacy threshold and is served as null.
type UnitStats struct {
	UniqueImpression            *int64
	UniqueClick                 *int64
	UniqueMediaPlayed           *int64
	UniqueMediaPlayed100Percent *int64
	Clicks                      []UnitClick
}

// UnitClick is one URL's clicks in UnitStats.
type UnitClick struct {
	Seq                  int64
	URL                  string
	Click                *int64
	UniqueClick          *int64
	UniqueClickOfRequest *int64
}

// N is a helper for UnitStats literals: a pointer to n.
func N(n int64) *int64 { return &n }

// SetUnitStats makes the fake answer stats for unit on token's channel. A
// unit that was used in a send but given no stats answers all nulls (too
// few users), which is what LINE shows for a small send.
func (s *Server) SetUnitStats(token, unit string, st UnitStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unitStats[s.channelOf(token)+"/"+unit] = st
}

// UnitsUsed lists the distinct unit names token's channel has sent with.
func (s *Server) UnitsUsed(token string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for u := range s.units[s.channelOf(token)] {
		out = append(out, u)
	}
	return out
}

// InsightRequests counts the statistics requests the fake answered 200.
func (s *Server) InsightRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insightOK
}

// checkUnits applies LINE's unit rules to a push or multicast body.
func checkUnits(body []byte) []detail {
	var req struct {
		Units []string `json:"customAggregationUnits"`
	}
	if json.Unmarshal(body, &req) != nil {
		return nil // reported by the schema check
	}
	var out []detail
	if len(req.Units) > 1 {
		out = append(out, detail{Message: "Size must be between 0 and 1", Property: "customAggregationUnits"})
	}
	for i, u := range req.Units {
		if !unitRE.MatchString(u) {
			out = append(out, detail{Message: "must match \"^[a-zA-Z0-9_]{1,30}$\"", Property: fmt.Sprintf("customAggregationUnits[%d]", i)})
		}
	}
	return out
}

// unitsOf returns the (valid) units of a send body.
func unitsOf(body []byte) []string {
	var req struct {
		Units []string `json:"customAggregationUnits"`
	}
	_ = json.Unmarshal(body, &req)
	return req.Units
}

// useUnits records units as used by c's channel (the caller holds s.mu).
func (s *Server) useUnits(c *botCall, units []string) {
	ch := s.channelOf(c.token)
	if s.units[ch] == nil {
		s.units[ch] = map[string]bool{}
	}
	for _, u := range units {
		s.units[ch][u] = true
	}
}

// handleUnitStats answers GET /v2/bot/insight/message/event/aggregation.
// The parameters are checked against insight.yml, then as LINE documents
// them: real dates in UTC+9, to not before from and at most 30 days after.
// A unit this channel never sent with answers 400: insight.yml lists only
// the 200 answer, so this is the fake's stricter reading, which makes the
// app cope with a refusal as well as with an all-null answer.
func (s *Server) handleUnitStats(w http.ResponseWriter, r *http.Request, c *botCall) {
	if d := s.insight.validate(r, nil, "/v2/bot/insight/message/event/aggregation", nil, true); len(d) > 0 {
		s.reject(w, r, nil, fmt.Sprintf("The request has %d error(s)", len(d)), d)
		return
	}
	q := r.URL.Query()
	unit := q.Get("customAggregationUnit")
	from, ferr := time.ParseInLocation("20060102", q.Get("from"), insightTZ)
	to, terr := time.ParseInLocation("20060102", q.Get("to"), insightTZ)
	switch {
	case ferr != nil:
		s.reject(w, r, nil, "Invalid date", []detail{{Message: "must be a date in yyyyMMdd", Property: "from"}})
		return
	case terr != nil:
		s.reject(w, r, nil, "Invalid date", []detail{{Message: "must be a date in yyyyMMdd", Property: "to"}})
		return
	case to.Before(from):
		s.reject(w, r, nil, "Invalid period", []detail{{Message: "must not be before from", Property: "to"}})
		return
	case to.After(from.AddDate(0, 0, maxUnitDays)):
		s.reject(w, r, nil, "Invalid period", []detail{{Message: fmt.Sprintf("must be at most %d days after from", maxUnitDays), Property: "to"}})
		return
	}
	s.mu.Lock()
	ch := s.channelOf(c.token)
	used := s.units[ch][unit]
	st := s.unitStats[ch+"/"+unit]
	if used {
		s.insightOK++
	}
	s.mu.Unlock()
	if !used {
		s.reject(w, r, nil, "The aggregation unit does not exist", []detail{{Message: "no message was sent with this unit", Property: "customAggregationUnit"}})
		return
	}
	type click struct {
		Seq                  int64  `json:"seq"`
		URL                  string `json:"url"`
		Click                *int64 `json:"click"`
		UniqueClick          *int64 `json:"uniqueClick"`
		UniqueClickOfRequest *int64 `json:"uniqueClickOfRequest"`
	}
	out := struct {
		Overview struct {
			UniqueImpression            *int64 `json:"uniqueImpression"`
			UniqueClick                 *int64 `json:"uniqueClick"`
			UniqueMediaPlayed           *int64 `json:"uniqueMediaPlayed"`
			UniqueMediaPlayed100Percent *int64 `json:"uniqueMediaPlayed100Percent"`
		} `json:"overview"`
		Messages []map[string]any `json:"messages"`
		Clicks   []click          `json:"clicks"`
	}{Messages: []map[string]any{}, Clicks: []click{}}
	out.Overview.UniqueImpression = st.UniqueImpression
	out.Overview.UniqueClick = st.UniqueClick
	out.Overview.UniqueMediaPlayed = st.UniqueMediaPlayed
	out.Overview.UniqueMediaPlayed100Percent = st.UniqueMediaPlayed100Percent
	out.Messages = append(out.Messages, map[string]any{"seq": 1, "impression": st.UniqueImpression, "uniqueImpression": st.UniqueImpression})
	for _, cl := range st.Clicks {
		out.Clicks = append(out.Clicks, click(cl))
	}
	writeJSON(w, http.StatusOK, out)
}
