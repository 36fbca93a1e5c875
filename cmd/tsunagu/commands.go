package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tsunagu/tsunagu/app"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/shopify"
)

// command is one `tsunagu <name>`. setup declares the command's own flags
// and returns what runs once they are parsed, so `--help` can show the
// flags without running anything.
type command struct {
	name    string
	args    string // the synopsis after the name
	summary string
	daemon  bool // long-running: failures are logged as JSON
	setup   func(fs *flag.FlagSet) func(ctx context.Context, e *env) error
}

// commands is the command list `tsunagu help` prints and README's Commands
// table repeats (TestREADMECommandTable).
var commands = []command{
	{name: "serve", args: "[--addr :8080] [--no-workers]", daemon: true,
		summary: "HTTP server with the job workers in-process", setup: serveCmd},
	{name: "worker", daemon: true,
		summary: "job workers and the outbox relay only, to scale out", setup: workerCmd},
	{name: "migrate", daemon: true,
		summary: "apply database migrations and exit (also done at start-up)", setup: migrateCmd},
	{name: "admin-url", args: "--shop DOMAIN [--ttl 10m]",
		summary: "print a signed link that opens the admin for an installed shop (outside the Shopify admin)", setup: adminURLCmd},
	{name: "link-url", args: "--shop DOMAIN --customer SHOPIFY_ID",
		summary: "print a signed 30-day LINE ID-linking link for a customer Tsunagu knows", setup: linkURLCmd},
	{name: "demo",
		summary: "create a sample shop in the configured database and print links into its admin and through LINE linking (with TSUNAGU_SANDBOX=on)", setup: demoCmd},
}

func commandNames() []string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return names
}

func (c *command) synopsis() string { return strings.TrimSpace("tsunagu " + c.name + " " + c.args) }

func printCommands(w io.Writer) {
	fmt.Fprintln(w, "Tsunagu connects a Shopify store to LINE.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: tsunagu <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "`tsunagu <command> --help` shows a command's flags. Configuration comes from")
	fmt.Fprintln(w, "TSUNAGU_* environment variables (README, Configuration).")
}

// flagSet is a quiet flag set: run prints usage itself, to stdout when
// asked for and never on top of an error.
func (c *command) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func (c *command) printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", c.synopsis(), c.summary)
	fs := c.flagSet()
	c.setup(fs)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

func serveCmd(fs *flag.FlagSet) func(context.Context, *env) error {
	addr := fs.String("addr", "", "listen address (default TSUNAGU_ADDR, else :8080)")
	noWorkers := fs.Bool("no-workers", false, "serve HTTP only (run the workers with tsunagu worker)")
	return func(ctx context.Context, e *env) error {
		cfg, err := e.config()
		if err != nil {
			return err
		}
		if *addr != "" {
			if err := cfg.SetAddr(*addr); err != nil {
				return usageError{"serve: " + err.Error()}
			}
		}
		return runApp(ctx, e, cfg, func(a *app.App) error {
			// The printing commands point their links here.
			if err := a.DB.RecordServedBaseURL(ctx, cfg.BaseURL); err != nil {
				a.Log.Warn("recording the served base URL", "err", err)
			}
			return a.Serve(ctx, !*noWorkers)
		})
	}
}

func workerCmd(*flag.FlagSet) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		cfg, err := e.config()
		if err != nil {
			return err
		}
		return runApp(ctx, e, cfg, func(a *app.App) error {
			a.Log.Info("workers running")
			return a.RunWorkers(ctx)
		})
	}
}

// runApp creates the development key if needed, assembles the app and runs f.
func runApp(ctx context.Context, e *env, cfg *app.Config, f func(*app.App) error) error {
	if err := cfg.EnsureSecretKey(); err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, e.logger(cfg))
	if err != nil {
		return err
	}
	defer a.Close()
	// A wrong TSUNAGU_SECRET_KEY is said at once (CheckSecretKey logs each
	// shop whose credentials do not decrypt), not found later as "LINE not
	// configured".
	if _, err := a.CheckSecretKey(ctx); err != nil {
		a.Log.Warn("checking stored credentials against the secret key", "err", err)
	}
	return f(a)
}

func migrateCmd(*flag.FlagSet) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		cfg, err := e.config()
		if err != nil {
			return err
		}
		db, err := store.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.Migrate(ctx, e.logger(cfg)); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "migrations applied")
		return nil
	}
}

// useServed points cfg's links at the base URL `tsunagu serve` recorded in
// the database, when TSUNAGU_BASE_URL is not set.
func useServed(ctx context.Context, db *store.DB, cfg *app.Config) {
	if !cfg.BaseURLFromAddr() {
		return
	}
	if u, err := db.ServedBaseURL(ctx); err == nil {
		cfg.UseServedBaseURL(u)
	}
}

// openExisting opens the configured database without creating it: the
// printing commands have nothing to say about a database that is not there.
func openExisting(ctx context.Context, cfg *app.Config) (*store.DB, error) {
	if path, ok := sqlitePath(cfg.DatabaseURL); ok && path != ":memory:" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s yet: start `tsunagu serve` or run `tsunagu demo` first (or set TSUNAGU_DATABASE_URL)", path)
		}
	}
	return store.Open(ctx, cfg.DatabaseURL)
}

func sqlitePath(dbURL string) (string, bool) {
	if !strings.HasPrefix(dbURL, "sqlite:") {
		return "", false
	}
	p := strings.TrimPrefix(strings.TrimPrefix(dbURL, "sqlite://"), "sqlite:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p, true
}

// signingConfig is the configuration of the commands that sign links: the
// key must already exist (a new one would sign links nothing can verify).
func signingConfig(e *env) (*app.Config, error) {
	cfg, err := e.config()
	if err != nil {
		return nil, err
	}
	if !cfg.HasSecretKey() {
		return nil, errors.New("no secret key: TSUNAGU_SECRET_KEY is unset and the data folder has no secret.key; start `tsunagu serve` once (it creates one) or set TSUNAGU_SECRET_KEY")
	}
	return cfg, nil
}

// knownShop finds a shop by domain ("my-store" is my-store.myshopify.com),
// or says it is not there.
func knownShop(ctx context.Context, db *store.DB, raw string) (*store.Shop, error) {
	domain, err := shopify.NormalizeShopDomain(raw)
	if err != nil {
		return nil, err
	}
	shop, err := db.ShopByDomain(ctx, domain)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no shop %s in this database (is the app installed on it? `tsunagu demo` creates %s)", domain, app.DemoShop)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up shop %s: %w", domain, err)
	}
	return shop, nil
}

// adminURLCmd prints a signed link that opens an admin session for a shop:
// the way into the admin outside the Shopify admin (local development).
func adminURLCmd(fs *flag.FlagSet) func(context.Context, *env) error {
	shopFlag := fs.String("shop", "", "shop domain, e.g. your-store.myshopify.com (required)")
	ttl := fs.Duration("ttl", app.DefaultAdminURLTTL, "how long the link can be opened")
	return func(ctx context.Context, e *env) error {
		if *shopFlag == "" {
			return usageError{"admin-url: --shop is required (tsunagu admin-url --help)"}
		}
		cfg, err := signingConfig(e)
		if err != nil {
			return err
		}
		db, err := openExisting(ctx, cfg)
		if err != nil {
			return fmt.Errorf("admin-url: %w", err)
		}
		defer db.Close()
		useServed(ctx, db, cfg)
		shop, err := knownShop(ctx, db, *shopFlag)
		if err != nil {
			return fmt.Errorf("admin-url: %w", err)
		}
		u, err := app.AdminURL(cfg, shop.Domain, time.Now(), *ttl)
		if err != nil {
			return fmt.Errorf("admin-url: %w", err)
		}
		fmt.Fprintln(e.stdout, u)
		e.baseURLNote(cfg)
		return nil
	}
}

// linkURLCmd prints a signed ID-linking URL for a customer Tsunagu knows
// (from an order or a customers/* webhook). An unknown id is refused: it is
// most often a typo, and a link for it would create nothing useful.
func linkURLCmd(fs *flag.FlagSet) func(context.Context, *env) error {
	shopFlag := fs.String("shop", "", "shop domain, e.g. example.myshopify.com (required)")
	customer := fs.Int64("customer", 0, "Shopify customer id, the number in the admin URL (required)")
	return func(ctx context.Context, e *env) error {
		if *shopFlag == "" || *customer <= 0 {
			return usageError{"link-url needs --shop DOMAIN and --customer ID (tsunagu link-url --help)"}
		}
		cfg, err := signingConfig(e)
		if err != nil {
			return err
		}
		db, err := openExisting(ctx, cfg)
		if err != nil {
			return fmt.Errorf("link-url: %w", err)
		}
		defer db.Close()
		useServed(ctx, db, cfg)
		shop, err := knownShop(ctx, db, *shopFlag)
		if err != nil {
			return fmt.Errorf("link-url: %w", err)
		}
		c, err := db.CustomerByShopifyID(ctx, shop.ID, *customer)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("link-url: shop %s has no customer %d here yet (Tsunagu learns customers from orders and customers/* webhooks)", shop.Domain, *customer)
		}
		if err != nil {
			return fmt.Errorf("link-url: %w", err)
		}
		tok := app.LinkToken(secretbox.NewSigner(cfg.SecretKey), shop.ID, c.ID, time.Now())
		fmt.Fprintln(e.stdout, strings.TrimRight(cfg.BaseURL, "/")+"/link/start?t="+url.QueryEscape(tok))
		e.baseURLNote(cfg)
		return nil
	}
}

// demoCmd fills the configured database with a sample shop and prints a
// link into its admin, so the admin can be explored without a Shopify store.
func demoCmd(*flag.FlagSet) func(context.Context, *env) error {
	return func(ctx context.Context, e *env) error {
		cfg, err := e.config()
		if err != nil {
			return err
		}
		if err := cfg.EnsureSecretKey(); err != nil {
			return err
		}
		db, err := store.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.Migrate(ctx, nil); err != nil {
			return err
		}
		useServed(ctx, db, cfg)
		now := time.Now().UTC()
		shop, err := app.SeedDemo(ctx, db, cfg.SecretKey, now)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		admin, err := app.AdminURL(cfg, app.DemoShop, now, time.Hour)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if !app.SandboxBuilt {
			// The production build has no sandbox to link through.
			fmt.Fprintf(e.stdout, "demo shop %s is ready; open (valid 1 hour, with `tsunagu serve` running):\n%s\n", app.DemoShop, admin)
			e.baseURLNote(cfg)
			return nil
		}
		c, err := db.CustomerByShopifyID(ctx, shop.ID, app.DemoUnlinkedCustomer)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		base := strings.TrimRight(cfg.BaseURL, "/")
		link := base + "/link/start?t=" + url.QueryEscape(app.LinkToken(secretbox.NewSigner(cfg.SecretKey), shop.ID, c.ID, now))
		fmt.Fprintf(e.stdout, `demo shop %s is ready. Serve it with its LINE and Shopify sandbox:

  TSUNAGU_SANDBOX=on tsunagu serve

then open the admin (valid 1 hour):
%s

link LINE as the shopper %s, who has not yet (valid 30 days; the sandbox plays LINE Login):
%s

and see what that LINE user's phone received:
%s/sandbox/line/phone
`, app.DemoShop, admin, c.Name("ja"), link, base)
		e.baseURLNote(cfg)
		return nil
	}
}
