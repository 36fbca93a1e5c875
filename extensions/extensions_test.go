package extensions

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// repoRoot is the folder holding package.json and shopify.app.toml.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestShopifyLayout checks the configuration the Shopify CLI reads: the app
// points at extensions/*, and each extension declares what we rely on.
func TestShopifyLayout(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	var app struct {
		ExtensionDirectories []string `toml:"extension_directories"`
		AppProxy             struct {
			URL, Prefix, Subpath string
		} `toml:"app_proxy"`
	}
	if _, err := toml.DecodeFile(filepath.Join(root, "shopify.app.toml"), &app); err != nil {
		t.Fatalf("shopify.app.toml: %v", err)
	}
	if !slices.Equal(app.ExtensionDirectories, []string{"extensions/*"}) {
		t.Errorf("extension_directories = %q, want [extensions/*]", app.ExtensionDirectories)
	}
	if !strings.HasSuffix(app.AppProxy.URL, "/proxy") || app.AppProxy.Prefix != "apps" || app.AppProxy.Subpath != "tsunagu" {
		t.Errorf("app_proxy = %+v, want <base>/proxy under /apps/tsunagu", app.AppProxy)
	}

	var ui struct {
		APIVersion string `toml:"api_version"`
		Extensions []struct {
			Type         string
			Targeting    []struct{ Target, Module string }
			Capabilities struct {
				NetworkAccess bool `toml:"network_access"`
			}
			Settings struct {
				Fields []struct{ Key, Type string }
			}
		}
	}
	if _, err := toml.DecodeFile(filepath.Join(root, "extensions/line-link-block/shopify.extension.toml"), &ui); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^20\d\d-(01|04|07|10)$`).MatchString(ui.APIVersion) || ui.APIVersion < "2025-10" {
		t.Errorf("api_version %q: Polaris web components need 2025-10 or newer", ui.APIVersion)
	}
	if len(ui.Extensions) != 1 || ui.Extensions[0].Type != "ui_extension" || !ui.Extensions[0].Capabilities.NetworkAccess {
		t.Fatalf("line-link-block: %+v", ui.Extensions)
	}
	var targets []string
	for _, tg := range ui.Extensions[0].Targeting {
		targets = append(targets, tg.Target)
		if _, err := os.Stat(filepath.Join(root, "extensions/line-link-block", tg.Module)); err != nil {
			t.Errorf("target %s: module %v", tg.Target, err)
		}
	}
	if !slices.Equal(targets, []string{"purchase.thank-you.block.render", "customer-account.order-status.block.render"}) {
		t.Errorf("targets = %q", targets)
	}
	if len(ui.Extensions[0].Settings.Fields) == 0 {
		t.Error("no merchant-editable texts")
	}

	var px struct {
		Type            string
		RuntimeContext  string `toml:"runtime_context"`
		CustomerPrivacy struct {
			Analytics, Marketing bool
		} `toml:"customer_privacy"`
		Settings struct {
			Fields map[string]struct{ Type string }
		}
	}
	if _, err := toml.DecodeFile(filepath.Join(root, "extensions/web-pixel/shopify.extension.toml"), &px); err != nil {
		t.Fatal(err)
	}
	if px.Type != "web_pixel_extension" || px.RuntimeContext != "strict" || !px.CustomerPrivacy.Marketing || px.Settings.Fields["endpoint"].Type == "" {
		t.Errorf("web-pixel: %+v", px)
	}

	var theme struct{ Type string }
	if _, err := toml.DecodeFile(filepath.Join(root, "extensions/line-link-theme/shopify.extension.toml"), &theme); err != nil || theme.Type != "theme" {
		t.Errorf("theme extension: %+v %v", theme, err)
	}
	for _, tc := range []struct {
		file, target string
		templates    []string
	}{
		{"line_link.liquid", "section", []string{"product", "cart", "customers/account"}},
		{"line_embed.liquid", "body", nil},
	} {
		src, err := os.ReadFile(filepath.Join(root, "extensions/line-link-theme/blocks", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		_, after, _ := strings.Cut(string(src), "{% schema %}")
		body, _, ok := strings.Cut(after, "{% endschema %}")
		var schema struct {
			Target    string
			EnabledOn struct{ Templates []string } `json:"enabled_on"`
			JS        string                       `json:"javascript"`
		}
		if !ok || json.Unmarshal([]byte(body), &schema) != nil {
			t.Fatalf("%s: schema is not JSON", tc.file)
		}
		if schema.Target != tc.target || !slices.Equal(schema.EnabledOn.Templates, tc.templates) || schema.JS != "line-link.js" {
			t.Errorf("%s: schema %+v", tc.file, schema)
		}
	}
}

// TestExtensionsBuild runs `npm ci` from the committed lockfile, the
// type-check, the unit tests and the production build of every extension.
// Without npm it fails in CI (CI=true) and skips elsewhere.
func TestExtensionsBuild(t *testing.T) {
	t.Parallel()
	npm, err := exec.LookPath("npm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("npm is not installed; CI needs nodejs and npm (.ci/run installs them)")
		}
		t.Skip("npm is not installed: skipping the extensions' type-check, unit tests and build (install nodejs and npm to run them)")
	}
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, npm, args...)
		cmd.Dir = root
		// The npm cache stays inside the clone (gitignored), nothing is kept elsewhere.
		cmd.Env = append(os.Environ(), "npm_config_cache="+filepath.Join(root, ".npm-cache"), "npm_config_update_notifier=false",
			"npm_config_fund=false", "npm_config_audit=false", "NO_COLOR=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		t.Logf("npm %s (%s)\n%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), tail(out.String(), 12))
	}
	if !lockInstalled(root) {
		run("ci", "--ignore-scripts")
	}
	run("run", "typecheck")
	run("test")
	run("run", "build", "--", "--check")
}

// lockInstalled says whether node_modules was installed from exactly the
// committed lockfile (npm writes node_modules/.package-lock.json), so that a
// second run skips the reinstall.
func lockInstalled(root string) bool {
	var want, got struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	a, err1 := os.ReadFile(filepath.Join(root, "package-lock.json"))
	b, err2 := os.ReadFile(filepath.Join(root, "node_modules", ".package-lock.json"))
	if err1 != nil || err2 != nil || json.Unmarshal(a, &want) != nil || json.Unmarshal(b, &got) != nil {
		return false
	}
	for path, p := range want.Packages {
		if !strings.HasPrefix(path, "node_modules/") {
			continue
		}
		if g, ok := got.Packages[path]; !ok || g.Version != p.Version {
			if _, err := os.Stat(filepath.Join(root, path)); err != nil {
				continue // an optional package for another platform
			}
			return false
		}
	}
	return len(got.Packages) > 0
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
