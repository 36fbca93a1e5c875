package sandbox

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/line"
)

var testChannel = Channel{LoginChannelID: "1234567890", LoginSecret: "login-secret", MessagingChannelID: "1234567891",
	MessagingToken: "msg-token", BotUserID: "Ubot", BotName: "Demo shop", ShopifyToken: "shpat_x"}

// login runs the consent as user and returns the callback's query.
func login(t *testing.T, srv *httptest.Server, cfg line.LoginConfig, user string, decision string) url.Values {
	t.Helper()
	l := line.NewLogin(srv.Client())
	authURL := l.AuthorizeURL(cfg, "st", "nonce-1", pkceS256("verifier-0123456789-0123456789-0123456789"))
	if res, err := http.Get(authURL); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("authorize page: %v %v", res, err)
	}
	u, _ := url.Parse(authURL)
	form := u.Query()
	form.Set("user", user)
	form.Set("add_friend", "1")
	form.Set("decision", decision)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.PostForm(srv.URL+LINEPath+"/oauth2/v2.1/authorize", form)
	if err != nil || res.StatusCode != http.StatusFound {
		t.Fatalf("consent: %v %v", res, err)
	}
	back, _ := url.Parse(res.Header.Get("Location"))
	if !strings.HasPrefix(back.String(), cfg.RedirectURI) {
		t.Fatalf("redirected to %s", back)
	}
	return back.Query()
}

// The sandbox is LINE Login as the app's own client sees it: the ID token
// passes line.Login's ordinary verification (HS256 with the channel secret,
// LINE's issuer, audience, nonce); codes are single use and bound to the
// PKCE verifier and the channel secret.
func TestSandboxLoginAgainstTheAppsClient(t *testing.T) {
	t.Parallel()
	now := time.Now()
	srv := httptest.NewServer(New(testChannel, nil, func() time.Time { return now }))
	t.Cleanup(srv.Close)
	cfg := line.LoginConfig{ChannelID: testChannel.LoginChannelID, ChannelSecret: testChannel.LoginSecret,
		RedirectURI: srv.URL + "/link/callback", AuthBase: srv.URL + LINEPath, APIBase: srv.URL + LINEPath}
	l := line.NewLogin(srv.Client())
	ctx := context.Background()
	verifier := "verifier-0123456789-0123456789-0123456789"

	if q := login(t, srv, cfg, "Aoi (demo)", "cancel"); q.Get("error") != "access_denied" || q.Get("state") != "st" {
		t.Fatalf("cancel: %v", q)
	}
	q := login(t, srv, cfg, "Aoi (demo)", "allow")
	if _, err := l.Exchange(ctx, cfg, q.Get("code"), "another-verifier-0123456789-0123456789"); err == nil {
		t.Fatal("a code exchanged with the wrong PKCE verifier")
	}
	q = login(t, srv, cfg, "Aoi (demo)", "allow")
	wrong := cfg
	wrong.ChannelSecret = "guess"
	if _, err := l.Exchange(ctx, wrong, q.Get("code"), verifier); err == nil {
		t.Fatal("a code exchanged with the wrong channel secret")
	}
	q = login(t, srv, cfg, "Aoi (demo)", "allow")
	tok, err := l.Exchange(ctx, cfg, q.Get("code"), verifier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Exchange(ctx, cfg, q.Get("code"), verifier); err == nil {
		t.Fatal("a code exchanged twice")
	}
	claims, err := l.VerifyIDToken(ctx, cfg, tok.IDToken, "nonce-1", now)
	if err != nil || claims.Subject != UserNamed("Aoi (demo)").ID || claims.Name != "Aoi (demo)" {
		t.Fatalf("claims %+v %v", claims, err)
	}
	if _, err := l.VerifyIDToken(ctx, cfg, tok.IDToken, "other-nonce", now); !errors.Is(err, line.ErrIDTokenNonce) {
		t.Fatalf("another nonce: %v", err)
	}
	other := cfg
	other.ChannelSecret = "not-the-secret"
	if _, err := l.VerifyIDToken(ctx, other, tok.IDToken, "nonce-1", now); !errors.Is(err, line.ErrIDTokenSignature) {
		t.Fatalf("another secret: %v", err)
	}
	if friend, err := l.FriendshipStatus(ctx, cfg, tok.AccessToken); err != nil || !friend {
		t.Fatalf("friendship %v %v", friend, err)
	}

	// A push lands in the user's inbox once per retry key.
	m := line.NewMessenger(srv.URL+LINEPath, srv.Client())
	user := UserNamed("Aoi (demo)").ID
	msgs := []line.Message{line.Message(`{"type":"text","text":"hello"}`)}
	for range 2 {
		if _, err := m.Push(ctx, testChannel.MessagingToken, user, msgs, line.RetryKey("k1")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Push(ctx, "wrong-token", user, msgs, line.RetryKey("k2")); err == nil {
		t.Fatal("a push with another channel's token")
	}
	s := srv.Config.Handler.(*Server)
	if in := s.Inbox(user); len(in) != 1 || in[0].Text != "hello" {
		t.Fatalf("inbox %+v", in)
	}
}
