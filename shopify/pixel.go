package shopify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// IsAccessDenied reports whether Shopify refused a field because the
// grant lacks its access scope (a GraphQL error "Access denied for …").
func IsAccessDenied(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Access denied for")
}

// PixelScopes are the access scopes webPixelCreate needs (Admin GraphQL
// 2026-10, mutations/webPixelCreate: write_pixels, plus read_customer_events).
var PixelScopes = []string{"write_pixels", "read_customer_events"}

const webPixelCreateMutation = `mutation webPixelCreate($webPixel: WebPixelInput!) {
  webPixelCreate(webPixel: $webPixel) { userErrors { code field message } webPixel { id settings } }
}`

const webPixelQuery = `query webPixel { webPixel { id settings } }`

const webPixelUpdateMutation = `mutation webPixelUpdate($id: ID!, $webPixel: WebPixelInput!) {
  webPixelUpdate(id: $id, webPixel: $webPixel) { userErrors { code field message } webPixel { id settings } }
}`

type webPixelPayload struct {
	UserErrors []UserError `json:"userErrors"`
	WebPixel   *struct {
		ID string `json:"id"`
	} `json:"webPixel"`
}

// EnsureWebPixel turns the app's web pixel extension on for the shop with
// settings (the fields of extensions/web-pixel/shopify.extension.toml): it
// creates the pixel, or updates the one that exists (TAKEN) so a changed
// endpoint or key reaches the storefront. It returns the pixel's id.
func (ad *Admin) EnsureWebPixel(ctx context.Context, settings map[string]string) (string, error) {
	raw, err := json.Marshal(settings)
	if err != nil {
		return "", fmt.Errorf("shopify: web pixel settings: %w", err)
	}
	input := map[string]any{"settings": string(raw)}
	var created struct {
		WebPixelCreate webPixelPayload `json:"webPixelCreate"`
	}
	if err := ad.query(ctx, "create web pixel", webPixelCreateMutation, map[string]any{"webPixel": input}, &created); err != nil {
		return "", err
	}
	p := created.WebPixelCreate
	if err := userErrors("create web pixel", p.UserErrors); err == nil && p.WebPixel != nil {
		return p.WebPixel.ID, nil
	} else if ue, ok := err.(*UserErrors); !ok || !ue.HasCode("TAKEN") {
		if err == nil {
			err = fmt.Errorf("shopify: create web pixel on %s: no pixel in the answer", ad.shop)
		}
		return "", err
	}
	var cur struct {
		WebPixel *struct {
			ID string `json:"id"`
		} `json:"webPixel"`
	}
	if err := ad.query(ctx, "read web pixel", webPixelQuery, nil, &cur); err != nil {
		return "", err
	}
	if cur.WebPixel == nil {
		return "", fmt.Errorf("shopify: web pixel on %s is taken but cannot be read", ad.shop)
	}
	var updated struct {
		WebPixelUpdate webPixelPayload `json:"webPixelUpdate"`
	}
	vars := map[string]any{"id": cur.WebPixel.ID, "webPixel": input}
	if err := ad.query(ctx, "update web pixel", webPixelUpdateMutation, vars, &updated); err != nil {
		return "", err
	}
	if err := userErrors("update web pixel", updated.WebPixelUpdate.UserErrors); err != nil {
		return "", err
	}
	return cur.WebPixel.ID, nil
}
