package shopify

import (
	"encoding/json"
	"testing"
)

var bulkHeadLines = []string{
	`{"id":"gid://shopify/Order/1","name":"#1001","customer":{"id":"gid://shopify/Customer/7"}}`,
	`{"id":"gid://shopify/LineItem/2","title":"Tea","__parentId":"gid://shopify/Order/1"}`,
	`{"__parentId":"gid://shopify/Order/1","product":{"id":"gid://shopify/Product/3","__parentId":"x"},"id":"gid://shopify/LineItem/3"}`,
	` { "title" : "id" , "id" : "a" , "tags":["id","__parentId"], "n": -1.5e3, "ok": true, "none": null } `,
	`{"ID":"upper","Id":"mixed"}`,
	`{"id":"first","id":"second"}`,
	`{"id":null}`,
	`{"id":7}`,
	`{"id":"a\"b"}`,
	`{"i\u0064":"escaped key"}`,
	`{"name":"a\\","id":"after a backslash"}`,
	`{"id":"日本茶"}`,
	"{\"id\":\"\xff\"}",
	`{"title":"{[","id":"brackets in a string"}`,
	`{"a":{"b":[{"id":"deep"}]},"__PARENTID":"p"}`,
	`{}`,
	`[]`,
	`"id"`,
	`{"id":"x"`,
	`{"id":"x"}}`,
	`{"id":"x"} {"id":"y"}`,
}

// The fast scan of a bulk line's id and parent agrees with encoding/json
// on every line encoding/json accepts. (A malformed line it reads anyway
// fails fn's full decode of the line.)
func TestReadBulkHeadMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, line := range bulkHeadLines {
		checkBulkHead(t, []byte(line))
	}
}

func FuzzReadBulkHead(f *testing.F) {
	for _, line := range bulkHeadLines {
		f.Add([]byte(line))
	}
	f.Fuzz(checkBulkHead)
}

func checkBulkHead(t *testing.T, line []byte) {
	var want bulkHead
	wantErr := json.Unmarshal(line, &want)
	got, err := readBulkHead(line)
	if wantErr == nil && (err != nil || got != want) {
		t.Fatalf("%q: %+v %v, encoding/json %+v", line, got, err, want)
	}
}
