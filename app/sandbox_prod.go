//go:build prod

package app

import "net/http"

// SandboxBuilt reports whether this build contains the LINE and Shopify
// sandbox of the demo (TSUNAGU_SANDBOX); the production build leaves it out.
const SandboxBuilt = false

func (a *App) newSandbox() http.Handler { return nil }
