package jobs

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/line/linetest"
	"github.com/tsunagu/tsunagu/shopify"
)

// No customer payload carries a locale any more, so the order's
// customer_locale decides: a buyer who shopped in English gets the English
// thank-you, one who shopped in Japanese the Japanese one.
func TestOrderLocalePicksTheLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fake := linetest.NewServer(t)
	e.w.LINE = line.NewMessenger(fake.URL, nil)
	cases := []struct {
		order  int64
		locale string
		want   string
		not    string
	}{
		{7301, "en", "Thank you", "ありがとうございます"},
		{7302, "ja", "ありがとうございます", "Thank you"},
	}
	for _, tc := range cases {
		e.mustEvent(shopify.TopicOrdersCreate, orderJSON(tc.order, 7001, fmt.Sprintf(`, "customer_locale": %q`, tc.locale)))
		m, err := e.sendAt(e.key(KindThankYou, fmt.Sprintf("o%d", tc.order)), t0)
		if err != nil || m.Status != store.MsgSent {
			t.Fatalf("order %d (%s): %v %s %q", tc.order, tc.locale, err, m.Status, m.Reason)
		}
		if !strings.Contains(m.Content, tc.want) || strings.Contains(m.Content, tc.not) {
			t.Errorf("order %d in %s got: %.200s", tc.order, tc.locale, m.Content)
		}
	}
	if r := fake.Rejected(); len(r) > 0 {
		t.Fatalf("LINE would refuse: %v", r)
	}
}
