package sandbox

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// LINE Login, as LINE documents it (LINE Login v2.1 API reference:
// authorize, token, verify, profile, friendship status). The sandbox signs
// ID tokens with HS256 and the channel secret, as LINE does for web logins,
// with LINE's issuer, so the app verifies them exactly as it verifies LINE's.
const (
	loginIssuer = "https://access.line.me"
	codeTTL     = 10 * time.Minute // LINE: authorization codes expire after 10 minutes
	loginTTL    = 30 * 24 * time.Hour
	idTokenTTL  = time.Hour
	maxNameLen  = 40
)

func (s *Server) lineLoginRoutes() {
	s.mux.HandleFunc("GET "+LINEPath+"/oauth2/v2.1/authorize", s.authorizePage)
	s.mux.HandleFunc("POST "+LINEPath+"/oauth2/v2.1/authorize", s.authorizeDecision)
	s.mux.HandleFunc("POST "+LINEPath+"/oauth2/v2.1/token", s.token)
	s.mux.HandleFunc("GET "+LINEPath+"/oauth2/v2.1/verify", s.verifyAccessToken)
	s.mux.HandleFunc("POST "+LINEPath+"/oauth2/v2.1/verify", s.verifyIDToken)
	s.mux.HandleFunc("GET "+LINEPath+"/oauth2/v2.1/certs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"keys": []any{}}) // HS256 only
	})
	s.mux.HandleFunc("GET "+LINEPath+"/v2/profile", s.loginProfile)
	s.mux.HandleFunc("GET "+LINEPath+"/friendship/v1/status", s.friendship)
}

// authRequest is an authorization request, checked as LINE checks it.
type authRequest struct {
	ClientID, RedirectURI, State, Nonce, Challenge, BotPrompt string
}

func (s *Server) parseAuthRequest(r *http.Request, v url.Values) (authRequest, error) {
	a := authRequest{ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"), State: v.Get("state"),
		Nonce: v.Get("nonce"), Challenge: v.Get("code_challenge"), BotPrompt: v.Get("bot_prompt")}
	switch {
	case v.Get("response_type") != "code":
		return a, errors.New("response_type must be code")
	case a.ClientID != s.ch.LoginChannelID:
		return a, errors.New("client_id is not the sandbox's LINE Login channel (is this shop's channel the demo's?)")
	case a.State == "":
		return a, errors.New("state is required")
	case !strings.Contains(" "+v.Get("scope")+" ", " openid "):
		return a, errors.New("scope must include openid")
	case a.Challenge != "" && v.Get("code_challenge_method") != "S256":
		return a, errors.New("code_challenge_method must be S256")
	}
	// LINE accepts only the callback URL registered for the channel; the
	// sandbox's channel is registered for the app that serves it.
	u, err := url.Parse(a.RedirectURI)
	if err != nil || u.Host != r.Host || (u.Scheme != "http" && u.Scheme != "https") {
		return a, errors.New("redirect_uri is not on this server (the sandbox's channel is registered for the app that serves it)")
	}
	return a, nil
}

var authorizeTmpl = template.Must(template.New("authorize").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>LINE Login (sandbox)</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#111}
.banner{background:#fff3cd;border:1px solid #e0c36b;padding:.5rem .75rem;border-radius:6px;font-size:.9rem}
h1{color:#06c755;font-size:1.4rem}fieldset{border:1px solid #ddd;border-radius:6px;margin:1rem 0}
label{display:block;margin:.4rem 0}button{font-size:1rem;padding:.6rem 1.2rem;border-radius:6px;border:0;margin-right:.5rem}
#allow{background:#06c755;color:#fff}#cancel{background:#eee}</style></head>
<body><p class="banner">This is Tsunagu's built-in <b>LINE sandbox</b> for the demo, not LINE. Nothing leaves this computer.</p>
<h1>LINE Login</h1>
<p>An app wants to link your LINE account: it will know your LINE user ID and display name.</p>
<form method="post" action="{{.Action}}">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<fieldset><legend>Sign in to the sandbox as</legend>
{{range $i, $u := .Users}}<label><input type="radio" name="user" value="{{$u.Name}}"{{if eq $i 0}} checked{{end}} id="user-{{$i}}"> {{$u.Name}}</label>{{end}}
<label><input type="radio" name="user" value="" id="user-other"> another LINE user named
<input name="other_name" id="other-name" maxlength="40" placeholder="your name"></label>
</fieldset>
{{if .BotPrompt}}<label><input type="checkbox" name="add_friend" value="1" id="add-friend" checked> Add <b>{{.BotName}}</b> as a friend</label>{{end}}
<p><button id="allow" name="decision" value="allow">Allow</button><button id="cancel" name="decision" value="cancel">Cancel</button></p>
</form></body></html>`))

func (s *Server) authorizePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if _, err := s.parseAuthRequest(r, q); err != nil {
		http.Error(w, "LINE sandbox: invalid authorization request: "+err.Error(), http.StatusBadRequest)
		return
	}
	params := map[string]string{}
	for _, k := range []string{"response_type", "client_id", "redirect_uri", "state", "scope", "nonce",
		"code_challenge", "code_challenge_method", "bot_prompt"} {
		params[k] = q.Get(k)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = authorizeTmpl.Execute(w, map[string]any{"Action": LINEPath + "/oauth2/v2.1/authorize", "Params": params,
		"Users": DemoUsers, "BotPrompt": q.Get("bot_prompt") != "", "BotName": s.ch.BotName})
}

func (s *Server) authorizeDecision(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "LINE sandbox: bad form", http.StatusBadRequest)
		return
	}
	ar, err := s.parseAuthRequest(r, r.PostForm)
	if err != nil {
		http.Error(w, "LINE sandbox: invalid authorization request: "+err.Error(), http.StatusBadRequest)
		return
	}
	back := url.Values{"state": {ar.State}}
	if r.PostForm.Get("decision") != "allow" {
		back.Set("error", "access_denied")
		back.Set("error_description", "The user has denied the approval")
		http.Redirect(w, r, withQuery(ar.RedirectURI, back), http.StatusFound)
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("user"))
	if name == "" {
		name = strings.TrimSpace(r.PostForm.Get("other_name"))
	}
	if name == "" || len([]rune(name)) > maxNameLen {
		http.Error(w, "LINE sandbox: choose a demo user or type a name of at most 40 characters", http.StatusBadRequest)
		return
	}
	u := UserNamed(name)
	code := randomID(16)
	now := s.now()
	s.mu.Lock()
	s.names[u.ID] = u.Name
	if r.PostForm.Get("add_friend") != "" {
		s.friends[u.ID] = true
	}
	s.codes[code] = &authCode{clientID: ar.ClientID, redirectURI: ar.RedirectURI, nonce: ar.Nonce,
		challenge: ar.Challenge, user: u, expires: now.Add(codeTTL)}
	s.mu.Unlock()
	back.Set("code", code)
	back.Set("friendship_status_changed", "true")
	http.Redirect(w, r, withQuery(ar.RedirectURI, back), http.StatusFound)
}

func withQuery(base string, v url.Values) string {
	if strings.Contains(base, "?") {
		return base + "&" + v.Encode()
	}
	return base + "?" + v.Encode()
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "authorization_code" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "the sandbox issues tokens for authorization codes only")
		return
	}
	if f.Get("client_id") != s.ch.LoginChannelID ||
		subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(s.ch.LoginSecret)) != 1 {
		oauthError(w, http.StatusBadRequest, "invalid_client", "wrong client_id or client_secret")
		return
	}
	now := s.now()
	s.mu.Lock()
	c := s.codes[f.Get("code")]
	delete(s.codes, f.Get("code")) // single use
	s.mu.Unlock()
	switch {
	case c == nil || now.After(c.expires):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "authorization code expired or already used")
		return
	case c.redirectURI != f.Get("redirect_uri") || c.clientID != f.Get("client_id"):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match")
		return
	case c.challenge != "" && pkceS256(f.Get("code_verifier")) != c.challenge:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match code_challenge")
		return
	}
	claims := jwt.MapClaims{"iss": loginIssuer, "sub": c.user.ID, "aud": c.clientID,
		"exp": now.Add(idTokenTTL).Unix(), "iat": now.Unix(), "amr": []string{"linesso"}, "name": c.user.Name}
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	idToken, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(s.ch.LoginSecret))
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "signing the ID token")
		return
	}
	access := randomID(24)
	s.mu.Lock()
	s.tokens[access] = &loginGrant{clientID: c.clientID, user: c.user, expires: now.Add(loginTTL)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "expires_in": int(loginTTL / time.Second),
		"id_token": idToken, "refresh_token": randomID(16), "scope": "openid profile", "token_type": "Bearer"})
}

func pkceS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// loginGrantOf returns the live grant of the request's LINE Login bearer token.
func (s *Server) loginGrantOf(r *http.Request, token string) *loginGrant {
	if token == "" {
		token, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.tokens[token]
	if g == nil || s.now().After(g.expires) {
		return nil
	}
	return g
}

func (s *Server) verifyAccessToken(w http.ResponseWriter, r *http.Request) {
	g := s.loginGrantOf(r, r.URL.Query().Get("access_token"))
	if g == nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "access token expired")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"scope": "openid profile", "client_id": g.clientID,
		"expires_in": int(g.expires.Sub(s.now()) / time.Second)})
}

// verifyIDToken is LINE's POST /oauth2/v2.1/verify for ID tokens.
func (s *Server) verifyIDToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	if r.PostForm.Get("client_id") != s.ch.LoginChannelID {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Invalid IdToken Audience.")
		return
	}
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(loginIssuer),
		jwt.WithAudience(s.ch.LoginChannelID), jwt.WithTimeFunc(s.now)).
		ParseWithClaims(r.PostForm.Get("id_token"), claims, func(*jwt.Token) (any, error) { return []byte(s.ch.LoginSecret), nil })
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Invalid IdToken.")
		return
	}
	if n := r.PostForm.Get("nonce"); n != "" && claims["nonce"] != n {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Invalid IdToken Nonce.")
		return
	}
	writeJSON(w, http.StatusOK, claims)
}

func (s *Server) loginProfile(w http.ResponseWriter, r *http.Request) {
	g := s.loginGrantOf(r, "")
	if g == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "invalid token"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"userId": g.user.ID, "displayName": g.user.Name})
}

func (s *Server) friendship(w http.ResponseWriter, r *http.Request) {
	g := s.loginGrantOf(r, "")
	if g == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "invalid token"})
		return
	}
	s.mu.Lock()
	friend := s.friends[g.user.ID]
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]bool{"friendFlag": friend})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func hashOf(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
