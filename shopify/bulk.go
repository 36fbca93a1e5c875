package shopify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"
)

// Bulk operations (history import). bulkOperationRunQuery starts one query
// per shop that Shopify runs asynchronously; bulkOperation(id) (API 2026-01+)
// or currentBulkOperation reports its status; bulk_operations/finish tells
// when it is done. The result is a JSONL file: one object per line, nested
// connections flattened, each child object on its own line with
// "__parentId" naming its parent's id, after its parent.

// Bulk operation statuses (BulkOperationStatus).
const (
	BulkCreated   = "CREATED"
	BulkRunning   = "RUNNING"
	BulkCompleted = "COMPLETED"
	BulkFailed    = "FAILED"
	BulkCanceled  = "CANCELED"
	BulkCanceling = "CANCELING"
	BulkExpired   = "EXPIRED"
)

// BulkOperation is the state of a bulk operation.
type BulkOperation struct {
	ID             string     `json:"id"`
	Status         string     `json:"status"`
	ErrorCode      string     `json:"errorCode"`
	ObjectCount    string     `json:"objectCount"` // UnsignedInt64, a string
	RootCount      string     `json:"rootObjectCount"`
	FileSize       string     `json:"fileSize"`
	URL            string     `json:"url"`
	PartialDataURL string     `json:"partialDataUrl"`
	CreatedAt      *time.Time `json:"createdAt"`
	CompletedAt    *time.Time `json:"completedAt"`
}

// Done reports whether the operation reached a final status.
func (b BulkOperation) Done() bool {
	switch b.Status {
	case BulkCompleted, BulkFailed, BulkCanceled, BulkExpired:
		return true
	}
	return false
}

const bulkRunMutation = `mutation bulkOperationRunQuery($query: String!, $group: Boolean!) {
  bulkOperationRunQuery(query: $query, groupObjects: $group) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}`

// RunBulkQuery starts a bulk query and returns its id (gid). Since API
// 2026-01 an app runs up to five bulk operations per shop at once; the
// next start is refused (userErrors, LIMIT_REACHED). group asks for each
// child line right after its parent (groupObjects; false by default since
// 2026-01, when children may come anywhere after the roots): StreamBulk
// needs it for a query with nested connections, at the price Shopify warns
// of (a slower operation, likelier to time out).
func (ad *Admin) RunBulkQuery(ctx context.Context, query string, group bool) (string, error) {
	var resp struct {
		Run struct {
			BulkOperation *BulkOperation `json:"bulkOperation"`
			UserErrors    []UserError    `json:"userErrors"`
		} `json:"bulkOperationRunQuery"`
	}
	if err := ad.query(ctx, "start bulk query", bulkRunMutation, map[string]any{"query": query, "group": group}, &resp); err != nil {
		return "", err
	}
	if err := userErrors("bulkOperationRunQuery", resp.Run.UserErrors); err != nil {
		return "", err
	}
	if resp.Run.BulkOperation == nil || resp.Run.BulkOperation.ID == "" {
		return "", errors.New("shopify: bulkOperationRunQuery returned no operation")
	}
	return resp.Run.BulkOperation.ID, nil
}

const bulkOperationQuery = `query bulkOperation($id: ID!) {
  bulkOperation(id: $id) { id status errorCode objectCount rootObjectCount fileSize url partialDataUrl createdAt completedAt }
}`

// BulkOperation reads a bulk operation by id (polling fallback of the
// bulk_operations/finish webhook).
func (ad *Admin) BulkOperation(ctx context.Context, id string) (BulkOperation, error) {
	var resp struct {
		Op *BulkOperation `json:"bulkOperation"`
	}
	if err := ad.query(ctx, "read bulk operation", bulkOperationQuery, map[string]any{"id": id}, &resp); err != nil {
		return BulkOperation{}, err
	}
	if resp.Op == nil {
		return BulkOperation{}, fmt.Errorf("shopify: bulk operation %s not found", id)
	}
	return *resp.Op, nil
}

// OpenBulkResult downloads a finished operation's JSONL (a signed URL, no
// token) and returns the body to stream; the caller closes it.
func (a *App) OpenBulkResult(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("shopify: bulk result url: %w", err)
	}
	hc := *a.cfg.HTTPClient
	hc.Timeout = 0 // a large file streams for as long as the context allows
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("shopify: downloading bulk result: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("shopify: downloading bulk result: HTTP %d", resp.StatusCode)
	}
	return resp.Body, nil
}

// BulkObject is one root object of a bulk result with its children.
type BulkObject struct {
	ID       string            // gid of the object
	Line     json.RawMessage   // the object's own line
	Children []json.RawMessage // lines whose __parentId is ID, in file order
}

// maxBulkLine bounds one JSONL line (a single object; Shopify's are small).
const maxBulkLine = 4 << 20

// bulkHead is what StreamBulk reads of every line.
type bulkHead struct {
	ID       string `json:"id"`
	ParentID string `json:"__parentId"`
}

// readBulkHead reads a line's top-level "id" and "__parentId" as
// encoding/json would into bulkHead, by a scan of the line's top level
// (lexing strings, counting brackets, decoding nothing): the full decode
// of every line comes later (fn), and two decodes of each line were a
// third of the history import's CPU. Lines it does not read with
// certainty (an escape in a key or in those values, a value that is not a
// plain string, anything but one object) go through encoding/json.
func readBulkHead(line []byte) (bulkHead, error) {
	if h, ok := scanBulkHead(line); ok {
		return h, nil
	}
	var h bulkHead
	err := json.Unmarshal(line, &h)
	return h, err
}

func scanBulkHead(line []byte) (h bulkHead, ok bool) {
	i, n := 0, len(line)
	space := func() {
		for i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\n' || line[i] == '\r') {
			i++
		}
	}
	// str reads the string at line[i] (a quote) and reports whether it
	// held a backslash.
	str := func() (s []byte, esc, ok bool) {
		j := i + 1
		for j < n && line[j] != '"' {
			if line[j] == '\\' {
				esc = true
				j++
			} else if line[j] < 0x20 {
				return nil, false, false
			}
			j++
		}
		if j >= n {
			return nil, false, false
		}
		s, i = line[i+1:j], j+1
		return s, esc, true
	}
	space()
	if i >= n || line[i] != '{' {
		return h, false
	}
	i++
	depth := 1
	for depth > 0 {
		space()
		if i >= n {
			return h, false
		}
		switch c := line[i]; {
		case c == '"':
			s, esc, ok := str()
			if !ok {
				return h, false
			}
			if depth > 1 {
				continue
			}
			space()
			if i >= n || line[i] != ':' {
				continue // a value
			}
			// A top-level key; encoding/json matches field names without
			// regard to case.
			id, parent := bytes.EqualFold(s, []byte("id")), bytes.EqualFold(s, []byte("__parentId"))
			if esc {
				return h, false
			}
			i++
			if !id && !parent {
				continue
			}
			space()
			if i >= n || line[i] != '"' {
				return h, false // null, a number, an object: let encoding/json say
			}
			v, esc, ok := str()
			if !ok || esc || !utf8.Valid(v) {
				return h, false
			}
			if id {
				h.ID = string(v)
			} else {
				h.ParentID = string(v)
			}
		case c == '{' || c == '[':
			depth++
			i++
		case c == '}' || c == ']':
			depth--
			i++
		default: // ',', ':', numbers, true, false, null
			i++
		}
	}
	space()
	return h, i == n
}

// StreamBulk reads a bulk JSONL result line by line and calls fn for each
// root object once its children are read (they follow it), never holding
// more than one root object and its children. A child whose parent is not
// the current root object is an error naming the line: the file is not in
// the order Shopify writes it, and guessing would lose data.
func StreamBulk(r io.Reader, fn func(BulkObject) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxBulkLine)
	var cur *BulkObject
	flush := func() error {
		if cur == nil {
			return nil
		}
		o := cur
		cur = nil
		return fn(*o)
	}
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		head, err := readBulkHead(line)
		if err != nil {
			return fmt.Errorf("shopify: bulk result line %d: %w", n, err)
		}
		owned := bytes.Clone(line) // the scanner reuses its buffer
		if head.ParentID == "" {
			if err := flush(); err != nil {
				return err
			}
			cur = &BulkObject{ID: head.ID, Line: owned}
			continue
		}
		if cur == nil || head.ParentID != cur.ID {
			return fmt.Errorf("shopify: bulk result line %d: child of %s does not follow its parent", n, head.ParentID)
		}
		cur.Children = append(cur.Children, owned)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("shopify: reading bulk result: %w", err)
	}
	return flush()
}
