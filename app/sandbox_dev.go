//go:build !prod

package app

import (
	"net/http"
	"time"

	"github.com/tsunagu/tsunagu/app/sandbox"
)

// SandboxBuilt reports whether this build contains the LINE and Shopify
// sandbox of the demo (TSUNAGU_SANDBOX).
const SandboxBuilt = true

// newSandbox is the demo's sandbox for this installation's credentials.
func (a *App) newSandbox() http.Handler {
	c := newSandboxCredentials(a.Config.SecretKey)
	return sandbox.New(sandbox.Channel{
		LoginChannelID: c.LoginChannelID, LoginSecret: c.LoginSecret,
		MessagingChannelID: c.MessagingChannelID, MessagingToken: c.MessagingToken,
		BotUserID: c.BotUserID, BotName: c.BotName, ShopifyToken: c.ShopifyToken,
	}, a.Log, func() time.Time { return a.Now() })
}
