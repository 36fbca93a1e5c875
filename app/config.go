// Package app wires Tsunagu together: configuration, the HTTP server and its
// handlers, and the in-process workers.
package app

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tsunagu/tsunagu/app/secretbox"
)

// Config is everything Tsunagu reads from its environment.
type Config struct {
	Addr             string
	BaseURL          string
	DatabaseURL      string
	RedisURL         string // empty: embedded
	SecretKey        []byte
	ShopifyAPIKey    string
	ShopifyAPISecret string
	ShopifyScopes    []string
	ShopifyAdminBase string
	LineAPIBase      string
	LineDataAPIBase  string
	LineAuthBase     string
	TimeScale        float64
	Production       bool
	DataDir          string
	Concurrency      int
	LogLevel         string
	// LineRate is the most LINE API requests per second per channel (TSUNAGU_LINE_RATE).
	LineRate float64
	// OpsToken (TSUNAGU_OPS_TOKEN) admits operators to /admin/jobs; empty disables it.
	OpsToken string
}

// DefaultScopes are the Shopify access scopes Tsunagu asks for; README says why each.
var DefaultScopes = []string{"read_orders", "read_customers", "write_customers", "read_fulfillments", "write_discounts",
	"write_pixels", "read_customer_events"}

// LoadConfig reads the configuration from getenv. In development (the
// default) missing secrets are generated into the data folder; in production
// (TSUNAGU_ENV=production) they must be given. The error says what is wrong
// in one line.
func LoadConfig(getenv func(string) string) (*Config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	c := &Config{
		Addr:             get("TSUNAGU_ADDR", ":8080"),
		BaseURL:          strings.TrimRight(get("TSUNAGU_BASE_URL", "http://localhost:8080"), "/"),
		DataDir:          get("TSUNAGU_DATA_DIR", "data"),
		RedisURL:         get("TSUNAGU_REDIS_URL", ""),
		ShopifyAPIKey:    get("SHOPIFY_API_KEY", ""),
		ShopifyAPISecret: get("SHOPIFY_API_SECRET", ""),
		ShopifyAdminBase: get("TSUNAGU_SHOPIFY_ADMIN_BASE", "https://{shop}"),
		LineAPIBase:      strings.TrimRight(get("TSUNAGU_LINE_API_BASE", "https://api.line.me"), "/"),
		LineDataAPIBase:  strings.TrimRight(get("TSUNAGU_LINE_DATA_API_BASE", "https://api-data.line.me"), "/"),
		LineAuthBase:     strings.TrimRight(get("TSUNAGU_LINE_AUTH_BASE", "https://access.line.me"), "/"),
		Production:       get("TSUNAGU_ENV", "development") == "production",
		LogLevel:         get("TSUNAGU_LOG_LEVEL", "info"),
		OpsToken:         get("TSUNAGU_OPS_TOKEN", ""),
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
	var err error
	if c.TimeScale, err = strconv.ParseFloat(get("TSUNAGU_TIME_SCALE", "1"), 64); err != nil || c.TimeScale < 1 {
		return nil, fmt.Errorf("TSUNAGU_TIME_SCALE must be a number ≥ 1, got %q", getenv("TSUNAGU_TIME_SCALE"))
	}
	if c.Production && c.TimeScale != 1 {
		return nil, errors.New("TSUNAGU_TIME_SCALE is for demos and tests; it is refused in production")
	}
	if c.Concurrency, err = strconv.Atoi(get("TSUNAGU_WORKER_CONCURRENCY", "10")); err != nil || c.Concurrency < 1 {
		return nil, fmt.Errorf("TSUNAGU_WORKER_CONCURRENCY must be a positive integer, got %q", getenv("TSUNAGU_WORKER_CONCURRENCY"))
	}
	if c.LineRate, err = strconv.ParseFloat(get("TSUNAGU_LINE_RATE", "1000"), 64); err != nil || c.LineRate <= 0 {
		return nil, fmt.Errorf("TSUNAGU_LINE_RATE must be a positive number of requests per second, got %q", getenv("TSUNAGU_LINE_RATE"))
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("TSUNAGU_BASE_URL must be an http(s) URL, got %q", c.BaseURL)
	}
	if c.Production && !strings.HasPrefix(c.BaseURL, "https://") {
		return nil, errors.New("TSUNAGU_BASE_URL must be https in production (Shopify and LINE require it)")
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") && !strings.HasPrefix(c.DatabaseURL, "sqlite:") {
		return nil, fmt.Errorf("TSUNAGU_DATABASE_URL must start with postgres:// or sqlite://, got %q", redactURL(c.DatabaseURL))
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		return nil, fmt.Errorf("TSUNAGU_REDIS_URL must start with redis:// or rediss://, got %q", redactURL(c.RedisURL))
	}
	if c.Production && c.RedisURL == "" {
		return nil, errors.New("TSUNAGU_REDIS_URL is required in production (the embedded Redis keeps nothing across restarts)")
	}
	key := get("TSUNAGU_SECRET_KEY", "")
	switch {
	case key != "":
		if c.SecretKey, err = secretbox.ParseKey(key); err != nil {
			return nil, fmt.Errorf("TSUNAGU_SECRET_KEY: %w", err)
		}
	case c.Production:
		return nil, errors.New("TSUNAGU_SECRET_KEY is required in production (base64 of 32 random bytes: openssl rand -base64 32)")
	default:
		if c.SecretKey, err = devKey(c.DataDir); err != nil {
			return nil, err
		}
	}
	if c.Production && (c.ShopifyAPIKey == "" || c.ShopifyAPISecret == "") {
		return nil, errors.New("SHOPIFY_API_KEY and SHOPIFY_API_SECRET are required in production")
	}
	return c, nil
}

// devKey reads or creates the development encryption key in the data folder.
func devKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, "secret.key")
	if b, err := os.ReadFile(path); err == nil {
		k, err := secretbox.ParseKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return k, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data folder %s: %w", dir, err)
	}
	s := secretbox.NewKey()
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
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
