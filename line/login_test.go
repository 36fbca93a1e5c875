package line_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
)

const (
	loginChannel = "1234567890"
	loginSecret  = "login-channel-secret"
)

func loginSetup(t *testing.T, opts ...linetest.Option) (*linetest.Server, *line.Login, line.LoginConfig) {
	t.Helper()
	fake := linetest.NewServer(t, opts...)
	fake.AddLoginChannel(loginChannel, loginSecret)
	cfg := line.LoginConfig{
		ChannelID: loginChannel, ChannelSecret: loginSecret,
		RedirectURI: "https://shop.example/line/callback",
		AuthBase:    fake.URL, APIBase: fake.URL,
	}
	return fake, line.NewLogin(fake.Client()), cfg
}

// authorize plays the browser: follow the app's authorize URL to the fake
// and return the redirect back to the app.
func authorize(t *testing.T, fake *linetest.Server, authURL string) url.Values {
	t.Helper()
	hc := fake.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d; rejected %v", res.StatusCode, fake.Rejected())
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc.Query()
}

func TestAuthorizeURL(t *testing.T) {
	t.Parallel()
	cfg := line.LoginConfig{ChannelID: "1234567890", RedirectURI: "https://shop.example/cb?x=1"}
	verifier, challenge := line.NewPKCE()
	if len(verifier) < 43 || len(verifier) > 128 || challenge == "" || challenge == verifier {
		t.Fatalf("PKCE verifier %q challenge %q", verifier, challenge)
	}
	state, nonce := line.NewState(), line.NewNonce()
	if state == nonce || state == line.NewState() {
		t.Error("state/nonce not random")
	}
	raw := line.NewLogin(nil).AuthorizeURL(cfg, state, nonce, challenge)
	if !strings.HasPrefix(raw, "https://access.line.me/oauth2/v2.1/authorize?") {
		t.Errorf("URL %s does not start with LINE's authorize endpoint", raw)
	}
	if !strings.Contains(raw, "scope=openid%20profile") {
		t.Errorf("scope not encoded as openid%%20profile: %s", raw)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	want := map[string]string{
		"response_type": "code", "client_id": "1234567890", "redirect_uri": "https://shop.example/cb?x=1",
		"state": state, "scope": "openid profile", "nonce": nonce, "code_challenge": challenge,
		"code_challenge_method": "S256", "bot_prompt": "aggressive",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q) != len(want) {
		t.Errorf("unexpected parameters: %v", q)
	}
}

func TestLoginFlow(t *testing.T) {
	t.Parallel()
	for _, es256 := range []bool{false, true} {
		name := "HS256"
		var opts []linetest.Option
		if es256 {
			name, opts = "ES256", []linetest.Option{linetest.WithES256IDTokens()}
		}
		t.Run(name, func(t *testing.T) {
			fake, login, cfg := loginSetup(t, opts...)
			fake.SetLoginUser("Uaaaabbbbccccddddeeeeffff00001111", "Hanako", true)
			verifier, challenge := line.NewPKCE()
			state, nonce := line.NewState(), line.NewNonce()
			back := authorize(t, fake, login.AuthorizeURL(cfg, state, nonce, challenge))
			if back.Get("state") != state || back.Get("code") == "" {
				t.Fatalf("redirect back = %v", back)
			}
			if back.Get("friendship_status_changed") != "true" {
				t.Errorf("friendship_status_changed = %q", back.Get("friendship_status_changed"))
			}
			ctx := context.Background()
			tok, err := login.Exchange(ctx, cfg, back.Get("code"), verifier)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			claims, err := login.VerifyIDToken(ctx, cfg, tok.IDToken, nonce, time.Now())
			if err != nil {
				t.Fatalf("VerifyIDToken: %v", err)
			}
			if claims.Subject != "Uaaaabbbbccccddddeeeeffff00001111" || claims.Name != "Hanako" || claims.Nonce != nonce {
				t.Errorf("claims = %+v", claims)
			}
			friend, err := login.FriendshipStatus(ctx, cfg, tok.AccessToken)
			if err != nil || !friend {
				t.Errorf("FriendshipStatus = %v, %v", friend, err)
			}
			// The code is single use.
			_, err = login.Exchange(ctx, cfg, back.Get("code"), verifier)
			var le *line.LoginError
			if !errors.As(err, &le) || le.Code != "invalid_grant" {
				t.Errorf("second Exchange: %v, want invalid_grant", err)
			}
		})
	}
}

func TestExchangeFailures(t *testing.T) {
	t.Parallel()
	fake, login, cfg := loginSetup(t)
	ctx := context.Background()
	start := func() (code, verifier string) {
		verifier, challenge := line.NewPKCE()
		return authorize(t, fake, login.AuthorizeURL(cfg, line.NewState(), line.NewNonce(), challenge)).Get("code"), verifier
	}
	var le *line.LoginError

	code, _ := start()
	if _, err := login.Exchange(ctx, cfg, code, "wrong-verifier-wrong-verifier-wrong-verifier"); !errors.As(err, &le) || le.Code != "invalid_grant" {
		t.Errorf("wrong verifier: %v", err)
	}
	code, verifier := start()
	bad := cfg
	bad.ChannelSecret = "nope"
	_, err := login.Exchange(ctx, bad, code, verifier)
	if !errors.As(err, &le) || le.Code != "invalid_client" {
		t.Errorf("wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), "nope") {
		t.Error("error contains the channel secret")
	}
	code, verifier = start()
	other := cfg
	other.RedirectURI = "https://evil.example/cb"
	if _, err := login.Exchange(ctx, other, code, verifier); !errors.As(err, &le) || le.Code != "invalid_grant" {
		t.Errorf("wrong redirect_uri: %v", err)
	}
}

func TestFriendshipStatusNotFriend(t *testing.T) {
	t.Parallel()
	fake, login, cfg := loginSetup(t)
	fake.SetLoginUser("U0000000000000000000000000000beef", "Jiro", false)
	verifier, challenge := line.NewPKCE()
	back := authorize(t, fake, login.AuthorizeURL(cfg, "s", "n", challenge))
	if back.Get("friendship_status_changed") != "false" {
		t.Errorf("friendship_status_changed = %q", back.Get("friendship_status_changed"))
	}
	tok, err := login.Exchange(context.Background(), cfg, back.Get("code"), verifier)
	if err != nil {
		t.Fatal(err)
	}
	if friend, err := login.FriendshipStatus(context.Background(), cfg, tok.AccessToken); err != nil || friend {
		t.Errorf("FriendshipStatus = %v, %v; want false", friend, err)
	}
	if _, err := login.FriendshipStatus(context.Background(), cfg, "bogus"); err == nil {
		t.Error("FriendshipStatus with a bogus token: want error")
	}
}

func hs256(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyIDTokenFailures(t *testing.T) {
	t.Parallel()
	fake, login, cfg := loginSetup(t)
	now := time.Unix(1_750_000_000, 0)
	good := func() jwt.MapClaims {
		return jwt.MapClaims{
			"iss": "https://access.line.me", "sub": "U1234567890abcdef1234567890abcdef", "aud": loginChannel,
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nonce": "n0nce", "name": "Taro Line",
		}
	}
	with := func(k string, v any) jwt.MapClaims { c := good(); c[k] = v; return c }
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, good()).SignedString([]byte(loginSecret))

	cases := []struct {
		name  string
		token string
		nonce string
		want  error
	}{
		{"wrong audience", hs256(t, loginSecret, with("aud", "999")), "n0nce", line.ErrIDTokenAudience},
		{"wrong nonce", hs256(t, loginSecret, good()), "other", line.ErrIDTokenNonce},
		{"no nonce expected", hs256(t, loginSecret, good()), "", line.ErrIDTokenNonce},
		{"expired", hs256(t, loginSecret, with("exp", now.Add(-time.Minute).Unix())), "n0nce", line.ErrIDTokenExpired},
		{"bad signature", hs256(t, "another-secret", good()), "n0nce", line.ErrIDTokenSignature},
		{"alg none", none, "n0nce", line.ErrIDTokenSignature},
		{"alg HS512", hs512, "n0nce", line.ErrIDTokenSignature},
		{"wrong issuer", hs256(t, loginSecret, with("iss", "https://evil.example")), "n0nce", line.ErrIDTokenIssuer},
		{"no exp", hs256(t, loginSecret, func() jwt.MapClaims { c := good(); delete(c, "exp"); return c }()), "n0nce", line.ErrIDTokenClaims},
		{"issued in the future", hs256(t, loginSecret, with("iat", now.Add(time.Hour).Unix())), "n0nce", line.ErrIDTokenClaims},
		{"malformed", "not.a.jwt", "n0nce", line.ErrIDTokenMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := login.VerifyIDToken(context.Background(), cfg, c.token, c.nonce, now)
			if !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), loginSecret) {
				t.Error("error contains the channel secret")
			}
		})
	}
	// Within the leeway an expired token still passes.
	if _, err := login.VerifyIDToken(context.Background(), cfg, hs256(t, loginSecret, with("exp", now.Add(-10*time.Second).Unix())), "n0nce", now); err != nil {
		t.Errorf("10s past exp: %v", err)
	}
	// ES256 signed by a key LINE doesn't publish.
	other := linetest.NewServer(t)
	if _, err := login.VerifyIDToken(context.Background(), cfg, other.SignES256(good()), "n0nce", now); !errors.Is(err, line.ErrIDTokenSignature) {
		t.Errorf("ES256 with an unknown key: %v", err)
	}
	// ES256 signed by the published key.
	if _, err := login.VerifyIDToken(context.Background(), cfg, fake.SignES256(good()), "n0nce", now); err != nil {
		t.Errorf("ES256 with LINE's key: %v", err)
	}
}

// LINE's published example payload has exp before iat: a correct verifier
// rejects it as expired, whatever the clock says.
func TestVerifyIDTokenPublishedExample(t *testing.T) {
	t.Parallel()
	_, login, _ := loginSetup(t)
	b, err := os.ReadFile(filepath.Join(linetest.FixturesDir(t), "line", "login", "id_token_payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	var claims jwt.MapClaims
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	cfg := line.LoginConfig{ChannelID: claims["aud"].(string), ChannelSecret: loginSecret}
	tok := hs256(t, loginSecret, claims)
	iat := time.Unix(int64(claims["iat"].(float64)), 0)
	for _, now := range []time.Time{iat, iat.Add(time.Minute), time.Now()} {
		if _, err := login.VerifyIDToken(context.Background(), cfg, tok, claims["nonce"].(string), now); !errors.Is(err, line.ErrIDTokenExpired) {
			t.Errorf("now=%v: err = %v, want ErrIDTokenExpired", now, err)
		}
	}
	// Same payload with a sane exp verifies, and every claim comes through.
	claims["exp"] = float64(iat.Add(time.Hour).Unix())
	got, err := login.VerifyIDToken(context.Background(), cfg, hs256(t, loginSecret, claims), "0987654asdf", iat)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "U1234567890abcdef1234567890abcdef" || got.Email != "taro.line@example.com" || got.Name != "Taro Line" || len(got.AMR) != 1 {
		t.Errorf("claims = %+v", got)
	}
}
