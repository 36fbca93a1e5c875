package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
)

// The demo's sandbox (TSUNAGU_SANDBOX=on, development builds only): serve
// answers LINE Login, the Messaging API calls of linking and the Shopify
// Admin calls of linking itself, under /sandbox/ (package app/sandbox), and
// points its LINE and Shopify Admin origins there. The demo shop's LINE
// channel and Shopify token are the sandbox's (SeedDemo), so a newcomer
// links a demo customer end to end without LINE or Shopify.
const (
	sandboxPrefix      = "/sandbox"
	sandboxLINEPath    = sandboxPrefix + "/line"
	sandboxShopifyPath = sandboxPrefix + "/shopify"
)

// sandboxCredentials are the sandbox's LINE channels and the demo shop's
// Shopify app and token. They are derived from the installation's secret
// key, so `tsunagu demo` and `tsunagu serve` agree on them without sharing
// anything, and nothing secret is a constant in the source.
type sandboxCredentials struct {
	LoginChannelID, LoginSecret                         string
	MessagingChannelID, MessagingSecret, MessagingToken string
	BotUserID, BotName                                  string
	ShopifyAPIKey, ShopifyAPISecret, ShopifyToken       string
}

func newSandboxCredentials(key []byte) sandboxCredentials {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("tsunagu sandbox/" + label))
		return m.Sum(nil)
	}
	// Channel ids are ten digits, like LINE's.
	channelID := func(label string) string {
		return strconv.FormatUint(1_000_000_000+binary.BigEndian.Uint64(derive(label))%9_000_000_000, 10)
	}
	return sandboxCredentials{
		LoginChannelID:     channelID("login channel id"),
		LoginSecret:        hex.EncodeToString(derive("login channel secret")[:16]),
		MessagingChannelID: channelID("messaging channel id"),
		MessagingSecret:    hex.EncodeToString(derive("messaging channel secret")[:16]),
		MessagingToken:     base64.RawStdEncoding.EncodeToString(derive("messaging channel token")),
		BotUserID:          "U" + hex.EncodeToString(derive("bot user id")[:16]),
		BotName:            "つなぐ商店（デモ）",
		ShopifyAPIKey:      hex.EncodeToString(derive("shopify api key")[:16]),
		ShopifyAPISecret:   hex.EncodeToString(derive("shopify api secret")[:16]),
		ShopifyToken:       "shpat_" + hex.EncodeToString(derive("shopify token")[:16]),
	}
}

// sandboxVars are the settings the sandbox replaces; setting one beside
// TSUNAGU_SANDBOX is refused (which of the two should win is not clear).
var sandboxVars = []string{"TSUNAGU_LINE_API_BASE", "TSUNAGU_LINE_DATA_API_BASE", "TSUNAGU_LINE_AUTH_BASE",
	"TSUNAGU_SHOPIFY_ADMIN_BASE", "SHOPIFY_API_KEY", "SHOPIFY_API_SECRET"}

// useSandbox points the LINE and Shopify Admin origins at the sandbox
// served at the base URL, with the sandbox's Shopify app credentials.
func (c *Config) useSandbox() {
	base := strings.TrimRight(c.BaseURL, "/")
	c.LineAPIBase, c.LineDataAPIBase, c.LineAuthBase = base+sandboxLINEPath, base+sandboxLINEPath, base+sandboxLINEPath
	c.ShopifyAdminBase = base + sandboxShopifyPath + "/{shop}"
	creds := newSandboxCredentials(c.SecretKey)
	c.ShopifyAPIKey, c.ShopifyAPISecret = creds.ShopifyAPIKey, creds.ShopifyAPISecret
}
