package shopify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"
)

// DefaultAPIVersion is the Admin API version used when AppConfig leaves it
// empty: the newest stable version as of December 2026. Checked against
// shopify.dev: the "latest" Admin GraphQL reference pages are 2026-10
// (released 2026-10-01, supported at least until 2027-10-01; stable
// versions are supported 12 months); 2027-01 is only a release candidate
// until 2027-01-01. shopify.app.toml's [webhooks] api_version must match
// (TestAppTomlSubscribesEveryTopic).
const DefaultAPIVersion = "2026-10"

// DefaultAdminBase is Shopify's own Admin origin; {shop} is the shop domain.
const DefaultAdminBase = "https://{shop}"

// Callback verification errors, distinct so the caller can render a clear page.
var (
	ErrBadHMAC        = errors.New("shopify: callback hmac does not match")
	ErrStaleTimestamp = errors.New("shopify: callback timestamp out of range")
)

// Callback timestamps older than maxCallbackAge or further than
// maxCallbackSkew in the future are refused (replay and clock skew).
const (
	maxCallbackAge  = 5 * time.Minute
	maxCallbackSkew = time.Minute
)

// AppConfig configures an App.
type AppConfig struct {
	APIKey      string
	APISecret   string
	Scopes      []string
	RedirectURL string
	// AdminBase is the Admin origin template, "https://{shop}" by default;
	// {shop} is replaced by the shop domain. Tests point it at a local fake.
	AdminBase string
	// APIVersion defaults to DefaultAPIVersion.
	APIVersion string
	// HTTPClient defaults to a client with a 30s timeout.
	HTTPClient *http.Client
	// Now is the clock token expiries are computed with (time.Now by default).
	Now func() time.Time
	// Budget tracks each shop's GraphQL cost bucket; the default is a
	// per-process MemoryBudget. Give a RedisBudget when several processes
	// call the Admin API.
	Budget CostBudget
}

// App is a Shopify app: OAuth install, session tokens and Admin API clients.
// It is safe for concurrent use.
type App struct {
	cfg   AppConfig
	gs    goshopify.App
	hints costHints // last requested cost of each query
	// retry policy for Admin calls; tests shorten it.
	maxTries int
	backoff  time.Duration
}

// NewApp checks cfg and fills its defaults.
func NewApp(cfg AppConfig) (*App, error) {
	if cfg.APIKey == "" || cfg.APISecret == "" {
		return nil, errors.New("shopify: APIKey and APISecret are required")
	}
	if cfg.AdminBase == "" {
		cfg.AdminBase = DefaultAdminBase
	}
	cfg.AdminBase = strings.TrimSuffix(cfg.AdminBase, "/")
	if _, err := url.Parse(strings.ReplaceAll(cfg.AdminBase, "{shop}", "x.myshopify.com")); err != nil {
		return nil, fmt.Errorf("shopify: AdminBase: %w", err)
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Budget == nil {
		cfg.Budget = NewMemoryBudget()
	}
	return &App{
		cfg: cfg,
		gs: goshopify.App{
			ApiKey:      cfg.APIKey,
			ApiSecret:   cfg.APISecret,
			RedirectUrl: cfg.RedirectURL,
			Scope:       strings.Join(cfg.Scopes, ","),
		},
		maxTries: 3,
		backoff:  500 * time.Millisecond,
	}, nil
}

// APIKey is the app's client id (public; App Bridge needs it).
func (a *App) APIKey() string { return a.cfg.APIKey }

// APIVersion is the Admin API version in use.
func (a *App) APIVersion() string { return a.cfg.APIVersion }

// adminOrigin is AdminBase with {shop} filled in.
func (a *App) adminOrigin(shop string) string {
	return strings.ReplaceAll(a.cfg.AdminBase, "{shop}", shop)
}

// NewState returns 32 random bytes, URL-safe, for the OAuth state parameter.
func NewState() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// AuthorizeURL is where to send the merchant to approve the install
// (authorization code grant, offline token).
func (a *App) AuthorizeURL(shop, state string) (string, error) {
	if !ValidShopDomain(shop) {
		return "", fmt.Errorf("authorize url: %w: %q", ErrBadShop, shop)
	}
	if state == "" {
		return "", errors.New("shopify: authorize url: empty state")
	}
	raw, err := a.gs.AuthorizeUrl(shop, state)
	if err != nil {
		return "", fmt.Errorf("shopify: authorize url: %w", err)
	}
	// go-shopify always builds https://{shop}; move it onto AdminBase.
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("shopify: authorize url: %w", err)
	}
	return a.adminOrigin(shop) + u.Path + "?" + u.RawQuery, nil
}

// VerifyCallback checks the query of the OAuth redirect (or of any admin
// request Shopify signs with hmac): the signature, the shop domain and the
// timestamp. It returns the shop domain. Checking state is the caller's job.
func (a *App) VerifyCallback(q url.Values, now time.Time) (string, error) {
	got, err := hex.DecodeString(q.Get("hmac"))
	if err != nil || len(got) != sha256.Size {
		return "", ErrBadHMAC
	}
	// Only the canonical message: a second, looser form would let a signed
	// query be re-split into different parameters (another shop).
	m := hmac.New(sha256.New, []byte(a.cfg.APISecret))
	m.Write([]byte(HMACMessage(q)))
	if !hmac.Equal(got, m.Sum(nil)) {
		return "", ErrBadHMAC
	}
	shop := q.Get("shop")
	if !ValidShopDomain(shop) {
		return "", fmt.Errorf("%w: %q", ErrBadShop, shop)
	}
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: missing or malformed", ErrStaleTimestamp)
	}
	at := time.Unix(ts, 0)
	if at.Before(now.Add(-maxCallbackAge)) || at.After(now.Add(maxCallbackSkew)) {
		return "", fmt.Errorf("%w: %s (now %s)", ErrStaleTimestamp, at.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return strings.ToLower(shop), nil
}

// HMACMessage is the string Shopify signs for a redirect or admin request:
// every parameter but hmac and signature, sorted by key, as key=value joined
// with &, values decoded, then "%" and "&" escaped (and "=" in keys), so the
// message splits back into exactly one set of parameters. Repeated keys are
// written as ["a", "b"].
func HMACMessage(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "hmac" && k != "signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		v := q[k]
		val := ""
		if len(v) == 1 {
			val = v[0]
		} else if len(v) > 1 {
			val = `["` + strings.Join(v, `", "`) + `"]`
		}
		b.WriteString(hmacKeyEscaper.Replace(k) + "=" + hmacValueEscaper.Replace(val))
	}
	return b.String()
}

var (
	hmacValueEscaper = strings.NewReplacer("%", "%25", "&", "%26")
	hmacKeyEscaper   = strings.NewReplacer("%", "%25", "&", "%26", "=", "%3D")
)

// SignQuery returns q's hex HMAC-SHA256 as Shopify computes it.
func SignQuery(secret string, q url.Values) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(HMACMessage(q)))
	return hex.EncodeToString(m.Sum(nil))
}

// client builds a go-shopify client for one shop whose requests go to
// AdminBase and are retried on 429/5xx.
func (a *App) client(shop, token string) (*goshopify.Client, error) {
	hc, err := a.httpClient(shop)
	if err != nil {
		return nil, err
	}
	return goshopify.NewClient(a.gs, shop, token,
		goshopify.WithVersion(a.cfg.APIVersion),
		goshopify.WithHTTPClient(hc),
		goshopify.WithLogger(quietLogger{}), // its debug log would print secrets and tokens
	)
}

// httpClient is the configured client with the AdminBase/retry transport.
func (a *App) httpClient(shop string) (*http.Client, error) {
	hc := *a.cfg.HTTPClient
	t := &transport{base: hc.Transport, maxTries: a.maxTries, backoff: a.backoff}
	if origin := a.adminOrigin(shop); origin != "https://"+shop {
		u, err := url.Parse(origin)
		if err != nil {
			return nil, err
		}
		t.origin, t.shop = u, shop
	}
	hc.Transport = t
	return &hc, nil
}

func (a *App) now() time.Time {
	if a.cfg.Now != nil {
		return a.cfg.Now().UTC()
	}
	return time.Now().UTC()
}

type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
