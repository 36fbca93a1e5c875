package shopifytest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tsunagu/tsunagu/shopify"
)

// gqlError is an entry of the top-level "errors" of a GraphQL response.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

type userError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
	Code    string   `json:"code,omitempty"`
}

// costExtensions is extensions.cost as Shopify sends it; actual is nil
// when the query was throttled (it did not run).
func costExtensions(requested int, actual *int, b *costBucket) map[string]any {
	var act any
	if actual != nil {
		act = *actual
	}
	return map[string]any{"cost": map[string]any{
		"requestedQueryCost": requested,
		"actualQueryCost":    act,
		"throttleStatus": map[string]any{
			"maximumAvailable": b.max, "currentlyAvailable": math.Floor(b.avail), "restoreRate": b.rate,
		},
	}}
}

// costBucket is a shop's leaky bucket of GraphQL cost points, refilled in
// wall-clock time (clients wait in real time, whatever the fake's clock).
type costBucket struct {
	max, avail, rate float64
	at               time.Time
}

func (b *costBucket) refill(now time.Time) {
	b.avail = math.Min(b.max, b.avail+now.Sub(b.at).Seconds()*b.rate)
	b.at = now
}

// Default bucket: Shopify's standard plan (1,000 points, 50 per second).
const (
	DefaultBucketMax  = 1000
	DefaultBucketRate = 50
)

// queryCost is the requested cost of an operation: what SetQueryCost set
// for a root field, else 10 per mutation field and 1 per query field
// (Shopify counts objects and connection pages; this keeps it simple).
func (s *Server) queryCost(op operation) int {
	cost := 0
	for _, f := range op.fields {
		if c, ok := s.fieldCosts[f.name]; ok {
			cost += c
			continue
		}
		if op.mutation {
			cost += 10
		} else {
			cost++
		}
	}
	return max(cost, 1)
}

// NonExpiringRefused is the Admin API's answer (403) to a non-expiring
// offline token of a public app from 2027-01-01.
const NonExpiringRefused = "[API] Non-expiring access tokens are no longer accepted for the Admin API. Request an expiring offline access token and refresh it with its refresh token."

const invalidToken = "[API] Invalid API key or access token (unrecognized login or wrong password)"

func (s *Server) graphql(w http.ResponseWriter, r *http.Request, body []byte, rec *Request) {
	tok := r.Header.Get("X-Shopify-Access-Token")
	s.mu.Lock()
	at, ok := s.tokens[tok]
	now := s.now()
	// A token of another shop is as good as none; so is an expired one.
	ok = ok && (rec.Shop == "" || rec.Shop == at.shop) && (at.expiresAt.IsZero() || now.Before(at.expiresAt))
	if ok && !at.expiresAt.IsZero() {
		useLocked(at.pair)
	}
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"errors": invalidToken})
		return
	}
	if at.expiresAt.IsZero() {
		writeJSON(w, http.StatusForbidden, map[string]string{"errors": NonExpiringRefused})
		return
	}
	shop := at.shop
	rec.Shop = shop
	var in struct {
		Query         string         `json:"query"`
		Variables     map[string]any `json:"variables"`
		OperationName string         `json:"operationName"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Query == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": []gqlError{{Message: "No query string was present"}}})
		return
	}
	rec.Variables = in.Variables
	op, err := parseOperation(in.Query)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []gqlError{{Message: err.Error(), Extensions: map[string]any{"code": "parseError"}}}})
		return
	}
	names := make([]string, len(op.fields))
	for i, f := range op.fields {
		names[i] = f.name
	}
	rec.Operation = strings.Join(names, ",")

	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucket(shop)
	b.refill(time.Now())
	cost := s.queryCost(op)
	forced := s.throttle > 0
	if forced || b.avail < float64(cost) {
		if forced {
			s.throttle--
			b.avail = math.Min(b.avail, float64(cost)/2) // as if another client had drained it
		} else {
			s.throttled++
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"errors":     []gqlError{{Message: "Throttled", Extensions: map[string]any{"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}},
			"extensions": costExtensions(cost, nil, b),
		})
		return
	}
	b.avail -= float64(cost)
	data := map[string]any{}
	var errs []gqlError
	st := s.state(shop)
	for _, f := range op.fields {
		args, err := f.resolveArgs(in.Variables)
		if err != nil {
			errs = append(errs, gqlError{Message: err.Error()})
			continue
		}
		var v any
		switch {
		case op.mutation && f.name == "webhookSubscriptionCreate":
			v, err = s.webhookSubscriptionCreate(shop, st, args)
		case op.mutation && f.name == "discountCodeBasicCreate":
			v, err = s.discountCodeBasicCreate(shop, st, args)
		case op.mutation && (f.name == "tagsAdd" || f.name == "tagsRemove"):
			v, err = s.tagsMutation(st, f.name == "tagsAdd", args)
		case f.name == "webPixel" || f.name == "webPixelCreate" || f.name == "webPixelUpdate":
			v, err = s.webPixelField(op.mutation, f.name, at.scope(), st, args)
		case !op.mutation && f.name == "orders":
			v, err = s.ordersField(at.scope(), st, args)
		case op.mutation && f.name == "bulkOperationRunQuery":
			v, err = s.bulkOperationRunQuery(shop, args)
		case !op.mutation && f.name == "bulkOperation":
			v, err = s.bulkOperationNode(shop, args)
		case !op.mutation && f.name == "currentBulkOperation":
			v = s.currentBulkOperation(shop)
		case !op.mutation && f.name == "webhookSubscriptions":
			v, err = webhookSubscriptions(st, args)
		case !op.mutation && f.name == "shop":
			v = map[string]any{
				"id": "gid://shopify/Shop/1", "name": st.info.Name, "email": st.info.Email,
				"contactEmail": st.info.Email, "currencyCode": st.info.Currency,
				"ianaTimezone": st.info.Timezone, "myshopifyDomain": shop,
				"primaryDomain": map[string]any{"url": "https://" + shop, "host": shop},
			}
		case !op.mutation && f.name == "shopLocales":
			v = []any{map[string]any{"locale": st.info.Locale, "primary": true, "published": true}}
		case f.name == "__typename":
			v = map[bool]string{true: "Mutation", false: "QueryRoot"}[op.mutation]
		default:
			root := map[bool]string{true: "Mutation", false: "QueryRoot"}[op.mutation]
			err = fmt.Errorf("Field '%s' doesn't exist on type '%s'", f.name, root)
		}
		if err != nil {
			errs = append(errs, gqlError{Message: err.Error()})
			continue
		}
		data[f.key()] = v
	}
	resp := map[string]any{"data": data, "extensions": costExtensions(cost, &cost, b)}
	if len(errs) > 0 {
		resp["errors"] = errs
		if len(data) == 0 {
			resp["data"] = nil
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// --- webhook subscriptions

// subscribableTopics are the WebhookSubscriptionTopic values the fake
// knows; the GDPR compliance topics are not among them, as on Shopify.
var subscribableTopics = []string{
	"APP_UNINSTALLED", "BULK_OPERATIONS_FINISH", "CARTS_CREATE", "CARTS_UPDATE", "CHECKOUTS_CREATE", "CHECKOUTS_DELETE", "CHECKOUTS_UPDATE",
	"CUSTOMER_TAGS_ADDED", "CUSTOMER_TAGS_REMOVED", "CUSTOMERS_EMAIL_MARKETING_CONSENT_UPDATE", "CUSTOMERS_MARKETING_CONSENT_UPDATE",
	"CUSTOMERS_PURCHASING_SUMMARY",
	"CUSTOMERS_CREATE", "CUSTOMERS_DELETE", "CUSTOMERS_DISABLE", "CUSTOMERS_ENABLE", "CUSTOMERS_UPDATE",
	"FULFILLMENTS_CREATE", "FULFILLMENTS_UPDATE", "ORDERS_CANCELLED", "ORDERS_CREATE", "ORDERS_DELETE",
	"ORDERS_EDITED", "ORDERS_FULFILLED", "ORDERS_PAID", "ORDERS_PARTIALLY_FULFILLED", "ORDERS_UPDATED",
	"PRODUCTS_CREATE", "PRODUCTS_DELETE", "PRODUCTS_UPDATE", "REFUNDS_CREATE", "SHOP_UPDATE",
}

func subscriptionNode(sub Subscription) map[string]any {
	return map[string]any{
		"id": sub.ID, "topic": sub.Topic, "uri": sub.URI, "callbackUrl": sub.URI, "format": sub.Format,
		"apiVersion": map[string]any{"handle": shopify.DefaultAPIVersion},
		"createdAt":  sub.CreatedAt.UTC().Format(time.RFC3339), "updatedAt": sub.CreatedAt.UTC().Format(time.RFC3339),
		"endpoint": map[string]any{"__typename": "WebhookHttpEndpoint", "callbackUrl": sub.URI},
	}
}

func webhookSubscriptions(st *shopState, args map[string]any) (any, error) {
	first, ok := intArg(args["first"])
	if !ok {
		return nil, fmt.Errorf("you must provide one of first or last")
	}
	if first < 1 || first > 250 {
		return nil, fmt.Errorf("The first argument must be between 1 and 250")
	}
	start := 0
	if after, _ := args["after"].(string); after != "" {
		b, err := base64.StdEncoding.DecodeString(after)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil {
			return nil, fmt.Errorf("Invalid cursor for current pagination")
		}
		start = n + 1
	}
	var subs []Subscription
	for _, sub := range st.subs {
		if t, _ := args["topics"].([]any); len(t) > 0 && !slices.Contains(t, any(sub.Topic)) {
			continue
		}
		if u, _ := args["uri"].(string); u != "" && sub.URI != u {
			continue
		}
		subs = append(subs, sub)
	}
	edges, nodes := []any{}, []any{}
	end := min(start+first, len(subs))
	var startCursor, endCursor any
	for i := start; i < end; i++ {
		c := base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(i)))
		if startCursor == nil {
			startCursor = c
		}
		endCursor = c
		n := subscriptionNode(subs[i])
		edges = append(edges, map[string]any{"cursor": c, "node": n})
		nodes = append(nodes, n)
	}
	return map[string]any{
		"edges": edges, "nodes": nodes,
		"pageInfo": map[string]any{
			"hasNextPage": end < len(subs), "hasPreviousPage": start > 0,
			"startCursor": startCursor, "endCursor": endCursor,
		},
	}, nil
}

func (s *Server) webhookSubscriptionCreate(shop string, st *shopState, args map[string]any) (any, error) {
	topic, _ := args["topic"].(string)
	if !slices.Contains(subscribableTopics, topic) {
		return nil, fmt.Errorf("Variable $topic of type WebhookSubscriptionTopic! was provided invalid value %q", topic)
	}
	in, ok := args["webhookSubscription"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Variable $webhookSubscription of type WebhookSubscriptionInput! was provided invalid value")
	}
	fail := func(msg string) (any, error) {
		return map[string]any{"webhookSubscription": nil, "userErrors": []userError{{Field: []string{"webhookSubscription", "callbackUrl"}, Message: msg}}}, nil
	}
	uri, _ := in["uri"].(string)
	if uri == "" {
		uri, _ = in["callbackUrl"].(string) // deprecated alias
	}
	if uri == "" {
		return fail("Address can't be blank")
	}
	if u, err := url.Parse(uri); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fail("Address is invalid")
	}
	for k := range in {
		if !slices.Contains([]string{"uri", "callbackUrl", "format", "includeFields", "metafieldNamespaces", "filter"}, k) {
			return nil, fmt.Errorf("Variable $webhookSubscription of type WebhookSubscriptionInput! was provided invalid value for %s (Field is not defined on WebhookSubscriptionInput)", k)
		}
	}
	var namespaces []string
	if ns, ok := in["metafieldNamespaces"].([]any); ok {
		for _, n := range ns {
			if s, ok := n.(string); ok {
				namespaces = append(namespaces, s)
			}
		}
	}
	format, _ := in["format"].(string)
	if format == "" {
		format = "JSON"
	}
	if format != "JSON" && format != "XML" {
		return nil, fmt.Errorf("Variable $webhookSubscription of type WebhookSubscriptionInput! was provided invalid value for format")
	}
	for _, sub := range st.subs {
		if sub.Topic == topic && sub.URI == uri {
			return fail("Address for this topic has already been taken")
		}
	}
	sub := Subscription{
		ID:   fmt.Sprintf("gid://shopify/WebhookSubscription/%d", s.id()),
		Shop: shop, Topic: topic, URI: uri, Format: format, CreatedAt: s.now(), MetafieldNamespaces: namespaces,
	}
	st.subs = append(st.subs, sub)
	return map[string]any{"webhookSubscription": subscriptionNode(sub), "userErrors": []userError{}}, nil
}

// --- discounts

func (s *Server) discountCodeBasicCreate(shop string, st *shopState, args map[string]any) (any, error) {
	in, ok := args["basicCodeDiscount"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Variable $basicCodeDiscount of type DiscountCodeBasicInput! was provided invalid value")
	}
	var ues []userError
	bad := func(code, msg string, field ...string) {
		ues = append(ues, userError{Field: append([]string{"basicCodeDiscount"}, field...), Code: code, Message: msg})
	}
	d := Discount{Shop: shop, Input: in}
	d.Title, _ = in["title"].(string)
	d.Code, _ = in["code"].(string)
	if strings.TrimSpace(d.Title) == "" {
		bad("BLANK", "Title can't be blank", "title")
	}
	if strings.TrimSpace(d.Code) == "" {
		bad("BLANK", "Code can't be blank", "code")
	} else if len(d.Code) > 255 {
		bad("TOO_LONG", "Code is too long (maximum is 255 characters)", "code")
	} else {
		for _, other := range st.discounts {
			if strings.EqualFold(other.Code, d.Code) {
				bad("TAKEN", "Code must be unique. Please try a different code.", "code")
			}
		}
	}
	d.StartsAt = s.now()
	if v, ok := in["startsAt"].(string); ok {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, fmt.Errorf("Variable $basicCodeDiscount of type DiscountCodeBasicInput! was provided invalid value for startsAt (invalid DateTime %q)", v)
		}
		d.StartsAt = t
	}
	if v, ok := in["endsAt"].(string); ok {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, fmt.Errorf("Variable $basicCodeDiscount of type DiscountCodeBasicInput! was provided invalid value for endsAt (invalid DateTime %q)", v)
		}
		if !t.After(d.StartsAt) {
			bad("INVALID", "Ends at needs to be after starts_at", "endsAt")
		}
		d.EndsAt = &t
	}
	// Buyers: context (current) or customerSelection (deprecated).
	ctx, hasCtx := in["context"].(map[string]any)
	if !hasCtx {
		ctx, hasCtx = in["customerSelection"].(map[string]any)
	}
	if !hasCtx {
		bad("BLANK", "Context can't be blank", "context")
	} else {
		d.AllCustomers = ctx["all"] == "ALL" || ctx["all"] == true
		if c, ok := ctx["customers"].(map[string]any); ok {
			adds, _ := c["add"].([]any)
			for _, a := range adds {
				gid, _ := a.(string)
				if typ, _, err := splitGID(gid); err != nil || typ != "Customer" {
					bad("INVALID", fmt.Sprintf("Customer %q is invalid", gid), "context", "customers", "add")
					continue
				}
				d.CustomerGIDs = append(d.CustomerGIDs, gid)
			}
		}
		if !d.AllCustomers && len(d.CustomerGIDs) == 0 {
			bad("BLANK", "Context must select all buyers, customers or segments", "context")
		}
	}
	gets, _ := in["customerGets"].(map[string]any)
	value, _ := gets["value"].(map[string]any)
	items, _ := gets["items"].(map[string]any)
	if value == nil || items == nil {
		bad("BLANK", "Customer gets value and items are required", "customerGets")
	} else {
		pct, hasPct := value["percentage"].(float64)
		amt, hasAmt := value["discountAmount"].(map[string]any)
		switch {
		case hasPct == hasAmt:
			bad("INVALID", "Value must be exactly one of percentage or discountAmount", "customerGets", "value")
		case hasPct:
			if pct <= 0 || pct > 1 {
				bad("VALUE_OUTSIDE_RANGE", "Value must be between 0.0 and 1.0", "customerGets", "value", "percentage")
			}
			d.Percentage = &pct
		default:
			d.Amount = fmt.Sprint(amt["amount"])
			if f, err := strconv.ParseFloat(d.Amount, 64); err != nil || f <= 0 {
				bad("GREATER_THAN", "Value must be greater than 0", "customerGets", "value", "discountAmount", "amount")
			}
			d.AppliesOnEachItem, _ = amt["appliesOnEachItem"].(bool)
		}
		if items["all"] != true && items["products"] == nil && items["collections"] == nil {
			bad("BLANK", "Items must select all items, products or collections", "customerGets", "items")
		}
	}
	if mr, ok := in["minimumRequirement"].(map[string]any); ok {
		if sub, ok := mr["subtotal"].(map[string]any); ok {
			d.MinimumSubtotal = fmt.Sprint(sub["greaterThanOrEqualToSubtotal"])
			if _, err := strconv.ParseFloat(d.MinimumSubtotal, 64); err != nil {
				bad("INVALID", "Minimum subtotal is invalid", "minimumRequirement", "subtotal", "greaterThanOrEqualToSubtotal")
			}
		}
	}
	if v, ok := intArg(in["usageLimit"]); ok {
		if v < 1 {
			bad("GREATER_THAN", "Usage limit must be greater than 0", "usageLimit")
		}
		d.UsageLimit = &v
	}
	d.AppliesOncePerCustomer, _ = in["appliesOncePerCustomer"].(bool)
	if len(ues) > 0 {
		return map[string]any{"codeDiscountNode": nil, "userErrors": ues}, nil
	}
	d.ID = fmt.Sprintf("gid://shopify/DiscountCodeNode/%d", s.id())
	st.discounts = append(st.discounts, d)
	var ends any
	if d.EndsAt != nil {
		ends = d.EndsAt.UTC().Format(time.RFC3339)
	}
	return map[string]any{
		"codeDiscountNode": map[string]any{
			"id": d.ID,
			"codeDiscount": map[string]any{
				"__typename": "DiscountCodeBasic", "title": d.Title, "status": "ACTIVE",
				"startsAt": d.StartsAt.UTC().Format(time.RFC3339), "endsAt": ends,
				"usageLimit": d.UsageLimit, "appliesOncePerCustomer": d.AppliesOncePerCustomer,
				"codes": map[string]any{"nodes": []any{map[string]any{"code": d.Code}}},
			},
		},
		"userErrors": []userError{},
	}, nil
}

// --- tags

func (s *Server) tagsMutation(st *shopState, add bool, args map[string]any) (any, error) {
	gid, _ := args["id"].(string)
	var tags []string
	switch t := args["tags"].(type) {
	case string: // a lone string coerces to a one-element list
		tags = []string{t}
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok {
				tags = append(tags, s)
			}
		}
	}
	var split []string
	for _, t := range tags {
		for _, p := range strings.Split(t, ",") {
			if p = strings.TrimSpace(p); p != "" {
				split = append(split, p)
			}
		}
	}
	if _, _, err := splitGID(gid); err != nil {
		return map[string]any{"node": nil, "userErrors": []userError{{Field: []string{"id"}, Message: "Invalid global id '" + gid + "'"}}}, nil
	}
	if len(split) == 0 {
		return map[string]any{"node": nil, "userErrors": []userError{{Field: []string{"tags"}, Message: "Tags can't be blank"}}}, nil
	}
	cur := st.tags[gid]
	for _, t := range split {
		i := slices.IndexFunc(cur, func(c string) bool { return strings.EqualFold(c, t) })
		switch {
		case add && i < 0:
			cur = append(cur, t)
		case !add && i >= 0:
			cur = slices.Delete(cur, i, i+1)
		}
	}
	st.tags[gid] = cur
	return map[string]any{"node": map[string]any{"id": gid}, "userErrors": []userError{}}, nil
}

func splitGID(gid string) (typ string, id int64, err error) {
	rest, ok := strings.CutPrefix(gid, "gid://shopify/")
	typ, num, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || typ == "" {
		return "", 0, fmt.Errorf("invalid gid")
	}
	id, err = strconv.ParseInt(num, 10, 64)
	if err != nil || id <= 0 {
		return "", 0, fmt.Errorf("invalid gid")
	}
	return typ, id, nil
}

func intArg(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		if x == float64(int(x)) {
			return int(x), true
		}
	case int:
		return x, true
	case int64:
		return int(x), true
	}
	return 0, false
}
