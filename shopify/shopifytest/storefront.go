package shopifytest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Storefront is a shop's online store as a shopper's browser meets it, for
// browser tests of theme app extensions:
//   - the theme pages the test supplies (path -> HTML) and files (path ->
//     content, e.g. the extension's built assets);
//   - a stand-in for customer accounts: /account/login?customer=<id>
//     signs that customer in (a cookie) and follows return_url, and
//     /account/login without a customer answers a plain sign-in page;
//   - the app proxy, as Shopify runs it: /apps/tsunagu/<path> is forwarded
//     to <proxyURL>/<path> with shop, logged_in_customer_id, path_prefix,
//     timestamp and signature added to the query, the shopper's cookies
//     stripped from the request and Set-Cookie from the answer; redirects
//     and bodies pass through.
type Storefront struct {
	URL string

	srv      *httptest.Server
	fake     *Server
	shop     string
	proxyURL string
	pages    map[string]string
	files    map[string]Asset
	client   *http.Client
}

// Asset is a static file of the storefront.
type Asset struct {
	ContentType string
	Body        []byte
}

const storefrontCustomerCookie = "storefront_customer"

// NewStorefront starts shop's storefront; its app proxy forwards to proxyURL
// (the app's <base>/proxy). It is closed when the test ends.
func (s *Server) NewStorefront(t testing.TB, shop, proxyURL string, pages map[string]string, files map[string]Asset) *Storefront {
	t.Helper()
	sf := &Storefront{fake: s, shop: shop, proxyURL: strings.TrimRight(proxyURL, "/"), pages: pages, files: files,
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	sf.srv = httptest.NewServer(http.HandlerFunc(sf.serveHTTP))
	sf.URL = sf.srv.URL
	t.Cleanup(sf.srv.Close)
	return sf
}

func (sf *Storefront) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/apps/tsunagu/"):
		sf.proxy(w, r)
	case r.URL.Path == "/account/login":
		sf.login(w, r)
	case sf.pages[r.URL.Path] != "":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(sf.pages[r.URL.Path]))
	default:
		f, ok := sf.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", f.ContentType)
		_, _ = w.Write(f.Body)
	}
}

func (sf *Storefront) login(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.URL.Query().Get("customer"), 10, 64)
	if err != nil || id <= 0 {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>Login</title><h1 id="login">Login</h1>`))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: storefrontCustomerCookie, Value: strconv.FormatInt(id, 10), Path: "/", HttpOnly: true})
	back := r.URL.Query().Get("return_url")
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") {
		back = "/"
	}
	http.Redirect(w, r, back, http.StatusFound)
}

func (sf *Storefront) proxy(w http.ResponseWriter, r *http.Request) {
	var customer int64
	if ck, err := r.Cookie(storefrontCustomerCookie); err == nil {
		customer, _ = strconv.ParseInt(ck.Value, 10, 64)
	}
	// Shopify signs every parameter of the shopper's query with its own.
	extra := url.Values{}
	for k, v := range r.URL.Query() {
		if k != "signature" {
			extra[k] = v
		}
	}
	q := sf.fake.ProxyQuery(sf.shop, customer, extra)
	target := sf.proxyURL + strings.TrimPrefix(r.URL.Path, "/apps/tsunagu") + "?" + q.Encode()
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for _, h := range []string{"Accept", "Accept-Language", "Content-Type", "User-Agent"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := sf.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		if k != "Set-Cookie" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
