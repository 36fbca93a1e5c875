package shopify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"
)

// TokenSource hands an Admin client the shop's current access token and
// renews it when Shopify refuses it. app/core implements it on top of the
// stored, encrypted token pair.
type TokenSource interface {
	// AccessToken returns a usable access token, refreshed first when it is
	// about to expire.
	AccessToken(ctx context.Context) (string, error)
	// Renew is called once when Shopify answered 401 to rejected; it returns
	// a newer token (refreshing unless another process already did).
	Renew(ctx context.Context, rejected string) (string, error)
}

// staticToken is a TokenSource of one token that cannot be renewed.
type staticToken string

func (t staticToken) AccessToken(context.Context) (string, error) { return string(t), nil }
func (t staticToken) Renew(context.Context, string) (string, error) {
	return "", errors.New("shopify: access token refused and no way to renew it")
}

// Admin calls one shop's GraphQL Admin API with its offline token.
type Admin struct {
	app    *App
	shop   string
	tokens TokenSource
	err    error // set when the shop domain is invalid; every call returns it
	tries  int
}

// Admin returns an Admin API client for shop with a fixed access token.
func (a *App) Admin(shop, accessToken string) *Admin {
	return a.AdminWith(shop, staticToken(accessToken))
}

// AdminWith returns an Admin API client for shop that takes its token from
// ts before every call and renews it once on a 401.
func (a *App) AdminWith(shop string, ts TokenSource) *Admin {
	ad := &Admin{app: a, shop: shop, tokens: ts, tries: a.maxTries}
	if !ValidShopDomain(shop) {
		ad.err = fmt.Errorf("admin client: %w: %q", ErrBadShop, shop)
	}
	return ad
}

// Shop is the shop domain this client talks to.
func (ad *Admin) Shop() string { return ad.shop }

// UserError is one entry of a mutation's userErrors.
type UserError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
	Code    string   `json:"code,omitempty"`
}

// UserErrors is returned when Shopify accepted the request but refused the
// mutation (validation), e.g. a discount code that already exists.
type UserErrors struct {
	Op     string
	Errors []UserError
}

func (e *UserErrors) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, u := range e.Errors {
		msgs[i] = u.Message
		if len(u.Field) > 0 {
			msgs[i] = strings.Join(u.Field, ".") + ": " + u.Message
		}
	}
	return "shopify: " + e.Op + ": " + strings.Join(msgs, "; ")
}

// HasCode reports whether any user error carries code (e.g. "TAKEN").
func (e *UserErrors) HasCode(code string) bool {
	return slices.ContainsFunc(e.Errors, func(u UserError) bool { return u.Code == code })
}

func userErrors(op string, errs []UserError) error {
	if len(errs) == 0 {
		return nil
	}
	return &UserErrors{Op: op, Errors: errs}
}

// query runs one GraphQL operation under the one policy every Admin call
// follows: the token comes from the TokenSource (refreshed before expiry);
// before each attempt the shop's cost bucket (CostBudget) must hold the
// query's expected cost, or the call waits for it to refill; every answer's
// extensions.cost updates the bucket; a 401 renews the token once and
// retries; a THROTTLED answer (a 200 whose error go-shopify turns into a
// RateLimitError) waits for the bucket to refill at its restore rate and
// retries; HTTP 429/5xx are retried by the transport, honouring Retry-After.
func (ad *Admin) query(ctx context.Context, op, q string, vars, resp any) error {
	if ad.err != nil {
		return ad.err
	}
	wrap := func(err error) error { return fmt.Errorf("shopify: %s on %s: %w", op, ad.shop, err) }
	token, err := ad.tokens.AccessToken(ctx)
	if err != nil {
		return wrap(err)
	}
	budget := ad.app.cfg.Budget
	renewed := false
	for attempt := 1; ; attempt++ {
		learned, err := ad.app.hints.learn(ctx, q)
		if err != nil {
			return wrap(err)
		}
		taken, err := reserve(ctx, budget, ad.shop, func() float64 { return ad.app.hints.get(q) })
		if err != nil {
			learned()
			return wrap(err)
		}
		client, err := ad.app.client(ad.shop, token)
		if err != nil {
			learned()
			budget.Observe(ctx, ad.shop, ThrottleStatus{}, taken)
			return wrap(err)
		}
		err = client.GraphQL.Query(ctx, q, vars, resp)
		observed := false
		if c := client.RateLimits.GraphQLCost; c == nil {
			budget.Observe(ctx, ad.shop, ThrottleStatus{}, taken) // it never reached GraphQL
		} else {
			ts := c.ThrottleStatus
			refund := taken // throttled: the query did not run
			if c.ActualQueryCost != nil {
				refund = taken - float64(*c.ActualQueryCost)
			}
			budget.Observe(ctx, ad.shop, ThrottleStatus{MaximumAvailable: ts.MaximumAvailable, CurrentlyAvailable: ts.CurrentlyAvailable, RestoreRate: ts.RestoreRate}, refund)
			ad.app.hints.set(q, float64(c.RequestedQueryCost))
			observed = ts.RestoreRate > 0
		}
		learned()
		if err == nil {
			return nil
		}
		var re goshopify.ResponseError
		if errors.As(err, &re) && (re.Status == http.StatusUnauthorized || IsNonExpiringRefused(err)) && !renewed {
			renewed = true
			next, rerr := ad.tokens.Renew(ctx, token)
			if rerr != nil {
				return wrap(fmt.Errorf("%w; renewing the token: %w", err, rerr))
			}
			token = next
			continue
		}
		var rl goshopify.RateLimitError
		if !errors.As(err, &rl) || rl.Status != 200 || attempt >= max(ad.tries, throttledTries) {
			return wrap(err)
		}
		if observed {
			continue // the next reserve waits for the refill at the restore rate
		}
		wait := min(time.Duration(rl.RetryAfter)*time.Second, maxRetryWait)
		select {
		case <-ctx.Done():
			return wrap(ctx.Err())
		case <-time.After(wait):
		}
	}
}

// throttledTries bounds the attempts of a query Shopify keeps throttling
// (other processes draining the same bucket faster than it refills).
const throttledTries = 5

// CustomerGID is the GraphQL id of a customer.
func CustomerGID(id int64) string { return "gid://shopify/Customer/" + strconv.FormatInt(id, 10) }

// ParseGID returns the numeric id at the end of a gid://shopify/<Type>/<id>.
func ParseGID(gid string) (typ string, id int64, err error) {
	rest, ok := strings.CutPrefix(gid, "gid://shopify/")
	typ, num, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || typ == "" {
		return "", 0, fmt.Errorf("shopify: malformed gid %q", gid)
	}
	num, _, _ = strings.Cut(num, "?")
	id, err = strconv.ParseInt(num, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("shopify: malformed gid %q", gid)
	}
	return typ, id, nil
}

// WebhookTopicEnum maps "orders/create" to the GraphQL enum ORDERS_CREATE.
func WebhookTopicEnum(topic string) string {
	return strings.ToUpper(strings.NewReplacer("/", "_", ".", "_").Replace(topic))
}

const webhookListQuery = `query webhookSubscriptions($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    edges { node { id topic uri format } }
    pageInfo { hasNextPage endCursor }
  }
}`

const webhookCreateMutation = `mutation webhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}`

// WebhookSubscription is an existing subscription.
type WebhookSubscription struct {
	ID     string `json:"id"`
	Topic  string `json:"topic"` // GraphQL enum, e.g. ORDERS_CREATE
	URI    string `json:"uri"`
	Format string `json:"format"`
}

// WebhookSubscriptions lists the app's subscriptions on this shop.
func (ad *Admin) WebhookSubscriptions(ctx context.Context) ([]WebhookSubscription, error) {
	var out []WebhookSubscription
	var after *string
	for {
		var resp struct {
			WebhookSubscriptions struct {
				Edges []struct {
					Node WebhookSubscription `json:"node"`
				} `json:"edges"`
				PageInfo struct {
					HasNextPage bool   `json:"hasNextPage"`
					EndCursor   string `json:"endCursor"`
				} `json:"pageInfo"`
			} `json:"webhookSubscriptions"`
		}
		vars := map[string]any{"first": 100, "after": after}
		if err := ad.query(ctx, "list webhook subscriptions", webhookListQuery, vars, &resp); err != nil {
			return nil, err
		}
		for _, e := range resp.WebhookSubscriptions.Edges {
			out = append(out, e.Node)
		}
		pi := resp.WebhookSubscriptions.PageInfo
		if !pi.HasNextPage || pi.EndCursor == "" {
			return out, nil
		}
		after = &pi.EndCursor
	}
}

// EnsureWebhooks subscribes callbackURL to every topic that lacks a
// subscription to that exact URL, and returns the topics it created. Running
// it again creates nothing. Compliance topics (customers/redact, ...) are
// skipped: Shopify only accepts them in the app configuration. Subscriptions
// to other URLs are left alone.
func (ad *Admin) EnsureWebhooks(ctx context.Context, callbackURL string, topics []string) (created []string, err error) {
	if callbackURL == "" {
		return nil, errors.New("shopify: ensure webhooks: empty callback url")
	}
	existing, err := ad.WebhookSubscriptions(ctx)
	if err != nil {
		return nil, fmt.Errorf("shopify: ensure webhooks: %w", err)
	}
	have := make(map[[2]string]bool, len(existing))
	for _, s := range existing {
		have[[2]string{s.Topic, s.URI}] = true
	}
	for _, topic := range topics {
		if slices.Contains(ComplianceTopics, topic) {
			continue
		}
		enum := WebhookTopicEnum(topic)
		if have[[2]string{enum, callbackURL}] {
			continue
		}
		var resp struct {
			WebhookSubscriptionCreate struct {
				WebhookSubscription *WebhookSubscription `json:"webhookSubscription"`
				UserErrors          []UserError          `json:"userErrors"`
			} `json:"webhookSubscriptionCreate"`
		}
		in := map[string]any{"uri": callbackURL, "format": "JSON"}
		if ns := WebhookMetafieldNamespaces(topic); len(ns) > 0 {
			in["metafieldNamespaces"] = ns
		}
		vars := map[string]any{"topic": enum, "webhookSubscription": in}
		op := "create webhook subscription " + topic
		if err := ad.query(ctx, op, webhookCreateMutation, vars, &resp); err != nil {
			return created, err
		}
		if ues := resp.WebhookSubscriptionCreate.UserErrors; len(ues) > 0 {
			// Created meanwhile (a concurrent install, or a retried request
			// that had gone through): the goal is met.
			if slices.ContainsFunc(ues, func(u UserError) bool { return strings.Contains(u.Message, "already been taken") }) {
				have[[2]string{enum, callbackURL}] = true
				continue
			}
			return created, userErrors(op, ues)
		}
		have[[2]string{enum, callbackURL}] = true
		created = append(created, topic)
	}
	return created, nil
}

// ShopInfo is the shop's basic settings.
type ShopInfo struct {
	Name            string
	Email           string
	Currency        string // ISO 4217, e.g. JPY
	IANATimezone    string // e.g. Asia/Tokyo
	PrimaryLocale   string // e.g. ja
	MyshopifyDomain string
}

const shopInfoQuery = `query shopInfo {
  shop { name email currencyCode ianaTimezone myshopifyDomain }
  shopLocales { locale primary }
}`

// ShopInfo reads the shop's name, email, currency, time zone and locale.
func (ad *Admin) ShopInfo(ctx context.Context) (ShopInfo, error) {
	var resp struct {
		Shop struct {
			Name            string `json:"name"`
			Email           string `json:"email"`
			CurrencyCode    string `json:"currencyCode"`
			IANATimezone    string `json:"ianaTimezone"`
			MyshopifyDomain string `json:"myshopifyDomain"`
		} `json:"shop"`
		ShopLocales []struct {
			Locale  string `json:"locale"`
			Primary bool   `json:"primary"`
		} `json:"shopLocales"`
	}
	if err := ad.query(ctx, "read shop info", shopInfoQuery, nil, &resp); err != nil {
		return ShopInfo{}, err
	}
	info := ShopInfo{
		Name:            resp.Shop.Name,
		Email:           resp.Shop.Email,
		Currency:        resp.Shop.CurrencyCode,
		IANATimezone:    resp.Shop.IANATimezone,
		MyshopifyDomain: resp.Shop.MyshopifyDomain,
	}
	for _, l := range resp.ShopLocales {
		if l.Primary {
			info.PrimaryLocale = l.Locale
		}
	}
	return info, nil
}

const tagsAddMutation = `mutation tagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}`

const tagsRemoveMutation = `mutation tagsRemove($id: ID!, $tags: [String!]!) {
  tagsRemove(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}`

// AddCustomerTags adds tags to a customer (existing tags are kept).
func (ad *Admin) AddCustomerTags(ctx context.Context, customerID int64, tags ...string) error {
	return ad.tags(ctx, "tagsAdd", tagsAddMutation, customerID, tags)
}

// RemoveCustomerTags removes tags from a customer.
func (ad *Admin) RemoveCustomerTags(ctx context.Context, customerID int64, tags ...string) error {
	return ad.tags(ctx, "tagsRemove", tagsRemoveMutation, customerID, tags)
}

func (ad *Admin) tags(ctx context.Context, field, mutation string, customerID int64, tags []string) error {
	op := fmt.Sprintf("%s on customer %d", field, customerID)
	clean := make([]string, 0, len(tags))
	for _, t := range tags {
		if t = strings.TrimSpace(t); t != "" {
			clean = append(clean, t)
		}
	}
	if len(clean) == 0 {
		return fmt.Errorf("shopify: %s: no tags", op)
	}
	var resp map[string]struct {
		Node       *struct{ ID string } `json:"node"`
		UserErrors []UserError          `json:"userErrors"`
	}
	vars := map[string]any{"id": CustomerGID(customerID), "tags": clean}
	if err := ad.query(ctx, op, mutation, vars, &resp); err != nil {
		return err
	}
	return userErrors(op, resp[field].UserErrors)
}
