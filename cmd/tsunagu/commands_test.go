package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
)

// cliDB is a migrated SQLite database with one shop and one customer, and
// an environment pointing at it.
func cliDB(t *testing.T, extra map[string]string) (env map[string]string, db *store.DB, shop *store.Shop, key string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	key = secretbox.NewKey()
	env = map[string]string{"TSUNAGU_DATA_DIR": filepath.Join(dir, "data"),
		"TSUNAGU_DATABASE_URL": "sqlite://" + filepath.Join(dir, "t.db"), "TSUNAGU_SECRET_KEY": key}
	for k, v := range extra {
		env[k] = v
	}
	db, err := store.Open(ctx, env["TSUNAGU_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	shop = &store.Shop{Domain: "cli-test.myshopify.com"}
	if err := db.CreateShop(ctx, shop); err != nil {
		t.Fatal(err)
	}
	if err := db.UpsertCustomer(ctx, &store.Customer{ShopID: shop.ID, ShopifyID: 4242}); err != nil {
		t.Fatal(err)
	}
	return env, db, shop, key
}

func getenvOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLinkURLCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, db, shop, key := cliDB(t, map[string]string{"TSUNAGU_BASE_URL": "https://tsunagu.example"})
	getenv := getenvOf(env)
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"link-url", "--shop", "cli-test", "--customer", "4242"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	u, err := url.Parse(strings.TrimSpace(out.String()))
	if err != nil || u.Scheme != "https" || u.Host != "tsunagu.example" || u.Path != "/link/start" {
		t.Fatalf("printed %q", out.String())
	}
	c, err := db.CustomerByShopifyID(ctx, shop.ID, 4242)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := secretbox.ParseKey(key)
	p, err := secretbox.NewSigner(k).Verify("link", u.Query().Get("t"), time.Now().Add(29*24*time.Hour))
	// The payload is shop:customer:issued-at (the issue time spends the link once its customer links).
	if err != nil || !strings.HasPrefix(string(p), strings.Join([]string{itoa(shop.ID), itoa(c.ID)}, ":")+":") {
		t.Fatalf("token payload %q, %v", p, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"link-url", "--shop", "nope.myshopify.com", "--customer", "1"}, "no shop nope.myshopify.com"},
		// An unknown customer is refused, and not created.
		{[]string{"link-url", "--shop", shop.Domain, "--customer", "4243"}, "no customer 4243"},
		{[]string{"link-url", "--shop", shop.Domain}, "--customer"},
	} {
		out.Reset()
		err := run(ctx, tc.args, getenv, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) || out.Len() > 0 {
			t.Errorf("%v: printed %q, error %v; want it to mention %q", tc.args, out.String(), err, tc.want)
		}
	}
	if _, err := db.CustomerByShopifyID(ctx, shop.ID, 4243); err == nil {
		t.Error("link-url created the unknown customer")
	}
}

func TestAdminURLCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, _, shop, _ := cliDB(t, map[string]string{"TSUNAGU_BASE_URL": "https://tsunagu.example.com"})
	getenv := getenvOf(env)
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"admin-url", "--shop", "CLI-Test", "--ttl", "5m"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("%v (%s)", err, errOut.String())
	}
	if u := strings.TrimSpace(out.String()); !strings.HasPrefix(u, "https://tsunagu.example.com/admin/session?token=") {
		t.Fatalf("printed %q", u)
	}
	for _, args := range [][]string{{"admin-url"}, {"admin-url", "--shop", "evil.com"}, {"admin-url", "--shop", "unknown-shop"}} {
		out.Reset()
		if err := run(ctx, args, getenv, &out, &errOut); err == nil || out.Len() > 0 {
			t.Errorf("%v: printed %q, error %v", args, out.String(), err)
		}
	}
	_ = shop
}

// Without TSUNAGU_BASE_URL the printed links point where serve listens
// (TSUNAGU_ADDR), not at a fixed localhost:8080.
func TestPrintedLinksUseTheServedAddress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, _, shop, _ := cliDB(t, map[string]string{"TSUNAGU_ADDR": "127.0.0.1:9191"})
	getenv := getenvOf(env)
	for _, args := range [][]string{
		{"admin-url", "--shop", shop.Domain},
		{"link-url", "--shop", shop.Domain, "--customer", "4242"},
		{"demo"},
	} {
		var out, errOut bytes.Buffer
		if err := run(ctx, args, getenv, &out, &errOut); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if !strings.Contains(out.String(), "http://127.0.0.1:9191/") || strings.Contains(out.String(), "localhost:8080") {
			t.Errorf("%v printed %q", args, out.String())
		}
		if !strings.Contains(errOut.String(), "TSUNAGU_BASE_URL") {
			t.Errorf("%v does not say where links point: %q", args, errOut.String())
		}
	}
	cfg, err := app.ParseConfig(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.SetAddr(":7070"); err != nil || cfg.BaseURL != "http://localhost:7070" {
		t.Errorf("serve --addr :7070 gives base %s (%v)", cfg.BaseURL, err)
	}
}

// The printing commands never create a database or a key: they refuse.
func TestPrintingCommandsNeedAnExistingDatabase(t *testing.T) {
	t.Parallel()
	getenv, data := cliEnv(t, nil)
	for _, args := range [][]string{{"admin-url", "--shop", "x"}, {"link-url", "--shop", "x", "--customer", "1"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, getenv, &out, &errOut); err == nil {
			t.Errorf("%v accepted", args)
		}
		assertNothingWritten(t, data)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// `tsunagu serve --addr` records where it listens; admin-url and demo run
// without TSUNAGU_ADDR or TSUNAGU_BASE_URL then print links to that address.
func TestLinksFollowARunningServe(t *testing.T) {
	t.Parallel()
	env, db, shop, _ := cliDB(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var serveErr bytes.Buffer
	go func() { done <- run(ctx, []string{"serve", "--addr", addr}, getenvOf(env), io.Discard, &serveErr) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		if u, _ := db.ServedBaseURL(context.Background()); u != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve recorded no address: %s", serveErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"admin-url", "--shop", shop.Domain}, getenvOf(env), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "http://"+addr+"/admin/session?token=") {
		t.Errorf("admin-url printed %q while serve listens on %s", out.String(), addr)
	}
}
