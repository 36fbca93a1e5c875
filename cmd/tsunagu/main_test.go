package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestAdminURLCommand(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"TSUNAGU_DATA_DIR": t.TempDir(), "TSUNAGU_BASE_URL": "https://tsunagu.example.com",
		"TSUNAGU_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"admin-url", "--shop", "My-Store", "--ttl", "5m"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("%v (%s)", err, errOut.String())
	}
	if u := strings.TrimSpace(out.String()); !strings.HasPrefix(u, "https://tsunagu.example.com/admin/session?token=") {
		t.Fatalf("printed %q", u)
	}
	for _, args := range [][]string{{"admin-url"}, {"admin-url", "--shop", "evil.com"}} {
		if err := run(context.Background(), args, getenv, &out, &errOut); err == nil {
			t.Fatalf("%v: no error", args)
		}
	}
}
