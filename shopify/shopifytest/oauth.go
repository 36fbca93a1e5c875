package shopifytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tsunagu/tsunagu/shopify"
)

var graphqlPath = regexp.MustCompile(`^/admin/api/([0-9]{4}-[0-9]{2}|unstable)/graphql\.json$`)

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rec := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	path := r.URL.Path
	// ShopAdminBase form: /shops/{shop}/admin/...
	if rest, ok := strings.CutPrefix(path, "/shops/"); ok {
		shop, p, _ := strings.Cut(rest, "/")
		rec.Shop, path = shop, "/"+p
	} else if h := r.Header.Get(shopify.HeaderShopDomain); h != "" {
		rec.Shop = h
	}
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		if rec.recorded {
			return
		}
		rec.Status = rw.status
		s.mu.Lock()
		s.requests = append(s.requests, rec)
		s.mu.Unlock()
	}()

	switch {
	case path == "/admin/oauth/authorize" && r.Method == http.MethodGet:
		rec.Operation = "authorize"
		s.authorize(rw, r, &rec)
	case path == "/admin/oauth/access_token" && r.Method == http.MethodPost:
		rec.Operation = OpAccessToken
		if s.injectFailure(rw) {
			return
		}
		s.accessToken(rw, r, body, &rec)
	case graphqlPath.MatchString(path) && r.Method == http.MethodPost:
		if s.injectFailure(rw) {
			return
		}
		s.graphql(rw, r, body, &rec)
	case strings.HasPrefix(path, "/bulk-results/") && r.Method == http.MethodGet:
		rec.Operation = "bulk_download"
		s.bulkDownload(rw, path)
	default:
		writeJSON(rw, http.StatusNotFound, map[string]string{"errors": "Not Found"})
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the connection (to hijack it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) injectFailure(w http.ResponseWriter) bool {
	s.mu.Lock()
	if len(s.failures) == 0 {
		s.mu.Unlock()
		return false
	}
	f := s.failures[0]
	s.failures = s.failures[1:]
	s.mu.Unlock()
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	msg := http.StatusText(f.status)
	if f.status == http.StatusTooManyRequests {
		msg = "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
	}
	writeJSON(w, f.status, map[string]string{"errors": msg})
	return true
}

var installPage = template.Must(template.New("install").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Install app</title></head>
<body>
<h1>Install app on {{.Shop}}</h1>
<p>The app <code>{{.ClientID}}</code> asks for: <span id="scopes">{{.Scope}}</span></p>
<p><a id="install" href="{{.Callback}}">Install</a></p>
<p><a id="cancel" href="{{.Cancel}}">Cancel</a></p>
</body></html>`))

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, rec *Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.APIKey {
		http.Error(w, "Oauth error invalid_request: The client_id provided is invalid.", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !redirect.IsAbs() || (redirect.Scheme != "https" && redirect.Scheme != "http") || redirect.Host == "" {
		http.Error(w, "Oauth error invalid_request: The redirect_uri is missing or not whitelisted.", http.StatusBadRequest)
		return
	}
	shop := rec.Shop
	if shop == "" {
		shop = q.Get("shop") // not Shopify's, but lets a test pick the shop
	}
	if shop == "" {
		shop = s.Shop
	}
	rec.Shop = shop
	cb := s.callbackQuery(shop, q.Get("state"), q.Get("scope"))
	callback := *redirect
	merged := redirect.Query()
	for k, v := range cb {
		merged[k] = v
	}
	callback.RawQuery = merged.Encode()
	if s.autoRedirect {
		http.Redirect(w, r, callback.String(), http.StatusFound)
		return
	}
	cancel := *redirect
	cancel.RawQuery = url.Values{"error": {"access_denied"}, "state": {q.Get("state")}}.Encode()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = installPage.Execute(w, map[string]string{
		"Shop": shop, "ClientID": s.APIKey, "Scope": q.Get("scope"),
		"Callback": callback.String(), "Cancel": cancel.String(),
	})
}

func (s *Server) accessToken(w http.ResponseWriter, r *http.Request, body []byte, rec *Request) {
	form := url.Values{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var in map[string]any
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, oauthError("malformed JSON body"))
			return
		}
		for k, v := range in {
			form.Set(k, fmt.Sprint(v))
		}
	} else {
		form, _ = url.ParseQuery(string(body))
	}
	if form.Get("client_id") != s.APIKey || form.Get("client_secret") != s.APISecret {
		writeJSON(w, http.StatusBadRequest, oauthError("The client credentials are invalid"))
		return
	}
	switch form.Get("grant_type") {
	case "refresh_token":
		rec.Operation = OpRefresh
		s.refresh(w, form.Get("refresh_token"), rec)
	case "urn:ietf:params:oauth:grant-type:token-exchange":
		rec.Operation = OpTokenExchange
		s.tokenExchange(w, form, rec)
	case "", "authorization_code":
		s.codeExchange(w, form, rec)
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "The grant type is not supported"})
	}
}

func (s *Server) codeExchange(w http.ResponseWriter, form url.Values, rec *Request) {
	s.mu.Lock()
	g, ok := s.codes[form.Get("code")]
	if ok && !g.used && (rec.Shop == "" || rec.Shop == g.shop) {
		g.used = true
	} else {
		ok = false
	}
	var out map[string]any
	if ok {
		rec.Shop = g.shop
		delete(s.uninstalled, g.shop)
		out = s.grantLocked(g.shop, g.scope, form.Get("expiring") == "1", nil)
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusBadRequest, oauthError("The authorization code was not found or was already used"))
		return
	}
	s.answerToken(w, out)
}

func (s *Server) tokenExchange(w http.ResponseWriter, form url.Values, rec *Request) {
	if form.Get("subject_token_type") != "urn:ietf:params:oauth:token-type:id_token" ||
		form.Get("requested_token_type") != "urn:shopify:params:oauth:token-type:offline-access-token" {
		writeJSON(w, http.StatusBadRequest, oauthError("subject_token_type or requested_token_type is not supported"))
		return
	}
	shop, err := s.verifySessionToken(form.Get("subject_token"))
	if err != nil || (rec.Shop != "" && rec.Shop != shop) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_subject_token", "error_description": "The subject token is invalid"})
		return
	}
	rec.Shop = shop
	s.mu.Lock()
	if s.uninstalled[shop] {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_subject_token", "error_description": "The app is not installed on this shop"})
		return
	}
	out := s.grantLocked(shop, s.scopes, form.Get("expiring") == "1", nil)
	s.mu.Unlock()
	s.answerToken(w, out)
}

func (s *Server) refresh(w http.ResponseWriter, token string, rec *Request) {
	s.mu.Lock()
	rt, ok := s.refreshTokens[token]
	now := s.now()
	if !ok || rt.retired || !now.Before(rt.expiresAt) || (rec.Shop != "" && rec.Shop != rt.shop) {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant",
			"error_description": "The refresh token is invalid, expired, revoked, or was already used"})
		return
	}
	rec.Shop = rt.shop
	s.refreshCalls[rt.shop]++
	out := s.grantLocked(rt.shop, rt.scope, true, rt)
	lose := s.loseTokenAnswers > 0
	if lose {
		s.loseTokenAnswers--
	}
	s.mu.Unlock()
	if lose {
		// The pair is issued but the answer never arrives: drop the connection.
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			// Log it before the client sees the drop and retries.
			rec.Status, rec.recorded = 0, true
			s.mu.Lock()
			s.requests = append(s.requests, *rec)
			s.mu.Unlock()
			conn.Close()
			return
		}
	}
	s.answerToken(w, out)
}

// grantLocked issues a new token for shop, revoking every earlier one (one
// active expiring token per app and shop). from is the refresh token spent,
// which stays usable until the new pair is first used; s.mu must be held.
func (s *Server) grantLocked(shop, scope string, expiring bool, from *refreshToken) map[string]any {
	now := s.now()
	for tok, at := range s.tokens {
		if at.shop == shop {
			delete(s.tokens, tok)
		}
	}
	for _, rt := range s.refreshTokens {
		if rt.shop == shop && rt != from {
			rt.retired = true
		}
	}
	access := &accessToken{shop: shop}
	tok := "shpat_" + randHex(16)
	out := map[string]any{"access_token": tok, "scope": scope}
	if expiring {
		access.expiresAt = now.Add(AccessTokenTTL)
		rt := &refreshToken{shop: shop, scope: scope, expiresAt: now.Add(RefreshTokenTTL)}
		if from != nil {
			rt.predecessor = from
		}
		rtok := "shprt_" + randHex(16)
		s.refreshTokens[rtok] = rt
		access.pair = rt
		out["expires_in"] = int(AccessTokenTTL / time.Second)
		out["refresh_token"] = rtok
		out["refresh_token_expires_in"] = int(RefreshTokenTTL / time.Second)
	}
	s.tokens[tok] = access
	return out
}

func (s *Server) answerToken(w http.ResponseWriter, out map[string]any) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

// useLocked records the first use of a pair: the refresh token spent to
// get it is retired from then on. s.mu must be held.
func useLocked(rt *refreshToken) {
	if rt != nil && rt.predecessor != nil {
		rt.predecessor.retired = true
		rt.predecessor = nil
	}
}

func oauthError(desc string) map[string]string {
	return map[string]string{"error": "invalid_request", "error_description": desc}
}
