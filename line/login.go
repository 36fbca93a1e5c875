package line

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults for LoginConfig.
const (
	DefaultAuthBase = "https://access.line.me"
	// LoginIssuer is the "iss" of every LINE Login ID token.
	LoginIssuer = "https://access.line.me"
	// idTokenLeeway absorbs clock skew between us and LINE.
	idTokenLeeway = 30 * time.Second
)

// ID-token verification failures. VerifyIDToken wraps exactly one of them.
var (
	ErrIDTokenMalformed = errors.New("line: ID token is malformed")
	ErrIDTokenSignature = errors.New("line: ID token signature is invalid or its algorithm is not allowed")
	ErrIDTokenExpired   = errors.New("line: ID token is expired")
	ErrIDTokenIssuer    = errors.New("line: ID token issuer is not LINE")
	ErrIDTokenAudience  = errors.New("line: ID token was issued to another channel")
	ErrIDTokenNonce     = errors.New("line: ID token nonce does not match")
	ErrIDTokenClaims    = errors.New("line: ID token claims are invalid")
)

// LoginConfig is one shop's LINE Login channel.
type LoginConfig struct {
	ChannelID     string
	ChannelSecret string
	RedirectURI   string
	AuthBase      string // default DefaultAuthBase
	APIBase       string // default DefaultAPIBase
}

func (c LoginConfig) authBase() string {
	if c.AuthBase == "" {
		return DefaultAuthBase
	}
	return strings.TrimRight(c.AuthBase, "/")
}

func (c LoginConfig) apiBase() string {
	if c.APIBase == "" {
		return DefaultAPIBase
	}
	return strings.TrimRight(c.APIBase, "/")
}

// Token is LINE Login's token endpoint answer.
type Token struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
}

// IDClaims are the verified claims of a LINE Login ID token.
type IDClaims struct {
	Subject   string // the LINE user id
	Name      string
	Picture   string
	Email     string // only with the email scope and the user's consent
	Nonce     string
	AMR       []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	AuthTime  time.Time // zero unless max_age was requested
}

// LoginError is an OAuth error answer from LINE Login
// ({"error", "error_description"}) or another non-2xx status.
type LoginError struct {
	Status      int
	Code        string // "invalid_grant", "invalid_client", ...
	Description string
}

func (e *LoginError) Error() string {
	s := fmt.Sprintf("LINE Login status %d", e.Status)
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Login talks to LINE Login. It is safe for concurrent use; it caches LINE's
// ES256 signing keys.
type Login struct {
	hc *http.Client

	mu   sync.Mutex
	jwks map[string]map[string]*ecdsa.PublicKey // API base -> kid -> key
}

// NewLogin returns a Login using hc (nil means a client with a 10 second
// timeout).
func NewLogin(hc *http.Client) *Login {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Login{hc: hc, jwks: make(map[string]map[string]*ecdsa.PublicKey)}
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewPKCE returns a PKCE verifier (43 characters of the unreserved set) and
// its S256 challenge.
func NewPKCE() (verifier, challenge string) {
	verifier = randomToken(32)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// NewNonce returns a random nonce for the ID token.
func NewNonce() string { return randomToken(24) }

// NewState returns a random state for CSRF protection.
func NewState() string { return randomToken(24) }

// AuthorizeURL builds the URL that starts LINE Login. bot_prompt=aggressive
// asks the user to add the shop's bot as a friend on the consent screen.
func (l *Login) AuthorizeURL(cfg LoginConfig, state, nonce, codeChallenge string) string {
	// Built by hand to keep a stable order and %20 (not +) in scope, as in
	// LINE's documentation.
	params := [][2]string{
		{"response_type", "code"},
		{"client_id", cfg.ChannelID},
		{"redirect_uri", cfg.RedirectURI},
		{"state", state},
		{"scope", "openid profile"},
		{"nonce", nonce},
		{"code_challenge", codeChallenge},
		{"code_challenge_method", "S256"},
		{"bot_prompt", "aggressive"},
	}
	var b strings.Builder
	b.WriteString(cfg.authBase())
	b.WriteString("/oauth2/v2.1/authorize?")
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p[0])
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(p[1]), "+", "%20"))
	}
	return b.String()
}

// Exchange trades an authorization code (and its PKCE verifier) for tokens.
func (l *Login) Exchange(ctx context.Context, cfg LoginConfig, code, verifier string) (*Token, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {cfg.RedirectURI},
		"client_id":     {cfg.ChannelID},
		"client_secret": {cfg.ChannelSecret},
		"code_verifier": {verifier},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.apiBase()+"/oauth2/v2.1/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("line login: building token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok Token
	if err := l.do(req, &tok); err != nil {
		return nil, fmt.Errorf("line login: exchanging code: %w", err)
	}
	if tok.AccessToken == "" || tok.IDToken == "" {
		return nil, errors.New("line login: exchanging code: answer without access_token or id_token (is the openid scope requested?)")
	}
	return &tok, nil
}

// FriendshipStatus reports whether the user behind a LINE Login access token
// is a friend of the bot linked to the Login channel.
func (l *Login) FriendshipStatus(ctx context.Context, cfg LoginConfig, accessToken string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.apiBase()+"/friendship/v1/status", nil)
	if err != nil {
		return false, fmt.Errorf("line login: building friendship request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	var out struct {
		FriendFlag bool `json:"friendFlag"`
	}
	if err := l.do(req, &out); err != nil {
		return false, fmt.Errorf("line login: friendship status: %w", err)
	}
	return out.FriendFlag, nil
}

// do sends req and decodes a 2xx JSON answer into out.
func (l *Login) do(req *http.Request, out any) error {
	res, err := l.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading answer: %w", err)
	}
	if res.StatusCode/100 != 2 {
		le := &LoginError{Status: res.StatusCode}
		var eb struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
			Message     string `json:"message"`
		}
		if json.Unmarshal(body, &eb) == nil {
			le.Code, le.Description = eb.Error, eb.Description
			if le.Description == "" {
				le.Description = eb.Message
			}
		}
		return le
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decoding answer: %w", err)
	}
	return nil
}

type idTokenClaims struct {
	jwt.RegisteredClaims
	Nonce    string   `json:"nonce"`
	AMR      []string `json:"amr"`
	Name     string   `json:"name"`
	Picture  string   `json:"picture"`
	Email    string   `json:"email"`
	AuthTime int64    `json:"auth_time"`
}

// VerifyIDToken verifies a LINE Login ID token locally: the signature (HS256
// with the channel secret, as LINE signs web-login tokens, or ES256 with a
// key from LINE's JWKS), iss, aud, exp (with a small leeway) and the nonce
// the login was started with. Any other algorithm, "none" included, fails.
func (l *Login) VerifyIDToken(ctx context.Context, cfg LoginConfig, idToken, nonce string, now time.Time) (*IDClaims, error) {
	if cfg.ChannelID == "" {
		return nil, errors.New("line login: verifying ID token: missing channel id")
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg(), jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(LoginIssuer),
		jwt.WithAudience(cfg.ChannelID),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(idTokenLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var c idTokenClaims
	_, err := parser.ParseWithClaims(idToken, &c, func(t *jwt.Token) (any, error) {
		switch t.Method.(type) {
		case *jwt.SigningMethodHMAC:
			if cfg.ChannelSecret == "" {
				return nil, errors.New("no channel secret for an HS256 ID token")
			}
			return []byte(cfg.ChannelSecret), nil
		case *jwt.SigningMethodECDSA:
			kid, _ := t.Header["kid"].(string)
			return l.ecKey(ctx, cfg.apiBase(), kid)
		default:
			return nil, fmt.Errorf("algorithm %v not allowed", t.Header["alg"])
		}
	})
	if err != nil {
		return nil, classifyJWTError(err)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: no subject", ErrIDTokenClaims)
	}
	if nonce == "" || c.Nonce != nonce {
		return nil, ErrIDTokenNonce
	}
	out := &IDClaims{
		Subject: c.Subject, Name: c.Name, Picture: c.Picture, Email: c.Email,
		Nonce: c.Nonce, AMR: c.AMR,
	}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	if c.ExpiresAt != nil {
		out.ExpiresAt = c.ExpiresAt.Time
	}
	if c.AuthTime > 0 {
		out.AuthTime = time.Unix(c.AuthTime, 0)
	}
	return out, nil
}

// classifyJWTError maps golang-jwt's errors onto ours. Signature problems
// are checked first: a token that isn't LINE's says nothing about claims.
func classifyJWTError(err error) error {
	wrap := func(sentinel error) error { return fmt.Errorf("%w (%v)", sentinel, err) }
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return wrap(ErrIDTokenMalformed)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return wrap(ErrIDTokenSignature)
	case errors.Is(err, jwt.ErrTokenExpired):
		return wrap(ErrIDTokenExpired)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return wrap(ErrIDTokenIssuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return wrap(ErrIDTokenAudience)
	default:
		return wrap(ErrIDTokenClaims)
	}
}

// ecKey returns LINE's ES256 key kid, fetching the JWKS when the key is not
// cached (LINE rotates keys, so an unknown kid triggers one refetch).
func (l *Login) ecKey(ctx context.Context, apiBase, kid string) (*ecdsa.PublicKey, error) {
	l.mu.Lock()
	k := l.jwks[apiBase][kid]
	l.mu.Unlock()
	if k != nil {
		return k, nil
	}
	keys, err := l.fetchJWKS(ctx, apiBase)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.jwks[apiBase] = keys
	l.mu.Unlock()
	if k := keys[kid]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("no LINE key with kid %q", kid)
}

func (l *Login) fetchJWKS(ctx context.Context, apiBase string) (map[string]*ecdsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiBase+"/oauth2/v2.1/certs", nil)
	if err != nil {
		return nil, fmt.Errorf("building JWKS request: %w", err)
	}
	var set struct {
		Keys []struct {
			Kty, Crv, Kid, X, Y, Alg string
		} `json:"keys"`
	}
	if err := l.do(req, &set); err != nil {
		return nil, fmt.Errorf("fetching LINE's JWKS: %w", err)
	}
	keys := make(map[string]*ecdsa.PublicKey)
	for _, k := range set.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" {
			continue
		}
		x, errX := base64.RawURLEncoding.DecodeString(k.X)
		y, errY := base64.RawURLEncoding.DecodeString(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			continue
		}
		// Parsing the uncompressed point also checks it is on the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			continue
		}
		keys[k.Kid] = pub
	}
	return keys, nil
}
