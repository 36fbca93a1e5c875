// Command tsunagu runs the Tsunagu service. `tsunagu help` lists the
// commands (the table in commands below, which README's Commands section
// repeats; a test keeps them equal).
//
// Production builds leave out the embedded development Redis:
//
//	go build -tags prod ./cmd/tsunagu
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // quiet hours need zones on minimal images

	"github.com/redis/go-redis/v9"

	"github.com/tsunagu/tsunagu/app"
)

func main() {
	// Process-wide logging, set once here at the entry point: the standard
	// library's log package (net/http's server errors among others) and
	// go-redis's pool messages, whose logger is global in go-redis v9 (no
	// per-client option), both go out as JSON through slog.
	log := newLogger(os.Stderr, os.Getenv("TSUNAGU_LOG_LEVEL"))
	slog.SetDefault(log)
	redis.SetLogger(app.RedisLogger(log))
	os.Exit(runMain(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError is a command line the program cannot make sense of (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// runMain runs one command and reports its failure: as a JSON log line for
// the long-running commands (their stderr goes to a log collector), as a
// plain line for the others (a person is reading).
func runMain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := run(ctx, args, getenv, stdout, stderr)
	if err == nil {
		return exitOK
	}
	cmd := lookup(args)
	if cmd != nil && cmd.daemon {
		log := newLogger(stderr, getenv("TSUNAGU_LOG_LEVEL"))
		var cerr *app.ConfigError
		if errors.As(err, &cerr) {
			log.Error("configuration refused", "command", cmd.name, "problems", cerr.Problems)
		} else {
			log.Error(err.Error(), "command", cmd.name)
		}
	} else {
		fmt.Fprintln(stderr, "tsunagu:", err)
	}
	var uerr usageError
	if errors.As(err, &uerr) {
		return exitUsage
	}
	return exitError
}

// lookup returns the command args name, or nil.
func lookup(args []string) *command {
	if len(args) == 0 {
		return nil
	}
	for i := range commands {
		if commands[i].name == args[0] {
			return &commands[i]
		}
	}
	return nil
}

func isHelp(s string) bool { return s == "help" || s == "-h" || s == "--help" || s == "-help" }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		if len(args) > 1 {
			if c := lookup(args[1:]); c != nil {
				c.printUsage(stdout)
				return nil
			}
			return usageError{fmt.Sprintf("no command %q (tsunagu help lists them)", args[1])}
		}
		printCommands(stdout)
		return nil
	}
	cmd := lookup(args)
	if cmd == nil {
		return usageError{fmt.Sprintf("unknown command %q; commands: %s (tsunagu help)", args[0], strings.Join(commandNames(), ", "))}
	}
	fs := cmd.flagSet()
	exec := cmd.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cmd.printUsage(stdout)
			return nil
		}
		return usageError{fmt.Sprintf("%s: %v (tsunagu %s --help)", cmd.name, err, cmd.name)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q (tsunagu %s --help)", cmd.name, fs.Arg(0), cmd.name)}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return exec(ctx, &env{getenv: getenv, stdout: stdout, stderr: stderr})
}

// env is what a command runs with.
type env struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// config reads the configuration without writing anything.
func (e *env) config() (*app.Config, error) {
	return app.ParseConfig(e.getenv)
}

// logger is the JSON logger at the configured level.
func (e *env) logger(cfg *app.Config) *slog.Logger { return newLogger(e.stderr, cfg.LogLevel) }

// baseURLNote tells on stderr where printed links point when
// TSUNAGU_BASE_URL is unset (README: when to set it).
func (e *env) baseURLNote(cfg *app.Config) {
	switch {
	case cfg.BaseURLIsServed():
		fmt.Fprintf(e.stderr, "(links use %s, where `tsunagu serve` last started on this database; set TSUNAGU_BASE_URL when the app is reached at another address)\n", cfg.BaseURL)
	case cfg.BaseURLFromAddr():
		fmt.Fprintf(e.stderr, "(links use %s, from TSUNAGU_ADDR %s; set TSUNAGU_BASE_URL when the app is reached at another address)\n", cfg.BaseURL, cfg.Addr)
	}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
