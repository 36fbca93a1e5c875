package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// LoginClient is what completing a LINE Login asks of LINE (line.Login).
type LoginClient interface {
	Exchange(ctx context.Context, cfg line.LoginConfig, code, verifier string) (*line.Token, error)
	VerifyIDToken(ctx context.Context, cfg line.LoginConfig, idToken, nonce string, now time.Time) (*line.IDClaims, error)
	FriendshipStatus(ctx context.Context, cfg line.LoginConfig, accessToken string) (bool, error)
}

// LinkLogin completes the LINE Login that an ID-linking link started.
type LinkLogin struct {
	DB     *store.DB
	Box    *secretbox.Box
	Client LoginClient
	// Config is the LINE Login channel of one of the shop's accounts
	// (channelID, or the primary when zero); ok is false when it is not
	// configured completely.
	Config func(ctx context.Context, shopID, channelID int64) (cfg line.LoginConfig, ok bool, err error)
	Log    *slog.Logger
	Now    func() time.Time
}

// LoginCallback is LINE Login's answer at the callback, from a browser that
// holds the login attempt's state (the caller checks that binding).
type LoginCallback struct {
	StateHash string // the hash the attempt was stored under
	Error     string // LINE's error parameter: the user did not consent
	Code      string
}

// LoginOutcome is what a completed LINE Login came to; each is one page
// for the shopper.
type LoginOutcome int

const (
	LoginLinked        LoginOutcome = iota // linked now, or already linked to this customer
	LoginSessionGone                       // no such attempt: expired, used, or never started here
	LoginCancelled                         // the shopper did not consent on LINE
	LoginUnavailable                       // the shop is not installed or LINE Login is not configured
	LoginFailed                            // LINE refused the code or the ID token is not valid
	LoginCustomerGone                      // the customer was erased or redacted since the link was made
	LoginUserTaken                         // the LINE user is linked to another customer
	LoginCustomerTaken                     // the customer is linked to another LINE user
)

// LoginResult is the outcome and what the result page shows. Event, when
// not nil, is the link/created outbox row to dispatch.
type LoginResult struct {
	Outcome  LoginOutcome
	Shop     *store.Shop // nil only for LoginSessionGone
	Customer *store.Customer
	Link     *store.LineLink
	Event    *store.Event
}

// Complete consumes the login attempt (once), exchanges the code with its
// PKCE verifier, verifies the ID token against the attempt's nonce, asks
// whether the user added the bot, and links the LINE user to the customer
// (Link). LINE's refusals are outcomes, logged here; other failures are
// errors.
func (l *LinkLogin) Complete(ctx context.Context, in LoginCallback) (LoginResult, error) {
	login, err := l.DB.ConsumeLinkLogin(ctx, in.StateHash, l.Now())
	if errors.Is(err, store.ErrNotFound) {
		return LoginResult{Outcome: LoginSessionGone}, nil
	}
	if err != nil {
		return LoginResult{}, err
	}
	shop, err := l.DB.Shop(ctx, login.ShopID)
	if err != nil {
		return LoginResult{}, err
	}
	res := LoginResult{Shop: shop}
	if in.Error != "" {
		l.Log.InfoContext(ctx, "LINE Login not completed", "shop", shop.Domain, "error", in.Error)
		res.Outcome = LoginCancelled
		return res, nil
	}
	// The attempt links on the account whose link URL started it.
	var channelID int64
	if login.ChannelID != nil {
		channelID = *login.ChannelID
	}
	cfg, ok, err := l.Config(ctx, shop.ID, channelID)
	if err != nil {
		return LoginResult{}, err
	}
	if !ok || !shop.Active() {
		res.Outcome = LoginUnavailable
		return res, nil
	}
	verifier, err := l.Box.Open(login.VerifierEnc)
	if err != nil {
		return LoginResult{}, fmt.Errorf("opening PKCE verifier: %w", err)
	}
	tok, err := l.Client.Exchange(ctx, cfg, in.Code, verifier)
	if err != nil {
		l.Log.WarnContext(ctx, "LINE Login code exchange failed", "shop", shop.Domain, "err", err)
		res.Outcome = LoginFailed
		return res, nil
	}
	claims, err := l.Client.VerifyIDToken(ctx, cfg, tok.IDToken, login.Nonce, l.Now())
	if err != nil {
		l.Log.WarnContext(ctx, "LINE ID token refused", "shop", shop.Domain, "err", err)
		res.Outcome = LoginFailed
		return res, nil
	}
	friend, err := l.Client.FriendshipStatus(ctx, cfg, tok.AccessToken)
	if err != nil {
		// Not fatal: the follow webhook will tell us.
		l.Log.WarnContext(ctx, "LINE friendship status unknown", "shop", shop.Domain, "err", err)
	}
	cust, err := l.DB.Customer(ctx, shop.ID, login.CustomerID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && cust.RedactedAt != nil) {
		res.Outcome = LoginCustomerGone
		return res, nil
	}
	if err != nil {
		return LoginResult{}, err
	}
	outcome, link, ev, err := Link(ctx, l.DB, LinkInput{Shop: shop, Customer: cust,
		ChannelID: channelID, LineUserID: claims.Subject, DisplayName: claims.Name, PictureURL: claims.Picture, Friend: friend, Now: l.Now()})
	if err != nil {
		return LoginResult{}, err
	}
	res.Customer, res.Link = cust, link
	if ev != nil && ev.ID != 0 {
		res.Event = ev
	}
	switch outcome {
	case LinkUserTaken:
		res.Outcome = LoginUserTaken
	case LinkCustomerTaken:
		res.Outcome = LoginCustomerTaken
	default:
		res.Outcome = LoginLinked
	}
	return res, nil
}
