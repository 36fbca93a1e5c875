// Command tsunagu runs the Tsunagu service.
//
//	tsunagu serve      HTTP server with in-process workers (default)
//	tsunagu worker     workers only, for scaling out
//	tsunagu migrate    apply database migrations and exit
//	tsunagu link-url   print a signed LINE ID-linking URL for a customer
//	tsunagu admin-url  print a short-lived signed URL that opens the admin (local dev)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // quiet hours need zones on minimal images

	"github.com/tsunagu/tsunagu/app"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tsunagu:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := app.LoadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := newLogger(stderr, cfg.LogLevel)
	switch cmd {
	case "serve", "worker":
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		fs.SetOutput(stderr)
		addr := fs.String("addr", cfg.Addr, "listen address (TSUNAGU_ADDR)")
		noWorkers := fs.Bool("no-workers", false, "serve HTTP only; run workers with `tsunagu worker`")
		if err := fs.Parse(args); err != nil {
			return err
		}
		cfg.Addr = *addr
		a, err := app.New(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer a.Close()
		if cmd == "worker" {
			log.Info("workers running")
			return a.RunWorkers(ctx)
		}
		return a.Serve(ctx, !*noWorkers)
	case "migrate":
		db, err := store.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.Migrate(ctx, log); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	case "admin-url":
		return adminURL(cfg, args, stdout, stderr)
	case "demo":
		return demo(ctx, cfg, stdout)
	case "link-url":
		return linkURL(ctx, cfg, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: tsunagu [serve|worker|migrate|link-url|admin-url|demo] [flags]")
		return nil
	}
	return fmt.Errorf("unknown command %q (serve, worker, migrate, link-url, admin-url, demo)", cmd)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// adminURL prints a signed link that opens an admin session for a shop: the
// way into the admin outside the Shopify admin (local development).
func adminURL(cfg *app.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin-url", flag.ContinueOnError)
	fs.SetOutput(stderr)
	shop := fs.String("shop", "", "shop domain, e.g. your-store.myshopify.com")
	ttl := fs.Duration("ttl", app.DefaultAdminURLTTL, "how long the link can be opened")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *shop == "" {
		return fmt.Errorf("admin-url: --shop is required")
	}
	u, err := app.AdminURL(cfg, *shop, time.Now(), *ttl)
	if err != nil {
		return fmt.Errorf("admin-url: %w", err)
	}
	fmt.Fprintln(stdout, u)
	return nil
}

// linkURL prints a signed ID-linking URL for a Shopify customer. A customer
// Tsunagu has not seen yet is recorded, so links can go out before their
// first order arrives.
func linkURL(ctx context.Context, cfg *app.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("link-url", flag.ContinueOnError)
	fs.SetOutput(stderr)
	shopDomain := fs.String("shop", "", "shop domain, e.g. example.myshopify.com")
	customer := fs.Int64("customer", 0, "Shopify customer id (the number in the admin URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *shopDomain == "" || *customer <= 0 {
		return fmt.Errorf("link-url needs --shop DOMAIN and --customer ID")
	}
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx, nil); err != nil {
		return err
	}
	shop, err := db.ShopByDomain(ctx, *shopDomain)
	if err != nil {
		return fmt.Errorf("%w (is the app installed on %s?)", err, *shopDomain)
	}
	c, err := db.CustomerByShopifyID(ctx, shop.ID, *customer)
	if errors.Is(err, store.ErrNotFound) {
		c = &store.Customer{ShopID: shop.ID, ShopifyID: *customer}
		err = db.UpsertCustomer(ctx, c)
	}
	if err != nil {
		return err
	}
	tok := app.LinkToken(secretbox.NewSigner(cfg.SecretKey), shop.ID, c.ID, time.Now())
	fmt.Fprintln(stdout, strings.TrimRight(cfg.BaseURL, "/")+"/link/start?t="+url.QueryEscape(tok))
	return nil
}

// demo fills the configured database with a sample shop and prints a link
// into its admin, so the admin can be explored without a Shopify store.
func demo(ctx context.Context, cfg *app.Config, stdout io.Writer) error {
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx, nil); err != nil {
		return err
	}
	if _, err := app.SeedDemo(ctx, db, time.Now().UTC()); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	u, err := app.AdminURL(cfg, app.DemoShop, time.Now(), time.Hour)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(stdout, "demo shop %s is ready; open (valid 1 hour):\n%s\n", app.DemoShop, u)
	return nil
}
