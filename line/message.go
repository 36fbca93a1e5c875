package line

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
)

// ErrInvalidMessage reports a message that LINE would refuse; it is caught
// before any request is made and is never retryable.
var ErrInvalidMessage = errors.New("line: invalid message")

// Documented LINE limits checked locally.
const (
	MaxTextLength    = 5000 // characters in a text message
	MaxAltTextLength = 1500 // characters in a flex message's altText
)

// TextMessage returns a text message object.
func TextMessage(text string) Message {
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}{"text", text})
	return b
}

// FlexMessage returns a flex message object around contents (a bubble or
// carousel container as JSON).
func FlexMessage(altText string, contents json.RawMessage) Message {
	b, err := json.Marshal(struct {
		Type     string          `json:"type"`
		AltText  string          `json:"altText"`
		Contents json.RawMessage `json:"contents"`
	}{"flex", altText, contents})
	if err != nil {
		// contents was not valid JSON; keep the error visible at send time.
		b, _ = json.Marshal(struct {
			Type    string `json:"type"`
			AltText string `json:"altText"`
		}{"flex", altText})
	}
	return b
}

// rawMessage lets the SDK send a template's JSON byte for byte: the SDK's
// request types hold []MessageInterface and marshal each element, and
// round-tripping through the SDK's structs would add zero-valued fields
// (such as empty quickReply objects) that LINE refuses.
type rawMessage struct {
	typ string
	raw json.RawMessage
}

func (r rawMessage) GetType() string              { return r.typ }
func (r rawMessage) MarshalJSON() ([]byte, error) { return r.raw, nil }

// toSDKMessages validates msgs locally and wraps them for the SDK.
func toSDKMessages(msgs []Message) ([]messaging_api.MessageInterface, error) {
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: no messages", ErrInvalidMessage)
	}
	if len(msgs) > MaxMessagesPerRequest {
		return nil, fmt.Errorf("%w: %d messages, at most %d per request", ErrInvalidMessage, len(msgs), MaxMessagesPerRequest)
	}
	out := make([]messaging_api.MessageInterface, len(msgs))
	for i, m := range msgs {
		typ, err := ValidateMessage(m)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, m); err != nil {
			return nil, fmt.Errorf("%w: message %d: %v", ErrInvalidMessage, i, err)
		}
		out[i] = rawMessage{typ: typ, raw: buf.Bytes()}
	}
	return out, nil
}

// ValidateMessage checks the parts of a message object LINE most often
// refuses, and that the SDK knows its type, returning the type. It is
// deliberately not a full schema check: the fake LINE server in linetest
// validates against LINE's OpenAPI document.
func ValidateMessage(m Message) (string, error) {
	var head struct {
		Type     string          `json:"type"`
		Text     *string         `json:"text"`
		AltText  *string         `json:"altText"`
		Contents json.RawMessage `json:"contents"`
	}
	if err := json.Unmarshal(m, &head); err != nil {
		return "", fmt.Errorf("%w: not a JSON object: %v", ErrInvalidMessage, err)
	}
	if head.Type == "" {
		return "", fmt.Errorf("%w: missing type", ErrInvalidMessage)
	}
	// The SDK's discriminator table is the list of types LINE accepts.
	if sdk, err := messaging_api.UnmarshalMessage(m); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidMessage, err)
	} else if _, unknown := sdk.(messaging_api.UnknownMessage); unknown {
		return "", fmt.Errorf("%w: unknown type %q", ErrInvalidMessage, head.Type)
	}
	switch head.Type {
	case "text":
		if head.Text == nil || *head.Text == "" {
			return "", fmt.Errorf("%w: text message without text", ErrInvalidMessage)
		}
		if n := utf8.RuneCountInString(*head.Text); n > MaxTextLength {
			return "", fmt.Errorf("%w: text is %d characters, at most %d", ErrInvalidMessage, n, MaxTextLength)
		}
	case "flex":
		if head.AltText == nil || *head.AltText == "" {
			return "", fmt.Errorf("%w: flex message without altText", ErrInvalidMessage)
		}
		if n := utf8.RuneCountInString(*head.AltText); n > MaxAltTextLength {
			return "", fmt.Errorf("%w: altText is %d characters, at most %d", ErrInvalidMessage, n, MaxAltTextLength)
		}
		var c struct {
			Type string `json:"type"`
		}
		if len(head.Contents) == 0 || json.Unmarshal(head.Contents, &c) != nil {
			return "", fmt.Errorf("%w: flex message without contents", ErrInvalidMessage)
		}
		if c.Type != "bubble" && c.Type != "carousel" {
			return "", fmt.Errorf("%w: flex contents type %q, want bubble or carousel", ErrInvalidMessage, c.Type)
		}
	}
	return head.Type, nil
}
