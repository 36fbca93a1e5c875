package shopify_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/tsunagu/tsunagu/shopify"
)

// benchOrders is the bulk JSONL of n orders with 3 line items each,
// generated into a pipe (never a whole file in memory).
func benchOrders(n int) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		_ = genOrders(n, 3)(w, "bench.myshopify.com", ordersBulkQuery)
		_ = w.Flush()
		_ = pw.Close()
	}()
	return pr
}

type benchOrder struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
	Customer  *struct {
		ID string `json:"id"`
	} `json:"customer"`
}

type benchItem struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Quantity int    `json:"quantity"`
}

// BenchmarkStreamBulk: StreamBulk joining children to orders and decoding
// every order and line item, 200k orders per run.
func BenchmarkStreamBulk(b *testing.B) {
	const n = 200_000
	for b.Loop() {
		r := benchOrders(n)
		orders := 0
		err := shopify.StreamBulk(r, func(o shopify.BulkObject) error {
			var ord benchOrder
			if err := json.Unmarshal(o.Line, &ord); err != nil {
				return err
			}
			for _, c := range o.Children {
				var it benchItem
				if err := json.Unmarshal(c, &it); err != nil {
					return err
				}
			}
			orders++
			return nil
		})
		r.Close()
		if err != nil || orders != n {
			b.Fatalf("%d orders: %v", orders, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkStreamBulkFloor: the irreducible work on the same input, read
// line by line and decode each line once, no joining.
func BenchmarkStreamBulkFloor(b *testing.B) {
	const n = 200_000
	for b.Loop() {
		r := benchOrders(n)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		lines := 0
		for sc.Scan() {
			var v benchItem
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				b.Fatal(err)
			}
			lines++
		}
		r.Close()
		if lines != 4*n {
			b.Fatal(fmt.Sprint(lines))
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}
