package line_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
)

const (
	token  = "test-channel-token"
	userID = "U1234567890abcdef1234567890abcdef"
)

func bubble(text string) json.RawMessage {
	return json.RawMessage(`{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"text","text":"` + text + `","wrap":true}]}}`)
}

func newFake(t *testing.T) (*linetest.Server, *line.Messenger) {
	t.Helper()
	fake := linetest.NewServer(t)
	fake.AddToken(token)
	return fake, line.NewMessenger(fake.URL, fake.Client())
}

func TestPushRecordedByFake(t *testing.T) {
	t.Parallel()
	fake, m := newFake(t)
	key := line.RetryKey("thanks/order-1001/cust-1")
	msgs := []line.Message{line.TextMessage("ありがとうございます"), line.FlexMessage("ご注文ありがとうございます", bubble("#1001"))}
	res, err := m.Push(context.Background(), token, userID, msgs, key)
	if err != nil {
		t.Fatalf("Push: %v (rejected: %v)", err, fake.Rejected())
	}
	if res.RequestID == "" || res.Duplicate {
		t.Errorf("result = %+v, want a request id and not duplicate", res)
	}
	pushes := fake.Pushes()
	if len(pushes) != 1 {
		t.Fatalf("fake recorded %d pushes, want 1", len(pushes))
	}
	p := pushes[0]
	if p.To != userID || p.RetryKey != key || p.Token != token || len(p.Messages) != 2 {
		t.Errorf("push = %+v", p)
	}
	var got struct{ Type, Text string }
	if err := json.Unmarshal(p.Messages[0], &got); err != nil || got.Type != "text" || got.Text != "ありがとうございます" {
		t.Errorf("first message = %s", p.Messages[0])
	}
	if len(fake.Rejected()) != 0 {
		t.Errorf("rejected: %v", fake.Rejected())
	}
}

func TestMulticast(t *testing.T) {
	t.Parallel()
	fake, m := newFake(t)
	to := []string{userID, "U" + strings.Repeat("a", 32)}
	if _, err := m.Multicast(context.Background(), token, to, []line.Message{line.TextMessage("sale")}, line.RetryKey("campaign-1/batch-0")); err != nil {
		t.Fatalf("Multicast: %v (rejected %v)", err, fake.Rejected())
	}
	mc := fake.Multicasts()
	if len(mc) != 1 || len(mc[0].To) != 2 {
		t.Fatalf("multicasts = %+v", mc)
	}
	tooMany := make([]string, line.MaxMulticastTo+1)
	for i := range tooMany {
		tooMany[i] = userID
	}
	if _, err := m.Multicast(context.Background(), token, tooMany, []line.Message{line.TextMessage("x")}, ""); err == nil {
		t.Error("Multicast to 501 users: want error")
	}
}

func TestDuplicateRetryKey(t *testing.T) {
	t.Parallel()
	fake, m := newFake(t)
	key := line.RetryKey("ship/order-7/cust-2")
	msgs := []line.Message{line.TextMessage("発送しました")}
	first, err := m.Push(context.Background(), token, userID, msgs, key)
	if err != nil {
		t.Fatal(err)
	}
	second, err := m.Push(context.Background(), token, userID, msgs, key)
	if err != nil {
		t.Fatalf("second Push with the same retry key: %v", err)
	}
	if !second.Duplicate || second.AcceptedRequestID != first.RequestID {
		t.Errorf("second = %+v, want Duplicate with AcceptedRequestID %q", second, first.RequestID)
	}
	if n := len(fake.Pushes()); n != 1 {
		t.Errorf("fake recorded %d pushes, want 1", n)
	}
}

func TestRateLimitedIsRetryable(t *testing.T) {
	t.Parallel()
	fake, m := newFake(t)
	fake.FailNext(http.StatusTooManyRequests, 1)
	_, err := m.Push(context.Background(), token, userID, []line.Message{line.TextMessage("hi")}, line.RetryKey("k1"))
	var apiErr *line.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *APIError", err)
	}
	if apiErr.Status != 429 || !apiErr.Retryable() || !line.IsRetryable(err) || apiErr.RetryAfter != time.Second {
		t.Errorf("apiErr = %+v, want retryable 429 with Retry-After 1s", apiErr)
	}
	// The failed attempt did not consume the retry key: the retry is sent.
	res, err := m.Push(context.Background(), token, userID, []line.Message{line.TextMessage("hi")}, line.RetryKey("k1"))
	if err != nil || res.Duplicate || len(fake.Pushes()) != 1 {
		t.Errorf("retry: res=%+v err=%v pushes=%d", res, err, len(fake.Pushes()))
	}

	fake.FailNext(http.StatusInternalServerError, 1)
	_, err = m.Push(context.Background(), token, userID, []line.Message{line.TextMessage("hi")}, line.RetryKey("k2"))
	if !errors.As(err, &apiErr) || apiErr.Status != 500 || !apiErr.Retryable() {
		t.Errorf("500: err = %v", err)
	}
}

func TestBadRequestNotRetryable(t *testing.T) {
	t.Parallel()
	fake, m := newFake(t)
	// A recipient LINE doesn't know the shape of: refused by the fake with
	// LINE's message, not caught locally.
	_, err := m.Push(context.Background(), token, "not-a-user", []line.Message{line.TextMessage("hi")}, line.RetryKey("k"))
	var apiErr *line.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *APIError", err)
	}
	if apiErr.Status != 400 || apiErr.Retryable() || line.IsRetryable(err) {
		t.Errorf("apiErr = %+v, want non-retryable 400", apiErr)
	}
	if !strings.Contains(apiErr.Message, "error(s)") || len(apiErr.Details) == 0 || !strings.HasPrefix(apiErr.Details[0], "to: ") {
		t.Errorf("apiErr message/details = %q %q", apiErr.Message, apiErr.Details)
	}
	if apiErr.RequestID == "" {
		t.Error("APIError without request id")
	}
	if len(fake.Rejected()) != 1 {
		t.Errorf("rejected = %v", fake.Rejected())
	}
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	_, m := newFake(t)
	_, err := m.Push(context.Background(), "wrong-token", userID, []line.Message{line.TextMessage("hi")}, "")
	var apiErr *line.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || apiErr.Retryable() {
		t.Fatalf("err = %v, want 401", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Error("error string contains the channel token")
	}
}

func TestNetworkErrorRetryable(t *testing.T) {
	t.Parallel()
	fake, _ := newFake(t)
	url := fake.URL
	fake.Close()
	m := line.NewMessenger(url, nil)
	_, err := m.Push(context.Background(), token, userID, []line.Message{line.TextMessage("hi")}, "")
	var apiErr *line.APIError
	if err == nil || errors.As(err, &apiErr) || !line.IsRetryable(err) {
		t.Fatalf("err = %v, want a retryable transport error", err)
	}
}

func TestLocalValidation(t *testing.T) {
	t.Parallel()
	fake, m := newFake(t)
	cases := map[string][]line.Message{
		"none":           nil,
		"six":            {line.TextMessage("1"), line.TextMessage("2"), line.TextMessage("3"), line.TextMessage("4"), line.TextMessage("5"), line.TextMessage("6")},
		"not json":       {line.Message(`{`)},
		"unknown type":   {line.Message(`{"type":"hologram"}`)},
		"empty text":     {line.TextMessage("")},
		"long text":      {line.TextMessage(strings.Repeat("あ", 5001))},
		"flex no alt":    {line.Message(`{"type":"flex","contents":{"type":"bubble"}}`)},
		"flex long alt":  {line.FlexMessage(strings.Repeat("a", 1501), bubble("x"))},
		"flex bad root":  {line.FlexMessage("alt", json.RawMessage(`{"type":"box","layout":"vertical","contents":[]}`))},
		"bad retry key*": {line.TextMessage("hi")},
	}
	for name, msgs := range cases {
		key := ""
		if strings.HasSuffix(name, "*") {
			key = "not-a-uuid"
		}
		_, err := m.Push(context.Background(), token, userID, msgs, key)
		if !errors.Is(err, line.ErrInvalidMessage) {
			t.Errorf("%s: err = %v, want ErrInvalidMessage", name, err)
		}
		if line.IsRetryable(err) {
			t.Errorf("%s: invalid message reported retryable", name)
		}
	}
	if fake.Requests() != 0 {
		t.Errorf("invalid messages reached LINE: %d requests", fake.Requests())
	}
}

func TestRetryKeyDeterministicUUID(t *testing.T) {
	t.Parallel()
	a, b := line.RetryKey("thanks/1/2"), line.RetryKey("thanks/1/2")
	if a != b {
		t.Errorf("RetryKey not deterministic: %s vs %s", a, b)
	}
	if a == line.RetryKey("thanks/1/3") {
		t.Error("different dedupe keys gave the same retry key")
	}
	if len(a) != 36 || a[14] != '5' {
		t.Errorf("RetryKey = %s, want a version 5 UUID", a)
	}
}

func TestBotInfoAndProfile(t *testing.T) {
	t.Parallel()
	fake, m := newFake(t)
	fake.SetBotInfo(linetest.BotInfo{UserID: "Ubot", BasicID: "@shop", DisplayName: "Shop"})
	info, err := m.BotInfo(context.Background(), token)
	if err != nil || info != (line.BotInfo{UserID: "Ubot", BasicID: "@shop", DisplayName: "Shop"}) {
		t.Errorf("BotInfo = %+v, %v", info, err)
	}
	fake.SetProfile(linetest.Profile{UserID: userID, DisplayName: "Brown", PictureURL: "https://profile.line-scdn.net/x", Language: "ja"})
	p, err := m.Profile(context.Background(), token, userID)
	if err != nil || p.DisplayName != "Brown" || p.Language != "ja" || p.UserID != userID {
		t.Errorf("Profile = %+v, %v", p, err)
	}
	_, err = m.Profile(context.Background(), token, "U"+strings.Repeat("f", 32))
	var apiErr *line.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Errorf("unknown profile: err = %v, want 404", err)
	}
}

func TestRichMenuPerUser(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t, linetest.WithTokens(token))
	m := line.NewMessenger(fake.URL, fake.Client(), line.WithDataAPIBase(fake.URL))
	ctx := context.Background()
	menu := json.RawMessage(`{"size":{"width":2500,"height":843},"selected":false,"name":"member","chatBarText":"会員メニュー",
		"areas":[{"bounds":{"x":0,"y":0,"width":1250,"height":843},"action":{"type":"uri","label":"Orders","uri":"https://shop.example/orders"}},
		         {"bounds":{"x":1250,"y":0,"width":1250,"height":843},"action":{"type":"postback","label":"Coupon","data":"coupon"}}]}`)
	id, err := m.CreateRichMenu(ctx, token, menu)
	if err != nil {
		t.Fatalf("CreateRichMenu: %v (rejected %v)", err, fake.Rejected())
	}
	if err := m.UploadRichMenuImage(ctx, token, id, "image/png", []byte("\x89PNG\r\n")); err != nil {
		t.Fatalf("UploadRichMenuImage: %v", err)
	}
	if err := m.LinkRichMenu(ctx, token, userID, id); err != nil {
		t.Fatalf("LinkRichMenu: %v", err)
	}
	if fake.RichMenuOf(userID) != id {
		t.Errorf("fake has menu %q for user, want %q", fake.RichMenuOf(userID), id)
	}
	if err := m.UnlinkRichMenu(ctx, token, userID); err != nil || fake.RichMenuOf(userID) != "" {
		t.Errorf("UnlinkRichMenu: %v, menu %q", err, fake.RichMenuOf(userID))
	}
	var apiErr *line.APIError
	if err := m.LinkRichMenu(ctx, token, userID, "richmenu-unknown"); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Errorf("link unknown menu: %v", err)
	}
	// Default menu, then deleting it: LINE takes it off users and the default.
	if err := m.SetDefaultRichMenu(ctx, token, id); err != nil || fake.DefaultRichMenu() != id {
		t.Fatalf("SetDefaultRichMenu: %v, default %q (rejected %v)", err, fake.DefaultRichMenu(), fake.Rejected())
	}
	if err := m.ClearDefaultRichMenu(ctx, token); err != nil || fake.DefaultRichMenu() != "" {
		t.Errorf("ClearDefaultRichMenu: %v, default %q", err, fake.DefaultRichMenu())
	}
	if err := m.SetDefaultRichMenu(ctx, token, id); err != nil {
		t.Fatal(err)
	}
	if err := m.LinkRichMenu(ctx, token, userID, id); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteRichMenu(ctx, token, id); err != nil || fake.DefaultRichMenu() != "" || fake.RichMenuOf(userID) != "" {
		t.Errorf("DeleteRichMenu: %v, default %q, user's %q", err, fake.DefaultRichMenu(), fake.RichMenuOf(userID))
	}
	if def, _ := fake.RichMenuDefinition(id); def != nil {
		t.Error("the deleted menu is still there")
	}
	if err := m.DeleteRichMenu(ctx, token, id); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Errorf("delete again: %v", err)
	}
}

func TestBatches(t *testing.T) {
	t.Parallel()
	to := make([]string, 1201)
	b := line.Batches(to)
	if len(b) != 3 || len(b[0]) != 500 || len(b[1]) != 500 || len(b[2]) != 201 {
		t.Errorf("batches of 1201: %d", len(b))
	}
	if line.Batches(nil) != nil {
		t.Error("Batches(nil) != nil")
	}
}

func TestConcurrentPushes(t *testing.T) {
	t.Parallel()
	fake, m := newFake(t)
	m2 := line.NewMessenger(fake.URL, fake.Client(), line.WithLimiter(line.NewLimiter(testenv.RedisClient(t), 0)))
	done := make(chan error, 40)
	for i := range 40 {
		mm := m
		if i%2 == 1 {
			mm = m2
		}
		go func() {
			_, err := mm.Push(context.Background(), token, userID, []line.Message{line.TextMessage("hi")}, line.RetryKey("c/"+strings.Repeat("x", i)))
			done <- err
		}()
	}
	for range 40 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if n := len(fake.Pushes()); n != 40 {
		t.Errorf("%d pushes, want 40", n)
	}
}
