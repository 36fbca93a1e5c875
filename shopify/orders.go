package shopify

import (
	"context"
	"fmt"
	"time"
)

// OrderRef is an order as the orders query lists it.
type OrderRef struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	CreatedAt   time.Time  `json:"createdAt"`
	CancelledAt *time.Time `json:"cancelledAt"`
}

const customerOrdersQuery = `query customerOrders($first: Int!, $query: String!) {
  orders(first: $first, query: $query, sortKey: CREATED_AT, reverse: true) {
    nodes { id name createdAt cancelledAt }
    pageInfo { hasNextPage }
  }
}`

// CustomerOrdersSince lists up to 10 orders of the customer created at or
// after since, newest first (read_orders; Shopify lists the last 60 days
// without read_all_orders, enough for a cart-reminder check).
func (ad *Admin) CustomerOrdersSince(ctx context.Context, customerID int64, since time.Time) ([]OrderRef, error) {
	var resp struct {
		Orders struct {
			Nodes []OrderRef `json:"nodes"`
		} `json:"orders"`
	}
	q := fmt.Sprintf("customer_id:%d created_at:>=%s", customerID, since.UTC().Format(time.RFC3339))
	if err := ad.query(ctx, "orders", customerOrdersQuery, map[string]any{"first": 10, "query": q}, &resp); err != nil {
		return nil, err
	}
	return resp.Orders.Nodes, nil
}
