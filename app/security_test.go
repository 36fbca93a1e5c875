package app

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/testenv"
)

// H2: webhook metric labels come only from known values. Unsigned posts
// with made-up or huge topics, and signed ones with unknown topics, add no
// series and no bytes of the attacker's choosing to /metrics.
func TestWebhookMetricLabelsBounded(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testenv.SQLite(t), testenv.Redis(t), "http://127.0.0.1:1")
	body, _ := orderFixture(t)
	huge := strings.Repeat("t", 64<<10)
	for i := range 200 {
		deliver(t, a, webhookRequest(fmt.Sprintf("attack/%d", i), fmt.Sprintf("u%d", i), body, ""))
		deliver(t, a, webhookRequest(fmt.Sprintf("signed/%d", i), fmt.Sprintf("s%d", i), []byte(`{}`), testSecret))
	}
	deliver(t, a, webhookRequest(huge, "h1", body, ""))
	out := adminDo(t, a, "", "GET", "/metrics", nil).Body.String()
	series := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "tsunagu_webhooks_received_total{") {
			series++
		}
	}
	if series > 4 {
		t.Errorf("%d webhook series after 401 posts with distinct topics, want a handful", series)
	}
	if strings.Contains(out, "attack/") || strings.Contains(out, "signed/") || strings.Contains(out, huge[:100]) {
		t.Error("/metrics carries a topic a sender made up")
	}
	if !strings.Contains(out, `tsunagu_webhooks_received_total{source="shopify",status="401",topic="unsigned"} 201`) {
		t.Errorf("unsigned posts not counted as such:\n%s", grepLines(out, "tsunagu_webhooks_received_total"))
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
