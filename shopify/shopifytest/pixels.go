package shopifytest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// pixelSettingsFields is the settings definition of the app's web pixel
// (extensions/web-pixel/shopify.extension.toml), which Shopify checks
// webPixelCreate and webPixelUpdate against.
var pixelSettingsFields = map[string]int{"endpoint": 8, "key": 0} // field -> min length

type webPixel struct {
	id, settings string
}

// accessDenied is Shopify's answer to a field the token's scopes do not
// cover (a GraphQL error, HTTP 200).
type accessDenied struct{ field, scope string }

func (e accessDenied) Error() string {
	return fmt.Sprintf("Access denied for %s field. Required access: `%s` access scope.", e.field, e.scope)
}

func hasScopes(granted string, want ...string) (string, bool) {
	have := strings.Split(granted, ",")
	for _, w := range want {
		if !slices.Contains(have, w) {
			return w, false
		}
	}
	return "", true
}

// webPixelField answers webPixel, webPixelCreate and webPixelUpdate as the
// Admin API does: one pixel per app and shop, settings a JSON string that
// must match the extension's settings definition.
func (s *Server) webPixelField(mutation bool, field, scopes string, st *shopState, args map[string]any) (any, error) {
	need := []string{"read_pixels"}
	if mutation {
		need = []string{"write_pixels", "read_customer_events"}
	}
	// write_pixels implies read_pixels, as Shopify's write scopes do.
	granted := strings.ReplaceAll(scopes, "write_pixels", "write_pixels,read_pixels")
	if missing, ok := hasScopes(granted, need...); !ok {
		return nil, accessDenied{field, missing}
	}
	node := func() map[string]any { return map[string]any{"id": st.pixel.id, "settings": st.pixel.settings} }
	payload := func(errs ...userError) map[string]any {
		out := map[string]any{"userErrors": append([]userError{}, errs...), "webPixel": nil}
		if len(errs) == 0 && st.pixel != nil {
			out["webPixel"] = node()
		}
		return out
	}
	if !mutation {
		if st.pixel == nil {
			return nil, fmt.Errorf("No web pixel was found for this app.")
		}
		return node(), nil
	}
	in, _ := args["webPixel"].(map[string]any)
	settings, ue := checkPixelSettings(in["settings"])
	if ue != nil {
		return payload(*ue), nil
	}
	switch field {
	case "webPixelCreate":
		if st.pixel != nil {
			return payload(userError{Field: []string{"webPixel"}, Message: "Web pixel is taken.", Code: "TAKEN"}), nil
		}
		s.nextID++
		st.pixel = &webPixel{id: fmt.Sprintf("gid://shopify/WebPixel/%d", s.nextID), settings: settings}
	case "webPixelUpdate":
		if st.pixel == nil || args["id"] != st.pixel.id {
			return payload(userError{Field: []string{"id"}, Message: "Web pixel not found.", Code: "NOT_FOUND"}), nil
		}
		st.pixel.settings = settings
	}
	return payload(), nil
}

func checkPixelSettings(v any) (string, *userError) {
	raw, ok := v.(string)
	var m map[string]any
	if !ok || json.Unmarshal([]byte(raw), &m) != nil {
		return "", &userError{Field: []string{"webPixel", "settings"}, Message: "Settings is not valid JSON.", Code: "INVALID_CONFIGURATION_JSON"}
	}
	for k, val := range m {
		min, known := pixelSettingsFields[k]
		str, isStr := val.(string)
		if !known || !isStr || len(str) < min {
			return "", &userError{Field: []string{"webPixel", "settings"}, Message: "Settings do not match the settings definition: " + k, Code: "INVALID_SETTINGS"}
		}
	}
	return raw, nil
}

// WebPixel is the shop's web pixel settings as the app last set them.
func (s *Server) WebPixel(shop string) (settings map[string]string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state(shop)
	if st.pixel == nil {
		return nil, false
	}
	_ = json.Unmarshal([]byte(st.pixel.settings), &settings)
	return settings, true
}
