// Package app wires Tsunagu together: configuration, the HTTP server and its
// handlers, and the in-process workers.
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tsunagu/tsunagu/app/secretbox"
)

// Config is everything Tsunagu reads from its environment.
type Config struct {
	Addr string
	// BaseURL is the public URL. Without TSUNAGU_BASE_URL it is derived
	// from Addr (see SetAddr), so printed links point where serve listens.
	BaseURL          string
	DatabaseURL      string
	RedisURL         string // empty: embedded (development builds only)
	SecretKey        []byte
	ShopifyAPIKey    string
	ShopifyAPISecret string
	ShopifyScopes    []string
	ShopifyAdminBase string
	LineAPIBase      string
	LineDataAPIBase  string
	LineAuthBase     string
	TimeScale        float64
	// Sandbox (TSUNAGU_SANDBOX=on) serves the demo's LINE and Shopify
	// sandbox under /sandbox/ and points LINE and the Shopify Admin API at
	// it (sandboxmode.go); development builds and mode only.
	Sandbox     bool
	Production  bool
	DataDir     string
	Concurrency int
	LogLevel    string
	// LineRate is the most LINE API requests per second per channel (TSUNAGU_LINE_RATE).
	LineRate float64
	// OpsToken (TSUNAGU_OPS_TOKEN) admits operators to /admin/jobs and
	// /metrics; required in production.
	OpsToken string

	baseURLFromAddr bool
	servedBaseURL   bool
	devKeyPath      string // development key file to create when SecretKey is nil
}

// Environments TSUNAGU_ENV accepts; anything else is refused.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
)

// MinOpsTokenLen is the shortest TSUNAGU_OPS_TOKEN production accepts.
const MinOpsTokenLen = 16

// DefaultScopes are the Shopify access scopes Tsunagu asks for; README says why each.
var DefaultScopes = []string{"read_orders", "read_customers", "write_customers", "read_fulfillments", "write_discounts",
	"write_pixels", "read_customer_events"}

// ConfigError lists every problem found in the environment, so one run
// shows everything to fix.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0]
	}
	return fmt.Sprintf("%d problems: %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

// LoadConfig reads and checks the configuration from getenv (ParseConfig),
// then, in development only and only when everything else is valid, creates
// the development encryption key in the data folder if there is none yet.
func LoadConfig(getenv func(string) string) (*Config, error) {
	c, err := ParseConfig(getenv)
	if err != nil {
		return nil, err
	}
	if err := c.EnsureSecretKey(); err != nil {
		return nil, err
	}
	return c, nil
}

// ParseConfig reads and checks the configuration from getenv without
// writing anything. Every problem found is reported in one *ConfigError.
// In development a missing TSUNAGU_SECRET_KEY is read from the data folder
// when it is there; SecretKey stays nil otherwise (EnsureSecretKey creates it).
func ParseConfig(getenv func(string) string) (*Config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	c := &Config{
		Addr:             get("TSUNAGU_ADDR", ":8080"),
		DataDir:          get("TSUNAGU_DATA_DIR", "data"),
		RedisURL:         get("TSUNAGU_REDIS_URL", ""),
		ShopifyAPIKey:    get("SHOPIFY_API_KEY", ""),
		ShopifyAPISecret: get("SHOPIFY_API_SECRET", ""),
		ShopifyAdminBase: get("TSUNAGU_SHOPIFY_ADMIN_BASE", "https://{shop}"),
		LineAPIBase:      strings.TrimRight(get("TSUNAGU_LINE_API_BASE", "https://api.line.me"), "/"),
		LineDataAPIBase:  strings.TrimRight(get("TSUNAGU_LINE_DATA_API_BASE", "https://api-data.line.me"), "/"),
		LineAuthBase:     strings.TrimRight(get("TSUNAGU_LINE_AUTH_BASE", "https://access.line.me"), "/"),
		LogLevel:         get("TSUNAGU_LOG_LEVEL", "info"),
		OpsToken:         get("TSUNAGU_OPS_TOKEN", ""),
	}
	switch env := get("TSUNAGU_ENV", EnvDevelopment); env {
	case EnvDevelopment:
	case EnvProduction:
		c.Production = true
	default:
		// A typo must not quietly run development mode in production.
		bad("TSUNAGU_ENV must be %q or %q (exactly), got %q", EnvDevelopment, EnvProduction, env)
		c.Production = strings.HasPrefix(strings.ToLower(env), "prod")
	}
	c.DatabaseURL = get("TSUNAGU_DATABASE_URL", "sqlite://"+filepath.Join(c.DataDir, "tsunagu.db"))
	if s := get("SHOPIFY_SCOPES", ""); s != "" {
		for _, sc := range strings.Split(s, ",") {
			if sc = strings.TrimSpace(sc); sc != "" {
				c.ShopifyScopes = append(c.ShopifyScopes, sc)
			}
		}
	} else {
		c.ShopifyScopes = DefaultScopes
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("TSUNAGU_LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel)
	}
	var err error
	if c.TimeScale, err = strconv.ParseFloat(get("TSUNAGU_TIME_SCALE", "1"), 64); err != nil || c.TimeScale < 1 {
		bad("TSUNAGU_TIME_SCALE must be a number ≥ 1, got %q", getenv("TSUNAGU_TIME_SCALE"))
	} else if c.Production && c.TimeScale != 1 {
		bad("TSUNAGU_TIME_SCALE is for demos and tests; it is refused in production")
	}
	switch v := strings.ToLower(get("TSUNAGU_SANDBOX", "off")); v {
	case "off", "0", "false":
	case "on", "1", "true":
		c.Sandbox = true
		switch {
		case c.Production:
			bad("TSUNAGU_SANDBOX is the demo's stand-in for LINE and Shopify; it is refused in production")
		case !SandboxBuilt:
			bad("TSUNAGU_SANDBOX: this binary was built with -tags prod, which leaves out the demo's sandbox")
		}
		for _, k := range sandboxVars {
			if strings.TrimSpace(getenv(k)) != "" {
				bad("TSUNAGU_SANDBOX answers for LINE and the Shopify Admin API itself: unset %s", k)
			}
		}
	default:
		bad("TSUNAGU_SANDBOX must be on or off, got %q", v)
	}
	if c.Concurrency, err = strconv.Atoi(get("TSUNAGU_WORKER_CONCURRENCY", "10")); err != nil || c.Concurrency < 1 {
		bad("TSUNAGU_WORKER_CONCURRENCY must be a positive integer, got %q", getenv("TSUNAGU_WORKER_CONCURRENCY"))
	}
	if c.LineRate, err = strconv.ParseFloat(get("TSUNAGU_LINE_RATE", "1000"), 64); err != nil || c.LineRate <= 0 {
		bad("TSUNAGU_LINE_RATE must be a positive number of requests per second, got %q", getenv("TSUNAGU_LINE_RATE"))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("TSUNAGU_ADDR must be host:port or :port, got %q", c.Addr)
	}
	if base := get("TSUNAGU_BASE_URL", ""); base != "" {
		c.BaseURL = strings.TrimRight(base, "/")
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("TSUNAGU_BASE_URL must be an http(s) URL, got %q", c.BaseURL)
		} else if c.Production && u.Scheme != "https" {
			bad("TSUNAGU_BASE_URL must be https in production (Shopify and LINE require it)")
		}
	} else {
		c.baseURLFromAddr = true
		c.BaseURL = BaseURLForAddr(c.Addr)
		if c.Production {
			bad("TSUNAGU_BASE_URL is required in production: the public https URL Shopify and LINE call back")
		}
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") && !strings.HasPrefix(c.DatabaseURL, "sqlite:") {
		bad("TSUNAGU_DATABASE_URL must start with postgres:// or sqlite://, got %q", redactURL(c.DatabaseURL))
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		bad("TSUNAGU_REDIS_URL must start with redis:// or rediss://, got %q", redactURL(c.RedisURL))
	}
	if c.Production && c.RedisURL == "" {
		bad("TSUNAGU_REDIS_URL is required in production (the embedded Redis is for development and keeps nothing across restarts)")
	}
	switch key := get("TSUNAGU_SECRET_KEY", ""); {
	case key != "":
		if c.SecretKey, err = secretbox.ParseKey(key); err != nil {
			bad("TSUNAGU_SECRET_KEY: %v", err)
		}
	case c.Production:
		bad("TSUNAGU_SECRET_KEY is required in production (base64 of 32 random bytes: openssl rand -base64 32)")
	default:
		c.devKeyPath = filepath.Join(c.DataDir, "secret.key")
		if c.SecretKey, err = readDevKey(c.devKeyPath); err != nil {
			bad("%v", err)
		}
	}
	if c.Production && (c.ShopifyAPIKey == "" || c.ShopifyAPISecret == "") {
		bad("SHOPIFY_API_KEY and SHOPIFY_API_SECRET are required in production")
	}
	if c.Production && len(c.OpsToken) < MinOpsTokenLen {
		bad("TSUNAGU_OPS_TOKEN of at least %d characters is required in production: it guards /metrics and /admin/jobs (openssl rand -hex 24)", MinOpsTokenLen)
	}
	if c.Production {
		for _, b := range []struct{ name, v string }{{"TSUNAGU_LINE_API_BASE", c.LineAPIBase}, {"TSUNAGU_LINE_DATA_API_BASE", c.LineDataAPIBase}, {"TSUNAGU_LINE_AUTH_BASE", c.LineAuthBase}} {
			if !strings.HasPrefix(b.v, "https://") {
				bad("%s must be https in production, got %q", b.name, b.v)
			}
		}
	}
	if len(problems) > 0 {
		return nil, &ConfigError{Problems: problems}
	}
	return c, nil
}

// BaseURLForAddr is the URL a browser on this machine reaches a listen
// address at: ":8080" and "0.0.0.0:8080" are http://localhost:8080.
func BaseURLForAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost:8080"
	}
	switch host {
	case "", "0.0.0.0", "::", "[::]":
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// SetAddr changes the listen address (serve's --addr flag). Without
// TSUNAGU_BASE_URL the base URL follows it.
func (c *Config) SetAddr(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("--addr must be host:port or :port, got %q", addr)
	}
	c.Addr = addr
	if c.baseURLFromAddr {
		c.BaseURL = BaseURLForAddr(addr)
	}
	return nil
}

// UseServedBaseURL takes the base URL a running `tsunagu serve` recorded,
// unless TSUNAGU_BASE_URL is set: links then point where the server is.
func (c *Config) UseServedBaseURL(u string) bool {
	if !c.baseURLFromAddr || u == "" {
		return false
	}
	c.BaseURL, c.servedBaseURL = strings.TrimRight(u, "/"), true
	return true
}

// BaseURLIsServed reports whether BaseURL came from UseServedBaseURL.
func (c *Config) BaseURLIsServed() bool { return c.servedBaseURL }

// BaseURLFromAddr reports whether TSUNAGU_BASE_URL was unset, so the base
// URL is derived from the listen address.
func (c *Config) BaseURLFromAddr() bool { return c.baseURLFromAddr }

// HasSecretKey reports whether an encryption key is configured or already
// in the data folder.
func (c *Config) HasSecretKey() bool { return len(c.SecretKey) == 32 }

// EnsureSecretKey creates the development key in the data folder when no
// key was given and none is stored yet. It does nothing otherwise.
func (c *Config) EnsureSecretKey() error {
	if c.HasSecretKey() || c.devKeyPath == "" {
		return nil
	}
	k, err := createDevKey(c.devKeyPath)
	if err != nil {
		return err
	}
	c.SecretKey = k
	return nil
}

// readDevKey reads the development key; a missing file is no error (nil key).
func readDevKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading development key: %w", err)
	}
	k, err := secretbox.ParseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// createDevKey writes a fresh development key (the data folder is created
// if needed).
func createDevKey(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating data folder %s: %w", filepath.Dir(path), err)
	}
	s := secretbox.NewKey()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		// Another process created it first: use theirs.
		return readDevKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("writing development key %s: %w", path, err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing development key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("writing development key %s: %w", path, err)
	}
	return secretbox.ParseKey(s)
}

// redactURL drops the password from a URL for error messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
