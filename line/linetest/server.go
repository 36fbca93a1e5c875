package linetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// Push is a push message the fake accepted.
type Push struct {
	To       string
	Messages []json.RawMessage
	RetryKey string
	Token    string
	At       time.Time
	// Units is the request's customAggregationUnits.
	Units []string
}

// Multicast is a multicast the fake accepted.
type Multicast struct {
	To       []string
	Messages []json.RawMessage
	RetryKey string
	Token    string
	At       time.Time
	// Units is the request's customAggregationUnits.
	Units []string
}

// Reply is a reply message the fake accepted.
type Reply struct {
	ReplyToken string
	Messages   []json.RawMessage
	Token      string
	At         time.Time
}

// ReplyTokenTTL is how long the fake honours a reply token: LINE documents
// that a reply token must be used within one minute of the webhook.
const ReplyTokenTTL = time.Minute

// Rejection is a request the fake refused because it was invalid (by LINE's
// OpenAPI document or LINE's documented limits).
type Rejection struct {
	Method  string
	Path    string
	Status  int
	Message string
	Details []string // "property: message"
	Body    []byte
	At      time.Time
}

func (r Rejection) String() string {
	return fmt.Sprintf("%s %s -> %d %s %v", r.Method, r.Path, r.Status, r.Message, r.Details)
}

// Profile is a user profile the fake serves at /v2/bot/profile/{userId}.
type Profile struct {
	UserID        string
	DisplayName   string
	PictureURL    string
	StatusMessage string
	Language      string
}

// BotInfo is what the fake serves at /v2/bot/info.
type BotInfo struct {
	UserID      string
	BasicID     string
	DisplayName string
}

// Option configures a Server.
type Option func(*Server)

// WithSpec uses the OpenAPI document at path instead of the shared
// fixtures' messaging-api.yml.
func WithSpec(path string) Option { return func(s *Server) { s.specPath = path } }

// WithClock makes the fake read time from now (ID token iat/exp, record
// times). The rate limit uses it too.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithTokens registers valid channel access tokens (see AddToken).
func WithTokens(tokens ...string) Option {
	return func(s *Server) {
		for _, t := range tokens {
			s.tokens[t] = true
		}
	}
}

// WithES256IDTokens makes the token endpoint sign ID tokens with the fake's
// ES256 key (published at /oauth2/v2.1/certs) instead of HS256, like LINE
// does for native apps and LIFF.
func WithES256IDTokens() Option { return func(s *Server) { s.es256 = true } }

// Server is a fake LINE platform (api.line.me, api-data.line.me and
// access.line.me on one origin). Use its URL as every LINE base URL.
type Server struct {
	*httptest.Server

	t        testing.TB
	specPath string
	v        *validator
	insight  *validator
	now      func() time.Time
	es256    bool
	ecKey    *ecdsa.PrivateKey
	ecKID    string

	mu          sync.Mutex
	tokens      map[string]bool
	requests    int
	pushes      []Push
	multicasts  []Multicast
	replies     []Reply
	replyToks   map[string]time.Time // issued reply token -> issued at; deleted when used
	rejected    []Rejection
	accepted    map[string]acceptedKey // channel + retry key -> the request that took it
	channels    map[string]string      // token -> channel id (AddChannelToken)
	quota       map[string]int64       // channel -> monthly limit (SetMonthlyLimit)
	usage       map[string]int64       // channel -> messages sent this month
	failStatus  int
	failLeft    int
	limiter     *rate.Limiter
	bot         BotInfo
	profiles    map[string]Profile
	blocked     map[string]bool            // users who blocked the account (Block)
	undelivered []Push                     // pushes LINE took but did not deliver (blocked users)
	richMenus   map[string]string          // created rich menu id -> token of the channel that created it
	images      map[string][]byte          // rich menu id -> uploaded image
	userMenus   map[userOn]string          // user on a channel -> linked rich menu id
	menuDefs    map[string]json.RawMessage // rich menu id -> definition as created
	defaultMenu map[string]string          // channel token -> its default rich menu
	login       loginState
	units       map[string]map[string]bool // channel -> unit names sent with
	unitStats   map[string]UnitStats       // channel/unit -> SetUnitStats
	insightOK   int
}

// NewServer starts a fake LINE server, closed when the test ends. It loads
// and checks LINE's OpenAPI document first and fails the test if it can't.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t:           t,
		now:         time.Now,
		tokens:      make(map[string]bool),
		accepted:    make(map[string]acceptedKey),
		channels:    make(map[string]string),
		quota:       make(map[string]int64),
		usage:       make(map[string]int64),
		replyToks:   make(map[string]time.Time),
		profiles:    make(map[string]Profile),
		blocked:     make(map[string]bool),
		richMenus:   make(map[string]string),
		images:      make(map[string][]byte),
		userMenus:   make(map[userOn]string),
		defaultMenu: make(map[string]string),
		menuDefs:    make(map[string]json.RawMessage),
		bot:         BotInfo{UserID: "U" + strings.Repeat("0", 31) + "1", BasicID: "@tsunagu", DisplayName: "Tsunagu Test Shop"},
		login:       newLoginState(),
		units:       make(map[string]map[string]bool),
		unitStats:   make(map[string]UnitStats),
	}
	for _, o := range opts {
		o(s)
	}
	if s.specPath == "" {
		s.specPath = SpecPath(t)
	}
	v, err := loadSpec(s.specPath)
	if err != nil {
		t.Fatalf("linetest: %v", err)
	}
	s.v = v
	if s.insight, err = loadSpec(InsightSpecPath(t)); err != nil {
		t.Fatalf("linetest: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("linetest: generating ES256 key: %v", err)
	}
	s.ecKey, s.ecKID = key, uuid.NewString()

	s.Server = httptest.NewServer(s.routes())
	t.Cleanup(s.Close)
	return s
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/bot/message/push", s.botAPI(s.handlePush))
	mux.HandleFunc("POST /v2/bot/message/multicast", s.botAPI(s.handleMulticast))
	mux.HandleFunc("POST /v2/bot/message/reply", s.botAPI(s.handleReply))
	mux.HandleFunc("GET /v2/bot/info", s.botAPI(s.handleBotInfo))
	mux.HandleFunc("GET /v2/bot/message/quota", s.botAPI(s.handleQuota))
	mux.HandleFunc("GET /v2/bot/message/quota/consumption", s.botAPI(s.handleQuotaConsumption))
	mux.HandleFunc("GET /v2/bot/insight/message/event/aggregation", s.botAPI(s.handleUnitStats))
	mux.HandleFunc("GET /v2/bot/profile/{userId}", s.botAPI(s.handleProfile))
	mux.HandleFunc("POST /v2/bot/richmenu", s.botAPI(s.handleCreateRichMenu))
	mux.HandleFunc("POST /v2/bot/richmenu/{richMenuId}/content", s.botAPI(s.handleRichMenuContent))
	mux.HandleFunc("POST /v2/bot/user/{userId}/richmenu/{richMenuId}", s.botAPI(s.handleLinkRichMenu))
	mux.HandleFunc("DELETE /v2/bot/user/{userId}/richmenu", s.botAPI(s.handleUnlinkRichMenu))
	mux.HandleFunc("POST /v2/bot/user/all/richmenu/{richMenuId}", s.botAPI(s.handleSetDefaultRichMenu))
	mux.HandleFunc("DELETE /v2/bot/user/all/richmenu", s.botAPI(s.handleClearDefaultRichMenu))
	mux.HandleFunc("DELETE /v2/bot/richmenu/{richMenuId}", s.botAPI(s.handleDeleteRichMenu))

	mux.HandleFunc("GET /oauth2/v2.1/authorize", s.counted(s.handleAuthorize))
	mux.HandleFunc("POST /oauth2/v2.1/token", s.counted(s.handleToken))
	mux.HandleFunc("GET /oauth2/v2.1/certs", s.counted(s.handleCerts))
	mux.HandleFunc("GET /friendship/v1/status", s.counted(s.handleFriendship))
	mux.HandleFunc("GET /v2/profile", s.counted(s.handleLoginProfile))
	mux.HandleFunc("/", s.counted(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not found", nil)
	}))
	return mux
}

// --- configuration -------------------------------------------------------

// AddToken registers a valid channel access token. Until the first call any
// non-empty bearer token is accepted; after it, other tokens get 401.
func (s *Server) AddToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = true
}

// AddChannelToken registers token as a valid access token of channelID.
// LINE scopes retry keys to the channel, not the token: two installations
// sending on one channel with tokens of their own still share keys.
// Tokens not registered this way are each a channel of their own.
func (s *Server) AddChannelToken(channelID, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = true
	s.channels[token] = channelID
}

// channelOf is the channel a token sends for (the caller holds s.mu).
func (s *Server) channelOf(token string) string {
	if ch, ok := s.channels[token]; ok {
		return "channel:" + ch
	}
	return "token:" + hashToken(token)
}

// acceptedKey is a retry key LINE has accepted, for 24 hours.
type acceptedKey struct {
	requestID string
	at        time.Time
}

// retryKeyTTL is how long LINE remembers an accepted retry key.
const retryKeyTTL = 24 * time.Hour

// acceptedBy returns the request that took key on c's channel within the
// last 24 hours (the caller holds s.mu).
func (s *Server) acceptedBy(c *botCall, key string) (string, bool) {
	a, ok := s.accepted[s.channelOf(c.token)+"/"+key]
	if !ok || s.now().Sub(a.at) >= retryKeyTTL {
		return "", false
	}
	return a.requestID, true
}

// SetMonthlyLimit gives token's channel a monthly limit of limit messages
// (a push counts 1, a multicast 1 per recipient); beyond it sends answer
// 429 "You have reached your monthly limit." as LINE does. limit < 0 removes
// the limit. The quota endpoints report it.
func (s *Server) SetMonthlyLimit(token string, limit int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit < 0 {
		delete(s.quota, s.channelOf(token))
		return
	}
	s.quota[s.channelOf(token)] = limit
}

// Usage is how many messages token's channel has sent this month.
func (s *Server) Usage(token string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage[s.channelOf(token)]
}

// MonthlyLimitMessage is LINE's error message for a 429 at the monthly limit.
const MonthlyLimitMessage = "You have reached your monthly limit."

// RateLimitMessage is LINE's error message for a 429 over the rate limit.
const RateLimitMessage = "The API rate limit has been exceeded. Try again later."

// spend takes n messages from c's monthly allowance; false (and the 429
// written) when they do not fit.
func (s *Server) spend(w http.ResponseWriter, c *botCall, n int64) bool {
	s.mu.Lock()
	ch := s.channelOf(c.token)
	limit, limited := s.quota[ch]
	ok := !limited || s.usage[ch]+n <= limit
	if ok {
		s.usage[ch] += n
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusTooManyRequests, MonthlyLimitMessage, nil)
	}
	return ok
}

func (s *Server) handleQuota(w http.ResponseWriter, r *http.Request, c *botCall) {
	s.mu.Lock()
	limit, limited := s.quota[s.channelOf(c.token)]
	s.mu.Unlock()
	if !limited {
		writeJSON(w, http.StatusOK, map[string]any{"type": "none"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"type": "limited", "value": limit})
}

func (s *Server) handleQuotaConsumption(w http.ResponseWriter, r *http.Request, c *botCall) {
	s.mu.Lock()
	used := s.usage[s.channelOf(c.token)]
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"totalUsage": used})
}

// FailNext makes the next n send requests (push, multicast) that pass
// authentication answer status without doing anything, before any
// validation. 429 carries Retry-After: 1.
func (s *Server) FailNext(status int, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failStatus, s.failLeft = status, n
}

// SetRateLimit makes Messaging API requests (every /v2/bot endpoint, all
// channels together) beyond perSecond answer 429 with Retry-After: 1; it is
// a token bucket with a burst of max(1, perSecond) on the fake's clock.
// perSecond <= 0 removes the limit.
func (s *Server) SetRateLimit(perSecond float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if perSecond <= 0 {
		s.limiter = nil
		return
	}
	s.limiter = rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond)))
}

// SetBotInfo sets what GET /v2/bot/info answers.
func (s *Server) SetBotInfo(b BotInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bot = b
}

// SetProfile makes GET /v2/bot/profile/{p.UserID} answer p; unknown users
// get 404 as on LINE.
func (s *Server) SetProfile(p Profile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.profiles[p.UserID] = p
}

// Block makes userID a user who blocked the account (or deleted LINE), as
// LINE then behaves (LINE Developers FAQ, "If you send a message specifying a
// user who has blocked the LINE Official Account ... status code 200 will be
// returned", and such messages are not counted): a push to them is answered
// 200 but not delivered (Undelivered, not Pushes) nor counted against the
// monthly quota, and their profile answers 404 (GET /v2/bot/profile is only
// for friends). Unblock undoes it.
func (s *Server) Block(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked[userID] = true
}

// Unblock makes userID a friend again (a follow with isUnblocked on LINE).
func (s *Server) Unblock(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blocked, userID)
}

// --- inspection ----------------------------------------------------------

// Undelivered returns the pushes LINE answered 200 to but did not deliver
// (their recipient had blocked the account).
func (s *Server) Undelivered() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.undelivered...)
}

// Pushes returns the accepted pushes in order.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.pushes...)
}

// IssueReplyToken makes tok a reply token LINE would have put in a webhook
// event now (by the fake's clock): usable once, within ReplyTokenTTL.
func (s *Server) IssueReplyToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replyToks[tok] = s.now()
}

// SetClock replaces the fake's clock (reply-token age, rate windows).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Replies returns the accepted replies in order.
func (s *Server) Replies() []Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Reply(nil), s.replies...)
}

// Multicasts returns the accepted multicasts in order.
func (s *Server) Multicasts() []Multicast {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Multicast(nil), s.multicasts...)
}

// Requests returns how many requests the fake has received, of any kind and
// outcome.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Rejected returns the requests refused as invalid.
func (s *Server) Rejected() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rejection(nil), s.rejected...)
}

// RichMenuOf returns the rich menu linked to userID, or "".
func (s *Server) RichMenuOf(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, m := range s.userMenus {
		if k.user == userID {
			return m
		}
	}
	return ""
}

// RichMenuOfOn returns the rich menu linked to a user on the channel of
// token (LINE keeps a user's menu per channel), or "".
func (s *Server) RichMenuOfOn(token, userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userMenus[userOn{token, userID}]
}

// DefaultRichMenu returns the default rich menu (of any channel: for tests
// with one channel), or "".
func (s *Server) DefaultRichMenu() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.defaultMenu {
		return m
	}
	return ""
}

// DefaultRichMenuOn returns the default rich menu of the channel of token, or "".
func (s *Server) DefaultRichMenuOn(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.defaultMenu[token]
}

// RichMenuChannel returns the token of the channel that created a rich
// menu, or "" if LINE has no such menu.
func (s *Server) RichMenuChannel(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.richMenus[id]
}

// userOn is a LINE user on one channel (a channel is known by its token here).
type userOn struct{ token, user string }

// RichMenuDefinition returns a rich menu's definition as created, with
// whether its image was uploaded; nil if LINE has no such menu.
func (s *Server) RichMenuDefinition(id string) (def json.RawMessage, imageUploaded bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.richMenus[id] == "" {
		return nil, false
	}
	_, up := s.images[id]
	return s.menuDefs[id], up
}

// --- plumbing ------------------------------------------------------------

type errorDetail = detail

type errorResponse struct {
	Message string        `json:"message"`
	Details []errorDetail `json:"details,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string, details []detail) {
	writeJSON(w, status, errorResponse{Message: msg, Details: details})
}

func (s *Server) counted(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		s.mu.Unlock()
		h(w, r)
	}
}

// botCall is a Messaging API request that passed authentication.
type botCall struct {
	token     string
	body      []byte
	requestID string
}

// botAPI wraps a Messaging API handler: count, authenticate, inject failures,
// rate limit, read the body, set X-Line-Request-Id.
func (s *Server) botAPI(h func(http.ResponseWriter, *http.Request, *botCall)) http.HandlerFunc {
	return s.counted(func(w http.ResponseWriter, r *http.Request) {
		reqID := uuid.NewString()
		w.Header().Set("X-Line-Request-Id", reqID)
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		valid := ok && token != "" && (len(s.tokens) == 0 || s.tokens[token])
		s.mu.Unlock()
		if !valid {
			writeError(w, http.StatusUnauthorized, "Authentication failed. Confirm that the access token in the authorization header is valid.", nil)
			return
		}
		isSend := r.URL.Path == "/v2/bot/message/push" || r.URL.Path == "/v2/bot/message/multicast"
		if status := s.takeFailure(isSend); status != 0 {
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
				writeError(w, status, RateLimitMessage, nil)
				return
			}
			writeError(w, status, http.StatusText(status), nil)
			return
		}
		if !s.allow() {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, RateLimitMessage, nil)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			writeError(w, http.StatusBadRequest, "The request body could not be read", nil)
			return
		}
		h(w, r, &botCall{token: token, body: body, requestID: reqID})
	})
}

func (s *Server) takeFailure(isSend bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !isSend || s.failLeft <= 0 {
		return 0
	}
	s.failLeft--
	return s.failStatus
}

func (s *Server) allow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limiter == nil || s.limiter.AllowN(s.now(), 1)
}

// reject answers 400 with LINE's error shape and records the rejection.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, body []byte, msg string, details []detail) {
	var flat []string
	for _, d := range details {
		if d.Property != "" {
			flat = append(flat, d.Property+": "+d.Message)
		} else {
			flat = append(flat, d.Message)
		}
	}
	s.mu.Lock()
	s.rejected = append(s.rejected, Rejection{
		Method: r.Method, Path: r.URL.Path, Status: http.StatusBadRequest,
		Message: msg, Details: flat, Body: body, At: s.now(),
	})
	s.mu.Unlock()
	s.t.Logf("linetest: rejected %s %s: %s %v", r.Method, r.URL.Path, msg, flat)
	writeError(w, http.StatusBadRequest, msg, details)
}

// check validates the request against the OpenAPI operation at specPath.
func (s *Server) check(w http.ResponseWriter, r *http.Request, c *botCall, specPath string, params map[string]string, excludeBody bool) bool {
	if d := s.v.validate(r, c.body, specPath, params, excludeBody); len(d) > 0 {
		s.reject(w, r, c.body, fmt.Sprintf("The request body has %d error(s)", len(d)), d)
		return false
	}
	return true
}

// --- Messaging API -------------------------------------------------------

// retryGate applies LINE's retry-key rule: a key already accepted for this
// channel (by any of its tokens) in the last 24 hours answers 409 with
// X-Line-Accepted-Request-Id. It returns false when
// it has answered.
func (s *Server) retryGate(w http.ResponseWriter, r *http.Request, c *botCall) (key string, ok bool) {
	key = r.Header.Get("X-Line-Retry-Key")
	if key == "" {
		return "", true
	}
	if !validRetryKey(key) {
		s.reject(w, r, c.body, "The value for the 'X-Line-Retry-Key' header is invalid", []detail{{Message: "must be a UUID", Property: "X-Line-Retry-Key"}})
		return "", false
	}
	s.mu.Lock()
	prev, dup := s.acceptedBy(c, key)
	s.mu.Unlock()
	if dup {
		w.Header().Set("X-Line-Accepted-Request-Id", prev)
		writeJSON(w, http.StatusConflict, errorResponse{Message: "The retry key is already accepted"})
		return "", false
	}
	return key, true
}

// accept records key as accepted; false if another request won the race.
func (s *Server) accept(c *botCall, key string, record func()) (prev string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key != "" {
		if prev, dup := s.acceptedBy(c, key); dup {
			return prev, false
		}
		s.accepted[s.channelOf(c.token)+"/"+key] = acceptedKey{c.requestID, s.now()}
	}
	record()
	return "", true
}

func (s *Server) handlePush(w http.ResponseWriter, r *http.Request, c *botCall) {
	key, ok := s.retryGate(w, r, c)
	if !ok || !s.check(w, r, c, "/v2/bot/message/push", nil, false) {
		return
	}
	if d := append(checkSend(c.body, false), checkUnits(c.body)...); len(d) > 0 {
		s.reject(w, r, c.body, fmt.Sprintf("The request body has %d error(s)", len(d)), d)
		return
	}
	var req struct {
		To       string            `json:"to"`
		Messages []json.RawMessage `json:"messages"`
	}
	_ = json.Unmarshal(c.body, &req) // validated above
	s.mu.Lock()
	blocked := s.blocked[req.To]
	s.mu.Unlock()
	if !blocked && !s.spend(w, c, 1) {
		return
	}
	if prev, ok := s.accept(c, key, func() {
		p := Push{To: req.To, Messages: req.Messages, RetryKey: key, Token: c.token, At: s.now(), Units: unitsOf(c.body)}
		s.useUnits(c, p.Units)
		if blocked {
			s.undelivered = append(s.undelivered, p)
		} else {
			s.pushes = append(s.pushes, p)
		}
	}); !ok {
		w.Header().Set("X-Line-Accepted-Request-Id", prev)
		writeJSON(w, http.StatusConflict, errorResponse{Message: "The retry key is already accepted"})
		return
	}
	type sent struct {
		ID         string `json:"id"`
		QuoteToken string `json:"quoteToken"`
	}
	out := struct {
		SentMessages []sent `json:"sentMessages"`
	}{}
	for range req.Messages {
		out.SentMessages = append(out.SentMessages, sent{ID: strconv.FormatInt(time.Now().UnixNano(), 10), QuoteToken: uuid.NewString()})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleReply accepts a reply whose token was issued, is unused and is not
// older than ReplyTokenTTL; LINE answers anything else with 400 "Invalid
// reply token".
func (s *Server) handleReply(w http.ResponseWriter, r *http.Request, c *botCall) {
	if !s.check(w, r, c, "/v2/bot/message/reply", nil, false) {
		return
	}
	if d := checkSend(c.body, false); len(d) > 0 {
		s.reject(w, r, c.body, fmt.Sprintf("The request body has %d error(s)", len(d)), d)
		return
	}
	var req struct {
		ReplyToken string            `json:"replyToken"`
		Messages   []json.RawMessage `json:"messages"`
	}
	_ = json.Unmarshal(c.body, &req) // validated above
	s.mu.Lock()
	issued, ok := s.replyToks[req.ReplyToken]
	now := s.now()
	if ok && now.Sub(issued) <= ReplyTokenTTL {
		delete(s.replyToks, req.ReplyToken)
		s.replies = append(s.replies, Reply{ReplyToken: req.ReplyToken, Messages: req.Messages, Token: c.token, At: now})
	} else {
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusBadRequest, "Invalid reply token", nil)
		return
	}
	type sent struct {
		ID         string `json:"id"`
		QuoteToken string `json:"quoteToken"`
	}
	out := struct {
		SentMessages []sent `json:"sentMessages"`
	}{}
	for range req.Messages {
		out.SentMessages = append(out.SentMessages, sent{ID: strconv.FormatInt(time.Now().UnixNano(), 10), QuoteToken: uuid.NewString()})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleMulticast(w http.ResponseWriter, r *http.Request, c *botCall) {
	key, ok := s.retryGate(w, r, c)
	if !ok || !s.check(w, r, c, "/v2/bot/message/multicast", nil, false) {
		return
	}
	if d := append(checkSend(c.body, true), checkUnits(c.body)...); len(d) > 0 {
		s.reject(w, r, c.body, fmt.Sprintf("The request body has %d error(s)", len(d)), d)
		return
	}
	var req struct {
		To       []string          `json:"to"`
		Messages []json.RawMessage `json:"messages"`
	}
	_ = json.Unmarshal(c.body, &req)
	reach := int64(0) // blocked recipients are not counted
	s.mu.Lock()
	for _, to := range req.To {
		if !s.blocked[to] {
			reach++
		}
	}
	s.mu.Unlock()
	if !s.spend(w, c, reach) {
		return
	}
	if prev, ok := s.accept(c, key, func() {
		units := unitsOf(c.body)
		s.useUnits(c, units)
		s.multicasts = append(s.multicasts, Multicast{To: req.To, Messages: req.Messages, RetryKey: key, Token: c.token, At: s.now(), Units: units})
	}); !ok {
		w.Header().Set("X-Line-Accepted-Request-Id", prev)
		writeJSON(w, http.StatusConflict, errorResponse{Message: "The retry key is already accepted"})
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) handleBotInfo(w http.ResponseWriter, r *http.Request, c *botCall) {
	if !s.check(w, r, c, "/v2/bot/info", nil, true) {
		return
	}
	s.mu.Lock()
	b := s.bot
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"userId": b.UserID, "basicId": b.BasicID, "displayName": b.DisplayName,
		"chatMode": "bot", "markAsReadMode": "auto",
	})
}

func (s *Server) handleProfile(w http.ResponseWriter, r *http.Request, c *botCall) {
	id := r.PathValue("userId")
	if !s.check(w, r, c, "/v2/bot/profile/{userId}", map[string]string{"userId": id}, true) {
		return
	}
	s.mu.Lock()
	p, ok := s.profiles[id]
	if s.blocked[id] {
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Not found", nil)
		return
	}
	out := map[string]any{"userId": p.UserID, "displayName": p.DisplayName}
	if p.PictureURL != "" {
		out["pictureUrl"] = p.PictureURL
	}
	if p.StatusMessage != "" {
		out["statusMessage"] = p.StatusMessage
	}
	if p.Language != "" {
		out["language"] = p.Language
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleCreateRichMenu(w http.ResponseWriter, r *http.Request, c *botCall) {
	if !s.check(w, r, c, "/v2/bot/richmenu", nil, false) {
		return
	}
	id := "richmenu-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	s.mu.Lock()
	s.richMenus[id] = c.token
	s.menuDefs[id] = append(json.RawMessage(nil), c.body...)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"richMenuId": id})
}

func (s *Server) handleRichMenuContent(w http.ResponseWriter, r *http.Request, c *botCall) {
	id := r.PathValue("richMenuId")
	// The body is an image; the spec's "*/*" binary body needs no schema check.
	if !s.check(w, r, c, "/v2/bot/richmenu/{richMenuId}/content", map[string]string{"richMenuId": id}, true) {
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct != "image/png" && ct != "image/jpeg" {
		s.reject(w, r, nil, "Content-Type must be image/png or image/jpeg", nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.richMenus[id] != c.token { // a menu exists only on the channel that created it
		writeError(w, http.StatusNotFound, "Not found", nil)
		return
	}
	if _, done := s.images[id]; done {
		writeError(w, http.StatusBadRequest, "An image has already been uploaded to the richmenu", nil)
		return
	}
	s.images[id] = c.body
	writeJSON(w, http.StatusOK, struct{}{})
}

// menuApplicable answers LINE's error when menu cannot be applied to users
// of the channel of token (unknown there: another channel's menus are not
// found; or without its image); s.mu is held.
func (s *Server) menuApplicable(w http.ResponseWriter, token, menu string) bool {
	if s.richMenus[menu] != token {
		writeError(w, http.StatusNotFound, "richmenu not found", nil)
		return false
	}
	if _, ok := s.images[menu]; !ok {
		writeError(w, http.StatusBadRequest, "must upload richmenu image before applying it to user", nil)
		return false
	}
	return true
}

func (s *Server) handleLinkRichMenu(w http.ResponseWriter, r *http.Request, c *botCall) {
	user, menu := r.PathValue("userId"), r.PathValue("richMenuId")
	if !s.check(w, r, c, "/v2/bot/user/{userId}/richmenu/{richMenuId}", map[string]string{"userId": user, "richMenuId": menu}, true) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.menuApplicable(w, c.token, menu) {
		return
	}
	s.userMenus[userOn{c.token, user}] = menu
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) handleSetDefaultRichMenu(w http.ResponseWriter, r *http.Request, c *botCall) {
	menu := r.PathValue("richMenuId")
	if !s.check(w, r, c, "/v2/bot/user/all/richmenu/{richMenuId}", map[string]string{"richMenuId": menu}, true) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.menuApplicable(w, c.token, menu) {
		return
	}
	s.defaultMenu[c.token] = menu
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) handleClearDefaultRichMenu(w http.ResponseWriter, r *http.Request, c *botCall) {
	if !s.check(w, r, c, "/v2/bot/user/all/richmenu", nil, true) {
		return
	}
	s.mu.Lock()
	delete(s.defaultMenu, c.token)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleDeleteRichMenu deletes a menu: LINE takes it off its users and, if
// it was the default, leaves none.
func (s *Server) handleDeleteRichMenu(w http.ResponseWriter, r *http.Request, c *botCall) {
	menu := r.PathValue("richMenuId")
	if !s.check(w, r, c, "/v2/bot/richmenu/{richMenuId}", map[string]string{"richMenuId": menu}, true) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.richMenus[menu] != c.token {
		writeError(w, http.StatusNotFound, "richmenu not found", nil)
		return
	}
	delete(s.richMenus, menu)
	delete(s.images, menu)
	delete(s.menuDefs, menu)
	for u, m := range s.userMenus {
		if m == menu {
			delete(s.userMenus, u)
		}
	}
	if s.defaultMenu[c.token] == menu {
		delete(s.defaultMenu, c.token)
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) handleUnlinkRichMenu(w http.ResponseWriter, r *http.Request, c *botCall) {
	user := r.PathValue("userId")
	if !s.check(w, r, c, "/v2/bot/user/{userId}/richmenu", map[string]string{"userId": user}, true) {
		return
	}
	s.mu.Lock()
	delete(s.userMenus, userOn{c.token, user})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
}
