package app

import (
	"fmt"
	"testing"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// BenchmarkLineWebhookIngest measures a signed LINE webhook with one text
// message event: verify, parse, store the event, acknowledge.
func BenchmarkLineWebhookIngest(b *testing.B) {
	testenv.EachDBBench(b, func(b *testing.B, db *store.DB) {
		e := newLinkEnv(b, db, testenv.Redis(b), "")
		tmpl := `{"destination":"U0","events":[{"type":"message","mode":"active","timestamp":1462629479859,` +
			`"source":{"type":"user","userId":"%s"},"webhookEventId":"bench-%d","deliveryContext":{"isRedelivery":false},` +
			`"replyToken":"r","message":{"id":"%d","type":"text","text":"こんにちは"}}]}`
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			body := []byte(fmt.Sprintf(tmpl, testLineUser, i, i))
			if rec := e.lineWebhook(testWebhookKey, body, lineSign(testMsgSecret, body)); rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}

// BenchmarkLinkFlow measures one whole link on the server side: /link/start,
// the fake LINE's authorize redirect, /link/callback (code exchange, ID
// token verification, friendship, the link/coupon/event transaction and
// the result page), each iteration a new customer.
func BenchmarkLinkFlow(b *testing.B) {
	testenv.EachDBBench(b, func(b *testing.B, db *store.DB) {
		e := newLinkEnv(b, db, testenv.Redis(b), "")
		custs := make([]*store.Customer, b.N)
		for i := range custs {
			custs[i] = addCustomer(b, db, e.s.ID, int64(900000+i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			e.line.SetLoginUser(fmt.Sprintf("U%032x", i), "Bench", true)
			b.StartTimer()
			la := e.authorize(b, e.start(b, custs[i]))
			if rec := e.callback(la, la.callback, ""); rec.Code != 200 {
				b.Fatalf("callback %d", rec.Code)
			}
		}
	})
}
