package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
)

// lineSettings is the JSON of GET/PUT /api/settings/line. Secrets are
// write-only: they come back masked, and an empty or omitted secret in a
// PUT keeps the stored one.
type lineSettings struct {
	// ID, Name and Primary tell the shop's LINE accounts apart (several
	// per shop); Primary is read-only here (see setPrimaryLineChannel).
	ID                     int64  `json:"id,omitempty"`
	Name                   string `json:"name"`
	Primary                bool   `json:"primary"`
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
	out.ID, out.Name, out.Primary = ch.ID, ch.Name, ch.IsPrimary
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

// settingsChannel is the channel a settings request names with ?channel=
// (one of the shop's), or the primary; nil when the shop has none yet.
func (a *App) settingsChannel(c echo.Context) (*store.LineChannel, error) {
	ctx := c.Request().Context()
	shop := currentShop(c)
	if v := c.QueryParam("channel"); v != "" {
		id := channelParam(v)
		ch, err := a.DB.LineChannelByID(ctx, shop.ID, id)
		if errors.Is(err, store.ErrNotFound) || id == 0 {
			return nil, core.Errorf(core.ENOTFOUND, "LINE account %s not found", v)
		}
		return ch, err
	}
	ch, err := a.DB.LineChannel(ctx, shop.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return ch, err
}

func (a *App) getLineSettings(c echo.Context) error {
	ch, err := a.settingsChannel(c)
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

// Bounds on the shop's LINE accounts.
const (
	MaxLineChannels    = 10
	MaxLineAccountName = 50
)

// credentialProblems checks what an admin typed for a LINE account (the
// same rules for the first account and any added one), trimming it.
func credentialProblems(in *lineSettings) []string {
	in.Name = strings.TrimSpace(in.Name)
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
	if n := utf8.RuneCountInString(in.Name); n > MaxLineAccountName || !utf8.ValidString(in.Name) || strings.ContainsFunc(in.Name, unicode.IsControl) {
		problems = append(problems, fmt.Sprintf("name must be at most %d characters of text", MaxLineAccountName))
	}
	return problems
}

func (a *App) putLineSettings(c echo.Context) error {
	var in lineSettings
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON body")
	}
	if problems := credentialProblems(&in); len(problems) > 0 {
		return c.JSON(http.StatusUnprocessableEntity, map[string]any{"error": strings.Join(problems, "; "), "problems": problems})
	}
	ctx := c.Request().Context()
	shop := currentShop(c)
	ch, err := a.settingsChannel(c)
	if err != nil {
		return err
	}
	if ch == nil {
		ch = &store.LineChannel{ShopID: shop.ID, WebhookKey: newWebhookKey(), CreatedAt: a.Now()}
	}
	if err := a.saveLineCredentials(ctx, ch, in); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.lineSettingsView(c.Request().Context(), ch))
}

// saveLineCredentials writes checked credentials onto ch and saves it; an
// empty secret keeps the stored one, an empty name the stored name.
func (a *App) saveLineCredentials(ctx context.Context, ch *store.LineChannel, in lineSettings) error {
	if in.Name != "" {
		ch.Name = in.Name
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
	return a.DB.SaveLineChannel(ctx, ch)
}

// addLineChannel adds another LINE account to the shop: a name (required,
// so the admin can tell accounts apart) and credentials checked as for the
// first; it gets its own webhook URL and is not primary.
func (a *App) addLineChannel(ctx context.Context, shop *store.Shop, in lineSettings) (*store.LineChannel, error) {
	if problems := credentialProblems(&in); len(problems) > 0 {
		return nil, core.Errorf(core.EINVALID, "%s", strings.Join(problems, "; "))
	}
	if in.Name == "" {
		return nil, core.Errorf(core.EINVALID, "name is required to tell the LINE accounts apart")
	}
	if in.MessagingChannelID == "" || strings.TrimSpace(in.MessagingChannelSecret) == "" || strings.TrimSpace(in.MessagingAccessToken) == "" {
		return nil, core.Errorf(core.EINVALID, "a new LINE account needs its Messaging API channel ID, channel secret and access token")
	}
	all, err := a.DB.LineChannels(ctx, shop.ID)
	if err != nil {
		return nil, err
	}
	if len(all) >= MaxLineChannels {
		return nil, core.Errorf(core.EINVALID, "a shop can connect at most %d LINE accounts", MaxLineChannels)
	}
	for _, o := range all {
		if o.MessagingChannelID == in.MessagingChannelID {
			return nil, core.Errorf(core.ECONFLICT, "the Messaging API channel %s is connected already (%s)", in.MessagingChannelID, o.Label())
		}
	}
	ch := &store.LineChannel{ShopID: shop.ID, WebhookKey: newWebhookKey(), CreatedAt: a.Now()}
	if err := a.saveLineCredentials(ctx, ch, in); err != nil {
		return nil, err
	}
	return ch, nil
}

// listLineChannels is GET /api/settings/line/channels: every LINE account
// of the shop, the primary first, secrets masked.
func (a *App) listLineChannels(c echo.Context) error {
	ctx := c.Request().Context()
	all, err := a.DB.LineChannels(ctx, currentShop(c).ID)
	if err != nil {
		return err
	}
	out := make([]lineSettings, 0, len(all))
	for i := range all {
		out = append(out, a.lineSettingsView(ctx, &all[i]))
	}
	return c.JSON(http.StatusOK, map[string]any{"channels": out})
}

func (a *App) newLineChannel(c echo.Context) error {
	var in lineSettings
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON body")
	}
	ch, err := a.addLineChannel(c.Request().Context(), currentShop(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, a.lineSettingsView(c.Request().Context(), ch))
}

// setPrimaryLineChannel makes one of the shop's accounts the primary.
func (a *App) setPrimaryLineChannel(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := a.DB.SetPrimaryLineChannel(c.Request().Context(), currentShop(c).ID, id); err != nil {
		return storeError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// Settings page forms (no script needed).
func (a *App) formNewLineChannel(c echo.Context) error {
	in := lineSettings{Name: c.FormValue("name"), MessagingChannelID: c.FormValue("messaging_channel_id"),
		MessagingChannelSecret: c.FormValue("messaging_channel_secret"), MessagingAccessToken: c.FormValue("messaging_access_token"),
		LoginChannelID: c.FormValue("login_channel_id"), LoginChannelSecret: c.FormValue("login_channel_secret")}
	_, err := a.addLineChannel(c.Request().Context(), currentShop(c), in)
	if ferr := formErr(err); ferr != nil {
		return ferr
	}
	if err != nil {
		return c.Redirect(http.StatusSeeOther, "/admin/settings?acct_err="+url.QueryEscape(core.ErrorMessage(err))+"#line-accounts")
	}
	return c.Redirect(http.StatusSeeOther, "/admin/settings?acct=1#line-accounts")
}

func (a *App) formPrimaryLineChannel(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	err = a.DB.SetPrimaryLineChannel(c.Request().Context(), currentShop(c).ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return core.Errorf(core.ENOTFOUND, "LINE account %d not found", id)
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/settings?acct=1#line-accounts")
}

// testLineSettings asks LINE who the bot behind the stored access token is.
func (a *App) testLineSettings(c echo.Context) error {
	ctx := c.Request().Context()
	shop := currentShop(c)
	ch, err := a.settingsChannel(c)
	if err != nil {
		return err
	}
	if ch == nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "save the Messaging API channel access token first")
	}
	token, err := core.MessagingToken(a.Box, ch)
	if err != nil {
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
