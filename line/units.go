package line

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
)

// Aggregation units (customAggregationUnits): a name given to a push or
// multicast when it is sent, under which LINE counts opens and clicks
// ("Get statistics of sent messages", Messaging API docs). LINE's rules:
// one name per request; 1 to 30 characters of [a-zA-Z0-9_], case-sensitive
// (messaging-api.yml, MulticastRequest.customAggregationUnits, and the
// customAggregationUnit parameter in insight.yml); at most 1,000 distinct
// names per channel per calendar month (MaxUnitsPerMonth).
const (
	MaxUnitLength    = 30
	MaxUnitsPerMonth = 1000
)

var unitRE = regexp.MustCompile(`^[a-zA-Z0-9_]{1,30}$`)

// ValidUnit reports whether name is a unit name LINE accepts.
func ValidUnit(name string) bool { return unitRE.MatchString(name) }

// InsightTZ is the time zone of the insight API's dates (UTC+9).
var InsightTZ = time.FixedZone("UTC+9", 9*3600)

// MaxUnitStatsDays is the longest period GET
// /v2/bot/insight/message/event/aggregation takes: "the end date can be
// specified for up to 30 days later" than the start date.
const MaxUnitStatsDays = 30

// UnitStats is GET /v2/bot/insight/message/event/aggregation for one unit.
// LINE answers null for a value under its privacy threshold (fewer than 20
// users, or a count of 20 or more made by fewer than 20 users): a nil
// pointer here means withheld, never zero. (line-bot-sdk-go's insight
// models decode those nulls into 0, so the response is decoded here.)
type UnitStats struct {
	Overview struct {
		UniqueImpression            *int64 `json:"uniqueImpression"`
		UniqueClick                 *int64 `json:"uniqueClick"`
		UniqueMediaPlayed           *int64 `json:"uniqueMediaPlayed"`
		UniqueMediaPlayed100Percent *int64 `json:"uniqueMediaPlayed100Percent"`
	} `json:"overview"`
	Clicks []UnitClick `json:"clicks"`
}

// UnitClick is one URL's clicks in a unit's messages.
type UnitClick struct {
	Seq                  int64  `json:"seq"`
	URL                  string `json:"url"`
	Click                *int64 `json:"click"`
	UniqueClick          *int64 `json:"uniqueClick"`
	UniqueClickOfRequest *int64 `json:"uniqueClickOfRequest"`
}

// UnitStatistics reads unit's statistics for the days from..to (dates in
// UTC+9, at most MaxUnitStatsDays apart).
func (m *Messenger) UnitStatistics(ctx context.Context, channelToken, unit string, from, to time.Time) (UnitStats, error) {
	if !ValidUnit(unit) {
		return UnitStats{}, fmt.Errorf("line: unit statistics: %w: unit name %q", ErrInvalidMessage, unit)
	}
	f, t := from.In(InsightTZ).Format("20060102"), to.In(InsightTZ).Format("20060102")
	if _, err := m.client(channelToken); err != nil {
		return UnitStats{}, fmt.Errorf("line: unit statistics: %w", err)
	}
	if err := m.limiter.Wait(ctx, channelKey(channelToken), EndpointInsight); err != nil {
		return UnitStats{}, fmt.Errorf("line: unit statistics: %w", err)
	}
	q := url.Values{"customAggregationUnit": {unit}, "from": {f}, "to": {t}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.apiBase+"/v2/bot/insight/message/event/aggregation?"+q.Encode(), nil)
	if err != nil {
		return UnitStats{}, fmt.Errorf("line: unit statistics: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+channelToken)
	res, err := m.hc.Do(req)
	if err := callError("unit statistics", res, err); err != nil {
		return UnitStats{}, err
	}
	defer res.Body.Close()
	var out UnitStats
	if err := json.NewDecoder(io.LimitReader(res.Body, 4<<20)).Decode(&out); err != nil {
		return UnitStats{}, fmt.Errorf("line: unit statistics: decoding: %w", err)
	}
	return out, nil
}

// PushUnit is Push with an aggregation unit ("" for none).
func (m *Messenger) PushUnit(ctx context.Context, channelToken, to string, msgs []Message, retryKey, unit string) (SendResult, error) {
	if to == "" {
		return SendResult{}, errors.New("line: push: missing recipient")
	}
	sdkMsgs, err := toSDKMessages(msgs)
	if err != nil {
		return SendResult{}, fmt.Errorf("line: push: %w", err)
	}
	if err := checkRetryKey(retryKey); err != nil {
		return SendResult{}, fmt.Errorf("line: push: %w", err)
	}
	units, err := unitList(unit)
	if err != nil {
		return SendResult{}, fmt.Errorf("line: push: %w", err)
	}
	c, err := m.call(ctx, channelToken, EndpointPush)
	if err != nil {
		return SendResult{}, fmt.Errorf("line: push: %w", err)
	}
	res, _, err := c.PushMessageWithHttpInfo(&messaging_api.PushMessageRequest{To: to, Messages: sdkMsgs, CustomAggregationUnits: units}, retryKey)
	return sendResult("push", res, err)
}

// MulticastUnit is Multicast with an aggregation unit ("" for none).
func (m *Messenger) MulticastUnit(ctx context.Context, channelToken string, to []string, msgs []Message, retryKey, unit string) (SendResult, error) {
	if len(to) == 0 {
		return SendResult{}, errors.New("line: multicast: no recipients")
	}
	if len(to) > MaxMulticastTo {
		return SendResult{}, fmt.Errorf("line: multicast: %d recipients, at most %d per request", len(to), MaxMulticastTo)
	}
	sdkMsgs, err := toSDKMessages(msgs)
	if err != nil {
		return SendResult{}, fmt.Errorf("line: multicast: %w", err)
	}
	if err := checkRetryKey(retryKey); err != nil {
		return SendResult{}, fmt.Errorf("line: multicast: %w", err)
	}
	units, err := unitList(unit)
	if err != nil {
		return SendResult{}, fmt.Errorf("line: multicast: %w", err)
	}
	c, err := m.call(ctx, channelToken, EndpointMulticast)
	if err != nil {
		return SendResult{}, fmt.Errorf("line: multicast: %w", err)
	}
	res, _, err := c.MulticastWithHttpInfo(&messaging_api.MulticastRequest{To: to, Messages: sdkMsgs, CustomAggregationUnits: units}, retryKey)
	return sendResult("multicast", res, err)
}

// unitList is the request's customAggregationUnits: nil (sent as null,
// which LINE reads as absent) or the one valid name.
func unitList(unit string) ([]string, error) {
	if unit == "" {
		return nil, nil
	}
	if !ValidUnit(unit) {
		return nil, fmt.Errorf("%w: aggregation unit %q is not 1 to %d characters of a-z, A-Z, 0-9 and _", ErrInvalidMessage, unit, MaxUnitLength)
	}
	return []string{unit}, nil
}
