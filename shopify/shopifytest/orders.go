package shopifytest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tsunagu/tsunagu/shopify"
)

// Order is an order the fake's shop holds, for the Admin API's orders query.
type Order struct {
	ID          int64
	Name        string
	CustomerID  int64
	CreatedAt   time.Time
	CancelledAt *time.Time
}

// AddOrder gives shop an order that the orders query can find.
func (s *Server) AddOrder(shop string, o Order) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state(shop)
	st.orders = append(st.orders, o)
}

// orders answers the orders query: it needs read_orders, first (1 to 250)
// and understands the search terms customer_id:<id> and
// created_at:>=<ISO 8601> (also >, <, <=), joined by spaces or AND; any
// other term is refused so the client's query stays one Shopify accepts.
func (s *Server) ordersField(scopes string, st *shopState, args map[string]any) (any, error) {
	if missing, ok := hasScopes(scopes, "read_orders"); !ok {
		return nil, accessDenied{"orders", missing}
	}
	first, ok := intArg(args["first"])
	if !ok || first < 1 || first > 250 {
		return nil, fmt.Errorf("orders: argument first must be between 1 and 250")
	}
	q, _ := args["query"].(string)
	match, err := orderFilter(q)
	if err != nil {
		return nil, err
	}
	var found []Order
	for _, o := range st.orders {
		if match(o) {
			found = append(found, o)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].CreatedAt.Before(found[j].CreatedAt) })
	if rev, _ := args["reverse"].(bool); rev {
		for i, j := 0, len(found)-1; i < j; i, j = i+1, j-1 {
			found[i], found[j] = found[j], found[i]
		}
	}
	more := len(found) > first
	if more {
		found = found[:first]
	}
	nodes := make([]any, 0, len(found))
	for _, o := range found {
		n := map[string]any{
			"id": "gid://shopify/Order/" + strconv.FormatInt(o.ID, 10), "name": o.Name,
			"createdAt": o.CreatedAt.UTC().Format(time.RFC3339), "cancelledAt": nil,
			"customer": map[string]any{"id": shopify.CustomerGID(o.CustomerID)},
		}
		if o.CancelledAt != nil {
			n["cancelledAt"] = o.CancelledAt.UTC().Format(time.RFC3339)
		}
		nodes = append(nodes, n)
	}
	return map[string]any{"nodes": nodes, "pageInfo": map[string]any{"hasNextPage": more}}, nil
}

func orderFilter(q string) (func(Order) bool, error) {
	var tests []func(Order) bool
	for _, term := range strings.Fields(q) {
		if term == "AND" {
			continue
		}
		key, val, ok := strings.Cut(term, ":")
		if !ok {
			return nil, fmt.Errorf("orders: unsupported search term %q", term)
		}
		switch key {
		case "customer_id":
			id, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("orders: customer_id must be a number, got %q", val)
			}
			tests = append(tests, func(o Order) bool { return o.CustomerID == id })
		case "created_at":
			op := ""
			for _, p := range []string{">=", "<=", ">", "<"} {
				if strings.HasPrefix(val, p) {
					op, val = p, strings.TrimPrefix(val, p)
					break
				}
			}
			at, err := time.Parse(time.RFC3339, strings.Trim(val, `'"`))
			if err != nil || op == "" {
				return nil, fmt.Errorf("orders: created_at needs a comparison and an ISO 8601 time, got %q", term)
			}
			tests = append(tests, func(o Order) bool {
				switch op {
				case ">=":
					return !o.CreatedAt.Before(at)
				case ">":
					return o.CreatedAt.After(at)
				case "<=":
					return !o.CreatedAt.After(at)
				default:
					return o.CreatedAt.Before(at)
				}
			})
		default:
			return nil, fmt.Errorf("orders: unsupported search term %q", term)
		}
	}
	return func(o Order) bool {
		for _, t := range tests {
			if !t(o) {
				return false
			}
		}
		return true
	}, nil
}
