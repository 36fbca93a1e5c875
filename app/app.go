package app

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/door"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/jobs"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/templates"
)

// App is a running Tsunagu: its stores, queue and HTTP handlers.
type App struct {
	Config     *Config
	DB         *store.DB
	Box        *secretbox.Box
	Queue      *jobs.Queue
	Redis      asynq.RedisConnOpt
	Log        *slog.Logger
	Templates  *templates.Renderer
	Messenger  *line.Messenger
	Dispatcher *jobs.Dispatcher
	// Forwarder forwards verified LINE webhooks to the merchant's other
	// tools, off the request path.
	Forwarder *jobs.Forwarder
	// forwardClient posts forwarded webhooks (SSRF-guarded in production).
	forwardClient *http.Client
	// Signer signs link tokens, admin sessions and tracked links.
	Signer *secretbox.Signer
	// Shopify is the Shopify app (OAuth, session tokens, Admin API); nil
	// when no API key/secret is configured (embedded dev mode).
	Shopify *shopify.App
	// Tokens keeps shops' expiring offline tokens fresh (app/core).
	Tokens *core.Tokens
	// Now is the clock for handlers and workers; tests replace it.
	Now        func() time.Time
	HTTPClient *http.Client
	// LineLogin is the LINE Login client (ID linking).
	LineLogin *line.Login
	// Limiter paces every Messaging API call per channel and endpoint across
	// processes (LINE's limits, capped at Config.LineRate); the Messenger
	// waits on it.
	Limiter *line.Limiter
	// Breaker holds sends on a LINE channel that keeps failing.
	Breaker *core.Breaker
	// Metrics is the app's Prometheus registry (served at /metrics).
	Metrics *Metrics
	// Storefront answers the shopper-facing extensions; Pixel ingests the
	// web pixel's events.
	Storefront  *core.Storefront
	Pixel       *core.Pixel
	pixelLimits *pixelLimiter
	// jobsMonitor is asynqmon for operators (nil without an ops token).
	jobsMonitor echo.HandlerFunc
	// rdb is the Redis shared by every process: sign-in limits and click
	// counting live there (rate counts through redis_rate).
	rdb    redis.UniversalClient
	rate   *redis_rate.Limiter
	signin *signinGuard
	// installationID salts LINE retry keys (migration 0020).
	installationID string
	// unitsSeen is the workers' memory of recorded aggregation units.
	unitsSeen *core.UnitsSeen
	// adminTmpl are the admin page templates (see AdminPage).
	adminTmpl map[string]*template.Template
	dashCache dashCache
	// reconcileEvery is the reconciler's interval (0: its default, 30 s);
	// tests shorten it.
	reconcileEvery time.Duration
	// bodies lends the Shopify webhook door its body buffers.
	bodies door.Bodies
	// requestTimeout is each request's deadline (0: RequestDeadline); tests
	// shorten it.
	requestTimeout time.Duration

	// sandbox is the demo's LINE and Shopify sandbox, served under
	// /sandbox/ (nil unless TSUNAGU_SANDBOX is on; never in production).
	sandbox http.Handler

	echo     *echo.Echo
	closers  []func()
	closeOne sync.Once
}

// New opens the database (migrating it) and Redis from cfg and assembles
// the app. Close releases everything.
func New(ctx context.Context, cfg *Config, log *slog.Logger) (*App, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, log); err != nil {
		db.Close()
		return nil, err
	}
	redisOpt, stop, err := redisConn(cfg.RedisURL, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	a, err := Assemble(cfg, log, db, redisOpt)
	if err != nil {
		stop()
		db.Close()
		return nil, err
	}
	a.closers = append([]func(){func() { db.Close() }, stop}, a.closers...)
	return a, nil
}

// Assemble builds the app around an open, migrated database and a Redis
// connection; it does not take ownership of either.
func Assemble(cfg *Config, log *slog.Logger, db *store.DB, redisOpt asynq.RedisConnOpt) (*App, error) {
	a := &App{Config: cfg, Log: log, DB: db, Redis: redisOpt, Now: func() time.Time { return time.Now().UTC() },
		HTTPClient: &http.Client{Timeout: 15 * time.Second}}
	var err error
	if a.Box, err = secretbox.New(cfg.SecretKey); err != nil {
		return nil, err
	}
	a.Signer = secretbox.NewSigner(cfg.SecretKey)
	if cfg.Sandbox && !cfg.Production {
		// Before the Shopify and LINE clients: they take their origins from cfg.
		cfg.useSandbox()
		a.sandbox = a.newSandbox()
	}
	if a.installationID, err = db.InstallationID(context.Background()); err != nil {
		return nil, err
	}
	// One Redis client for the limits every serve and worker process
	// shares: LINE's per channel and endpoint, Shopify's GraphQL cost
	// bucket per shop.
	rdb, ok := redisOpt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("connecting the shared rate limiters: unexpected Redis client %T", redisOpt.MakeRedisClient())
	}
	a.closers = append(a.closers, func() { _ = rdb.Close() })
	if cfg.ShopifyAPIKey != "" && cfg.ShopifyAPISecret != "" {
		a.Shopify, err = shopify.NewApp(shopify.AppConfig{
			Budget: shopify.NewRedisBudget(rdb),
			APIKey: cfg.ShopifyAPIKey, APISecret: cfg.ShopifyAPISecret, Scopes: cfg.ShopifyScopes,
			RedirectURL: strings.TrimSuffix(cfg.BaseURL, "/") + "/shopify/callback", AdminBase: cfg.ShopifyAdminBase,
			HTTPClient: a.HTTPClient, Now: func() time.Time { return a.Now() },
		})
		if err != nil {
			return nil, err
		}
		a.Tokens = &core.Tokens{DB: db, Box: a.Box, Shopify: a.Shopify, Log: log, Now: func() time.Time { return a.Now() }}
	}
	if a.Templates, err = templates.New(); err != nil {
		return nil, err
	}
	a.Queue = jobs.NewQueue(asynq.NewClient(redisOpt))
	a.closers = append(a.closers, func() { a.Queue.Close() })
	a.Dispatcher = jobs.NewDispatcher(a.Queue, log, 4, 10000)
	// Closers run in reverse: the dispatcher drains before the queue closes.
	a.closers = append(a.closers, a.Dispatcher.Close)
	a.Forwarder = jobs.NewForwarder(db, a.Queue, log, 2, 10000)
	a.closers = append(a.closers, a.Forwarder.Close)
	a.forwardClient = core.NewForwardClient(cfg.Production)
	a.Limiter = line.NewLimiter(rdb, cfg.LineRate)
	a.rdb, a.rate = rdb, redis_rate.NewLimiter(rdb)
	a.signin = newSigninGuard(runtime.GOMAXPROCS(0))
	// Metrics first: the Messenger copies the HTTP client, so the LINE
	// instrumentation must be on it before (push, multicast, rich menus).
	a.Metrics = newMetrics(a)
	a.instrumentLINE()
	a.Messenger = line.NewMessenger(cfg.LineAPIBase, a.HTTPClient, line.WithDataAPIBase(cfg.LineDataAPIBase), line.WithLimiter(a.Limiter))
	a.LineLogin = line.NewLogin(a.HTTPClient)
	a.Breaker = core.NewBreaker()
	a.unitsSeen = &core.UnitsSeen{}
	seen := &core.SeenRecorder{DB: db}
	now := func() time.Time { return a.Now() }
	a.Storefront = &core.Storefront{DB: db, LinkURL: a.LinkURL, Seen: seen, Now: now}
	a.Pixel = &core.Pixel{DB: db, Secret: cfg.SecretKey, Seen: seen, Now: now}
	a.pixelLimits = newPixelLimiter(pixelShopRate, pixelShopBurst, pixelClientRate, pixelClientBurst)
	// The templates are embedded: a parse error is a build defect.
	if a.adminTmpl, err = loadAdminTemplates(); err != nil {
		return nil, err
	}
	a.jobsMonitor = a.newJobsMonitor()
	a.echo = a.routes()
	// Client addresses (per-client limits): the peer, or the first address
	// a proxy on a loopback or private network saw in X-Forwarded-For. A
	// client on the internet cannot choose its own address this way.
	a.echo.IPExtractor = echo.ExtractIPFromXFFHeader()
	return a, nil
}

// Close releases the app's resources in reverse order of acquisition.
func (a *App) Close() {
	a.closeOne.Do(func() {
		for i := len(a.closers) - 1; i >= 0; i-- {
			a.closers[i]()
		}
	})
}

// Handler is the HTTP handler (for tests and embedding).
func (a *App) Handler() http.Handler { return a.echo }

// Worker builds the job handlers with the app's dependencies.
func (a *App) Worker() *jobs.Worker {
	return &jobs.Worker{
		DB: a.DB, Box: a.Box, LINE: a.Messenger, Templates: a.Templates, Queue: a.Queue, Log: a.Log,
		Now: a.Now, TimeScale: a.Config.TimeScale, BaseURL: a.Config.BaseURL,
		Shopify: a.Shopify, Tokens: a.Tokens,
		Signer: a.Signer, InstallationID: a.installationID, Breaker: a.Breaker,
		Friends: a.Friends(), Forwards: a.Forwards(), UnitsSeen: a.unitsSeen,
	}
}

// Forwards builds the webhook forwarding rules with the app's dependencies.
func (a *App) Forwards() *core.Forwards {
	return &core.Forwards{DB: a.DB, Client: a.forwardClient, Production: a.Config.Production, Now: a.Now}
}

// Campaigns builds the campaign lifecycle with the app's dependencies.
func (a *App) Campaigns() *core.Campaigns {
	return &core.Campaigns{DB: a.DB, Queue: a.Queue, Now: a.Now}
}

// Friends builds the LINE friend and reply rules with the app's dependencies.
func (a *App) Friends() *core.Friends {
	return &core.Friends{DB: a.DB, Box: a.Box, LINE: a.Messenger, Signer: a.Signer,
		BaseURL: a.Config.BaseURL, InstallationID: a.installationID, Log: a.Log, Now: a.Now}
}

// Relay builds the outbox relay.
func (a *App) Relay() *jobs.Relay {
	return &jobs.Relay{DB: a.DB, Queue: a.Queue, Log: a.Log, Now: a.Now}
}

// Reconciler builds the reconciler that restores scheduled work Redis lost.
func (a *App) Reconciler() *jobs.Reconciler {
	return &jobs.Reconciler{DB: a.DB, Queue: a.Queue, Log: a.Log, Now: a.Now, Interval: a.reconcileEvery}
}

// enqueueRichMenuSync makes the shop's rich-menu sync due now; a failed
// enqueue is logged, and the reconciler enqueues it later.
func (a *App) enqueueRichMenuSync(c echo.Context, shopID int64) {
	if err := jobs.RequestRichMenuSync(c.Request().Context(), a.DB, a.Queue, shopID, a.Now()); err != nil {
		a.Log.Warn("enqueueing rich menu sync", "shop_id", shopID, "err", err)
	}
}

// requestInsightRead makes a read of the shop's LINE statistics due now
// (a schedules row; the reconciler enqueues it if this enqueue fails).
func (a *App) requestInsightRead(ctx context.Context, shopID int64) error {
	return jobs.RequestInsightRead(ctx, a.DB, a.Queue, shopID, a.Now())
}

// requestHistoryRun makes the shop's history-import step due now.
func (a *App) requestHistoryRun(ctx context.Context, shopID int64) error {
	return jobs.RequestHistoryRun(ctx, a.DB, a.Queue, shopID, a.Now())
}

// RunWorkers runs Asynq workers and the relay until ctx is done, then
// finishes in-flight tasks before returning.
func (a *App) RunWorkers(ctx context.Context) error {
	srv := asynq.NewServer(a.Redis, jobs.ServerConfig(a.Config.Concurrency, a.Log))
	mux := a.Worker().Mux()
	mux.Use(a.jobMetrics)
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("starting workers: %w", err)
	}
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{}, 2)
	go func() { a.Relay().Run(relayCtx); done <- struct{}{} }()
	go func() { a.Reconciler().Run(relayCtx); done <- struct{}{} }()
	<-ctx.Done()
	stopRelay()
	<-done
	<-done
	srv.Shutdown() // waits for in-flight tasks up to ShutdownTimeout
	return nil
}

// Serve runs the HTTP server (and, with workers, the job workers) until ctx
// is done, then stops accepting, drains requests and in-flight jobs.
func (a *App) Serve(ctx context.Context, withWorkers bool) error {
	srv := a.httpServer()
	errc := make(chan error, 2)
	go func() {
		a.Log.Info("listening", "addr", a.Config.Addr, "base_url", a.Config.BaseURL)
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serving HTTP: %w", err)
		}
	}()
	workersDone := make(chan error, 1)
	workerCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	if withWorkers {
		go func() { workersDone <- a.RunWorkers(workerCtx) }()
	} else {
		close(workersDone)
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	a.Log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutCtx); serr != nil && err == nil {
		err = fmt.Errorf("draining HTTP: %w", serr)
	}
	stopWorkers()
	if werr := <-workersDone; werr != nil && err == nil {
		err = werr
	}
	return err
}
