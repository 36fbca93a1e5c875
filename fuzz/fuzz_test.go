package fuzz

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// targets are fuzzed in CI. Each lives in a package with few dependencies:
// -fuzz rebuilds a package and everything it imports with coverage
// instrumentation, outside the normal build cache, which takes seconds here
// and 11 min for app/store (modernc SQLite). FuzzShopifyWebhook and
// FuzzLineWebhook (./app, database and worker included) run their seeds in
// plain `go test` only.
var targets = []struct{ pkg, name string }{
	{"./app/door", "FuzzShopifyDoor"},
	{"./app/door", "FuzzLineDoor"},
	{"./app/door", "FuzzCheckShopShortcut"},
	{"./app/jsonscan", "FuzzValidJSON"},
	{"./app/store/segment", "FuzzCompileSegment"},
	{"./templates", "FuzzRender"},
}

// defaultBudget is the fuzzing time of all targets together in CI.
const defaultBudget = 60 * time.Second

// budget says how long to fuzz in all: TSUNAGU_FUZZTIME (a duration) if
// set, else defaultBudget when CI=true, else 0 (skip).
func budget() (time.Duration, error) {
	if s := os.Getenv("TSUNAGU_FUZZTIME"); s != "" {
		return time.ParseDuration(s)
	}
	if os.Getenv("CI") == "true" {
		return defaultBudget, nil
	}
	return 0, nil
}

var failingInput = regexp.MustCompile(`Failing input written to (\S+)`)

// TestFuzzTargets runs `go test -run=^$ -fuzz=^Name$ -fuzztime=<share>`
// for each target in turn. A crasher fails the test with the input's path
// (the fuzzer writes it under the package's testdata/fuzz/, where it becomes
// a seed once committed) and the command that replays it.
func TestFuzzTargets(t *testing.T) {
	total, err := budget()
	if err != nil {
		t.Fatalf("TSUNAGU_FUZZTIME: %v", err)
	}
	if total <= 0 || testing.Short() {
		t.Skip("fuzzing runs when CI=true or TSUNAGU_FUZZTIME is set")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	share := total / time.Duration(len(targets))
	var summary strings.Builder
	defer func() { noCache(t, summary.String()) }()
	for _, tg := range targets {
		start := time.Now()
		// The build is not counted in the share, and on a fresh machine under
		// load it alone can take minutes, so the deadline only stops a hung
		// run: it is the test's own deadline less a minute to report.
		ctx, cancel := runContext(t, share+10*time.Minute)
		cmd := exec.CommandContext(ctx, goBin, "test", "-run=^$", "-fuzz=^"+tg.name+"$",
			"-fuzztime="+share.String(), "-parallel=2", tg.pkg)
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		took := time.Since(start).Round(time.Second)
		if err == nil {
			line := fmt.Sprintf("%s %s: fuzzed %v (%v with the build): %s", tg.pkg, tg.name, share, took, lastExecs(out.Bytes(), share))
			t.Log(line)
			summary.WriteString(line + "\n")
			continue
		}
		if m := failingInput.FindSubmatch(out.Bytes()); m != nil {
			input := filepath.Join(tg.pkg, string(m[1]))
			fmt.Fprintf(&summary, "%s %s: failing input %s\n", tg.pkg, tg.name, input)
			t.Errorf("%s found a failing input: %s\nreplay: go test -run='^%s/%s$' %s\n%s",
				tg.name, input, tg.name, filepath.Base(string(m[1])), tg.pkg, tail(out.Bytes(), 40))
			continue
		}
		fmt.Fprintf(&summary, "%s %s: %v\n", tg.pkg, tg.name, err)
		t.Errorf("%s %s after %v: %v\n%s", tg.pkg, tg.name, took, err, tail(out.Bytes(), 40))
	}
}

// runContext ends a fuzzing run a minute before the test's own deadline
// (go test -timeout), or after fallback when the test has none.
func runContext(t *testing.T, fallback time.Duration) (context.Context, context.CancelFunc) {
	if d, ok := t.Deadline(); ok {
		return context.WithDeadline(context.Background(), d.Add(-time.Minute))
	}
	return context.WithTimeout(context.Background(), fallback)
}

var execsLine = regexp.MustCompile(`execs: (\d+) \(\d+/sec\), new interesting: (\d+) \(total: (\d+)\)`)

// lastExecs sums up the fuzzer's last progress report.
func lastExecs(out []byte, d time.Duration) string {
	all := execsLine.FindAllSubmatch(out, -1)
	if len(all) == 0 {
		return "no progress report"
	}
	m := all[len(all)-1]
	n, _ := strconv.Atoi(string(m[1]))
	return fmt.Sprintf("%d executions (%.0f/s), %s new interesting inputs (corpus %s)", n, float64(n)/d.Seconds(), m[2], m[3])
}

// tail is the last n lines of out.
func tail(out []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// noCache keeps `go test` from caching this test's result: it records the
// files a test opens (inside the module), not those the fuzzing
// subprocesses read, so a cached pass would skip fuzzing changed code. It
// declines to cache a result that read a file modified seconds ago, so the
// test ends by writing and reading testdata/last-run (git-ignored), a
// summary of the run.
func noCache(t *testing.T, summary string) {
	t.Helper()
	stamp := filepath.Join("testdata", "last-run")
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stamp, []byte(summary), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(stamp); err != nil {
		t.Fatal(err)
	}
}
