package linetest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tsunagu/tsunagu/line/linetest"
)

const (
	tok  = "tok"
	user = "U1234567890abcdef1234567890abcdef"
)

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func send(t *testing.T, s *linetest.Server, path, token, retryKey, body string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if retryKey != "" {
		req.Header.Set("X-Line-Retry-Key", retryKey)
	}
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	a := answer{status: res.StatusCode, header: res.Header}
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &a.body)
	return a
}

func push(msgs ...string) string {
	return `{"to":"` + user + `","messages":[` + strings.Join(msgs, ",") + `]}`
}

const validFlex = `{"type":"flex","altText":"Order #1001","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"text","text":"Thanks!","weight":"bold"},{"type":"button","action":{"type":"uri","label":"View","uri":"https://example.com/o/1001"}}]}}}`

func TestValidPushAccepted(t *testing.T) {
	t.Parallel()
	s := linetest.NewServer(t, linetest.WithTokens(tok))
	a := send(t, s, "/v2/bot/message/push", tok, uuid.NewString(), push(`{"type":"text","text":"hi"}`, validFlex))
	if a.status != 200 {
		t.Fatalf("status %d %v; rejected %v", a.status, a.body, s.Rejected())
	}
	if a.header.Get("X-Line-Request-Id") == "" {
		t.Error("no X-Line-Request-Id")
	}
	if sent, _ := a.body["sentMessages"].([]any); len(sent) != 2 {
		t.Errorf("sentMessages = %v", a.body["sentMessages"])
	}
	if len(s.Pushes()) != 1 || s.Pushes()[0].To != user {
		t.Errorf("pushes = %+v", s.Pushes())
	}
}

// Each case is refused by LINE's OpenAPI document (or, marked, by a limit
// LINE documents outside it).
func TestInvalidRequestsRejected(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body, wantProp string
	}{
		{"flex without altText", push(`{"type":"flex","contents":{"type":"bubble"}}`), "messages[0]"},
		{"flex without contents", push(`{"type":"flex","altText":"a"}`), "messages[0]"},
		{"flex contents not a container", push(`{"type":"flex","altText":"a","contents":{"type":"box","layout":"vertical","contents":[]}}`), "messages[0].contents.type"},
		{"flex box bad layout", push(`{"type":"flex","altText":"a","contents":{"type":"bubble","body":{"type":"box","layout":"diagonal","contents":[]}}}`), "messages[0].contents.body"},
		{"flex unknown component", push(`{"type":"flex","altText":"a","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"marquee"}]}}}`), "messages[0].contents.body.contents[0].type"},
		{"flex text bad weight", push(`{"type":"flex","altText":"a","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"text","text":"x","weight":"heavy"}]}}}`), "messages[0].contents.body.contents[0]"},
		{"text without text", push(`{"type":"text"}`), "messages[0]"},
		{"text is a number", push(`{"type":"text","text":5}`), "messages[0]"},
		{"unknown message type", push(`{"type":"hologram"}`), "messages[0].type"},
		{"missing to", `{"messages":[{"type":"text","text":"hi"}]}`, "to"},
		{"no messages", `{"to":"` + user + `","messages":[]}`, "messages"},
		{"six messages", push(`{"type":"text","text":"1"}`, `{"type":"text","text":"2"}`, `{"type":"text","text":"3"}`, `{"type":"text","text":"4"}`, `{"type":"text","text":"5"}`, `{"type":"text","text":"6"}`), "messages"},
		{"text too long (limit)", push(`{"type":"text","text":"` + strings.Repeat("x", 5001) + `"}`), "messages[0].text"},
		{"altText too long (limit)", push(`{"type":"flex","altText":"` + strings.Repeat("x", 1501) + `","contents":{"type":"bubble"}}`), "messages[0].altText"},
		{"bad recipient (limit)", `{"to":"someone","messages":[{"type":"text","text":"hi"}]}`, "to"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := linetest.NewServer(t, linetest.WithTokens(tok))
			a := send(t, s, "/v2/bot/message/push", tok, uuid.NewString(), c.body)
			if a.status != 400 {
				t.Fatalf("status %d, want 400", a.status)
			}
			msg, _ := a.body["message"].(string)
			details, _ := a.body["details"].([]any)
			if msg == "" || len(details) == 0 {
				t.Errorf("body %v, want LINE's message and details", a.body)
			}
			rej := s.Rejected()
			if len(rej) != 1 || len(s.Pushes()) != 0 {
				t.Fatalf("rejected %v pushes %v", rej, s.Pushes())
			}
			found := false
			for _, d := range rej[0].Details {
				if strings.HasPrefix(d, c.wantProp) {
					found = true
				}
			}
			if !found {
				t.Errorf("details %q, want one at %q", rej[0].Details, c.wantProp)
			}
		})
	}
}

func TestRetryKeySemantics(t *testing.T) {
	t.Parallel()
	s := linetest.NewServer(t, linetest.WithTokens(tok, "tok2"))
	key := uuid.NewString()
	first := send(t, s, "/v2/bot/message/push", tok, key, push(`{"type":"text","text":"hi"}`))
	again := send(t, s, "/v2/bot/message/push", tok, key, push(`{"type":"text","text":"hi"}`))
	if first.status != 200 || again.status != 409 {
		t.Fatalf("statuses %d, %d; want 200, 409", first.status, again.status)
	}
	if got, want := again.header.Get("X-Line-Accepted-Request-Id"), first.header.Get("X-Line-Request-Id"); got != want || got == "" {
		t.Errorf("X-Line-Accepted-Request-Id = %q, want %q", got, want)
	}
	if n := len(s.Pushes()); n != 1 {
		t.Errorf("%d pushes recorded, want 1", n)
	}
	// Keys are per channel.
	if a := send(t, s, "/v2/bot/message/push", "tok2", key, push(`{"type":"text","text":"hi"}`)); a.status != 200 {
		t.Errorf("same key on another channel: %d", a.status)
	}
	// A rejected request does not consume its key.
	k2 := uuid.NewString()
	send(t, s, "/v2/bot/message/push", tok, k2, push(`{"type":"text"}`))
	if a := send(t, s, "/v2/bot/message/push", tok, k2, push(`{"type":"text","text":"fixed"}`)); a.status != 200 {
		t.Errorf("retry after a 400: %d", a.status)
	}
	// Not a UUID.
	if a := send(t, s, "/v2/bot/message/push", tok, "order-1001", push(`{"type":"text","text":"hi"}`)); a.status != 400 {
		t.Errorf("non-UUID retry key: %d, want 400", a.status)
	}
}

func TestAuthFailuresAndRateLimit(t *testing.T) {
	t.Parallel()
	s := linetest.NewServer(t)
	s.AddToken(tok)
	if a := send(t, s, "/v2/bot/message/push", "other", "", push(`{"type":"text","text":"hi"}`)); a.status != 401 {
		t.Errorf("unknown token: %d", a.status)
	}
	if a := send(t, s, "/v2/bot/message/push", "", "", push(`{"type":"text","text":"hi"}`)); a.status != 401 {
		t.Errorf("no token: %d", a.status)
	}
	s.FailNext(http.StatusTooManyRequests, 2)
	for i := range 2 {
		a := send(t, s, "/v2/bot/message/push", tok, "", push(`{"type":"text","text":"hi"}`))
		if a.status != 429 || a.header.Get("Retry-After") == "" {
			t.Errorf("failure %d: %d %v", i, a.status, a.header)
		}
	}
	s.FailNext(http.StatusInternalServerError, 1)
	if a := send(t, s, "/v2/bot/message/push", tok, "", push(`{"type":"text","text":"hi"}`)); a.status != 500 {
		t.Errorf("injected 500: %d", a.status)
	}
	if a := send(t, s, "/v2/bot/message/push", tok, "", push(`{"type":"text","text":"hi"}`)); a.status != 200 {
		t.Errorf("after failures: %d", a.status)
	}
	if s.Requests() != 6 {
		t.Errorf("Requests() = %d, want 6", s.Requests())
	}
}

func TestServerRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	s := linetest.NewServer(t, linetest.WithTokens(tok), linetest.WithClock(func() time.Time { return now }))
	s.SetRateLimit(2) // burst 2, clock frozen: the third call is refused
	var statuses []int
	for range 3 {
		statuses = append(statuses, send(t, s, "/v2/bot/message/push", tok, "", push(`{"type":"text","text":"hi"}`)).status)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 {
		t.Errorf("statuses = %v, want [200 200 429]", statuses)
	}
	now = now.Add(time.Second)
	if a := send(t, s, "/v2/bot/message/push", tok, "", push(`{"type":"text","text":"hi"}`)); a.status != 200 {
		t.Errorf("after a second: %d", a.status)
	}
}

func TestRichMenu(t *testing.T) {
	t.Parallel()
	s := linetest.NewServer(t, linetest.WithTokens(tok))
	create := `{"size":{"width":2500,"height":843},"selected":false,"name":"member","chatBarText":"Menu","areas":[{"bounds":{"x":0,"y":0,"width":2500,"height":843},"action":{"type":"uri","uri":"https://example.com"}}]}`
	a := send(t, s, "/v2/bot/richmenu", tok, "", create)
	id, _ := a.body["richMenuId"].(string)
	if a.status != 200 || id == "" {
		t.Fatalf("create: %d %v %v", a.status, a.body, s.Rejected())
	}
	if a := send(t, s, "/v2/bot/richmenu", tok, "", `{"size":{"width":"wide"}}`); a.status != 400 {
		t.Errorf("invalid rich menu: %d", a.status)
	}
	do := func(method, path, ct string, body []byte) int {
		req, _ := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		res, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := do("POST", "/v2/bot/user/"+user+"/richmenu/"+id, "", nil); st != 400 {
		t.Errorf("link before image upload: %d, want 400", st)
	}
	if st := do("POST", "/v2/bot/richmenu/"+id+"/content", "image/png", []byte("\x89PNG")); st != 200 {
		t.Errorf("upload: %d", st)
	}
	if st := do("POST", "/v2/bot/user/"+user+"/richmenu/"+id, "", nil); st != 200 || s.RichMenuOf(user) != id {
		t.Errorf("link: %d, menu %q", st, s.RichMenuOf(user))
	}
	if st := do("DELETE", "/v2/bot/user/"+user+"/richmenu", "", nil); st != 200 || s.RichMenuOf(user) != "" {
		t.Errorf("unlink: %d", st)
	}
}

func TestSignWebhook(t *testing.T) {
	t.Parallel()
	// Known answer from: printf body | openssl dgst -sha256 -hmac secret -binary | base64
	if got := linetest.SignWebhook("secret", []byte("body")); got != "3EaYNVf+oSe0OvchRn65s/3iM4/j4U9RlSqoR4wT01U=" {
		t.Errorf("SignWebhook = %s", got)
	}
}

func TestConcurrentSameRetryKey(t *testing.T) {
	t.Parallel()
	s := linetest.NewServer(t, linetest.WithTokens(tok))
	key := uuid.NewString()
	const n = 20
	statuses := make(chan int, n)
	for range n {
		go func() {
			statuses <- send(t, s, "/v2/bot/message/push", tok, key, push(`{"type":"text","text":"once"}`)).status
		}()
	}
	counts := map[int]int{}
	for range n {
		counts[<-statuses]++
	}
	if counts[200] != 1 || counts[409] != n-1 || len(s.Pushes()) != 1 {
		t.Errorf("statuses %v, pushes %d; want one 200 and %d 409s", counts, len(s.Pushes()), n-1)
	}
}

// Retry keys belong to the channel, not the token, and LINE forgets them
// after 24 hours.
func TestRetryKeysPerChannelFor24Hours(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	s := linetest.NewServer(t, linetest.WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now }))
	s.AddChannelToken("2000000001", "staging-token")
	s.AddChannelToken("2000000001", "production-token")
	s.AddChannelToken("2000000002", "other-shop-token")
	key := uuid.NewString()
	body := push(`{"type":"text","text":"hi"}`)
	first := send(t, s, "/v2/bot/message/push", "staging-token", key, body)
	cases := []struct {
		name   string
		token  string
		later  time.Duration
		status int
	}{
		{"same channel, other token", "production-token", 0, 409},
		{"other channel", "other-shop-token", 0, 200},
		{"same channel after 23 h", "production-token", 23 * time.Hour, 409},
		{"same channel after 24 h", "production-token", time.Hour, 200},
	}
	for _, tc := range cases {
		mu.Lock()
		now = now.Add(tc.later)
		mu.Unlock()
		a := send(t, s, "/v2/bot/message/push", tc.token, key, body)
		if a.status != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, a.status, tc.status)
		}
		if a.status == 409 && a.header.Get("X-Line-Accepted-Request-Id") != first.header.Get("X-Line-Request-Id") {
			t.Errorf("%s: accepted request %q, want %q", tc.name, a.header.Get("X-Line-Accepted-Request-Id"), first.header.Get("X-Line-Request-Id"))
		}
	}
}

// A channel's monthly limit: sends beyond it answer LINE's monthly-limit
// 429, and the quota endpoints report limit and usage.
func TestMonthlyLimit(t *testing.T) {
	t.Parallel()
	s := linetest.NewServer(t, linetest.WithTokens(tok))
	get := func(path string) map[string]any {
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return out
	}
	if q := get("/v2/bot/message/quota"); q["type"] != "none" {
		t.Errorf("quota without a limit: %v", q)
	}
	s.SetMonthlyLimit(tok, 2)
	body := push(`{"type":"text","text":"hi"}`)
	statuses := []int{}
	for range 3 {
		statuses = append(statuses, send(t, s, "/v2/bot/message/push", tok, uuid.NewString(), body).status)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 {
		t.Errorf("statuses %v, want 200 200 429", statuses)
	}
	a := send(t, s, "/v2/bot/message/push", tok, uuid.NewString(), body)
	if a.body["message"] != linetest.MonthlyLimitMessage {
		t.Errorf("429 message %v", a.body["message"])
	}
	if q := get("/v2/bot/message/quota"); q["type"] != "limited" || q["value"] != float64(2) {
		t.Errorf("quota %v", q)
	}
	if c := get("/v2/bot/message/quota/consumption"); c["totalUsage"] != float64(2) {
		t.Errorf("consumption %v", c)
	}
}

// A user who blocked the account: a push is answered 200 as LINE does
// (LINE Developers FAQ) but neither delivered nor counted, and the profile
// answers 404; after Unblock both are as for any friend.
func TestBlockedUser(t *testing.T) {
	t.Parallel()
	s := linetest.NewServer(t, linetest.WithTokens(tok))
	s.SetProfile(linetest.Profile{UserID: user, DisplayName: "Taro"})
	s.SetMonthlyLimit(tok, 10)
	profile := func() int {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/v2/bot/profile/"+user, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	s.Block(user)
	if a := send(t, s, "/v2/bot/message/push", tok, uuid.NewString(), push(`{"type":"text","text":"hi"}`)); a.status != 200 {
		t.Fatalf("push to a blocked user: %d %v", a.status, a.body)
	}
	if len(s.Pushes()) != 0 || len(s.Undelivered()) != 1 || s.Usage(tok) != 0 {
		t.Fatalf("blocked: %d delivered, %d undelivered, usage %d", len(s.Pushes()), len(s.Undelivered()), s.Usage(tok))
	}
	if st := profile(); st != http.StatusNotFound {
		t.Fatalf("profile of a blocked user: %d", st)
	}
	s.Unblock(user)
	if a := send(t, s, "/v2/bot/message/push", tok, uuid.NewString(), push(`{"type":"text","text":"hi"}`)); a.status != 200 || len(s.Pushes()) != 1 || s.Usage(tok) != 1 {
		t.Fatalf("after unblock: %d, %d delivered, usage %d", a.status, len(s.Pushes()), s.Usage(tok))
	}
	if st := profile(); st != http.StatusOK {
		t.Fatalf("profile after unblock: %d", st)
	}
}
