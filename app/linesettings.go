package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// lineSettings is the JSON of GET/PUT /api/settings/line. Secrets are
// write-only: they come back masked, and an empty or omitted secret in a
// PUT keeps the stored one.
type lineSettings struct {
	LoginChannelID         string `json:"login_channel_id"`
	LoginChannelSecret     string `json:"login_channel_secret,omitempty"`
	MessagingChannelID     string `json:"messaging_channel_id"`
	MessagingChannelSecret string `json:"messaging_channel_secret,omitempty"`
	MessagingAccessToken   string `json:"messaging_access_token,omitempty"`
	// Read-only.
	WebhookURL     string `json:"webhook_url,omitempty"`
	CallbackURL    string `json:"callback_url,omitempty"`
	BotName        string `json:"bot_name,omitempty"`
	BotBasicID     string `json:"bot_basic_id,omitempty"`
	LoginReady     bool   `json:"login_ready"`
	MessagingReady bool   `json:"messaging_ready"`
	// SecretKeyError says the stored secrets do not decrypt with the
	// configured TSUNAGU_SECRET_KEY (they are not "not configured").
	SecretKeyError string `json:"secret_key_error,omitempty"`
}

// linkCallbackPath is where LINE Login returns; merchants register
// <base>/link/callback as the Login channel's callback URL.
const linkCallbackPath = "/link/callback"

// mask shows that a secret is set without showing it.
func mask(sealed []byte, open func([]byte) (string, error)) string {
	if len(sealed) == 0 {
		return ""
	}
	s, err := open(sealed)
	if err != nil || s == "" {
		return ""
	}
	if len(s) <= 8 {
		return "••••"
	}
	return "••••" + s[len(s)-4:]
}

func (a *App) lineSettingsView(ctx context.Context, ch *store.LineChannel) lineSettings {
	base := strings.TrimRight(a.Config.BaseURL, "/")
	out := lineSettings{CallbackURL: base + linkCallbackPath}
	if ch == nil {
		return out
	}
	out.LoginChannelID, out.MessagingChannelID = ch.LoginChannelID, ch.MessagingChannelID
	out.LoginChannelSecret = mask(ch.LoginSecretEnc, a.Box.Open)
	out.MessagingChannelSecret = mask(ch.MessagingSecretEnc, a.Box.Open)
	out.MessagingAccessToken = mask(ch.MessagingTokenEnc, a.Box.Open)
	out.WebhookURL = base + "/webhooks/line/" + ch.WebhookKey
	out.BotName, out.BotBasicID = ch.BotName, ch.BotBasicID
	out.LoginReady = ch.LoginChannelID != "" && out.LoginChannelSecret != ""
	out.MessagingReady = out.MessagingChannelSecret != "" && out.MessagingAccessToken != ""
	if err := a.sealedProblem(ctx, ch.Sealed()); err != nil {
		out.SecretKeyError = secretbox.ErrWrongKey.Error()
	}
	return out
}

func (a *App) getLineSettings(c echo.Context) error {
	shop := currentShop(c)
	ch, err := a.DB.LineChannel(c.Request().Context(), shop.ID)
	if errors.Is(err, store.ErrNotFound) {
		return c.JSON(http.StatusOK, a.lineSettingsView(c.Request().Context(), nil))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.lineSettingsView(c.Request().Context(), ch))
}

// validChannelID: LINE channel ids are numeric (10 digits today).
func validChannelID(s string) bool {
	if len(s) < 6 || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func newWebhookKey() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (a *App) putLineSettings(c echo.Context) error {
	var in lineSettings
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON body")
	}
	in.LoginChannelID = strings.TrimSpace(in.LoginChannelID)
	in.MessagingChannelID = strings.TrimSpace(in.MessagingChannelID)
	var problems []string
	if in.LoginChannelID != "" && !validChannelID(in.LoginChannelID) {
		problems = append(problems, "login_channel_id must be the numeric Channel ID from the LINE Developers console")
	}
	if in.MessagingChannelID != "" && !validChannelID(in.MessagingChannelID) {
		problems = append(problems, "messaging_channel_id must be the numeric Channel ID from the LINE Developers console")
	}
	for name, v := range map[string]string{"login_channel_secret": in.LoginChannelSecret, "messaging_channel_secret": in.MessagingChannelSecret, "messaging_access_token": in.MessagingAccessToken} {
		if strings.HasPrefix(v, "••••") {
			problems = append(problems, name+" is the masked value; send the real secret or leave it empty to keep it")
		} else if strings.ContainsAny(strings.TrimSpace(v), " \t\r\n") || len(v) > 1024 {
			problems = append(problems, name+" does not look like a LINE secret")
		}
	}
	if len(problems) > 0 {
		return c.JSON(http.StatusUnprocessableEntity, map[string]any{"error": strings.Join(problems, "; "), "problems": problems})
	}
	ctx := c.Request().Context()
	shop := currentShop(c)
	ch, err := a.DB.LineChannel(ctx, shop.ID)
	if errors.Is(err, store.ErrNotFound) {
		ch = &store.LineChannel{ShopID: shop.ID, WebhookKey: newWebhookKey(), CreatedAt: a.Now()}
	} else if err != nil {
		return err
	}
	if ch.MessagingChannelID != in.MessagingChannelID && in.MessagingAccessToken == "" && ch.MessagingChannelID != "" {
		// Another bot: what we knew about the old one no longer holds.
		ch.BotName, ch.BotBasicID, ch.BotUserID = "", "", ""
	}
	ch.LoginChannelID, ch.MessagingChannelID = in.LoginChannelID, in.MessagingChannelID
	if s := strings.TrimSpace(in.LoginChannelSecret); s != "" {
		ch.LoginSecretEnc = a.Box.Seal(s)
	}
	if s := strings.TrimSpace(in.MessagingChannelSecret); s != "" {
		ch.MessagingSecretEnc = a.Box.Seal(s)
	}
	if s := strings.TrimSpace(in.MessagingAccessToken); s != "" {
		ch.MessagingTokenEnc = a.Box.Seal(s)
		ch.BotName, ch.BotBasicID, ch.BotUserID = "", "", ""
	}
	ch.UpdatedAt = a.Now()
	if err := a.DB.SaveLineChannel(ctx, ch); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.lineSettingsView(c.Request().Context(), ch))
}

// testLineSettings asks LINE who the bot behind the stored access token is.
func (a *App) testLineSettings(c echo.Context) error {
	ctx := c.Request().Context()
	shop := currentShop(c)
	ch, err := a.DB.LineChannel(ctx, shop.ID)
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "save the Messaging API channel access token first")
	}
	if err != nil {
		return err
	}
	token, err := a.Box.Open(ch.MessagingTokenEnc)
	if err != nil || token == "" {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "save the Messaging API channel access token first")
	}
	info, err := a.Messenger.BotInfo(ctx, token)
	if err != nil {
		var apiErr *line.APIError
		if errors.As(err, &apiErr) {
			return c.JSON(http.StatusBadGateway, map[string]any{"ok": false,
				"error": fmt.Sprintf("LINE refused the channel access token (%d: %s)", apiErr.Status, apiErr.Message), "line_status": apiErr.Status})
		}
		a.Log.WarnContext(ctx, "LINE bot info failed", "shop", shop.Domain, "err", err)
		return c.JSON(http.StatusBadGateway, map[string]any{"ok": false, "error": "could not reach LINE"})
	}
	ch.BotUserID, ch.BotBasicID, ch.BotName, ch.UpdatedAt = info.UserID, info.BasicID, info.DisplayName, a.Now()
	if err := a.DB.SaveLineChannel(ctx, ch); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "bot_name": info.DisplayName, "bot_basic_id": info.BasicID, "bot_user_id": info.UserID})
}

// incentiveJSON is the incentive as the API shows it: every field, always.
type incentiveJSON struct {
	Enabled         bool    `json:"enabled"`
	Kind            string  `json:"kind"`
	Value           float64 `json:"value"`
	MinimumSubtotal float64 `json:"minimum_subtotal"`
	ValidDays       int     `json:"valid_days"`
	Title           string  `json:"title"`
	Currency        string  `json:"currency"` // read-only: the shop's
}

func incentiveView(in store.Incentive, currency string) incentiveJSON {
	return incentiveJSON{Enabled: in.Enabled, Kind: in.Kind, Value: in.Value, MinimumSubtotal: in.MinimumSubtotal,
		ValidDays: in.ValidDays, Title: in.Title, Currency: currency}
}

func (a *App) getIncentive(c echo.Context) error {
	shop := currentShop(c)
	return c.JSON(http.StatusOK, incentiveView(shop.Settings.Incentive, shop.Currency))
}

// validateIncentive returns what is wrong with in, if anything.
func validateIncentive(in *store.Incentive) []string {
	var p []string
	in.Title = strings.TrimSpace(in.Title)
	bad := func(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }
	switch in.Kind {
	case "percentage":
		if bad(in.Value) || in.Value <= 0 || in.Value > 100 {
			p = append(p, "value must be a percentage above 0 and at most 100")
		}
	case "fixed":
		if bad(in.Value) || in.Value <= 0 || in.Value > 1e9 {
			p = append(p, "value must be a positive amount in the shop's currency")
		}
	case "":
		if in.Enabled {
			p = append(p, `kind must be "percentage" or "fixed"`)
		}
	default:
		p = append(p, `kind must be "percentage" or "fixed"`)
	}
	if bad(in.MinimumSubtotal) || in.MinimumSubtotal < 0 || in.MinimumSubtotal > 1e9 {
		p = append(p, "minimum_subtotal must be zero or a positive amount")
	}
	if in.ValidDays < 0 || in.ValidDays > 365 || (in.Enabled && in.ValidDays == 0) {
		p = append(p, "valid_days must be between 1 and 365")
	}
	if utf8.RuneCountInString(in.Title) > 100 {
		p = append(p, "title must be at most 100 characters")
	}
	if in.Enabled && in.Title == "" {
		p = append(p, "title is required (customers see it in Shopify's checkout)")
	}
	return p
}

func (a *App) putIncentive(c echo.Context) error {
	var in store.Incentive
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON body")
	}
	if p := validateIncentive(&in); len(p) > 0 {
		return c.JSON(http.StatusUnprocessableEntity, map[string]any{"error": strings.Join(p, "; "), "problems": p})
	}
	ctx := c.Request().Context()
	shop := currentShop(c)
	// Reload so a concurrent save of other settings is not undone by a stale copy.
	fresh, err := a.DB.Shop(ctx, shop.ID)
	if err != nil {
		return err
	}
	st := fresh.Settings
	st.Incentive = in
	if err := a.DB.SaveShopSettings(ctx, shop.ID, st); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, incentiveView(in, fresh.Currency))
}
