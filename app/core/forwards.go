package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
)

// Coexistence: a LINE channel has one webhook URL. With Tsunagu holding it,
// every verified webhook request is forwarded, body and X-Line-Signature
// unchanged, to the merchant's other tools (a chat desk, a step-delivery
// tool, a booking bot), which verify the signature with the same channel
// secret as if LINE had called them.

// Forwarding bounds.
const (
	MaxForwards      = 5
	MaxForwardURL    = 2048
	ForwardTimeout   = 10 * time.Second
	MaxForwardAnswer = 64 << 10 // read (and dropped) of a destination's answer
	// ForwardUserAgent is the User-Agent LINE's platform sends, so tools
	// that check it accept the forwarded request.
	ForwardUserAgent = "LineBotWebhook/2.0"
	// ForwardGrace is how long a fresh outbox row is left to the in-process
	// hand-off before the relay offers it.
	ForwardGrace = 5 * time.Second
	// ForwardHold keeps the relay away from a row whose delivery failed
	// while its task waits for the next retry (the retry delay is at most
	// 10 min plus half of it as jitter): the relay only steps in when the
	// task itself was lost.
	ForwardHold = 20 * time.Minute
)

// CheckForwardURL validates a forwarding destination when it is saved: an
// absolute http(s) URL without credentials; in production https only and
// no loopback, private, link-local or otherwise internal address (the
// dialer checks the resolved address again at each delivery, so a name
// that later resolves inside is refused too).
func CheckForwardURL(raw string, production bool) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > MaxForwardURL {
		return "", Errorf(EINVALID, "the destination URL must be 1 to %d characters", MaxForwardURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return "", Errorf(EINVALID, "the destination is not an absolute URL")
	}
	switch {
	case u.Scheme != "https" && (production || u.Scheme != "http"):
		if production {
			return "", Errorf(EINVALID, "the destination must use https")
		}
		return "", Errorf(EINVALID, "the destination must use http or https")
	case u.User != nil:
		return "", Errorf(EINVALID, "the destination must not carry a user name or password")
	case u.Fragment != "":
		return "", Errorf(EINVALID, "the destination must not have a #fragment")
	}
	if production {
		host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
		if host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".internal") || strings.HasSuffix(host, ".local") {
			return "", Errorf(EINVALID, "the destination must be a public address")
		}
		if ip, err := netip.ParseAddr(host); err == nil && InternalAddr(ip) {
			return "", Errorf(EINVALID, "the destination must be a public address")
		}
	}
	return u.String(), nil
}

// cgnat is the shared address space (RFC 6598), internal to carriers.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// InternalAddr reports whether ip is not a public unicast address.
func InternalAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || cgnat.Contains(ip)
}

// errInternalTarget is returned by the dialer for an internal address.
var errInternalTarget = errors.New("destination resolves to an internal address")

// NewForwardClient is the HTTP client deliveries use: bounded in time, no
// redirects followed, and in production a dialer that refuses internal
// addresses after DNS resolution.
func NewForwardClient(production bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if production {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || InternalAddr(ap.Addr()) {
				return errInternalTarget
			}
			return nil
		}
	}
	tr := &http.Transport{
		DialContext: d.DialContext, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4,
		TLSHandshakeTimeout: 5 * time.Second, ResponseHeaderTimeout: ForwardTimeout, IdleConnTimeout: 90 * time.Second,
	}
	return &http.Client{
		Transport: tr, Timeout: ForwardTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Forwards manages and delivers a shop's forwarding destinations.
type Forwards struct {
	DB         *store.DB
	Client     *http.Client
	Production bool
	Now        func() time.Time
}

func (s *Forwards) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Add validates and stores a destination (at most MaxForwards per shop).
func (s *Forwards) Add(ctx context.Context, shopID int64, raw string) (*store.WebhookForward, error) {
	u, err := CheckForwardURL(raw, s.Production)
	if err != nil {
		return nil, err
	}
	have, err := s.DB.WebhookForwards(ctx, shopID)
	if err != nil {
		return nil, err
	}
	if len(have) >= MaxForwards {
		return nil, Errorf(ETOOLARGE, "at most %d forwarding destinations", MaxForwards)
	}
	w := &store.WebhookForward{ShopID: shopID, URL: u}
	created, err := s.DB.CreateWebhookForward(ctx, w)
	if err != nil {
		return nil, err
	}
	if !created {
		return nil, Errorf(ECONFLICT, "this destination is already set")
	}
	return w, nil
}

// Deliver posts one forwarded request to destination id and records the
// outcome on it. An error means "try again later" (the task is retried
// with backoff); a destination deleted meanwhile is not an error.
func (s *Forwards) Deliver(ctx context.Context, id int64, body []byte, signature string) error {
	w, err := s.DB.WebhookForward(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	status, derr := s.post(ctx, w.URL, body, signature)
	msg := ""
	if derr != nil {
		msg = derr.Error()
		if len(msg) > 500 {
			msg = msg[:500]
		}
	}
	if err := s.DB.RecordForwardAttempt(ctx, w.ID, status, msg, s.now()); err != nil {
		return err
	}
	if derr != nil {
		return fmt.Errorf("forwarding to destination %d: %w", w.ID, derr)
	}
	return nil
}

// DeliverQueued delivers one outbox row (a request for one destination):
// delivered or, on the last attempt, given up, the row is deleted, so a
// request reaches a destination once however often the row is offered; a
// row already gone was delivered. After a failure with attempts left the
// row is held away from the relay while the task is retried.
func (s *Forwards) DeliverQueued(ctx context.Context, id int64, last bool) error {
	q, err := s.DB.QueuedForwardByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	derr := s.Deliver(ctx, q.ForwardID, q.Body, q.Signature)
	if derr == nil || last {
		if err := s.DB.DropQueuedForward(context.WithoutCancel(ctx), id); err != nil {
			return err
		}
		return derr
	}
	if err := s.DB.HoldQueuedForward(context.WithoutCancel(ctx), id, s.now().Add(ForwardHold)); err != nil {
		return errors.Join(derr, err)
	}
	return derr
}

func (s *Forwards) post(ctx context.Context, target string, body []byte, signature string) (int, error) {
	// Checked again: a destination saved before a rule changed, or in
	// development, is not posted to in production if it is not allowed now.
	if _, err := CheckForwardURL(target, s.Production); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, ForwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Line-Signature", signature)
	req.Header.Set("User-Agent", ForwardUserAgent)
	client := s.Client
	if client == nil {
		client = NewForwardClient(s.Production)
	}
	res, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is on the row already
		}
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, MaxForwardAnswer))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, fmt.Errorf("HTTP %d", res.StatusCode)
	}
	return res.StatusCode, nil
}
