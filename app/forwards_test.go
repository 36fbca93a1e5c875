package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// forwardSink is a merchant's other LINE tool: it records what it gets and
// answers 503 while down.
type forwardSink struct {
	mu   sync.Mutex
	down int // answer 503 this many more times
	got  []forwarded
	srv  *httptest.Server
}

type forwarded struct {
	body             []byte
	signature, agent string
}

func newForwardSink(t *testing.T, down int) *forwardSink {
	s := &forwardSink{down: down}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down > 0 {
			s.down--
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		s.got = append(s.got, forwarded{body: b, signature: r.Header.Get("X-Line-Signature"), agent: r.UserAgent()})
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *forwardSink) received() []forwarded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]forwarded(nil), s.got...)
}

// Every verified LINE webhook request reaches each destination with the
// body and X-Line-Signature byte for byte as LINE sent them (so the other
// tool verifies it with the channel secret); a destination that was down
// is retried with backoff and then gets it; the settings page shows each
// destination's status. A request with a bad signature is not forwarded.
func TestLineWebhookForwardedUnchangedAndRetried(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	e, clk := newInboxEnv(t, db)
	up, flaky := newForwardSink(t, 0), newForwardSink(t, 1)
	for _, s := range []*forwardSink{up, flaky} {
		if rec := adminDo(t, e.a, testShop, http.MethodPost, "/api/settings/forwards", map[string]string{"url": s.srv.URL + "/callback"}); rec.Code != http.StatusCreated {
			t.Fatalf("adding %s: %d %s", s.srv.URL, rec.Code, rec.Body)
		}
	}
	startWorkers(t, e.a)

	// LINE's formatting kept: spacing, key order and a trailing newline.
	body := lineEvent(t, "message_text_user.json", friendUser, "01HZZFWD000000000000000001", "", clk.Now(), "こんにちは")
	var pretty bytes.Buffer
	pretty.WriteString("{\n  \"destination\" : \"Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",")
	pretty.Write(bytes.TrimPrefix(body, []byte("{")))
	pretty.WriteString("\n")
	body = pretty.Bytes()
	sig := lineSign(testMsgSecret, body)
	if rec := e.lineWebhook(testWebhookKey, body, "bad"+sig); rec.Code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d", rec.Code)
	}
	if rec := e.lineWebhook(testWebhookKey, body, sig); rec.Code != 200 {
		t.Fatalf("webhook: %d %s", rec.Code, rec.Body)
	}
	eventually(t, "both destinations to receive the request", func() bool {
		return len(up.received()) >= 1 && len(flaky.received()) >= 1
	})
	for name, s := range map[string]*forwardSink{"up": up, "flaky": flaky} {
		got := s.received()
		if len(got) != 1 {
			t.Fatalf("%s received %d requests", name, len(got))
		}
		if !bytes.Equal(got[0].body, body) || got[0].signature != sig || got[0].agent != "LineBotWebhook/2.0" {
			t.Fatalf("%s got body %q sig %q agent %q", name, got[0].body, got[0].signature, got[0].agent)
		}
	}
	fw, err := db.WebhookForwards(context.Background(), e.s.ID)
	if err != nil || len(fw) != 2 {
		t.Fatalf("forwards %+v %v", fw, err)
	}
	eventually(t, "the delivery to be recorded", func() bool {
		fw, _ = db.WebhookForwards(context.Background(), e.s.ID)
		return fw[0].Delivered == 1 && fw[1].Delivered == 1
	})
	byURL := map[string]store.WebhookForward{}
	for _, f := range fw {
		byURL[f.URL] = f
	}
	if f := byURL[flaky.srv.URL+"/callback"]; f.Failed != 1 || f.LastError != "" || f.LastStatus != 200 || f.LastSuccessAt == nil {
		t.Fatalf("flaky destination %+v", f)
	}
	if f := byURL[up.srv.URL+"/callback"]; f.Failed != 0 || f.Delivered != 1 {
		t.Fatalf("up destination %+v", f)
	}
	page := adminDo(t, e.a, testShop, http.MethodGet, "/admin/settings", nil)
	if page.Code != 200 || !strings.Contains(page.Body.String(), flaky.srv.URL) || !strings.Contains(page.Body.String(), "1 delivered / 1 failed") &&
		!strings.Contains(page.Body.String(), "成功 1 / 失敗 1") {
		t.Fatalf("settings page: %d", page.Code)
	}
	ch, err := db.LineChannel(context.Background(), e.s.ID)
	if err != nil || ch.LastWebhookAt == nil {
		t.Fatalf("webhook arrival not recorded: %+v %v", ch, err)
	}
}
