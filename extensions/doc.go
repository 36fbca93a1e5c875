// Package extensions holds Tsunagu's Shopify app extensions, in the layout
// the Shopify CLI expects (shopify.app.toml's extension_directories): the
// Thank-you / Order status block (line-link-block), the theme app extension
// (line-link-theme) and the web pixel (web-pixel). They are TypeScript, built
// with npm; this package's test type-checks, unit-tests and builds them, so
// that `go test ./...` covers them in CI.
package extensions
