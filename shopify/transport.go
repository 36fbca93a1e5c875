package shopify

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxRetryWait caps a Retry-After so a confused server cannot park a request.
const maxRetryWait = 30 * time.Second

// transport sends go-shopify's requests to AdminBase instead of
// https://{shop} when they differ, and retries 429 and 5xx answers with
// backoff, honouring Retry-After. go-shopify's own retry only covers 429
// and 503 and sleeps without watching the context, so it stays off.
type transport struct {
	base     http.RoundTripper
	origin   *url.URL // nil: send as is
	shop     string
	maxTries int
	backoff  time.Duration
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	tries := max(t.maxTries, 1)
	for attempt := 1; ; attempt++ {
		r := req.Clone(req.Context())
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		if t.origin != nil {
			r.URL.Scheme = t.origin.Scheme
			r.URL.Host = t.origin.Host
			r.URL.Path = t.origin.Path + r.URL.Path
			r.URL.RawPath = ""
			r.Host = t.origin.Host
			// The request no longer names the shop in its host; tell the fake.
			r.Header.Set(HeaderShopDomain, t.shop)
		}
		resp, err := base.RoundTrip(r)
		if err != nil || attempt >= tries || !retryable(resp.StatusCode) {
			return resp, err
		}
		wait := retryAfter(resp.Header.Get("Retry-After"), t.backoff<<(attempt-1))
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		timer := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		case <-timer.C:
		}
	}
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// retryAfter reads Retry-After (seconds, possibly fractional as Shopify
// sends "2.0", or an HTTP date) and falls back to def.
func retryAfter(h string, def time.Duration) time.Duration {
	d := def
	if h != "" {
		if s, err := strconv.ParseFloat(h, 64); err == nil && s >= 0 {
			d = time.Duration(s * float64(time.Second))
		} else if at, err := http.ParseTime(h); err == nil {
			d = time.Until(at)
		}
	}
	return min(max(d, 0), maxRetryWait)
}
