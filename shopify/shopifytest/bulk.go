package shopifytest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// BulkResult writes the JSONL of a bulk query for shop: one object per
// line, children as their own lines with "__parentId", after their parent,
// as Shopify writes it. query is the bulk query the app sent.
type BulkResult func(w io.Writer, shop, query string) error

// WithBulkResult sets what finished bulk queries return.
func WithBulkResult(r BulkResult) Option { return func(s *Server) { s.bulkResult = r } }

type bulkOp struct {
	id, shop, query, status string
	created, completed      time.Time
	polls                   int
}

// bulkOperationRunQuery starts a bulk query: RUNNING at once, COMPLETED on
// the second read of bulkOperation (a poller sees it run). One bulk query
// may run per shop and app at a time, as on Shopify.
func (s *Server) bulkOperationRunQuery(shop string, args map[string]any) (any, error) {
	q, _ := args["query"].(string)
	if strings.TrimSpace(q) == "" {
		return map[string]any{"bulkOperation": nil, "userErrors": []userError{{Field: []string{"query"}, Message: "Query can't be blank", Code: "INVALID"}}}, nil
	}
	if !strings.Contains(q, "{") || strings.Count(q, "{") != strings.Count(q, "}") {
		return map[string]any{"bulkOperation": nil, "userErrors": []userError{{Field: []string{"query"}, Message: "Invalid bulk query: syntax error", Code: "INVALID"}}}, nil
	}
	for _, op := range s.bulkOps {
		if op.shop == shop && (op.status == "CREATED" || op.status == "RUNNING") {
			return map[string]any{"bulkOperation": nil, "userErrors": []userError{{Field: nil,
				Message: "A bulk query operation for this app and shop is already in progress: " + op.id + ".", Code: "OPERATION_IN_PROGRESS"}}}, nil
		}
	}
	op := &bulkOp{id: fmt.Sprintf("gid://shopify/BulkOperation/%d", s.id()), shop: shop, query: q, status: "RUNNING", created: s.now()}
	s.bulkOps = append(s.bulkOps, op)
	return map[string]any{"bulkOperation": map[string]any{"id": op.id, "status": "CREATED"}, "userErrors": []userError{}}, nil
}

func (s *Server) bulkOperationNode(shop string, args map[string]any) (any, error) {
	id, _ := args["id"].(string)
	for _, op := range s.bulkOps {
		if op.id == id && op.shop == shop {
			op.polls++
			if op.status == "RUNNING" && op.polls >= 2 {
				op.status, op.completed = "COMPLETED", s.now()
			}
			return s.bulkJSON(op), nil
		}
	}
	return nil, nil
}

func (s *Server) bulkJSON(op *bulkOp) map[string]any {
	v := map[string]any{"id": op.id, "status": op.status, "errorCode": nil, "objectCount": "0", "rootObjectCount": "0",
		"fileSize": nil, "url": nil, "partialDataUrl": nil, "createdAt": op.created.UTC().Format(time.RFC3339), "completedAt": nil,
		"type": "QUERY", "query": op.query}
	if op.status == "COMPLETED" {
		v["url"] = s.URL + "/bulk-results/" + strings.TrimPrefix(op.id, "gid://shopify/BulkOperation/") + ".jsonl"
		v["completedAt"] = op.completed.UTC().Format(time.RFC3339)
	}
	return v
}

// CompleteBulkOperations marks every running bulk query done (as when the
// bulk_operations/finish webhook would be sent) and returns their ids.
func (s *Server) CompleteBulkOperations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, op := range s.bulkOps {
		if op.status == "RUNNING" {
			op.status, op.completed = "COMPLETED", s.now()
			ids = append(ids, op.id)
		}
	}
	return ids
}

// bulkDownload serves a finished operation's JSONL (a signed storage URL
// on Shopify: no access token).
func (s *Server) bulkDownload(w http.ResponseWriter, path string) {
	id := "gid://shopify/BulkOperation/" + strings.TrimSuffix(strings.TrimPrefix(path, "/bulk-results/"), ".jsonl")
	s.mu.Lock()
	var op *bulkOp
	for _, o := range s.bulkOps {
		if o.id == id && o.status == "COMPLETED" {
			op = o
		}
	}
	gen := s.bulkResult
	s.mu.Unlock()
	if op == nil || gen == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/jsonl")
	w.WriteHeader(http.StatusOK)
	_ = gen(w, op.shop, op.query)
}
