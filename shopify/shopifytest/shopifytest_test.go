package shopifytest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/shopify"
)

func TestParseOperation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		q        string
		mutation bool
		fields   []string
		wantErr  bool
	}{
		{"anonymous query", `{ shop { name } }`, false, []string{"shop"}, false},
		{"named with vars", "query q($first: Int!) {\n webhookSubscriptions(first: $first) { edges { node { id } } }\n shopLocales { locale } }", false, []string{"webhookSubscriptions", "shopLocales"}, false},
		{"mutation with alias and comment", "mutation m($id: ID!) { # add\n a: tagsAdd(id: $id, tags: \"x\") { node { id } } }", true, []string{"tagsAdd"}, false},
		{"string with braces", `mutation { tagsAdd(id: "gid://shopify/Customer/1", tags: "a}b") { node { id } } }`, true, []string{"tagsAdd"}, false},
		{"subscription refused", `subscription { x }`, false, nil, true},
		{"unbalanced", `{ shop { name }`, false, nil, true},
		{"empty", `{ }`, false, nil, true},
		{"object literal refused", `mutation { tagsAdd(id: {a: 1}) { node { id } } }`, true, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := parseOperation(tt.q)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			var names []string
			for _, f := range op.fields {
				names = append(names, f.name)
			}
			if op.mutation != tt.mutation || strings.Join(names, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("op = %+v", op)
			}
		})
	}
	op, _ := parseOperation(`mutation { a: tagsAdd(id: "gid://shopify/Customer/1", tags: $t, n: 3, b: true, e: ORDERS_CREATE) { x } }`)
	args, _ := op.fields[0].resolveArgs(map[string]any{"t": []any{"v"}})
	if op.fields[0].key() != "a" || args["id"] != "gid://shopify/Customer/1" || args["n"] != 3.0 || args["b"] != true || args["e"] != "ORDERS_CREATE" || args["tags"].([]any)[0] != "v" {
		t.Fatalf("args = %v", args)
	}
}

// gql posts a GraphQL request to the fake and decodes the response.
func gql(t *testing.T, s *Server, token, query string, vars map[string]any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/admin/api/2026-04/graphql.json", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Access-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestGraphQLAuthAndErrors(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	if code, out := gql(t, s, "shpat_wrong", `{ shop { name } }`, nil); code != 401 || !strings.Contains(out["errors"].(string), "Invalid API key") {
		t.Fatalf("bad token: %d %v", code, out)
	}
	tok := s.IssueToken(DefaultShop)
	_, out := gql(t, s, tok, `{ products(first: 1) { edges { node { id } } } }`, nil)
	if errs, _ := out["errors"].([]any); len(errs) != 1 || !strings.Contains(errs[0].(map[string]any)["message"].(string), "doesn't exist") {
		t.Fatalf("unknown field: %v", out)
	}
	_, out = gql(t, s, tok, `query { webhookSubscriptions { edges { node { id } } } }`, nil)
	if out["errors"] == nil {
		t.Fatalf("webhookSubscriptions without first accepted: %v", out)
	}
	// Compliance topics are not in the subscription enum.
	_, out = gql(t, s, tok, `mutation c($topic: WebhookSubscriptionTopic!, $w: WebhookSubscriptionInput!) { webhookSubscriptionCreate(topic: $topic, webhookSubscription: $w) { userErrors { message } } }`,
		map[string]any{"topic": "CUSTOMERS_REDACT", "w": map[string]any{"uri": "https://a.example/w"}})
	if out["errors"] == nil {
		t.Fatalf("compliance topic accepted: %v", out)
	}
	// A missing address is a userError, not a top-level error.
	_, out = gql(t, s, tok, `mutation c($topic: WebhookSubscriptionTopic!, $w: WebhookSubscriptionInput!) { webhookSubscriptionCreate(topic: $topic, webhookSubscription: $w) { userErrors { message } } }`,
		map[string]any{"topic": "ORDERS_CREATE", "w": map[string]any{"format": "JSON"}})
	ue := out["data"].(map[string]any)["webhookSubscriptionCreate"].(map[string]any)["userErrors"].([]any)
	if len(ue) != 1 || ue[0].(map[string]any)["message"] != "Address can't be blank" {
		t.Fatalf("blank address: %v", out)
	}
}

func TestDiscountValidation(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	tok := s.IssueToken(DefaultShop)
	const m = `mutation d($in: DiscountCodeBasicInput!) { discountCodeBasicCreate(basicCodeDiscount: $in) { codeDiscountNode { id } userErrors { field code message } } }`
	valid := func() map[string]any {
		return map[string]any{
			"title": "T", "code": "C1", "context": map[string]any{"all": "ALL"},
			"customerGets": map[string]any{"value": map[string]any{"percentage": 0.1}, "items": map[string]any{"all": true}},
		}
	}
	tests := []struct {
		name  string
		mod   func(map[string]any)
		codes []string
	}{
		{"valid", func(map[string]any) {}, nil},
		{"no title", func(in map[string]any) { delete(in, "title") }, []string{"BLANK"}},
		{"no context", func(in map[string]any) { delete(in, "context") }, []string{"BLANK"}},
		{"percentage as whole number", func(in map[string]any) {
			in["customerGets"].(map[string]any)["value"] = map[string]any{"percentage": 10.0}
		}, []string{"VALUE_OUTSIDE_RANGE"}},
		{"bad customer gid", func(in map[string]any) {
			in["context"] = map[string]any{"customers": map[string]any{"add": []any{"123"}}}
		}, []string{"INVALID", "BLANK"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid()
			in["code"] = "C" + string(rune('A'+i))
			tt.mod(in)
			_, out := gql(t, s, tok, m, map[string]any{"in": in})
			res := out["data"].(map[string]any)["discountCodeBasicCreate"].(map[string]any)
			var codes []string
			for _, u := range res["userErrors"].([]any) {
				codes = append(codes, u.(map[string]any)["code"].(string))
			}
			if strings.Join(codes, ",") != strings.Join(tt.codes, ",") {
				t.Fatalf("userErrors codes = %v, want %v (%v)", codes, tt.codes, res)
			}
			if (res["codeDiscountNode"] == nil) == (len(tt.codes) == 0) {
				t.Fatalf("node = %v", res["codeDiscountNode"])
			}
		})
	}
	if n := len(s.Discounts()); n != 1 {
		t.Fatalf("stored %d discounts", n)
	}
}

func TestSignWebhook(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id": 820982911946154508}`)
	s := NewServer(t)
	h := s.SignWebhook(shopify.TopicOrdersCreate, body)
	if !shopify.VerifyWebhook(s.APISecret, body, h.Get(shopify.HeaderHmac)) {
		t.Fatal("signature does not verify")
	}
	if shopify.VerifyWebhook(s.APISecret, append(body, ' '), h.Get(shopify.HeaderHmac)) {
		t.Fatal("signature verifies a different body")
	}
	meta := shopify.MetaFromHeader(h)
	if meta.Topic != "orders/create" || meta.ShopDomain != DefaultShop || meta.WebhookID == "" || meta.EventID == "" ||
		meta.APIVersion != "2026-04" || meta.TriggeredAt == "" {
		t.Fatalf("meta = %+v", meta)
	}
	if h2 := s.SignWebhook(shopify.TopicOrdersCreate, body); h2.Get(shopify.HeaderWebhookID) == meta.WebhookID {
		t.Fatal("webhook ids repeat")
	}
	req, err := NewWebhookRequest("http://app.example/webhooks", "sec", Webhook{Topic: "app/uninstalled", Shop: "a.myshopify.com", WebhookID: "w1"}, body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(req.Body)
	if !bytes.Equal(got, body) || req.Header.Get(shopify.HeaderWebhookID) != "w1" || !shopify.VerifyWebhook("sec", body, req.Header.Get(shopify.HeaderHmac)) {
		t.Fatalf("request = %v", req.Header)
	}
}

// With ShopAdminBase the authorize page knows the shop from the path, and
// the callback is signed so the app verifies it.
func TestAuthorizeShopFromPath(t *testing.T) {
	t.Parallel()
	clock := time.Unix(1_800_000_000, 0)
	s := NewServer(t, WithClock(func() time.Time { return clock }))
	cfg := s.App("http://127.0.0.1:1/cb?x=1", "read_orders")
	cfg.AdminBase = s.ShopAdminBase()
	app, err := shopify.NewApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	authURL, _ := app.AuthorizeURL("second.myshopify.com", "st")
	resp, err := http.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	i := bytes.Index(page, []byte(`id="install" href="`))
	if i < 0 {
		t.Fatalf("no install link: %s", page)
	}
	href := string(page[i+len(`id="install" href="`):])
	href = strings.ReplaceAll(href[:strings.IndexByte(href, '"')], "&amp;", "&")
	u, _ := url.Parse(href)
	q := u.Query()
	if q.Get("x") != "1" {
		t.Errorf("redirect_uri's own query lost: %v", q)
	}
	q.Del("x") // the app's own parameter, not signed by Shopify
	shop, err := app.VerifyCallback(q, clock)
	if err != nil || shop != "second.myshopify.com" {
		t.Fatalf("VerifyCallback = %q, %v", shop, err)
	}
	host, _ := base64.RawURLEncoding.DecodeString(q.Get("host"))
	if string(host) != "admin.shopify.com/store/second" {
		t.Errorf("host = %q", host)
	}
	tok, _, err := app.ExchangeToken(t.Context(), shop, q.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := app.Admin(shop, tok).ShopInfo(t.Context()); err != nil || info.MyshopifyDomain != "second.myshopify.com" {
		t.Fatalf("ShopInfo = %+v, %v", info, err)
	}
	// Wrong client_id is refused on the authorize page.
	bad := strings.Replace(authURL, "client_id="+s.APIKey, "client_id=other", 1)
	if resp, err := http.Get(bad); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("foreign client_id: %v %v", resp.StatusCode, err)
	}
}
