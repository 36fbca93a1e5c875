package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// The Shopify Admin GraphQL calls linking makes: the link coupon's discount
// code (discountCodeBasicCreate), the customer's "line-linked" tag (tagsAdd,
// tagsRemove on unlink) and the shop's details (shopInfo, asked before an
// amount-off code). Every answer carries extensions.cost like Shopify's, so
// the app's cost bucket works as against Shopify.
func (s *Server) shopifyRoutes() {
	s.mux.HandleFunc("POST "+ShopifyPath+"/{shop}/admin/api/{version}/graphql.json", s.graphql)
}

func (s *Server) graphql(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Shopify-Access-Token")), []byte(s.ch.ShopifyToken)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
		return
	}
	var req struct {
		Query     string                     `json:"query"`
		Variables map[string]json.RawMessage `json:"variables"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errors": "bad JSON"})
		return
	}
	cost := map[string]any{"cost": map[string]any{"requestedQueryCost": 10, "actualQueryCost": 10,
		"throttleStatus": map[string]any{"maximumAvailable": 2000, "currentlyAvailable": 1990, "restoreRate": 100}}}
	var data map[string]any
	switch q := req.Query; {
	case strings.Contains(q, "discountCodeBasicCreate"):
		var in struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(req.Variables["basicCodeDiscount"], &in)
		s.mu.Lock()
		s.discount++
		id := s.discount
		s.mu.Unlock()
		data = map[string]any{"discountCodeBasicCreate": map[string]any{
			"codeDiscountNode": map[string]any{"id": "gid://shopify/DiscountCodeNode/" + strconv.FormatInt(id, 10),
				"codeDiscount": map[string]any{"codes": map[string]any{"nodes": []map[string]string{{"code": in.Code}}}}},
			"userErrors": []any{}}}
	case strings.Contains(q, "tagsAdd"), strings.Contains(q, "tagsRemove"):
		field := "tagsAdd"
		if strings.Contains(q, "tagsRemove") {
			field = "tagsRemove"
		}
		var id string
		_ = json.Unmarshal(req.Variables["id"], &id)
		data = map[string]any{field: map[string]any{"node": map[string]string{"id": id}, "userErrors": []any{}}}
	case strings.Contains(q, "shopInfo"):
		shop := r.PathValue("shop")
		data = map[string]any{"shop": map[string]string{"name": shop, "email": "owner@example.jp", "currencyCode": "JPY",
			"ianaTimezone": "Asia/Tokyo", "myshopifyDomain": shop},
			"shopLocales": []map[string]any{{"locale": "ja", "primary": true}}}
	default:
		s.log.WarnContext(r.Context(), "the Shopify sandbox does not answer this query")
		writeJSON(w, http.StatusOK, map[string]any{"errors": []map[string]any{{"message": "The Shopify sandbox answers only the calls linking makes",
			"extensions": map[string]string{"code": "UNSUPPORTED"}}}, "extensions": cost})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "extensions": cost})
}
