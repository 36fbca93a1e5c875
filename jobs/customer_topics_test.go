package jobs

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/shopify"
)

// fixtureWith is a published Shopify example body (testdata/shopify/webhooks)
// with some top-level fields replaced.
func fixtureWith(t *testing.T, file string, set map[string]any) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(testenv.Fixture(t, "shopify/webhooks/"+file), &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func (e *env) segment(node string) []int64 {
	e.t.Helper()
	var n segment.Node
	if err := json.Unmarshal([]byte(node), &n); err != nil {
		e.t.Fatal(err)
	}
	ids, err := e.w.DB.SegmentCustomerIDs(e.ctx, e.shop, n, e.now, 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

func (e *env) reload(shopifyID int64) *store.Customer {
	e.t.Helper()
	c, err := e.w.DB.CustomerByShopifyID(e.ctx, e.shop.ID, shopifyID)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// process stores and processes one delivery and returns the event's status.
func (e *env) process(topic, body string) string {
	e.t.Helper()
	e.seq++
	ev := &store.Event{Source: "shopify", Topic: topic, ExternalID: fmt.Sprintf("%s-%d", e.t.Name(), e.seq), ShopDomain: e.shop.Domain, Payload: []byte(body), ReceivedAt: e.now}
	if _, err := e.w.DB.InsertEvent(e.ctx, ev); err != nil {
		e.t.Fatal(err)
	}
	if err := e.w.ProcessEvent(e.ctx, ev.ID); err != nil {
		e.t.Fatal(err)
	}
	got, _ := e.w.DB.Event(e.ctx, ev.ID)
	return got.Status
}

// customer.tags_added / customer.tags_removed (2025-01+, bodies of Shopify's
// published examples) change the tag segment; the latest change per tag
// wins whatever order the deliveries come in, and a redelivery is a no-op.
func TestCustomerTagTopicsMoveSegmentMembership(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e := newEnvOn(t, db)
		gid := shopify.CustomerGID(e.cust.ShopifyID)
		at := func(min int) string { return t0.Add(time.Duration(min) * time.Minute).Format(time.RFC3339Nano) }
		tags := func(file string, min int, tags ...string) string {
			return fixtureWith(t, file, map[string]any{"customerId": gid, "tags": tags, "occurredAt": at(min)})
		}
		vip := `{"field":"tag","op":"in","value":["vip"]}`
		if got := e.segment(vip); len(got) != 0 {
			t.Fatalf("VIP before any tag: %v", got)
		}
		if s := e.process(shopify.TopicCustomerTagsAdded, tags("customer.tags_added.json", 1, "VIP", "wholesale")); s != store.EventProcessed {
			t.Fatalf("tags_added: %s", s)
		}
		if got := e.segment(vip); !slices.Equal(got, []int64{e.cust.ID}) {
			t.Fatalf("VIP after tags_added = %v, want [%d]", got, e.cust.ID)
		}
		if c := e.reload(e.cust.ShopifyID); c.Tags != "VIP, wholesale" {
			t.Errorf("tags = %q", c.Tags)
		}
		// A customers/update of the pinned version carries no tags: they stay.
		e.mustEvent(shopify.TopicCustomersUpdate, fixtureWith(t, "customers__update.json", map[string]any{"id": e.cust.ShopifyID, "updated_at": at(2)}))
		if c := e.reload(e.cust.ShopifyID); c.Tags != "VIP, wholesale" || c.Email != "bob@biller.com" {
			t.Errorf("after customers/update: tags %q email %q", c.Tags, c.Email)
		}
		if s := e.process(shopify.TopicCustomerTagsRemoved, tags("customer.tags_removed.json", 5, "vip")); s != store.EventProcessed {
			t.Fatalf("tags_removed: %s", s)
		}
		if got := e.segment(vip); len(got) != 0 {
			t.Fatalf("VIP after tags_removed = %v", got)
		}
		// Late and repeated deliveries: the add at minute 1 again (a
		// redelivery), an add at minute 3 (older than the removal).
		for _, body := range []string{tags("customer.tags_added.json", 1, "VIP", "wholesale"), tags("customer.tags_added.json", 3, "VIP")} {
			if s := e.process(shopify.TopicCustomerTagsAdded, body); s != store.EventIgnored {
				t.Errorf("stale tags_added: %s, want ignored", s)
			}
		}
		if got := e.segment(vip); len(got) != 0 {
			t.Fatalf("VIP after stale adds = %v", got)
		}
		if got := e.segment(`{"field":"tag","op":"in","value":["WHOLESALE"]}`); !slices.Equal(got, []int64{e.cust.ID}) {
			t.Fatalf("wholesale = %v", got)
		}
		// A newer add brings it back.
		e.process(shopify.TopicCustomerTagsAdded, tags("customer.tags_added.json", 9, "Vip"))
		if c := e.reload(e.cust.ShopifyID); c.Tags != "Vip, wholesale" {
			t.Errorf("tags after re-add = %q", c.Tags)
		}
		// A tag event for a customer not seen yet creates the row.
		e.process(shopify.TopicCustomerTagsAdded, fixtureWith(t, "customer.tags_added.json", map[string]any{"customerId": shopify.CustomerGID(8888), "occurredAt": at(1)}))
		if c := e.reload(8888); c.Tags != "tag1, tag2" {
			t.Errorf("new customer's tags = %q", c.Tags)
		}
		// Malformed id: invalid, not retried.
		if s := e.process(shopify.TopicCustomerTagsAdded, `{"customerId":"gid://shopify/Order/1","tags":["x"]}`); s != store.EventInvalid {
			t.Errorf("order gid: %s, want invalid", s)
		}
	})
}

// The consent topics set accepts_marketing (email) and SMS consent with
// their time; an older update never overwrites a newer one.
func TestConsentTopicsSetMarketingWithTime(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e := newEnvOn(t, db)
		id := e.cust.ShopifyID
		email := func(state string, min int) string {
			return fixtureWith(t, "customers_email_marketing_consent__update.json", map[string]any{"customer_id": id,
				"email_marketing_consent": map[string]any{"state": state, "opt_in_level": "single_opt_in",
					"consent_updated_at": t0.Add(time.Duration(min) * time.Minute).Format(time.RFC3339)}})
		}
		ok := `{"field":"accepts_marketing","op":"=","value":true}`
		if got := e.segment(ok); len(got) != 0 {
			t.Fatalf("accepts marketing before consent: %v", got)
		}
		e.process(shopify.TopicEmailConsentUpdate, email("subscribed", 10))
		if got := e.segment(ok); !slices.Equal(got, []int64{e.cust.ID}) {
			t.Fatalf("after subscribed: %v", got)
		}
		c := e.reload(id)
		if !c.AcceptsMarketing || c.EmailConsentState != "subscribed" || c.EmailConsentAt == nil || !c.EmailConsentAt.Equal(t0.Add(10*time.Minute)) {
			t.Errorf("consent = %v %q %v", c.AcceptsMarketing, c.EmailConsentState, c.EmailConsentAt)
		}
		// An older unsubscribe arrives late: ignored.
		if s := e.process(shopify.TopicEmailConsentUpdate, email("unsubscribed", 5)); s != store.EventIgnored {
			t.Errorf("older consent: %s, want ignored", s)
		}
		// Neither customers/update nor an order erases it.
		e.mustEvent(shopify.TopicCustomersUpdate, fixtureWith(t, "customers__update.json", map[string]any{"id": id, "updated_at": t0.Add(20 * time.Minute).Format(time.RFC3339)}))
		e.mustEvent(shopify.TopicOrdersCreate, orderJSON(7301, id, ""))
		if got := e.segment(ok); !slices.Equal(got, []int64{e.cust.ID}) {
			t.Fatalf("after older unsubscribe, update and order: %v", got)
		}
		e.process(shopify.TopicEmailConsentUpdate, email("unsubscribed", 30))
		if got := e.segment(ok); len(got) != 0 {
			t.Fatalf("after newer unsubscribe: %v", got)
		}
		// SMS consent: Shopify's example has a null state and no time.
		e.process(shopify.TopicSMSConsentUpdate, fixtureWith(t, "customers_marketing_consent__update.json", map[string]any{"id": id,
			"sms_marketing_consent": map[string]any{"state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": t0.Format(time.RFC3339), "consent_collected_from": "other"}}))
		if c := e.reload(id); !c.SMSMarketing || c.SMSConsentState != "subscribed" || c.AcceptsMarketing {
			t.Errorf("sms consent = %v %q (email %v)", c.SMSMarketing, c.SMSConsentState, c.AcceptsMarketing)
		}
		if s := e.process(shopify.TopicSMSConsentUpdate, testenvFixture(t, "customers_marketing_consent__update.json")); s != store.EventProcessed {
			t.Errorf("published SMS example: %s", s)
		}
	})
}

func testenvFixture(t *testing.T, file string) string {
	return string(testenv.Fixture(t, "shopify/webhooks/"+file))
}

// Order and checkout webhooks carry an embedded customer that is partial
// and can be older than the profile: it fills empty fields only and never
// erases tags, consent, locale, phone or region (missing is not empty).
func TestOrderAndCheckoutKeepCustomerProfile(t *testing.T) {
	t.Parallel()
	testenv.EachDB(t, func(t *testing.T, db *store.DB) {
		e := newEnvOn(t, db)
		var order map[string]any
		if err := json.Unmarshal(testenv.Fixture(t, "shopify/webhooks/orders__create.json"), &order); err != nil {
			t.Fatal(err)
		}
		oc := order["customer"].(map[string]any)
		id := int64(oc["id"].(float64))
		// The profile as customers/create, the tag and consent topics left it.
		e.mustEvent(shopify.TopicCustomersCreate, fixtureWith(t, "customers__create.json", map[string]any{"id": id,
			"phone": "+81312345678", "locale": "en", "email": "keep@example.com", "updated_at": t0.Format(time.RFC3339)}))
		e.process(shopify.TopicCustomerTagsAdded, fixtureWith(t, "customer.tags_added.json", map[string]any{"customerId": shopify.CustomerGID(id), "tags": []string{"VIP"}, "occurredAt": t0.Format(time.RFC3339)}))
		e.process(shopify.TopicEmailConsentUpdate, fixtureWith(t, "customers_email_marketing_consent__update.json", map[string]any{"customer_id": id,
			"email_marketing_consent": map[string]any{"state": "subscribed", "consent_updated_at": t0.Format(time.RFC3339)}}))
		before := e.reload(id)
		if before.Phone != "+81312345678" || before.Locale != "en" || before.Region != "ON" || before.Tags != "VIP" || !before.AcceptsMarketing {
			t.Fatalf("profile not set up: %+v", before)
		}
		// Shopify's published orders/create, whose customer has other
		// values, no locale, no tags (2025-01+) and a consent object.
		oc["phone"] = "+1 555 0000"
		oc["email"] = "stale@example.com"
		order["customer"] = oc
		body, _ := json.Marshal(order)
		e.mustEvent(shopify.TopicOrdersCreate, string(body))
		e.mustEvent(shopify.TopicCheckoutsUpdate, fixtureWith(t, "checkouts__update.json", map[string]any{"customer": map[string]any{"id": id, "phone": nil, "tags": "", "email": ""}}))
		after := e.reload(id)
		if after.Phone != before.Phone || after.Locale != before.Locale || after.Region != before.Region || after.Country != before.Country ||
			after.Tags != before.Tags || after.AcceptsMarketing != before.AcceptsMarketing || after.Email != before.Email {
			t.Errorf("order/checkout changed the profile:\nbefore %+v\nafter  %+v", before, after)
		}
		// A customer first seen on an order gets what the order knows.
		e.mustEvent(shopify.TopicOrdersCreate, orderJSON(7302, 9902, ""))
		if c := e.reload(9902); c.FirstName != "Hanako" || c.LastName != "Yamada" {
			t.Errorf("new customer from order = %+v", c)
		}
	})
}
