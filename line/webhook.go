package line

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/line/line-bot-sdk-go/v8/linebot/webhook"
)

// ErrBadSignature means X-Line-Signature does not match the body: the
// request did not come from LINE (or not for this channel).
var ErrBadSignature = errors.New("line: webhook signature is invalid")

// VerifySignature reports whether signature (X-Line-Signature) is the base64
// HMAC-SHA256 of the raw body keyed by the channel secret. The comparison is
// constant time.
func VerifySignature(channelSecret string, body []byte, signature string) bool {
	if channelSecret == "" || signature == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(channelSecret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// ParseWebhook verifies the signature and parses the body with the SDK.
// Event types the SDK does not know come back as webhook.UnknownEvent, never
// as an error; Events skips them.
func ParseWebhook(channelSecret string, body []byte, signature string) (*webhook.CallbackRequest, error) {
	if !VerifySignature(channelSecret, body, signature) {
		return nil, ErrBadSignature
	}
	var cb webhook.CallbackRequest
	if err := json.Unmarshal(body, &cb); err != nil {
		// The SDK's own error quotes the body; ours doesn't.
		return nil, errors.New("line: parsing webhook body: not a LINE webhook request")
	}
	return &cb, nil
}

// Event is the normalized view of one webhook event that the app acts on.
type Event struct {
	Type           string // follow, unfollow, message, postback, accountLink, join, ...
	WebhookEventID string // ULID, unique per event: the idempotency key
	Redelivery     bool   // deliveryContext.isRedelivery
	Timestamp      time.Time
	Mode           string // "active" or "standby"
	SourceType     string // user, group, room
	UserID         string // may be empty in groups when the user hasn't consented
	GroupID        string // group or room id, for group/room sources
	ReplyToken     string
	Text           string // text messages only
	MessageID      string
	MessageType    string // text, image, sticker, ...
	PostbackData   string
	Unblocked      bool   // follow.isUnblocked: a returning friend
	LinkResult     string // accountLink: "ok" or "failed"
	LinkNonce      string // accountLink
	Raw            json.RawMessage
}

// Events returns the normalized events of a parsed request, skipping event
// types the SDK does not know. Raw is the SDK's re-encoding of the event;
// use ParseEvents to keep LINE's exact bytes.
func Events(req *webhook.CallbackRequest) []Event {
	if req == nil {
		return nil
	}
	out := make([]Event, 0, len(req.Events))
	for _, e := range req.Events {
		if isUnknown(e) {
			continue
		}
		raw, err := json.Marshal(e)
		if err != nil {
			continue
		}
		ev, err := normalize(raw)
		if err != nil {
			continue
		}
		out = append(out, ev)
	}
	return out
}

// ParseEvents verifies the signature and returns the destination (the bot's
// user id) and the normalized events with LINE's exact bytes in Raw. Unknown
// event types are skipped; an empty events array (LINE's "verify" request)
// gives no events and no error.
func ParseEvents(channelSecret string, body []byte, signature string) (destination string, events []Event, err error) {
	if !VerifySignature(channelSecret, body, signature) {
		return "", nil, ErrBadSignature
	}
	var req struct {
		Destination string            `json:"destination"`
		Events      []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return "", nil, errors.New("line: parsing webhook body: not a LINE webhook request")
	}
	for i, raw := range req.Events {
		typed, err := webhook.UnmarshalEvent(raw)
		if err != nil {
			return "", nil, fmt.Errorf("line: parsing webhook event %d: %w", i, err)
		}
		if isUnknown(typed) {
			continue
		}
		ev, err := normalize(raw)
		if err != nil {
			return "", nil, fmt.Errorf("line: parsing webhook event %d: %w", i, err)
		}
		events = append(events, ev)
	}
	return req.Destination, events, nil
}

func isUnknown(e webhook.EventInterface) bool {
	switch e.(type) {
	case webhook.UnknownEvent, *webhook.UnknownEvent:
		return true
	}
	return false
}

// The event timestamps (Unix milliseconds) JSON can hold: 0000-01-01 to
// 9999-12-31T23:59:59.999Z.
const (
	minEventMillis = -62167219200000
	maxEventMillis = 253402300799999
)

// wireEvent is the union of the event fields Event keeps.
type wireEvent struct {
	Type            string `json:"type"`
	WebhookEventID  string `json:"webhookEventId"`
	Timestamp       int64  `json:"timestamp"`
	Mode            string `json:"mode"`
	ReplyToken      string `json:"replyToken"`
	DeliveryContext *struct {
		IsRedelivery bool `json:"isRedelivery"`
	} `json:"deliveryContext"`
	Source *struct {
		Type    string `json:"type"`
		UserID  string `json:"userId"`
		GroupID string `json:"groupId"`
		RoomID  string `json:"roomId"`
	} `json:"source"`
	Message *struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"message"`
	Postback *struct {
		Data string `json:"data"`
	} `json:"postback"`
	Follow *struct {
		IsUnblocked bool `json:"isUnblocked"`
	} `json:"follow"`
	Link *struct {
		Result string `json:"result"`
		Nonce  string `json:"nonce"`
	} `json:"link"`
}

func normalize(raw json.RawMessage) (Event, error) {
	var w wireEvent
	if err := json.Unmarshal(raw, &w); err != nil {
		return Event{}, err
	}
	// A time outside years 0–9999 cannot be stored as JSON (time.Time's
	// MarshalJSON refuses it), so such an event is malformed, not accepted.
	if w.Timestamp < minEventMillis || w.Timestamp > maxEventMillis {
		return Event{}, fmt.Errorf("timestamp %d ms is outside years 0-9999", w.Timestamp)
	}
	ev := Event{
		Type:           w.Type,
		WebhookEventID: w.WebhookEventID,
		Timestamp:      time.UnixMilli(w.Timestamp).UTC(),
		Mode:           w.Mode,
		ReplyToken:     w.ReplyToken,
		Raw:            raw,
	}
	if w.DeliveryContext != nil {
		ev.Redelivery = w.DeliveryContext.IsRedelivery
	}
	if s := w.Source; s != nil {
		ev.SourceType, ev.UserID = s.Type, s.UserID
		ev.GroupID = s.GroupID
		if ev.GroupID == "" {
			ev.GroupID = s.RoomID
		}
	}
	if m := w.Message; m != nil {
		ev.MessageID, ev.MessageType = m.ID, m.Type
		if m.Type == "text" {
			ev.Text = m.Text
		}
	}
	if w.Postback != nil {
		ev.PostbackData = w.Postback.Data
	}
	if w.Follow != nil {
		ev.Unblocked = w.Follow.IsUnblocked
	}
	if w.Link != nil {
		ev.LinkResult, ev.LinkNonce = w.Link.Result, w.Link.Nonce
	}
	return ev, nil
}
