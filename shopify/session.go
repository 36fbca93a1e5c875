package shopify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrBadSessionToken wraps every reason a session token is refused.
var ErrBadSessionToken = errors.New("shopify: invalid session token")

// sessionLeeway absorbs clock skew between Shopify and us.
const sessionLeeway = 10 * time.Second

// SessionClaims is what a verified App Bridge session token says.
type SessionClaims struct {
	Shop      string // from dest, e.g. "shop.myshopify.com"
	UserID    string // sub: the staff member's id
	SessionID string // sid
	ExpiresAt time.Time
}

type sessionJWT struct {
	jwt.RegisteredClaims
	Dest string `json:"dest"`
	SID  string `json:"sid"`
}

// VerifySessionToken verifies an App Bridge session token (the embedded
// admin's Authorization: Bearer): HS256 signed with the app secret, aud is
// our API key, exp/nbf valid at now (10s leeway), dest is https://<shop>
// and iss is dest + "/admin".
func (a *App) VerifySessionToken(token string, now time.Time) (*SessionClaims, error) {
	c, err := a.parseSessionJWT(token, now)
	if err != nil {
		return nil, err
	}
	dest, err := url.Parse(c.Dest)
	if err != nil || dest.Scheme != "https" || !ValidShopDomain(dest.Host) ||
		(dest.Path != "" && dest.Path != "/") || dest.RawQuery != "" || dest.User != nil {
		return nil, fmt.Errorf("%w: dest %q is not a shop", ErrBadSessionToken, c.Dest)
	}
	if c.Issuer != "https://"+dest.Host+"/admin" {
		return nil, fmt.Errorf("%w: iss %q does not match dest %q", ErrBadSessionToken, c.Issuer, c.Dest)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: no sub", ErrBadSessionToken)
	}
	return &SessionClaims{
		Shop:      strings.ToLower(dest.Host),
		UserID:    c.Subject,
		SessionID: c.SID,
		ExpiresAt: c.ExpiresAt.Time,
	}, nil
}

// ExtensionClaims is what a verified checkout / customer account UI
// extension session token says.
type ExtensionClaims struct {
	Shop string // from dest
	// CustomerID is the signed-in customer's Shopify id (sub
	// gid://shopify/Customer/N), 0 for a guest.
	CustomerID int64
	ExpiresAt  time.Time
}

// VerifyExtensionToken verifies the session token a checkout or customer
// account UI extension sends (sessionToken.get()): HS256 signed with the app
// secret, aud is our API key, exp/nbf valid at now (10s leeway), dest names
// the shop (bare domain or https URL). sub, present only for a signed-in
// customer, must be a Customer GID.
func (a *App) VerifyExtensionToken(token string, now time.Time) (*ExtensionClaims, error) {
	c, err := a.parseSessionJWT(token, now)
	if err != nil {
		return nil, err
	}
	host := c.Dest
	if strings.Contains(host, "://") {
		u, err := url.Parse(c.Dest)
		if err != nil || u.Scheme != "https" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("%w: dest %q is not a shop", ErrBadSessionToken, c.Dest)
		}
		host = u.Host
	}
	if !ValidShopDomain(host) {
		return nil, fmt.Errorf("%w: dest %q is not a shop", ErrBadSessionToken, c.Dest)
	}
	out := &ExtensionClaims{Shop: strings.ToLower(host), ExpiresAt: c.ExpiresAt.Time}
	if c.Subject != "" {
		typ, id, err := ParseGID(c.Subject)
		if err != nil || typ != "Customer" || id <= 0 {
			return nil, fmt.Errorf("%w: sub %q is not a customer", ErrBadSessionToken, c.Subject)
		}
		out.CustomerID = id
	}
	return out, nil
}

// parseSessionJWT checks what App Bridge and UI extension session tokens
// share: HS256 with the app secret, aud our API key, exp/nbf at now with
// sessionLeeway. The callers check dest (and sub) their own way.
func (a *App) parseSessionJWT(token string, now time.Time) (*sessionJWT, error) {
	var c sessionJWT
	_, err := jwt.ParseWithClaims(token, &c,
		func(*jwt.Token) (any, error) { return []byte(a.cfg.APISecret), nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(a.cfg.APIKey),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(sessionLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSessionToken, err)
	}
	return &c, nil
}
