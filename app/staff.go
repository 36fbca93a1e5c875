package app

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/mail"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/argon2"
	"gorm.io/gorm"

	"github.com/tsunagu/tsunagu/app/store"
)

// Staff accounts. Shopify staff open Tsunagu from the Shopify admin and are
// authenticated by its session token; a support team without Shopify admin
// access signs in at /admin/login with an account the merchant creates
// (role viewer or admin). Their session is the same signed cookie, with the
// staff part "staff:<id>", checked against the account on every request so
// that disabling an account or lowering its role takes effect at once.

const staffPrefix = "staff:"

// argon2id parameters: OWASP's minimum (19 MiB, 2 passes, 1 lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	minPassword  = 12
)

// hashPassword returns a PHC-format argon2id hash with a random salt.
func hashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// checkPassword verifies pw against a hash from hashPassword, using the
// parameters stored in the hash so they can be raised later.
func checkPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m > 1<<20 || t > 10 || p == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tsunagu</title><link rel="stylesheet" href="/admin/assets/admin.css"></head>
<body><main class="page" style="max-width:420px;padding-top:64px">
<h1><span class="logo">繋</span> Tsunagu</h1>
<form class="card" method="post" action="/admin/login">
<h2>{{if eq .Lang "en"}}Staff sign-in{{else}}スタッフログイン{{end}}</h2>
{{if .Error}}<p class="result err" id="login-error">{{.Error}}</p>{{end}}
<label>{{if eq .Lang "en"}}Shop domain{{else}}ショップのドメイン{{end}}<input name="shop" value="{{.Shop}}" placeholder="example.myshopify.com" required></label>
<label>{{if eq .Lang "en"}}Email{{else}}メールアドレス{{end}}<input name="email" type="email" value="{{.Email}}" autocomplete="username" required></label>
<label>{{if eq .Lang "en"}}Password{{else}}パスワード{{end}}<input name="password" type="password" autocomplete="current-password" required></label>
<div class="actions"><button class="btn primary" type="submit">{{if eq .Lang "en"}}Sign in{{else}}ログイン{{end}}</button></div>
</form></main></body></html>`))

func (a *App) renderLogin(c echo.Context, status int, shop, email, msg string) error {
	var buf bytes.Buffer
	if err := loginPage.Execute(&buf, map[string]string{"Lang": adminLang(c), "Shop": shop, "Email": email, "Error": msg}); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

func (a *App) loginForm(c echo.Context) error {
	return a.renderLogin(c, http.StatusOK, c.QueryParam("shop"), "", "")
}

func (a *App) login(c echo.Context) error {
	ctx := c.Request().Context()
	domain := strings.ToLower(strings.TrimSpace(c.FormValue("shop")))
	email := strings.ToLower(strings.TrimSpace(c.FormValue("email")))
	pw := c.FormValue("password")
	bad := "メールアドレスまたはパスワードが違います / Wrong email or password"
	client, account := clientKey(c), domain+"|"+email
	now := a.Now()
	verdict, err := a.signinAllowed(ctx, client, account)
	if err != nil {
		a.Log.Error("sign-in limits unavailable", "err", err)
		c.Response().Header().Set("Retry-After", "5")
		return a.renderLogin(c, http.StatusServiceUnavailable, domain, email, "ただいまログインできません。しばらくしてからお試しください / Sign-in is unavailable, try again shortly")
	}
	if !verdict.allowed {
		c.Response().Header().Set("Retry-After", retryAfterSeconds(verdict.retryAfter))
		return a.renderLogin(c, http.StatusTooManyRequests, domain, email, "しばらくしてからお試しください / Too many attempts, try again later")
	}
	var acct *store.StaffAccount
	shop, err := a.DB.ShopByDomain(ctx, domain)
	if err == nil && shop.Active() {
		acct, err = a.DB.StaffByEmail(ctx, shop.ID, email)
	} else if err == nil {
		err = store.ErrNotFound
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// Hash even when the account does not exist, so timing does not tell.
	hash := dummyHash
	if acct != nil {
		hash = acct.PasswordHash
	}
	ok, err := a.signin.verify(ctx, hash, pw)
	if errors.Is(err, errSigninBusy) {
		c.Response().Header().Set("Retry-After", "1")
		return a.renderLogin(c, http.StatusServiceUnavailable, domain, email, "混み合っています。しばらくしてからお試しください / Too many sign-ins right now, try again in a moment")
	}
	if err != nil {
		return err
	}
	if !ok || acct == nil || acct.DisabledAt != nil {
		a.signinFailed(ctx, client, account)
		return a.renderLogin(c, http.StatusUnauthorized, domain, email, bad)
	}
	a.signinSucceeded(ctx, client, account)
	if err := a.DB.UpdateStaff(ctx, shop.ID, acct.ID, map[string]any{"last_login_at": now}); err != nil {
		return err
	}
	a.startAdminSessionGen(c, shop.Domain, staffPrefix+strconv.FormatInt(acct.ID, 10), acct.SessionGen)
	return c.Redirect(http.StatusSeeOther, "/admin")
}

// dummyHash is checked when no account matches (same cost as a real one).
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$Rk9PRk9PRk9PRk9PRk9PRk9PRk9PRk9PRk9PRk9PRk8"

const ctxStaffAccount = "tsunagu.staff_account"

func isAdminPath(p string) bool {
	return strings.HasPrefix(p, "/api/") || p == "/admin" || strings.HasPrefix(p, "/admin/")
}

type staffInput struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
	Disabled *bool  `json:"disabled"`
}

func validRole(r string) bool { return r == store.RoleViewer || r == store.RoleAdmin }

func (a *App) apiListStaff(c echo.Context) error {
	list, err := a.DB.ListStaff(c.Request().Context(), currentShop(c).ID)
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.StaffAccount{}
	}
	return c.JSON(http.StatusOK, map[string]any{"staff": list})
}

func (a *App) apiCreateStaff(c echo.Context) error {
	var in staffInput
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON")
	}
	if _, err := mail.ParseAddress(in.Email); err != nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "a valid email is required")
	}
	if in.Role == "" {
		in.Role = store.RoleViewer
	}
	if !validRole(in.Role) {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "role must be viewer or admin")
	}
	if len([]rune(in.Password)) < minPassword {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, fmt.Sprintf("the password needs at least %d characters", minPassword))
	}
	hash, err := a.signin.hash(c.Request().Context(), in.Password)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	shop := currentShop(c)
	if _, err := a.DB.StaffByEmail(ctx, shop.ID, in.Email); err == nil {
		return echo.NewHTTPError(http.StatusConflict, "a staff account with this email exists")
	}
	s := &store.StaffAccount{ShopID: shop.ID, Email: in.Email, Name: in.Name, Role: in.Role, PasswordHash: hash}
	if err := a.DB.CreateStaff(ctx, s); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s)
}

func (a *App) apiUpdateStaff(c echo.Context) error {
	shop := currentShop(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "staff account not found")
	}
	var in staffInput
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON")
	}
	cols := map[string]any{}
	if in.Role != "" {
		if !validRole(in.Role) {
			return echo.NewHTTPError(http.StatusUnprocessableEntity, "role must be viewer or admin")
		}
		cols["role"] = in.Role
	}
	if in.Name != "" {
		cols["name"] = in.Name
	}
	if in.Password != "" {
		if len([]rune(in.Password)) < minPassword {
			return echo.NewHTTPError(http.StatusUnprocessableEntity, fmt.Sprintf("the password needs at least %d characters", minPassword))
		}
		if cols["password_hash"], err = a.signin.hash(c.Request().Context(), in.Password); err != nil {
			return err
		}
		// A new password ends every session of the account (L3).
		cols["session_gen"] = gorm.Expr("session_gen + 1")
	}
	if in.Disabled != nil {
		if *in.Disabled {
			cols["disabled_at"] = a.Now()
		} else {
			cols["disabled_at"] = nil
		}
	}
	ctx := c.Request().Context()
	if err := a.DB.UpdateStaff(ctx, shop.ID, id, cols); err != nil {
		return notFoundAs(err, "staff account")
	}
	s, err := a.DB.Staff(ctx, shop.ID, id)
	if err != nil {
		return notFoundAs(err, "staff account")
	}
	if me, ok := c.Get(ctxStaffAccount).(*store.StaffAccount); ok && me.ID == s.ID && in.Password != "" {
		// Changing one's own password keeps this session, on the new generation.
		a.startAdminSessionGen(c, shop.Domain, staffPrefix+strconv.FormatInt(s.ID, 10), s.SessionGen)
	}
	return c.JSON(http.StatusOK, s)
}
