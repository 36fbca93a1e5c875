package jobs

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
)

// installation is one Tsunagu database sending on the shared channel with
// a token of its own (staging and production).
func installation(t *testing.T, fake *linetest.Server, token string) *env {
	t.Helper()
	e := newEnv(t)
	fake.AddChannelToken("2000000001", token)
	ch, err := e.w.DB.LineChannel(e.ctx, e.shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	ch.MessagingChannelID, ch.MessagingTokenEnc = "2000000001", e.w.Box.Seal(token)
	if err := e.w.DB.SaveLineChannel(e.ctx, ch); err != nil {
		t.Fatal(err)
	}
	e.w.LINE = line.NewMessenger(fake.URL, nil)
	return e
}

// pushesBy counts the fake's accepted pushes per token.
func pushesBy(fake *linetest.Server) map[string]int {
	n := map[string]int{}
	for _, p := range fake.Pushes() {
		n[p.Token]++
	}
	return n
}

// Two installations on one channel whose databases hold the same ids (so
// the same dedupe keys): each one's messages reach LINE exactly once.
func TestTwoInstallationsOnOneChannel(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	staging, prod := installation(t, fake, "staging-token"), installation(t, fake, "production-token")
	if staging.w.InstallationID == prod.w.InstallationID || len(staging.w.InstallationID) != 32 {
		t.Fatalf("installation ids %q and %q", staging.w.InstallationID, prod.w.InstallationID)
	}
	for _, e := range []*env{staging, prod} {
		for i := range 3 {
			key := e.order(int64(5000 + i))
			if m, err := e.sendAt(key, t0); err != nil || m.Status != store.MsgSent || m.LineRequestID == "" {
				t.Fatalf("%s: %v %s %s", key, err, m.Status, m.Reason)
			}
		}
	}
	if staging.key(KindThankYou, "o5000") != prod.key(KindThankYou, "o5000") {
		t.Fatal("the two databases should share dedupe keys for this test to mean anything")
	}
	if n := pushesBy(fake); n["staging-token"] != 3 || n["production-token"] != 3 {
		t.Errorf("pushes per installation %v, want 3 each", n)
	}
}

// A 409 for a key this installation never tried names another sender's
// request (here: a restored copy of the database, same salt): the message
// is recorded as a conflict, not as sent, and goes again under a fresh key.
// A 409 for a key an earlier attempt used is our own lost answer: sent.
func TestRetryKeyConflict(t *testing.T) {
	t.Parallel()
	fake := linetest.NewServer(t)
	orig, restored := installation(t, fake, "staging-token"), installation(t, fake, "production-token")
	restored.w.InstallationID = orig.w.InstallationID
	key := orig.order(6001)
	restored.order(6001)
	if m, err := orig.sendAt(key, t0); err != nil || m.Status != store.MsgSent {
		t.Fatalf("original: %v %s", err, m.Status)
	}
	m, err := restored.sendAt(key, t0)
	if err != nil || m.Status != store.MsgQueued || m.RetryNonce != 1 || m.LineRequestID != "" {
		t.Fatalf("after the 409: %v, status %s nonce %d request %q reason %q; want queued under a new key",
			err, m.Status, m.RetryNonce, m.LineRequestID, m.Reason)
	}
	if m.Reason == "" || m.Reason[:len(ReasonRetryKeyConflict)] != ReasonRetryKeyConflict {
		t.Errorf("reason %q", m.Reason)
	}
	if m, err = restored.sendAt(key, t0.Add(2*time.Second)); err != nil || m.Status != store.MsgSent {
		t.Fatalf("retry under the fresh key: %v %s %s", err, m.Status, m.Reason)
	}
	if n := pushesBy(fake); n["staging-token"] != 1 || n["production-token"] != 1 {
		t.Errorf("pushes %v, want one per installation", n)
	}

	// Our own lost answer: LINE took the push, the worker died before
	// recording it; the retry's 409 is ours and nothing is sent again.
	key = orig.order(6002)
	orig.w.LINE = lostAnswer{orig.w.LINE}
	if m, err := orig.sendAt(key, t0); err == nil || m.Status != store.MsgSending {
		t.Fatalf("lost answer: %v %s", err, m.Status)
	}
	orig.w.LINE = lostAnswer{}.unwrap(orig.w.LINE)
	if m, err := orig.sendAt(key, t0.Add(time.Minute)); err != nil || m.Status != store.MsgSent || m.LineRequestID == "" {
		t.Fatalf("retry after a lost answer: %v %s %s", err, m.Status, m.Reason)
	}
	if n := pushesBy(fake); n["staging-token"] != 2 {
		t.Errorf("%d pushes from the original, want 2", n["staging-token"])
	}
}

// lostAnswer pushes for real and then reports a dropped connection.
type lostAnswer struct{ Pusher }

func (l lostAnswer) Push(ctx context.Context, token, to string, msgs []line.Message, key string) (line.SendResult, error) {
	if _, err := l.Pusher.Push(ctx, token, to, msgs, key); err != nil {
		return line.SendResult{}, err
	}
	return line.SendResult{}, fmt.Errorf("reading LINE's answer: %w", errors.New("connection reset"))
}

func (lostAnswer) unwrap(p Pusher) Pusher { return p.(lostAnswer).Pusher }
