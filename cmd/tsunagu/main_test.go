package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run the real main (process-wide logging included)
// as a child process: TSUNAGU_CLI_TEST_MAIN=1 makes the test binary main.
func TestMain(m *testing.M) {
	if os.Getenv("TSUNAGU_CLI_TEST_MAIN") == "1" {
		os.Args = append([]string{"tsunagu"}, strings.Fields(os.Getenv("TSUNAGU_CLI_TEST_ARGS"))...)
		main()
		return
	}
	os.Exit(m.Run())
}

// cliEnv is an environment whose data folder is a fresh, not yet created
// folder in a temporary directory.
func cliEnv(t *testing.T, extra map[string]string) (func(string) string, string) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"TSUNAGU_DATA_DIR": data}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }, data
}

func assertNothingWritten(t *testing.T, data string) {
	t.Helper()
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		entries, _ := os.ReadDir(data)
		t.Fatalf("data folder %s was created (%v, %d entries)", data, err, len(entries))
	}
}

// A bare `tsunagu`, `help`, `--help` and `-h` list the commands and exit 0;
// none of them starts anything or writes a key or a database.
func TestHelpListsCommands(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"help"}, {"--help"}, {"-h"}} {
		t.Run(strings.Join(append([]string{"tsunagu"}, args...), " "), func(t *testing.T) {
			t.Parallel()
			getenv, data := cliEnv(t, nil)
			var out, errOut bytes.Buffer
			if code := runMain(context.Background(), args, getenv, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			for _, name := range commandNames() {
				if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(name) + `\s`).MatchString(out.String()) {
					t.Errorf("%s missing from:\n%s", name, out.String())
				}
			}
			assertNothingWritten(t, data)
		})
	}
}

// `<command> --help` shows that command's own flags, exits 0 and does
// nothing else: no migration, no demo shop, no key.
func TestCommandHelpShowsOnlyItsFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cmd       string
		want, not []string
	}{
		{"serve", []string{"-addr", "-no-workers"}, nil},
		{"worker", nil, []string{"-addr", "-no-workers", "HTTP server"}},
		{"migrate", nil, []string{"-addr", "migrations applied"}},
		{"admin-url", []string{"-shop", "-ttl"}, []string{"-addr", "-customer"}},
		{"link-url", []string{"-shop", "-customer"}, []string{"-addr", "-ttl"}},
		{"demo", nil, []string{"-addr", "is ready"}},
	}
	for _, tc := range cases {
		for _, h := range []string{"--help", "-h"} {
			t.Run(tc.cmd+" "+h, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				getenv, data := cliEnv(t, map[string]string{"TSUNAGU_DATABASE_URL": "sqlite://" + filepath.Join(dir, "db", "t.db")})
				var out, errOut bytes.Buffer
				if code := runMain(context.Background(), []string{tc.cmd, h}, getenv, &out, &errOut); code != 0 {
					t.Fatalf("exit %d: %s", code, errOut.String())
				}
				if !strings.HasPrefix(out.String(), "usage: tsunagu "+tc.cmd) {
					t.Errorf("usage does not name the command:\n%s", out.String())
				}
				for _, w := range tc.want {
					if !strings.Contains(out.String(), w) {
						t.Errorf("usage lacks %s:\n%s", w, out.String())
					}
				}
				for _, n := range tc.not {
					if strings.Contains(out.String(), n) {
						t.Errorf("usage shows %q:\n%s", n, out.String())
					}
				}
				assertNothingWritten(t, data)
				assertNothingWritten(t, filepath.Join(dir, "db"))
			})
		}
	}
	var out, errOut bytes.Buffer
	getenv, _ := cliEnv(t, nil)
	if code := runMain(context.Background(), []string{"help", "link-url"}, getenv, &out, &errOut); code != 0 || !strings.Contains(out.String(), "-customer") {
		t.Errorf("help link-url: exit %d\n%s", code, out.String())
	}
	for _, args := range [][]string{{"bogus"}, {"serve", "--bogus"}, {"worker", "extra"}} {
		if code := runMain(context.Background(), args, getenv, &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// A refused configuration writes nothing (no key, no database) and reports
// every problem in one JSON log line.
func TestFailedConfigurationWritesNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		cmd  string
		want []string
	}{
		{"production with nothing set", map[string]string{"TSUNAGU_ENV": "production"}, "serve",
			[]string{"TSUNAGU_BASE_URL", "TSUNAGU_REDIS_URL", "TSUNAGU_SECRET_KEY", "SHOPIFY_API_KEY", "TSUNAGU_OPS_TOKEN"}},
		{"unknown environment", map[string]string{"TSUNAGU_ENV": "staging", "TSUNAGU_LINE_RATE": "0"}, "worker",
			[]string{"TSUNAGU_ENV", "TSUNAGU_LINE_RATE"}},
		{"bad value in development", map[string]string{"TSUNAGU_WORKER_CONCURRENCY": "none"}, "demo",
			[]string{"TSUNAGU_WORKER_CONCURRENCY"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			getenv, data := cliEnv(t, tc.env)
			var out, errOut bytes.Buffer
			if code := runMain(context.Background(), []string{tc.cmd}, getenv, &out, &errOut); code != exitError {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			assertNothingWritten(t, data)
			for _, w := range tc.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("report lacks %s: %s", w, errOut.String())
				}
			}
			if cmd := lookup([]string{tc.cmd}); cmd.daemon {
				lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
				var rec struct {
					Msg      string   `json:"msg"`
					Problems []string `json:"problems"`
				}
				if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rec) != nil || len(rec.Problems) != len(tc.want) {
					t.Fatalf("want one JSON line with %d problems, got:\n%s", len(tc.want), errOut.String())
				}
			}
		})
	}
}

// The production build leaves out the embedded development Redis and the
// demo's LINE and Shopify sandbox.
func TestProductionBuildHasNoMiniredis(t *testing.T) {
	t.Parallel()
	deps := func(tags ...string) string {
		args := append([]string{"list", "-deps"}, tags...)
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		return string(out)
	}
	if dev := deps(); !strings.Contains(dev, "alicebob/miniredis") || !strings.Contains(dev, "tsunagu/app/sandbox\n") {
		t.Fatal("the development build lacks miniredis or the sandbox: `go run ./cmd/tsunagu serve` and the demo need them")
	}
	prod := deps("-tags", "prod")
	if strings.Contains(prod, "miniredis") || strings.Contains(prod, "app/devredis") {
		t.Fatal("go list -deps -tags prod ./cmd/tsunagu lists miniredis")
	}
	if strings.Contains(prod, "tsunagu/app/sandbox") {
		t.Fatal("go list -deps -tags prod ./cmd/tsunagu lists the demo's sandbox")
	}
}

// README's Commands table lists exactly the commands there are, and each
// row names exactly that command's flags.
func TestREADMECommandTable(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Commands\n")
	if !ok {
		t.Fatal("README has no ## Commands section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `tsunagu ([a-z-]+)([^`]*)` \\|(.*)\\|\\s*$")
	flagRE := regexp.MustCompile(`--([a-z][a-z-]*)`)
	var names []string
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		names = append(names, m[1])
		cmd := lookup([]string{m[1]})
		if cmd == nil {
			t.Errorf("README lists `tsunagu %s`, which does not exist", m[1])
			continue
		}
		var documented []string
		for _, f := range flagRE.FindAllStringSubmatch(m[2]+m[3], -1) {
			if !slices.Contains(documented, f[1]) {
				documented = append(documented, f[1])
			}
		}
		var real []string
		fs := cmd.flagSet()
		cmd.setup(fs)
		fs.VisitAll(func(f *flag.Flag) { real = append(real, f.Name) })
		slices.Sort(documented)
		slices.Sort(real)
		if !slices.Equal(documented, real) {
			t.Errorf("README row for %s names flags %v; the command has %v", m[1], documented, real)
		}
	}
	if !slices.Equal(names, commandNames()) {
		t.Errorf("README Commands table lists %v; tsunagu help lists %v (same order)", names, commandNames())
	}
}

// Every line serve writes to stderr is JSON, the Redis client's and
// Asynq's complaints about an unreachable Redis included.
func TestServeLogsOnlyJSON(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts the server")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "TSUNAGU_CLI_TEST_MAIN=1", "TSUNAGU_CLI_TEST_ARGS=serve",
		"TSUNAGU_ADDR=127.0.0.1:0", "TSUNAGU_DATA_DIR="+dir, "TSUNAGU_REDIS_URL=redis://127.0.0.1:1/0",
		"TSUNAGU_DATABASE_URL=sqlite://"+filepath.Join(dir, "t.db"), "TSUNAGU_ENV=", "TSUNAGU_BASE_URL=", "TSUNAGU_LOG_LEVEL=info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() //nolint:errcheck // already exited when the test passes
	var lines []string
	sawRedis, stopped := false, false
	sc := bufio.NewScanner(stderr)
	deadline := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		lines = append(lines, sc.Text())
		// Redis at 127.0.0.1:1 refuses: the pool and Asynq say so.
		if strings.Contains(sc.Text(), "127.0.0.1:1: connect") && !stopped {
			sawRedis, stopped = true, true
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	_ = cmd.Wait()
	if !sawRedis {
		t.Fatalf("nothing about the refused Redis before exit:\n%s", strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil || v["level"] == nil || v["msg"] == nil {
			t.Errorf("not a JSON log line: %s", l)
		}
	}
}
