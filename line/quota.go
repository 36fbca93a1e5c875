package line

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
)

// Quota is a channel's monthly message allowance and what it has used
// (GET /v2/bot/message/quota and /v2/bot/message/quota/consumption).
type Quota struct {
	// Limited is false for plans without a monthly limit.
	Limited bool
	Limit   int64
	Used    int64
}

// Quota reads the channel's monthly limit and this month's consumption.
func (m *Messenger) Quota(ctx context.Context, channelToken string) (Quota, error) {
	c, err := m.call(ctx, channelToken, EndpointQuota)
	if err != nil {
		return Quota{}, fmt.Errorf("line: quota: %w", err)
	}
	res, q, err := c.GetMessageQuotaWithHttpInfo()
	if err := callError("quota", res, err); err != nil {
		return Quota{}, err
	}
	out := Quota{Limited: q.Type == messaging_api.QuotaType_LIMITED, Limit: q.Value}
	c, err = m.call(ctx, channelToken, EndpointQuota)
	if err != nil {
		return Quota{}, fmt.Errorf("line: quota consumption: %w", err)
	}
	res, used, err := c.GetMessageQuotaConsumptionWithHttpInfo()
	if err := callError("quota consumption", res, err); err != nil {
		return Quota{}, err
	}
	out.Used = used.TotalUsage
	return out, nil
}

// MonthlyLimit reports whether the error is LINE's "You have reached your
// monthly limit." 429: no more messages this month (or, briefly, while
// another delivery holds the rest in reserve), as opposed to a rate limit,
// which passes within seconds.
func (e *APIError) MonthlyLimit() bool {
	return e.Status == http.StatusTooManyRequests && strings.Contains(strings.ToLower(e.Message), "monthly limit")
}

// IsMonthlyLimit reports whether err carries LINE's monthly-limit 429.
func IsMonthlyLimit(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.MonthlyLimit()
}
