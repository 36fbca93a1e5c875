package linetest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// LoginUser is the LINE user the fake's authorize endpoint logs in.
type LoginUser struct {
	UserID  string
	Name    string
	Picture string
	Email   string
	Friend  bool // friendship with the channel's bot after login
}

type grant struct {
	channelID   string
	redirectURI string
	challenge   string
	nonce       string
	user        LoginUser
	issued      time.Time
}

type loginState struct {
	channels map[string]string // channel id -> secret
	user     LoginUser
	codes    map[string]grant     // single-use authorization codes
	access   map[string]LoginUser // access token -> user
	friends  map[string]bool      // user id -> friend of the bot
}

func newLoginState() loginState {
	return loginState{
		channels: make(map[string]string),
		user: LoginUser{
			UserID:  "U1234567890abcdef1234567890abcdef",
			Name:    "Taro Line",
			Picture: "https://profile.line-scdn.net/abcdefghijklmn",
			Friend:  true,
		},
		codes:   make(map[string]grant),
		access:  make(map[string]LoginUser),
		friends: make(map[string]bool),
	}
}

// AddLoginChannel registers a LINE Login channel.
func (s *Server) AddLoginChannel(channelID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.login.channels[channelID] = secret
}

// SetLoginUser sets who is "logged in to LINE" when the app redirects a
// browser to /oauth2/v2.1/authorize, and whether that user is (or, through
// bot_prompt, becomes) a friend of the bot.
func (s *Server) SetLoginUser(userID, name string, friend bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.login.user.UserID, s.login.user.Name, s.login.user.Friend = userID, name, friend
}

// SetLoginUserDetails is SetLoginUser with every field.
func (s *Server) SetLoginUserDetails(u LoginUser) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.login.user = u
}

// SignES256 signs claims with the fake's ES256 key, the one published at
// /oauth2/v2.1/certs, for tests that build their own ID tokens.
func (s *Server) SignES256(claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = s.ecKID
	out, err := tok.SignedString(s.ecKey)
	if err != nil {
		s.t.Fatalf("linetest: signing ES256 ID token: %v", err)
	}
	return out
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:8])
}

// loginError is LINE Login's OAuth error body.
type loginError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// handleAuthorize stands in for the user's browser session at
// access.line.me: it checks the request the app built and redirects straight
// back as if the user had logged in and consented.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	clientID, redirectURI, state := q.Get("client_id"), q.Get("redirect_uri"), q.Get("state")
	s.mu.Lock()
	_, known := s.login.channels[clientID]
	user := s.login.user
	s.mu.Unlock()
	// Like LINE, problems with the client or redirect URI are shown to the
	// user rather than redirected.
	if !known {
		s.rejectLogin(w, r, http.StatusBadRequest, "invalid_client", "unknown client_id")
		return
	}
	if _, err := url.ParseRequestURI(redirectURI); err != nil || redirectURI == "" {
		s.rejectLogin(w, r, http.StatusBadRequest, "invalid_request", "redirect_uri is missing or invalid")
		return
	}
	var problem string
	switch {
	case q.Get("response_type") != "code":
		problem = "response_type must be code"
	case state == "":
		problem = "state is required"
	case !hasScope(q.Get("scope"), "openid"):
		problem = "scope must include openid"
	case q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256":
		problem = "code_challenge_method must be S256"
	case q.Get("bot_prompt") != "" && q.Get("bot_prompt") != "normal" && q.Get("bot_prompt") != "aggressive":
		problem = "bot_prompt must be normal or aggressive"
	}
	back, _ := url.Parse(redirectURI)
	bq := back.Query()
	if problem != "" {
		s.recordLoginRejection(r, http.StatusFound, "invalid_request", problem)
		bq.Set("error", "invalid_request")
		bq.Set("error_description", problem)
		bq.Set("state", state)
		back.RawQuery = bq.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
		return
	}
	code := strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
	s.mu.Lock()
	s.login.codes[code] = grant{
		channelID: clientID, redirectURI: redirectURI, challenge: q.Get("code_challenge"),
		nonce: q.Get("nonce"), user: user, issued: s.now(),
	}
	wasFriend := s.login.friends[user.UserID]
	s.login.friends[user.UserID] = user.Friend
	s.mu.Unlock()
	bq.Set("code", code)
	bq.Set("state", state)
	if q.Get("bot_prompt") != "" {
		bq.Set("friendship_status_changed", strconv.FormatBool(user.Friend && !wasFriend))
	}
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func hasScope(scopes, want string) bool {
	for _, s := range strings.Fields(scopes) {
		if s == want {
			return true
		}
	}
	return false
}

func (s *Server) recordLoginRejection(r *http.Request, status int, code, desc string) {
	s.mu.Lock()
	s.rejected = append(s.rejected, Rejection{
		Method: r.Method, Path: r.URL.Path, Status: status, Message: code, Details: []string{desc}, At: s.now(),
	})
	s.mu.Unlock()
	s.t.Logf("linetest: rejected %s %s: %s: %s", r.Method, r.URL.Path, code, desc)
}

func (s *Server) rejectLogin(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	s.recordLoginRejection(r, status, code, desc)
	writeJSON(w, status, loginError{Error: code, Description: desc})
}

// handleToken implements the authorization-code grant of LINE Login v2.1.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		s.rejectLogin(w, r, http.StatusBadRequest, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.rejectLogin(w, r, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "authorization_code" {
		s.rejectLogin(w, r, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code")
		return
	}
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	s.mu.Lock()
	want, known := s.login.channels[clientID]
	g, found := s.login.codes[f.Get("code")]
	delete(s.login.codes, f.Get("code")) // single use, even when the rest is wrong
	s.mu.Unlock()
	if !known || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		s.rejectLogin(w, r, http.StatusBadRequest, "invalid_client", "invalid client_id or client_secret")
		return
	}
	switch {
	case !found:
		s.rejectLogin(w, r, http.StatusBadRequest, "invalid_grant", "invalid authorization code")
		return
	case g.channelID != clientID:
		s.rejectLogin(w, r, http.StatusBadRequest, "invalid_grant", "authorization code was issued to another client")
		return
	case g.redirectURI != f.Get("redirect_uri"):
		s.rejectLogin(w, r, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match")
		return
	case s.now().Sub(g.issued) > 10*time.Minute:
		s.rejectLogin(w, r, http.StatusBadRequest, "invalid_grant", "authorization code expired")
		return
	}
	if g.challenge != "" {
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			s.rejectLogin(w, r, http.StatusBadRequest, "invalid_grant", "code_verifier does not match code_challenge")
			return
		}
	}
	now := s.now()
	claims := jwt.MapClaims{
		"iss": "https://access.line.me", "sub": g.user.UserID, "aud": clientID,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "amr": []string{"linesso"},
		"name": g.user.Name, "picture": g.user.Picture,
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	if g.user.Email != "" {
		claims["email"] = g.user.Email
	}
	var idToken string
	if s.es256 {
		idToken = s.SignES256(claims)
	} else {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(want))
		if err != nil {
			s.t.Fatalf("linetest: signing ID token: %v", err)
		}
		idToken = tok
	}
	access := "at-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	s.mu.Lock()
	s.login.access[access] = g.user
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  access,
		"expires_in":    2592000,
		"id_token":      idToken,
		"refresh_token": strings.ReplaceAll(uuid.NewString(), "-", "")[:20],
		"scope":         "openid profile",
		"token_type":    "Bearer",
	})
}

func (s *Server) handleCerts(w http.ResponseWriter, r *http.Request) {
	// Uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes).
	raw, err := s.ecKey.PublicKey.Bytes()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	b64 := base64.RawURLEncoding.EncodeToString
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "EC", "alg": "ES256", "use": "sig", "crv": "P-256", "kid": s.ecKID,
		"x": b64(raw[1:33]), "y": b64(raw[33:65]),
	}}})
}

// loginUser authenticates a LINE Login access token.
func (s *Server) loginUser(w http.ResponseWriter, r *http.Request) (LoginUser, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	u, found := s.login.access[token]
	s.mu.Unlock()
	if !ok || !found {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "invalid token"})
		return LoginUser{}, false
	}
	return u, true
}

func (s *Server) handleFriendship(w http.ResponseWriter, r *http.Request) {
	u, ok := s.loginUser(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	friend := s.login.friends[u.UserID]
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]bool{"friendFlag": friend})
}

func (s *Server) handleLoginProfile(w http.ResponseWriter, r *http.Request) {
	u, ok := s.loginUser(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"userId": u.UserID, "displayName": u.Name, "pictureUrl": u.Picture})
}
