package shopify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/shopify/shopifytest"
)

const ordersBulkQuery = `{ orders { edges { node { id name createdAt updatedAt customer { id } lineItems { edges { node { id title quantity } } } } } } }`

// genOrders writes n orders of the real bulk shape: each order line, then
// its line items as separate lines with __parentId.
func genOrders(n, items int) shopifytest.BulkResult {
	return func(w io.Writer, shop, query string) error {
		for i := 1; i <= n; i++ {
			oid := fmt.Sprintf("gid://shopify/Order/%d", 5000+i)
			if _, err := fmt.Fprintf(w, `{"id":%q,"name":"#%d","createdAt":"2021-01-01T00:00:00Z","updatedAt":"2021-01-02T00:00:00Z","customer":{"id":"gid://shopify/Customer/%d"}}`+"\n", oid, i, 100+i%7); err != nil {
				return err
			}
			for j := 1; j <= items; j++ {
				if _, err := fmt.Fprintf(w, `{"id":"gid://shopify/LineItem/%d","title":"Tea %d","quantity":%d,"__parentId":%q}`+"\n", i*100+j, j, j, oid); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

func TestBulkQueryPollDownloadStream(t *testing.T) {
	t.Parallel()
	fake := shopifytest.NewServer(t, shopifytest.WithBulkResult(genOrders(250, 3)))
	app, admin := adminFor(t, fake)
	ctx := context.Background()
	id, err := admin.RunBulkQuery(ctx, ordersBulkQuery)
	if err != nil {
		t.Fatal(err)
	}
	// One bulk query at a time per shop.
	if _, err := admin.RunBulkQuery(ctx, ordersBulkQuery); err == nil || !strings.Contains(err.Error(), "already in progress") {
		t.Fatalf("second bulk query: %v", err)
	}
	var op shopify.BulkOperation
	for polls := 0; !op.Done(); polls++ {
		if polls > 5 {
			t.Fatalf("never finished: %+v", op)
		}
		if op, err = admin.BulkOperation(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if op.Status != shopify.BulkCompleted || op.URL == "" {
		t.Fatalf("op = %+v", op)
	}
	body, err := app.OpenBulkResult(ctx, op.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	orders, items := 0, 0
	err = shopify.StreamBulk(body, func(o shopify.BulkObject) error {
		orders++
		var ord struct{ Name string }
		if err := json.Unmarshal(o.Line, &ord); err != nil {
			return err
		}
		if len(o.Children) != 3 {
			return fmt.Errorf("order %s has %d items", o.ID, len(o.Children))
		}
		items += len(o.Children)
		return nil
	})
	if err != nil || orders != 250 || items != 750 {
		t.Fatalf("streamed %d orders, %d items: %v", orders, items, err)
	}
}

func TestStreamBulkRefusesOrphanChild(t *testing.T) {
	t.Parallel()
	in := `{"id":"gid://shopify/Order/1"}
{"id":"gid://shopify/LineItem/1","__parentId":"gid://shopify/Order/1"}
{"id":"gid://shopify/Order/2"}
{"id":"gid://shopify/LineItem/2","__parentId":"gid://shopify/Order/1"}
`
	var got []string
	err := shopify.StreamBulk(strings.NewReader(in), func(o shopify.BulkObject) error { got = append(got, o.ID); return nil })
	if err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("err = %v", err)
	}
	if len(got) != 1 || got[0] != "gid://shopify/Order/1" {
		t.Errorf("delivered %v before the error", got)
	}
}
