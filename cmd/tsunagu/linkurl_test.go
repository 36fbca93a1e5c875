package main

import (
	"bytes"
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
)

func TestLinkURLCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	key := secretbox.NewKey()
	env := map[string]string{
		"TSUNAGU_DATA_DIR": dir, "TSUNAGU_DATABASE_URL": "sqlite://" + filepath.Join(dir, "t.db"),
		"TSUNAGU_SECRET_KEY": key, "TSUNAGU_BASE_URL": "https://tsunagu.example",
	}
	getenv := func(k string) string { return env[k] }
	db, err := store.Open(ctx, env["TSUNAGU_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	shop := &store.Shop{Domain: "cli-test.myshopify.com"}
	if err := db.CreateShop(ctx, shop); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"link-url", "--shop", shop.Domain, "--customer", "4242"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	u, err := url.Parse(strings.TrimSpace(out.String()))
	if err != nil || u.Scheme != "https" || u.Host != "tsunagu.example" || u.Path != "/link/start" {
		t.Fatalf("printed %q", out.String())
	}
	c, err := db.CustomerByShopifyID(ctx, shop.ID, 4242)
	if err != nil {
		t.Fatalf("customer not recorded: %v", err)
	}
	k, _ := secretbox.ParseKey(key)
	p, err := secretbox.NewSigner(k).Verify("link", u.Query().Get("t"), time.Now().Add(29*24*time.Hour))
	// The payload is shop:customer:issued-at (the issue time spends the link once its customer links).
	if err != nil || !strings.HasPrefix(string(p), strings.Join([]string{itoa(shop.ID), itoa(c.ID)}, ":")+":") {
		t.Fatalf("token payload %q, %v", p, err)
	}
	if err := run(ctx, []string{"link-url", "--shop", "nope.myshopify.com", "--customer", "1"}, getenv, &out, &errOut); err == nil {
		t.Fatal("unknown shop accepted")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
