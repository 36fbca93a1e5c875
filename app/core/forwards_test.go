package core

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheckForwardURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url        string
		production bool
		ok         bool
	}{
		{"https://desk.example.com/line/webhook", true, true},
		{"https://desk.example.com:8443/hook?x=1", true, true},
		{"http://desk.example.com/hook", false, true},
		{"http://127.0.0.1:9000/hook", false, true},
		{"http://desk.example.com/hook", true, false},
		{"https://127.0.0.1/hook", true, false},
		{"https://10.1.2.3/hook", true, false},
		{"https://192.168.0.10/hook", true, false},
		{"https://169.254.169.254/latest/meta-data", true, false},
		{"https://100.64.0.1/hook", true, false},
		{"https://[::1]/hook", true, false},
		{"https://[::ffff:127.0.0.1]/hook", true, false},
		{"https://[fd00::1]/hook", true, false},
		{"https://0.0.0.0/hook", true, false},
		{"https://localhost/hook", true, false},
		{"https://metadata.google.internal/hook", true, false},
		{"https://user:pass@desk.example.com/hook", false, false},
		{"ftp://desk.example.com/hook", false, false},
		{"javascript:alert(1)", false, false},
		{"/relative", false, false},
		{"", false, false},
		{"https://desk.example.com/" + strings.Repeat("a", MaxForwardURL), false, false},
		{"https://desk.example.com/hook#frag", false, false},
	}
	for _, c := range cases {
		_, err := CheckForwardURL(c.url, c.production)
		if (err == nil) != c.ok {
			t.Errorf("CheckForwardURL(%q, production=%v) = %v, want ok=%v", c.url, c.production, err, c.ok)
		}
		if err != nil && ErrorCode(err) != EINVALID {
			t.Errorf("%q: error code %s", c.url, ErrorCode(err))
		}
	}
}

// In production the dialer refuses an internal address after resolution,
// so a public-looking name that resolves inside (or is rebound) is not
// reached; in development it is.
func TestForwardClientRefusesInternalTargets(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	if _, err := NewForwardClient(true).Get(srv.URL); !errors.Is(err, errInternalTarget) {
		t.Fatalf("production client reached %s: %v", srv.URL, err)
	}
	res, err := NewForwardClient(false).Get(srv.URL)
	if err != nil {
		t.Fatalf("development client: %v", err)
	}
	res.Body.Close()
}
