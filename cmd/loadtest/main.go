// Command loadtest measures signed Shopify webhook ingest: it starts Tsunagu
// in-process on a loopback port against the given PostgreSQL and Redis, then
// sends N distinct signed orders/create webhooks from C concurrent clients
// and reports webhooks/s and latency percentiles. Only loopback is targeted.
//
//	go run ./cmd/loadtest -db postgres://postgres@127.0.0.1:5432/test?sslmode=disable -redis redis://127.0.0.1:6379/14 -n 20000 -c 32
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tsunagu/tsunagu/app"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/shopify"
)

func main() {
	db := flag.String("db", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "database URL (a scratch database: events are written)")
	redis := flag.String("redis", "redis://127.0.0.1:6379/14", "Redis URL (a scratch database number)")
	n := flag.Int("n", 20000, "webhooks to send")
	c := flag.Int("c", 32, "concurrent clients")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole process here")
	fixture := flag.String("fixture", "testdata/shopify/webhooks/orders__create.json", "webhook body")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*db, *redis, *fixture, *n, *c); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(dbURL, redisURL, fixture string, n, conc int) error {
	body, err := os.ReadFile(fixture)
	if err != nil {
		return err
	}
	const secret = "loadtest-secret"
	key, _ := secretbox.ParseKey(secretbox.NewKey())
	cfg := &app.Config{Addr: "127.0.0.1:0", BaseURL: "http://127.0.0.1", DatabaseURL: dbURL, RedisURL: redisURL,
		SecretKey: key, ShopifyAPISecret: secret, LineAPIBase: "http://127.0.0.1:1", TimeScale: 1, Concurrency: 1, LogLevel: "error"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.Handler()}
	go srv.Serve(l)
	defer srv.Close()
	url := "http://" + l.Addr().String() + "/webhooks/shopify"
	sig := base64.StdEncoding.EncodeToString(shopify.SignWebhook(secret, body))
	run := time.Now().UnixNano()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}}
	lat := make([]time.Duration, n)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(shopify.HeaderHmac, sig)
				req.Header.Set(shopify.HeaderTopic, "orders/create")
				req.Header.Set(shopify.HeaderShopDomain, "loadtest.myshopify.com")
				req.Header.Set(shopify.HeaderWebhookID, fmt.Sprintf("lt-%d-%d", run, i))
				t0 := time.Now()
				resp, err := client.Do(req)
				lat[i] = time.Since(t0)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(float64(n-1)*p)] }
	fmt.Printf("database=%s webhooks=%d concurrency=%d failed=%d\n", a.DB.Dialect, n, conc, failed.Load())
	fmt.Printf("throughput=%.0f webhooks/s elapsed=%s\n", float64(n)/elapsed.Seconds(), elapsed.Round(time.Millisecond))
	fmt.Printf("latency p50=%s p90=%s p99=%s max=%s\n", pct(0.50).Round(10*time.Microsecond), pct(0.90).Round(10*time.Microsecond),
		pct(0.99).Round(10*time.Microsecond), lat[n-1].Round(10*time.Microsecond))
	if failed.Load() > 0 {
		return fmt.Errorf("%d webhooks failed", failed.Load())
	}
	return nil
}
