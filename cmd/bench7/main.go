// Command bench7 measures segments and campaigns (issue 7). It is a tool,
// not a test: it needs a seeded PostgreSQL and a Redis.
//
//	bench7 segments -db postgres://.../tsunagu_bench7      (after seed.sql)
//	bench7 campaign -db postgres://... -redis 127.0.0.1:6397 -recipients 100000 -rate 200
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	_ "net/http/pprof"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/templates"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench7 segments|campaign [flags]")
		os.Exit(2)
	}
	ctx := context.Background()
	var err error
	switch os.Args[1] {
	case "segments":
		err = benchSegments(ctx, os.Args[2:])
	case "campaign":
		err = benchCampaign(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench7:", err)
		os.Exit(1)
	}
}

var segmentCases = []struct{ name, def string }{
	{"orders_count >= 5", `{"field":"orders_count","op":">=","value":5}`},
	{"builtin vip", `{"builtin":"vip"}`},
	{"builtin dormant", `{"builtin":"dormant"}`},
	{"builtin birthday_this_month", `{"builtin":"birthday_this_month"}`},
	{"tag vip AND region Tokyo", `{"and":[{"field":"tag","value":"vip"},{"field":"region","value":"Tokyo"}]}`},
	{"bought vendor 'Vendor 9' AND linked", `{"and":[{"field":"vendor","value":"Vendor 9"},{"field":"linked","value":true}]}`},
	{"bought product 1042 OR aov >= 9000", `{"or":[{"field":"product_id","value":1042},{"field":"aov","op":">=","value":9000}]}`},
	{"linked friend, marketing ok, NOT blocked, last order <= 60d", `{"and":[{"field":"friend","value":true},{"field":"accepts_marketing","value":true},{"not":{"field":"blocked","value":true}},{"field":"days_since_last_order","op":"<=","value":60}]}`},
}

func benchSegments(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("segments", flag.ExitOnError)
	dbURL := fs.String("db", "postgres://postgres@127.0.0.1:5432/tsunagu_bench7?sslmode=disable", "seeded database")
	runs := fs.Int("runs", 3, "runs per query (the slowest is reported too)")
	_ = fs.Parse(args)
	db, err := store.Open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	shop, err := db.ShopByDomain(ctx, "bench.myshopify.com")
	if err != nil {
		return fmt.Errorf("seed first (cmd/bench7/seed.sql): %w", err)
	}
	var customers, orders int64
	db.G.Raw("SELECT COUNT(*) FROM customers").Scan(&customers)
	db.G.Raw("SELECT COUNT(*) FROM orders").Scan(&orders)
	fmt.Printf("customers=%d orders=%d\n\n", customers, orders)
	fmt.Println("| segment | matches | count (median / max) | first page of 100 ids | sample of 20 |")
	fmt.Println("|---|---|---|---|---|")
	now := time.Now().UTC()
	for _, c := range segmentCases {
		n, err := segment.Parse([]byte(c.def))
		if err != nil {
			return err
		}
		var count int64
		var tc, tl, ts []time.Duration
		for i := 0; i < *runs; i++ {
			t0 := time.Now()
			if count, err = db.CountSegment(ctx, shop, n, now); err != nil {
				return err
			}
			t1 := time.Now()
			if _, err = db.SegmentCustomerIDs(ctx, shop, n, now, 0, 100); err != nil {
				return err
			}
			t2 := time.Now()
			if _, err = db.SampleSegment(ctx, shop, n, now, -1, 20); err != nil {
				return err
			}
			tc, tl, ts = append(tc, t1.Sub(t0)), append(tl, t2.Sub(t1)), append(ts, time.Since(t2))
		}
		fmt.Printf("| %s | %d | %s / %s | %s | %s |\n", c.name, count, med(tc), maxd(tc), med(tl), med(ts))
	}
	return nil
}

func med(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(time.Millisecond).String()
}

func maxd(ds []time.Duration) string {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m.Round(time.Millisecond).String()
}

// fakeLINE is a minimal multicast endpoint: LINE's rate limit as a token
// bucket answering 429, retry-key replay as 409, and a per-user delivery count.
type fakeLINE struct {
	lim       *rate.Limiter
	mu        sync.Mutex
	keys      map[string]bool
	delivered map[string]int
	times     []time.Time
	n429      atomic.Int64
	n409      atomic.Int64
	// onFirst, when set, runs once before the first multicast is taken.
	onFirst func()
	first   sync.Once
}

func (f *fakeLINE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v2/bot/message/quota": // no monthly limit (LINE's shape for an unlimited plan)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"type":"none"}`)
		return
	case "/v2/bot/message/quota/consumption":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"totalUsage":0}`)
		return
	case "/v2/bot/message/multicast":
	default:
		http.NotFound(w, r)
		return
	}
	if !f.lim.Allow() {
		f.n429.Add(1)
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"message":"The API rate limit has been exceeded. Try again later."}`)
		return
	}
	if f.onFirst != nil {
		f.first.Do(f.onFirst)
	}
	var req struct {
		To []string `json:"to"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.To) == 0 || len(req.To) > 500 {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	key := r.Header.Get("X-Line-Retry-Key")
	f.mu.Lock()
	defer f.mu.Unlock()
	if key != "" && f.keys[key] {
		f.n409.Add(1)
		w.Header().Set("X-Line-Accepted-Request-Id", "prev")
		w.WriteHeader(http.StatusConflict)
		return
	}
	f.keys[key] = true
	for _, u := range req.To {
		f.delivered[u]++
	}
	f.times = append(f.times, time.Now())
	w.Header().Set("X-Line-Request-Id", fmt.Sprint(len(f.times)))
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

//go:embed campaign_seed.sql
var campaignSeed string

//go:embed campaign_history.sql
var campaignHistory string

func benchCampaign(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("campaign", flag.ExitOnError)
	dbURL := fs.String("db", "postgres://postgres@127.0.0.1:5432/tsunagu_bench7c?sslmode=disable", "database (the bench shop's rows are recreated unless -reuse)")
	redisAddr := fs.String("redis", "127.0.0.1:6397", "Redis address (a server of the benchmark's own: the test suite takes numbered databases of the shared one)")
	redisDB := fs.Int("redis-db", 9, "Redis database (flushed)")
	recipients := fs.Int("recipients", 100000, "linked customers in the segment")
	perSec := fs.Float64("rate", 200, "configured multicast requests per second (client limiter and fake LINE's limit)")
	conc := fs.Int("concurrency", 16, "Asynq worker concurrency (and the floor's goroutines)")
	history := fs.Int("history-messages", 0, "when seeding: this many past sent messages for the shop's customers (campaign_history.sql)")
	past := fs.Int("past-campaigns", 0, "when seeding: this many past campaigns to every linked customer (campaign_history.sql)")
	reuse := fs.Bool("reuse", false, "keep the bench shop when it already has -recipients customers (its past campaigns stay: history)")
	seedOnly := fs.Bool("seed-only", false, "seed (as -reuse decides) and stop")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address during the run (e.g. 127.0.0.1:6065)")
	_ = fs.Parse(args)
	if *pprofAddr != "" {
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }()
	}

	db, err := store.Open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx, nil); err != nil {
		return err
	}
	var have int64
	db.G.Raw("SELECT COUNT(*) FROM customers WHERE shop_id = (SELECT id FROM shops WHERE domain = 'bench-campaign.myshopify.com')").Scan(&have)
	if !*reuse || have != int64(*recipients) {
		t0 := time.Now()
		seed := campaignSeed
		if *history > 0 || *past > 0 {
			seed += campaignHistory
		}
		seed = strings.NewReplacer("{{messages}}", fmt.Sprint(*history), "{{past}}", fmt.Sprint(*past)).Replace(seed)
		for _, stmt := range splitSQL(seed) {
			var args []any
			if strings.Contains(stmt, "?") {
				args = append(args, *recipients)
			}
			if err := db.G.Exec(stmt, args...).Error; err != nil {
				return fmt.Errorf("seeding: %w\n%s", err, stmt)
			}
		}
		fmt.Printf("seeded %d linked customers, %d past messages, %d past campaigns in %s\n", *recipients, *history, *past, time.Since(t0).Round(time.Millisecond))
	}
	if *seedOnly {
		return nil
	}
	var hist struct{ Messages, Campaigns, Recipients int64 }
	db.G.Raw("SELECT (SELECT COUNT(*) FROM messages) AS messages, (SELECT COUNT(*) FROM campaigns) AS campaigns, (SELECT COUNT(*) FROM campaign_recipients) AS recipients").Scan(&hist)
	fmt.Printf("database before the run: %d messages, %d campaigns, %d campaign recipients\n", hist.Messages, hist.Campaigns, hist.Recipients)
	shop, err := db.ShopByDomain(ctx, "bench-campaign.myshopify.com")
	if err != nil {
		return err
	}
	// Quiet hours off for the run: the benchmark measures sending, not waiting for 09:00.
	shop.Settings.QuietStart, shop.Settings.QuietEnd = "00:00", "00:00"
	shop.Settings.DailyCap = 100
	if err := db.SaveShopSettings(ctx, shop.ID, shop.Settings); err != nil {
		return err
	}
	// A fixed key: a reused shop's sealed channel token stays readable.
	key := []byte("bench7-campaign-key-not-secret!!") // 32 bytes
	box, err := secretbox.New(key)
	if err != nil {
		return err
	}
	if err := db.G.Exec("DELETE FROM line_channels WHERE shop_id = ?", shop.ID).Error; err != nil {
		return err
	}
	if err := db.SaveLineChannel(ctx, &store.LineChannel{ShopID: shop.ID, WebhookKey: "bench", MessagingTokenEnc: box.Seal("bench-token")}); err != nil {
		return err
	}

	redisOpt := asynq.RedisClientOpt{Addr: *redisAddr, DB: *redisDB}
	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr, DB: *redisDB})
	defer rdb.Close()
	meter := newCPUMeter(ctx, db, rdb)
	var sendStart atomic.Pointer[cpuSnap]
	fake := &fakeLINE{lim: rate.NewLimiter(rate.Limit(*perSec), max(1, int(*perSec))), keys: map[string]bool{}, delivered: map[string]int{},
		onFirst: func() { s := meter.snap(ctx); sendStart.Store(&s) }}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	// The app's limiter (shared through Redis) at the fake's limit.
	msgr := line.NewMessenger(srv.URL, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		line.WithLimiter(line.NewLimiterWith(rdb, map[line.Endpoint]line.RateLimit{line.EndpointMulticast: {N: *perSec, Period: time.Second}}, 0)))
	insp := asynq.NewInspector(redisOpt)
	for _, q := range []string{jobs.QueueEvents, jobs.QueueMessages} {
		_ = insp.DeleteQueue(q, true)
	}
	client := asynq.NewClient(redisOpt)
	defer client.Close()
	tpl, err := templates.New()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w := &jobs.Worker{DB: db, Box: box, Signer: secretbox.NewSigner(key), LINE: msgr, Templates: tpl, Queue: jobs.NewQueue(client), Log: log, BaseURL: "http://localhost:8080",
		UnitsSeen: &core.UnitsSeen{}} // as App.Worker
	cfg := jobs.ServerConfig(*conc, log)
	cfg.TaskCheckInterval = 10 * time.Millisecond
	server := asynq.NewServer(redisOpt, cfg)
	if err := server.Start(w.Mux()); err != nil {
		return err
	}
	defer server.Shutdown()

	var peakHeap, peakSys atomic.Uint64
	stopMem := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peakHeap.Store(max(peakHeap.Load(), ms.HeapAlloc))
			peakSys.Store(max(peakSys.Load(), ms.Sys))
			select {
			case <-stopMem:
				return
			case <-tk.C:
			}
		}
	}()

	now := time.Now().UTC()
	def, _ := json.Marshal(map[string]any{"field": "linked", "value": true})
	camp := &store.Campaign{ShopID: shop.ID, Name: "bench", Definition: def, Status: store.CampaignScheduled, ScheduledAt: &now,
		Variants: []store.CampaignVariant{{Name: "A", Weight: 1, Messages: []json.RawMessage{json.RawMessage(`{"type":"text","text":"ベンチマーク {{link}}"}`)}, Link: "https://example.com"}}}
	if err := db.CreateCampaign(ctx, camp); err != nil {
		return err
	}
	start := time.Now()
	if err := w.Queue.EnqueueCampaign(ctx, camp.ID, now); err != nil {
		return err
	}
	var c *store.Campaign
	for {
		time.Sleep(100 * time.Millisecond)
		if c, err = db.Campaign(ctx, 0, camp.ID); err != nil {
			return err
		}
		if c.Status == store.CampaignDone || c.Status == store.CampaignCancelled {
			break
		}
		if time.Since(start) > 20*time.Minute {
			return errors.New("campaign did not finish in 20 minutes")
		}
	}
	total := time.Since(start)
	var sendCPU cpuUse
	if s0 := sendStart.Load(); s0 != nil {
		sendCPU = meter.snap(ctx).since(*s0)
	}
	close(stopMem)
	counts, err := db.CampaignCounts(ctx, camp.ID)
	if err != nil {
		return err
	}
	fake.mu.Lock()
	times := append([]time.Time(nil), fake.times...)
	dups, users := 0, len(fake.delivered)
	for _, n := range fake.delivered {
		if n > 1 {
			dups++
		}
	}
	fake.mu.Unlock()
	if len(times) < 2 {
		return fmt.Errorf("FAILED: %d multicasts; recipients by status: %v", len(times), counts)
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	sendWindow := times[len(times)-1].Sub(times[0])
	achieved := float64(len(times)-1) / sendWindow.Seconds()
	fmt.Printf("campaign %d: status=%s batches=%d total=%s (materialize+send)\n", c.ID, c.Status, c.Batches, total.Round(time.Millisecond))
	fmt.Printf("recipients by status: %v\n", counts)
	fmt.Printf("multicasts accepted=%d  users delivered=%d  duplicates=%d  429s=%d  409 replays=%d\n",
		len(times), users, dups, fake.n429.Load(), fake.n409.Load())
	fmt.Printf("send window %s (first to last multicast): %.1f req/s = %.1f%% of the configured %.0f req/s\n",
		sendWindow.Round(time.Millisecond), achieved, 100*achieved/(*perSec), *perSec)
	fmt.Printf("peak Go heap %.1f MiB, peak Go sys %.1f MiB, process maxrss %.1f MiB (worker + fake LINE in one process)\n",
		float64(peakHeap.Load())/(1<<20), float64(peakSys.Load())/(1<<20), float64(ru.Maxrss)/1024)
	if dups > 0 || fake.n429.Load() > 0 || users != *recipients {
		return fmt.Errorf("FAILED: duplicates=%d 429s=%d delivered=%d want %d", dups, fake.n429.Load(), users, *recipients)
	}
	floor, floorCPU, floorN, err := campaignFloor(ctx, db, meter, *dbURL, rdb, *perSec, camp.ID, *conc)
	if err != nil {
		return err
	}
	fmt.Printf("floor (same run, after the campaign: per batch one SELECT of its recipients by (campaign, batch), one multicast through the same Redis limiter to a fresh fake, one UPDATE of them to sent by id; %d goroutines, pgx, no gorm/Asynq): %.1f req/s = %.1f%% of the limit\n",
		*conc, floor, 100*floor/(*perSec))
	fmt.Printf("campaign / floor = %.3f\n", achieved/floor)
	fmt.Printf("CPU per multicast, campaign from its first multicast to done: %s\n", sendCPU.perBatch(len(times)))
	fmt.Printf("CPU per multicast, floor: %s\n", floorCPU.perBatch(floorN))
	return nil
}

// campaignFloor is the irreducible part of a campaign's send phase, done by
// a bare program: for each batch of the campaign just sent (copied as a new
// campaign's queued recipients, so the table, its indexes and its history
// are the same), read the batch's LINE user ids, multicast them through the
// same shared Redis limiter to a fresh fake LINE, and mark the rows sent by
// id. It returns the achieved rate, first to last multicast.
func campaignFloor(ctx context.Context, db *store.DB, meter *cpuMeter, dbURL string, rdb *redis.Client, perSec float64, campaignID int64, conc int) (float64, cpuUse, int, error) {
	var floorID int64
	if err := db.G.Raw(`INSERT INTO campaigns (shop_id, name, definition, variants, status, started_at, batches, created_at, updated_at)
SELECT shop_id, 'floor', definition, variants, 'done', now(), batches, now(), now() FROM campaigns WHERE id = ? RETURNING id`, campaignID).Scan(&floorID).Error; err != nil {
		return 0, cpuUse{}, 0, fmt.Errorf("floor campaign: %w", err)
	}
	if err := db.G.Exec(`INSERT INTO campaign_recipients (campaign_id, shop_id, customer_id, variant, batch, status, reason, line_user_id, line_request_id, updated_at)
SELECT ?, shop_id, customer_id, variant, batch, 'queued', '', line_user_id, '', now() FROM campaign_recipients WHERE campaign_id = ? AND status = 'sent'`, floorID, campaignID).Error; err != nil {
		return 0, cpuUse{}, 0, fmt.Errorf("floor recipients: %w", err)
	}
	var batches int
	db.G.Raw("SELECT COALESCE(MAX(batch) + 1, 0) FROM campaign_recipients WHERE campaign_id = ?", floorID).Scan(&batches)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return 0, cpuUse{}, 0, err
	}
	defer pool.Close()
	fake := &fakeLINE{lim: rate.NewLimiter(rate.Limit(perSec), max(1, int(perSec))), keys: map[string]bool{}, delivered: map[string]int{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	msgr := line.NewMessenger(srv.URL, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		line.WithLimiter(line.NewLimiterWith(rdb, map[line.Endpoint]line.RateLimit{line.EndpointMulticast: {N: perSec, Period: time.Second}}, 0)))
	msgs := []line.Message{line.Message(`{"type":"text","text":"ベンチマーク http://localhost:8080/cc/x"}`)}
	token := fmt.Sprintf("floor-%d", time.Now().UnixNano())
	cpu0 := meter.snap(ctx)
	next := make(chan int)
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				if err := floorBatch(ctx, pool, msgr, token, msgs, floorID, b); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for b := range batches {
		next <- b
	}
	close(next)
	wg.Wait()
	cpu := meter.snap(ctx).since(cpu0)
	close(errs)
	if err := <-errs; err != nil {
		return 0, cpuUse{}, 0, fmt.Errorf("floor: %w", err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.times) < 2 {
		return 0, cpuUse{}, 0, errors.New("floor: fewer than two multicasts")
	}
	return float64(len(fake.times)-1) / fake.times[len(fake.times)-1].Sub(fake.times[0]).Seconds(), cpu, len(fake.times), nil
}

func floorBatch(ctx context.Context, pool *pgxpool.Pool, msgr *line.Messenger, token string, msgs []line.Message, campaignID int64, batch int) error {
	rows, err := pool.Query(ctx, "SELECT id, line_user_id FROM campaign_recipients WHERE campaign_id = $1 AND batch = $2 AND status = 'queued'", campaignID, batch)
	if err != nil {
		return err
	}
	var ids []int64
	var to []string
	for rows.Next() {
		var id int64
		var u string
		if err := rows.Scan(&id, &u); err != nil {
			return err
		}
		ids, to = append(ids, id), append(to, u)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	res, err := msgr.Multicast(ctx, token, to, msgs, line.RetryKey(fmt.Sprintf("%s/%d", token, batch)))
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	_, err = pool.Exec(ctx, "UPDATE campaign_recipients SET status = 'sent', sent_at = $1, updated_at = $1, line_request_id = $2 WHERE id = ANY ($3)", now, res.RequestID, ids)
	return err
}

func splitSQL(s string) []string {
	var out []string
	cur := ""
	for _, line := range splitLines(s) {
		if len(line) >= 2 && line[:2] == "--" || line == "" {
			continue
		}
		cur += line + "\n"
		if line[len(line)-1] == ';' {
			out = append(out, cur)
			cur = ""
		}
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
