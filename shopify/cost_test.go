package shopify_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tsunagu/tsunagu/app/testenv"
	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

// Two processes (two Apps, each with its own RedisBudget on one Redis)
// call one shop at once, more than its bucket holds: they wait for the
// refill instead of being throttled, and every call succeeds.
func TestCostBucketSharedAcrossProcesses(t *testing.T) {
	t.Parallel()
	// A bucket of 1,000 points refilled at 1,000/s; shopInfo costs 250
	// (shop 249 + shopLocales 1): 12 calls need 3,000 points.
	fake := shopifytest.NewServer(t, shopifytest.WithCostBucket(1000, 1000), shopifytest.WithQueryCost("shop", 249))
	rdb := testenv.RedisClient(t)
	token := fake.IssueToken(testShop)
	var admins []*shopify.Admin
	for range 2 {
		cfg := fake.App(testRedirect, "read_orders")
		cfg.Budget = shopify.NewRedisBudget(rdb)
		app, err := shopify.NewApp(cfg)
		if err != nil {
			t.Fatal(err)
		}
		admins = append(admins, app.Admin(testShop, token))
	}
	ctx := context.Background()
	// Each process runs the query once first and learns its cost (the
	// first call of an unknown query can only guess it).
	for _, ad := range admins {
		if _, err := ad.ShopInfo(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 12 {
		wg.Add(1)
		go func(ad *shopify.Admin) {
			defer wg.Done()
			_, err := ad.ShopInfo(ctx)
			errs <- err
		}(admins[i%2])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := fake.Throttled(); n != 0 {
		t.Errorf("%d calls were throttled by Shopify; the shared bucket should have held them back", n)
	}
}

// The fake enforces the bucket: a query costing more than is left is
// THROTTLED with Shopify's extensions.cost, and the client, reading the
// restore rate from it, waits and succeeds.
func TestThrottledWaitsForRestoreRate(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t, shopifytest.WithCostBucket(300, 1000), shopifytest.WithQueryCost("shop", 199))
	token := fake.IssueToken(testShop)
	// A client that believes the bucket is full (no budget shared with the
	// first one) gets throttled once, then waits by the restore rate.
	first, second := newApp(t, fake).Admin(testShop, token), newApp(t, fake).Admin(testShop, token)
	ctx := context.Background()
	if _, err := first.ShopInfo(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := second.ShopInfo(ctx); err != nil {
		t.Fatalf("second client: %v", err)
	}
	if n := fake.Throttled(); n != 1 {
		t.Errorf("throttled %d times, want 1 (the second client's first try)", n)
	}
	var ops int
	for _, r := range fake.Requests() {
		if r.Operation == "shop,shopLocales" {
			ops++
		}
	}
	if ops != 3 {
		t.Errorf("%d shop queries, want 3 (one, then one throttled and its retry)", ops)
	}
}
