package testenv

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestBrowserRendersAPage(t *testing.T) {
	// Not parallel: Chromium is CPU-heavy; beside other tests it can outlast its time budget.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>t</title><p id="x">つなぐ</p><script>document.getElementById("x").dataset.js = "on"</script>`))
	}))
	defer srv.Close()
	ctx := Browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text("#x"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := chromedp.Run(ctx, chromedp.AttributeValue("#x", "data-js"))
	if err != nil {
		t.Fatal(err)
	}
	if text != "つなぐ" || js.Value != "on" {
		t.Fatalf("text %q, js %q", text, js.Value)
	}
	path := Screenshot(t, ctx, "testenv_browser")
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("screenshot not written: %v", err)
	}
}
