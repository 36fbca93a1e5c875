package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvChromium overrides the browser binary for browser tests.
const EnvChromium = "TSUNAGU_TEST_CHROMIUM"

func chromiumPath() string {
	if p := os.Getenv(EnvChromium); p != "" {
		return p
	}
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

// Browser starts a headless Chromium (Debian's package) for the test and
// returns a chromedp context for one tab. Every call to chromedp.Run on it is
// bounded by the test's 3-minute budget, a guard against hangs generous enough
// for a loaded two-core machine. The browser exits when the test ends.
// chromedp v0.23's API: chromedp.Do(ctx, actions...) for actions without a
// result, v, err := chromedp.Run(ctx, action) for one with (see its docs/API.md).
func Browser(t testing.TB) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Fatalf("Chromium is required for browser tests (apt-get install chromium, or set %s)", EnvChromium)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// ArtifactsDir is where tests keep screenshots: $TSUNAGU_ARTIFACTS or
// artifacts/ at the repository root (ignored by git).
func ArtifactsDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("TSUNAGU_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Screenshot saves a full-page PNG of the tab as artifacts/<name>.png.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	// A page that reloads itself (a running campaign) can be caught between
	// documents, with nothing laid out ("Cannot take screenshot with 0
	// width"): wait until a document is laid out, and try again once.
	ready := chromedp.Poll[bool](`document.readyState === "complete" && document.documentElement.getBoundingClientRect().width > 0`,
		chromedp.WithPollingTimeout(20*time.Second))
	var png []byte
	var err error
	for range 2 {
		if _, err = chromedp.Run(ctx, ready); err != nil {
			continue
		}
		if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	name = strings.ReplaceAll(name, "/", "_")
	path := filepath.Join(ArtifactsDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// Fill puts text into the field sel (a CSS selector) as a paste does: the
// value at once and one input and one change event. chromedp.SendKeys types
// key by key, a DevTools round trip and an input event (a preview render,
// a request) per character; Fill asserts the same page behaviour in one
// step. Use SendKeys where the keystrokes themselves are what is tested.
func Fill(sel, text string) chromedp.Action[chromedp.Void] {
	q, _ := json.Marshal(sel)
	v, _ := json.Marshal(text)
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.focus(); e.value = %s;
  e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })()`, q, v)),
	)
}
