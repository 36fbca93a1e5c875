// Command tsunagu runs the Tsunagu service.
//
//	tsunagu serve      HTTP server with in-process workers (default)
//	tsunagu worker     workers only, for scaling out
//	tsunagu migrate    apply database migrations and exit
//	tsunagu link-url   print a signed LINE ID-linking URL for a customer
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // quiet hours need zones on minimal images

	"github.com/tsunagu/tsunagu/app"
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
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: tsunagu [serve|worker|migrate|link-url] [flags]")
		return nil
	}
	return fmt.Errorf("unknown command %q (serve, worker, migrate, link-url)", cmd)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
