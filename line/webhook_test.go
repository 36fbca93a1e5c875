package line_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
)

const webhookSecret = "webhook-channel-secret"

func webhookFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(linetest.FixturesDir(t), "line", "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every fixture parses through both entry points, with the same events,
// skipping only the types the SDK doesn't know.
func TestWebhookAllFixtures(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(linetest.FixturesDir(t), "line", "webhooks", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no webhook fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, _ := os.ReadFile(f)
			sig := linetest.SignWebhook(webhookSecret, body)
			req, err := line.ParseWebhook(webhookSecret, body, sig)
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			dest, exact, err := line.ParseEvents(webhookSecret, body, sig)
			if err != nil {
				t.Fatalf("ParseEvents: %v", err)
			}
			if dest != req.Destination || dest == "" {
				t.Errorf("destination %q vs %q", dest, req.Destination)
			}
			viaSDK := line.Events(req)
			var all struct{ Events []struct{ Type string } }
			_ = json.Unmarshal(body, &all)
			unknown := 0
			for _, e := range all.Events {
				if e.Type == "messageEdited" || e.Type == "undefined" {
					unknown++
				}
			}
			if len(exact) != len(all.Events)-unknown || len(viaSDK) != len(exact) {
				t.Fatalf("events: exact %d, via SDK %d, in body %d (%d unknown)", len(exact), len(viaSDK), len(all.Events), unknown)
			}
			for i := range exact {
				a, b := exact[i], viaSDK[i]
				if !json.Valid(a.Raw) || !json.Valid(b.Raw) {
					t.Errorf("event %d: invalid Raw", i)
				}
				a.Raw, b.Raw = nil, nil
				if !reflect.DeepEqual(a, b) {
					t.Errorf("event %d differs:\n exact %+v\n sdk   %+v", i, a, b)
				}
				if a.Type == "" || a.Timestamp.IsZero() {
					t.Errorf("event %d: %+v", i, a)
				}
			}
		})
	}
}

func TestWebhookFixtureContents(t *testing.T) {
	t.Parallel()
	one := func(name string) line.Event {
		t.Helper()
		body := webhookFixture(t, name)
		_, evs, err := line.ParseEvents(webhookSecret, body, linetest.SignWebhook(webhookSecret, body))
		if err != nil || len(evs) != 1 {
			t.Fatalf("%s: %v, %d events", name, err, len(evs))
		}
		return evs[0]
	}
	f := one("follow.json")
	if f.Type != "follow" || f.Unblocked || f.UserID != "U3d3edab4f36c6292e6d8a8131f141b8b" || f.ReplyToken == "" ||
		f.WebhookEventID != "01HMQGW40RZJPJM3RAJP7BHC2Q" || !f.Timestamp.Equal(time.UnixMilli(1705891467176)) {
		t.Errorf("follow = %+v", f)
	}
	if u := one("follow_unblocked.json"); !u.Unblocked {
		t.Errorf("follow_unblocked = %+v", u)
	}
	if u := one("unfollow.json"); u.Type != "unfollow" || u.UserID == "" || u.ReplyToken != "" {
		t.Errorf("unfollow = %+v", u)
	}
	if m := one("message_text_user.json"); m.Type != "message" || m.MessageType != "text" || m.Text == "" || m.MessageID == "" || m.SourceType != "user" {
		t.Errorf("message_text_user = %+v", m)
	}
	if m := one("message.json"); m.SourceType != "group" || m.GroupID == "" || m.Text != "@All @example Good Morning!! (love)" {
		t.Errorf("group message = %+v", m)
	}
	if r := one("message_redelivery.json"); !r.Redelivery || r.Text != "Hello, world" {
		t.Errorf("redelivery = %+v", r)
	}
	if p := one("postback.json"); p.Type != "postback" || p.PostbackData != "storeId=12345" {
		t.Errorf("postback = %+v", p)
	}
	if a := one("accountLink.json"); a.Type != "accountLink" || a.LinkResult != "ok" || a.LinkNonce == "" {
		t.Errorf("accountLink = %+v", a)
	}

	body := webhookFixture(t, "mixed_events.json")
	_, evs, err := line.ParseEvents(webhookSecret, body, linetest.SignWebhook(webhookSecret, body))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if !reflect.DeepEqual(types, []string{"message", "follow", "unfollow"}) {
		t.Errorf("mixed types = %v", types)
	}
}

func TestWebhookBadSignature(t *testing.T) {
	t.Parallel()
	body := webhookFixture(t, "follow.json")
	good := linetest.SignWebhook(webhookSecret, body)
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] ^= 1
	cases := map[string]struct {
		secret, sig string
		body        []byte
	}{
		"wrong secret":   {"other-secret", good, body},
		"tampered body":  {webhookSecret, good, tampered},
		"empty":          {webhookSecret, "", body},
		"not base64":     {webhookSecret, "!!!", body},
		"no secret":      {"", linetest.SignWebhook("", body), body},
		"truncated hmac": {webhookSecret, good[:20], body},
	}
	for name, c := range cases {
		if _, err := line.ParseWebhook(c.secret, c.body, c.sig); !errors.Is(err, line.ErrBadSignature) {
			t.Errorf("%s: ParseWebhook err = %v", name, err)
		}
		if _, _, err := line.ParseEvents(c.secret, c.body, c.sig); !errors.Is(err, line.ErrBadSignature) {
			t.Errorf("%s: ParseEvents err = %v", name, err)
		}
	}
}

// An event time JSON cannot hold is a malformed body: the handler stores
// each event as JSON (found by FuzzLineDoor: a follow at 1e15 ms).
func TestWebhookEventTimeOutOfRange(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ms int64
		ok bool
	}{
		{1700000000000, true},
		{0, true},
		{253402300799999, true},
		{253402300800000, false},
		{1000000000000000, false},
		{-62167219200000, true},
		{-62167219200001, false},
	} {
		body := []byte(fmt.Sprintf(`{"destination":"U0","events":[{"type":"follow","timestamp":%d,"mode":"active","webhookEventId":"01H","source":{"type":"user","userId":"U1"},"replyToken":"r","deliveryContext":{"isRedelivery":false}}]}`, c.ms))
		_, events, err := line.ParseEvents(webhookSecret, body, linetest.SignWebhook(webhookSecret, body))
		if (err == nil) != c.ok {
			t.Fatalf("%d ms: err = %v, want ok %v", c.ms, err, c.ok)
		}
		if err == nil {
			if _, err := json.Marshal(events[0].Timestamp); err != nil {
				t.Errorf("%d ms accepted but does not marshal: %v", c.ms, err)
			}
		}
	}
}

func TestWebhookVerifyRequest(t *testing.T) {
	t.Parallel()
	// LINE's "Verify" button sends no events.
	body := []byte(`{"destination":"U0123456789abcdef0123456789abcdef","events":[]}`)
	dest, evs, err := line.ParseEvents(webhookSecret, body, linetest.SignWebhook(webhookSecret, body))
	if err != nil || len(evs) != 0 || dest == "" {
		t.Errorf("verify request: %q %v %v", dest, evs, err)
	}
	bad := []byte(`not json`)
	if _, err := line.ParseWebhook(webhookSecret, bad, linetest.SignWebhook(webhookSecret, bad)); err == nil || errors.Is(err, line.ErrBadSignature) {
		t.Errorf("signed garbage: %v", err)
	}
}
