package shopifytest

import (
	"bytes"
	"encoding/json"
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
	group                   bool
	created, completed      time.Time
	polls                   int
	counted                 bool
	objects, roots, size    int64
}

// MaxConcurrentBulkOps is how many bulk operations an app may run per shop
// at once since API 2026-01 ("Five concurrent operations", Shopify
// developer changelog "Faster bulk operations", December 2025).
const MaxConcurrentBulkOps = 5

// bulkOperationRunQuery starts a bulk query: RUNNING at once, COMPLETED on
// the second read of bulkOperation (a poller sees it run). Up to
// MaxConcurrentBulkOps run per shop and app at a time, as on Shopify
// 2026-01+; the next is refused with LIMIT_REACHED. groupObjects defaults
// to false since 2026-01: the result then lists every root object first
// and the children after them, which a reader that needs grouping sees.
func (s *Server) bulkOperationRunQuery(shop string, args map[string]any) (any, error) {
	q, _ := args["query"].(string)
	group, _ := args["groupObjects"].(bool)
	if strings.TrimSpace(q) == "" {
		return map[string]any{"bulkOperation": nil, "userErrors": []userError{{Field: []string{"query"}, Message: "Query can't be blank", Code: "INVALID"}}}, nil
	}
	if !strings.Contains(q, "{") || strings.Count(q, "{") != strings.Count(q, "}") {
		return map[string]any{"bulkOperation": nil, "userErrors": []userError{{Field: []string{"query"}, Message: "Invalid bulk query: syntax error", Code: "INVALID"}}}, nil
	}
	running := 0
	for _, op := range s.bulkOps {
		if op.shop == shop && (op.status == "CREATED" || op.status == "RUNNING") {
			running++
		}
	}
	if running >= MaxConcurrentBulkOps {
		return map[string]any{"bulkOperation": nil, "userErrors": []userError{{Field: nil,
			Message: "Bulk operations limit reached. Please try again later.", Code: "LIMIT_REACHED"}}}, nil
	}
	op := &bulkOp{id: fmt.Sprintf("gid://shopify/BulkOperation/%d", s.id()), shop: shop, query: q, group: group, status: "RUNNING", created: s.now()}
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

// currentBulkOperation is the app's most recent bulk query on shop (null
// when none), as currentBulkOperation(type: QUERY) answers.
func (s *Server) currentBulkOperation(shop string) any {
	for i := len(s.bulkOps) - 1; i >= 0; i-- {
		if s.bulkOps[i].shop == shop {
			return s.bulkJSON(s.bulkOps[i])
		}
	}
	return nil
}

func (s *Server) bulkJSON(op *bulkOp) map[string]any {
	v := map[string]any{"id": op.id, "status": op.status, "errorCode": nil, "objectCount": "0", "rootObjectCount": "0",
		"fileSize": nil, "url": nil, "partialDataUrl": nil, "createdAt": op.created.UTC().Format(time.RFC3339), "completedAt": nil,
		"type": "QUERY", "query": op.query}
	if op.status == "COMPLETED" {
		s.countBulk(op)
		v["objectCount"], v["rootObjectCount"], v["fileSize"] = fmt.Sprint(op.objects), fmt.Sprint(op.roots), fmt.Sprint(op.size)
		v["url"] = s.URL + "/bulk-results/" + strings.TrimPrefix(op.id, "gid://shopify/BulkOperation/") + ".jsonl"
		v["completedAt"] = op.completed.UTC().Format(time.RFC3339)
	}
	return v
}

// countBulk fills in a finished operation's counts, as Shopify reports
// them: every object, the root objects, the file's bytes.
func (s *Server) countBulk(op *bulkOp) {
	if op.counted || s.bulkResult == nil {
		return
	}
	c := &lineCounter{}
	if s.bulkResult(c, op.shop, op.query) == nil {
		op.objects, op.roots, op.size, op.counted = c.lines, c.lines-c.children, c.size, true
	}
}

type lineCounter struct {
	lines, children, size int64
	line                  []byte
}

func (c *lineCounter) Write(p []byte) (int, error) {
	n := len(p)
	c.size += int64(n)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.line = append(c.line, p...)
			break
		}
		c.line = append(c.line, p[:i+1]...)
		p = p[i+1:]
		c.lines++
		if bytes.Contains(c.line, []byte(`"__parentId"`)) {
			c.children++
		}
		c.line = c.line[:0]
	}
	return n, nil
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
			s.countBulk(op) // here rather than inside a later bulkOperation request: a large file takes a while
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
	if op.group {
		_ = gen(w, op.shop, op.query)
		return
	}
	ug := &ungrouped{w: w}
	if gen(ug, op.shop, op.query) == nil {
		_, _ = w.Write(ug.children.Bytes())
	}
}

// ungrouped writes root lines through and keeps child lines (those with
// "__parentId") for the end of the file: an ungrouped result.
type ungrouped struct {
	w        io.Writer
	partial  []byte
	children bytes.Buffer
}

func (u *ungrouped) Write(p []byte) (int, error) {
	u.partial = append(u.partial, p...)
	for {
		i := bytes.IndexByte(u.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := u.partial[:i+1]
		if bytes.Contains(line, []byte(`"__parentId"`)) {
			u.children.Write(line)
		} else if _, err := u.w.Write(line); err != nil {
			return 0, err
		}
		u.partial = u.partial[i+1:]
	}
}

// FinishWebhook is the bulk_operations/finish body Shopify sends for the
// finished operation id (the shape of testdata/shopify/webhooks/
// bulk_operations__finish.json); ok is false for an unknown or unfinished one.
func (s *Server) FinishWebhook(id string) (body []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range s.bulkOps {
		if op.id == id && op.status != "RUNNING" && op.status != "CREATED" {
			b, _ := json.Marshal(map[string]any{"admin_graphql_api_id": op.id, "completed_at": op.completed.UTC().Format(time.RFC3339),
				"created_at": op.created.UTC().Format(time.RFC3339), "error_code": nil, "status": strings.ToLower(op.status), "type": "query"})
			return b, true
		}
	}
	return nil, false
}

// BulkQueries lists the queries of the bulk operations started for shop,
// with whether each asked for grouped output.
func (s *Server) BulkQueries(shop string) (queries []string, grouped []bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range s.bulkOps {
		if op.shop == shop {
			queries, grouped = append(queries, op.query), append(grouped, op.group)
		}
	}
	return queries, grouped
}
