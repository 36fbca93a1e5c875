package shopifytest

import (
	"bytes"
	"encoding/json"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"

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
		rec.Operation = "access_token"
		if s.injectFailure(rw) {
			return
		}
		s.accessToken(rw, r, body, &rec)
	case graphqlPath.MatchString(path) && r.Method == http.MethodPost:
		if s.injectFailure(rw) {
			return
		}
		s.graphql(rw, r, body, &rec)
	default:
		writeJSON(rw, http.StatusNotFound, map[string]string{"errors": "Not Found"})
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

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
	var in struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		Code         string `json:"code"`
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, oauthError("malformed JSON body"))
			return
		}
	} else {
		form, _ := url.ParseQuery(string(body))
		in.ClientID, in.ClientSecret, in.Code = form.Get("client_id"), form.Get("client_secret"), form.Get("code")
	}
	if in.ClientID != s.APIKey || in.ClientSecret != s.APISecret {
		writeJSON(w, http.StatusBadRequest, oauthError("The client credentials are invalid"))
		return
	}
	s.mu.Lock()
	g, ok := s.codes[in.Code]
	if ok && !g.used && (rec.Shop == "" || rec.Shop == g.shop) {
		g.used = true
	} else {
		ok = false
	}
	var tok string
	if ok {
		tok = "shpat_" + randHex(16)
		s.tokens[tok] = g.shop
		rec.Shop = g.shop
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusBadRequest, oauthError("The authorization code was not found or was already used"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"access_token": tok, "scope": g.scope})
}

func oauthError(desc string) map[string]string {
	return map[string]string{"error": "invalid_request", "error_description": desc}
}
