package line

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
)

// DefaultAPIBase is the origin of the Messaging API and of LINE Login's
// token, certs and friendship endpoints.
const DefaultAPIBase = "https://api.line.me"

// DefaultDataAPIBase is the origin of LINE's content endpoints (rich menu
// images).
const DefaultDataAPIBase = "https://api-data.line.me"

// Limits LINE documents for sending.
const (
	MaxMessagesPerRequest = 5   // messages in one push or multicast
	MaxMulticastTo        = 500 // recipients in one multicast
)

// Message is one LINE message object as JSON (text, flex, ...), produced by
// templates. It is sent to LINE byte for byte.
type Message = json.RawMessage

// SendResult describes a send LINE accepted.
type SendResult struct {
	// RequestID is X-Line-Request-Id of this request.
	RequestID string
	// AcceptedRequestID is X-Line-Accepted-Request-Id: set when LINE
	// answered 409 because the retry key was already accepted; it names the
	// request that actually sent the message.
	AcceptedRequestID string
	// Duplicate is true when LINE answered 409 for a retry key it had
	// already accepted: the message WAS sent, by the earlier request.
	Duplicate bool
}

// BotInfo is the subset of GET /v2/bot/info the app uses.
type BotInfo struct {
	UserID      string
	BasicID     string
	DisplayName string
}

// Profile is a LINE user's profile as seen by a channel.
type Profile struct {
	UserID      string
	DisplayName string
	PictureURL  string
	Language    string
}

// Messenger sends through the Messaging API. It keeps one SDK client per
// channel access token and is safe for concurrent use.
type Messenger struct {
	apiBase     string
	dataAPIBase string
	hc          *http.Client
	limiter     *Limiter

	mu          sync.Mutex
	clients     map[string]*messaging_api.MessagingApiAPI     // keyed by channelKey(token)
	blobClients map[string]*messaging_api.MessagingApiBlobAPI // keyed by channelKey(token)
}

// MessengerOption configures a Messenger.
type MessengerOption func(*Messenger)

// WithLimiter makes the Messenger wait on l before every call.
func WithLimiter(l *Limiter) MessengerOption {
	return func(m *Messenger) { m.limiter = l }
}

// WithDataAPIBase sets the content origin (default DefaultDataAPIBase;
// TSUNAGU_LINE_DATA_API_BASE). Tests pass the fake's URL.
func WithDataAPIBase(base string) MessengerOption {
	return func(m *Messenger) {
		if base != "" {
			m.dataAPIBase = strings.TrimRight(base, "/")
		}
	}
}

// NewMessenger returns a Messenger for apiBase ("" means DefaultAPIBase).
// hc nil means a client with a 30 second timeout.
func NewMessenger(apiBase string, hc *http.Client, opts ...MessengerOption) *Messenger {
	if apiBase == "" {
		apiBase = DefaultAPIBase
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	m := &Messenger{
		apiBase:     strings.TrimRight(apiBase, "/"),
		dataAPIBase: DefaultDataAPIBase,
		hc:          withoutEmptyRetryKey(hc),
		clients:     make(map[string]*messaging_api.MessagingApiAPI),
		blobClients: make(map[string]*messaging_api.MessagingApiBlobAPI),
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// channelKey identifies a channel by a hash of its token so that the token
// itself never becomes a key that might be printed. A channel has one
// long-lived access token at a time, so every installation and process
// sending for the channel shares the key (and its rate limit).
func channelKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

// client returns the cached SDK client for token. The SDK client carries a
// context field, so each call works on a shallow copy (see call).
func (m *Messenger) client(token string) (*messaging_api.MessagingApiAPI, error) {
	if token == "" {
		return nil, errors.New("line: missing channel access token")
	}
	key := channelKey(token)
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.clients[key]; ok {
		return c, nil
	}
	c, err := messaging_api.NewMessagingApiAPI(token,
		messaging_api.WithHTTPClient(m.hc),
		messaging_api.WithEndpoint(m.apiBase))
	if err != nil {
		return nil, fmt.Errorf("line: creating messaging client: %w", err)
	}
	m.clients[key] = c
	return c, nil
}

// call waits for the endpoint's rate limit and returns a per-call copy of the client bound
// to ctx. WithContext mutates the client, so sharing one would race.
func (m *Messenger) call(ctx context.Context, token string, ep Endpoint) (*messaging_api.MessagingApiAPI, error) {
	c, err := m.client(token)
	if err != nil {
		return nil, err
	}
	if err := m.limiter.Wait(ctx, channelKey(token), ep); err != nil {
		return nil, err
	}
	cp := *c
	return cp.WithContext(ctx), nil
}

// Push sends msgs to one user (or group/room) id. retryKey should come from
// RetryKey so that a retried job cannot send twice.
func (m *Messenger) Push(ctx context.Context, channelToken, to string, msgs []Message, retryKey string) (SendResult, error) {
	return m.PushUnit(ctx, channelToken, to, msgs, retryKey, "")
}

// Multicast sends msgs to up to MaxMulticastTo user ids. Callers batch larger
// audiences (with one retry key per batch).
func (m *Messenger) Multicast(ctx context.Context, channelToken string, to []string, msgs []Message, retryKey string) (SendResult, error) {
	return m.MulticastUnit(ctx, channelToken, to, msgs, retryKey, "")
}

// ReplyTokenTTL is how long LINE guarantees a reply token: "use it within
// one minute of receiving the webhook; beyond that it is not guaranteed to
// work" (Messaging API reference, Send reply message).
const ReplyTokenTTL = time.Minute

// Reply answers a webhook event with its reply token: free, but only once
// per token and only within ReplyTokenTTL.
func (m *Messenger) Reply(ctx context.Context, channelToken, replyToken string, msgs []Message) (SendResult, error) {
	if replyToken == "" {
		return SendResult{}, errors.New("line: reply: missing reply token")
	}
	sdkMsgs, err := toSDKMessages(msgs)
	if err != nil {
		return SendResult{}, fmt.Errorf("line: reply: %w", err)
	}
	c, err := m.call(ctx, channelToken, EndpointReply)
	if err != nil {
		return SendResult{}, fmt.Errorf("line: reply: %w", err)
	}
	res, _, err := c.ReplyMessageWithHttpInfo(&messaging_api.ReplyMessageRequest{ReplyToken: replyToken, Messages: sdkMsgs})
	return sendResult("reply", res, err)
}

// BotInfo returns the bot behind channelToken; it doubles as the "test
// connection" check for a merchant's channel settings.
func (m *Messenger) BotInfo(ctx context.Context, channelToken string) (BotInfo, error) {
	c, err := m.call(ctx, channelToken, EndpointBotInfo)
	if err != nil {
		return BotInfo{}, fmt.Errorf("line: bot info: %w", err)
	}
	res, info, err := c.GetBotInfoWithHttpInfo()
	if err := callError("bot info", res, err); err != nil {
		return BotInfo{}, err
	}
	return BotInfo{UserID: info.UserId, BasicID: info.BasicId, DisplayName: info.DisplayName}, nil
}

// Profile returns userID's profile as seen by the channel (the user must be a
// friend of the bot).
func (m *Messenger) Profile(ctx context.Context, channelToken, userID string) (Profile, error) {
	if userID == "" {
		return Profile{}, errors.New("line: profile: missing user id")
	}
	c, err := m.call(ctx, channelToken, EndpointProfile)
	if err != nil {
		return Profile{}, fmt.Errorf("line: profile: %w", err)
	}
	res, p, err := c.GetProfileWithHttpInfo(userID)
	if err := callError("profile", res, err); err != nil {
		return Profile{}, err
	}
	return Profile{UserID: p.UserId, DisplayName: p.DisplayName, PictureURL: p.PictureUrl, Language: p.Language}, nil
}

// sendResult turns the SDK's answer to a push or multicast into a SendResult.
// LINE answers 409 with X-Line-Accepted-Request-Id when the retry key was
// already accepted: that is a success for us, the message went out.
func sendResult(op string, res *http.Response, err error) (SendResult, error) {
	if res != nil && res.StatusCode == http.StatusConflict {
		if acc := res.Header.Get("X-Line-Accepted-Request-Id"); acc != "" {
			drain(res)
			return SendResult{
				RequestID:         res.Header.Get("X-Line-Request-Id"),
				AcceptedRequestID: acc,
				Duplicate:         true,
			}, nil
		}
	}
	if err := callError(op, res, err); err != nil {
		return SendResult{}, err
	}
	return SendResult{RequestID: res.Header.Get("X-Line-Request-Id")}, nil
}

// callError classifies the SDK's (response, error) pair. HTTP errors become
// *APIError; transport errors are wrapped as they are (and are retryable,
// see IsRetryable).
func callError(op string, res *http.Response, err error) error {
	if res != nil && res.StatusCode/100 != 2 {
		return fmt.Errorf("line: %s: %w", op, newAPIError(res))
	}
	if err != nil {
		// The SDK builds its messages from the response, never from the
		// token, so wrapping is safe.
		return fmt.Errorf("line: %s: %w", op, err)
	}
	if res == nil {
		return fmt.Errorf("line: %s: no response", op)
	}
	return nil
}

func drain(res *http.Response) {
	if res.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
		_ = res.Body.Close()
	}
}

// APIError is a non-2xx answer from LINE.
type APIError struct {
	Status     int
	Message    string   // LINE's "message"
	Details    []string // "property: message" for each of LINE's "details"
	RequestID  string   // X-Line-Request-Id, for LINE support
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "LINE API status %d", e.Status)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.Details) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(e.Details, "; "))
		b.WriteString(")")
	}
	if e.RequestID != "" {
		b.WriteString(" [request ")
		b.WriteString(e.RequestID)
		b.WriteString("]")
	}
	return b.String()
}

// Retryable reports whether trying again later may succeed: rate limited
// (429) or a server error (5xx). 4xx errors are the request's fault.
func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// IsRetryable reports whether err (from this package) is worth retrying:
// a retryable *APIError, or a transport error (timeout, connection reset).
// Context cancellation and local validation errors are not.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Retryable()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrInvalidMessage) {
		return false
	}
	var netErr interface{ Timeout() bool }
	return errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || isTransport(err)
}

// isTransport recognises errors from http.Client.Do, which wraps every
// transport failure in *url.Error.
func isTransport(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

type errorBody struct {
	Message string `json:"message"`
	Details []struct {
		Message  string `json:"message"`
		Property string `json:"property"`
	} `json:"details"`
}

func newAPIError(res *http.Response) *APIError {
	e := &APIError{Status: res.StatusCode, RequestID: res.Header.Get("X-Line-Request-Id")}
	if s := res.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		} else if t, err := http.ParseTime(s); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	if res.Body != nil {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
		_ = res.Body.Close()
		var eb errorBody
		if json.Unmarshal(body, &eb) == nil && eb.Message != "" {
			e.Message = eb.Message
			for _, d := range eb.Details {
				switch {
				case d.Property != "":
					e.Details = append(e.Details, d.Property+": "+d.Message)
				default:
					e.Details = append(e.Details, d.Message)
				}
			}
		} else if len(body) > 0 {
			e.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(res.StatusCode)
	}
	return e
}

// retryKeyNamespace is the fixed namespace of Tsunagu's retry keys. Changing
// it would make in-flight retries look like new messages to LINE.
var retryKeyNamespace = uuid.MustParse("6f1c2b3e-8d4a-5c7e-9b0f-1a2b3c4d5e6f")

// RetryKey maps a message's dedupe key to the UUID LINE wants in
// X-Line-Retry-Key. It is deterministic (UUID v5), so every retry of the same
// message carries the same key and LINE sends it at most once.
func RetryKey(dedupeKey string) string {
	return uuid.NewSHA1(retryKeyNamespace, []byte(dedupeKey)).String()
}

func checkRetryKey(k string) error {
	if k == "" {
		return nil
	}
	if _, err := uuid.Parse(k); err != nil || len(k) != 36 {
		return fmt.Errorf("%w: retry key must be a UUID in hexadecimal form", ErrInvalidMessage)
	}
	return nil
}

// withoutEmptyRetryKey wraps hc so that an empty X-Line-Retry-Key header,
// which the SDK always sets, is dropped instead of sent to LINE.
func withoutEmptyRetryKey(hc *http.Client) *http.Client {
	cp := *hc
	base := cp.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cp.Transport = dropEmptyRetryKey{base}
	return &cp
}

type dropEmptyRetryKey struct{ next http.RoundTripper }

func (d dropEmptyRetryKey) RoundTrip(r *http.Request) (*http.Response, error) {
	if v, ok := r.Header["X-Line-Retry-Key"]; ok && (len(v) == 0 || v[0] == "") {
		r = r.Clone(r.Context())
		r.Header.Del("X-Line-Retry-Key")
	}
	return d.next.RoundTrip(r)
}
