// Package sandbox is a small stand-in for LINE (LINE Login and the parts of
// the Messaging API that linking uses) and for the two Shopify Admin calls
// linking makes (the coupon's discount code and the customer tag), served by
// `tsunagu serve` itself under /sandbox/ when TSUNAGU_SANDBOX is on. It lets
// a newcomer click through ID linking of the demo shop end to end without a
// LINE channel or a Shopify store: a consent page where they pick a demo
// LINE user, ID tokens signed like LINE's (HS256 with the channel secret,
// verified by the app's ordinary verifier) and a "phone" page that lists
// the messages each demo LINE user received.
//
// It is for development only: the production configuration refuses
// TSUNAGU_SANDBOX, and the production build (-tags prod) does not link this
// package. It is not the test fake (line/linetest): it validates only what
// the demo needs and keeps its state in memory.
package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Prefix is where the sandbox is mounted; LINEPath and ShopifyPath are its
// LINE and Shopify Admin origins under it.
const (
	Prefix      = "/sandbox"
	LINEPath    = Prefix + "/line"
	ShopifyPath = Prefix + "/shopify"
	// PhonePath lists the messages each demo LINE user received.
	PhonePath = LINEPath + "/phone"
)

// Channel is the one LINE channel pair and Shopify app the sandbox answers
// for: the demo shop's (app.SandboxCredentials derives them from the
// installation's secret key, so nothing secret is a constant).
type Channel struct {
	LoginChannelID     string
	LoginSecret        string
	MessagingChannelID string
	MessagingToken     string
	BotUserID          string
	BotName            string
	// ShopifyToken is the Admin API access token of the demo shop.
	ShopifyToken string
}

// User is a demo LINE user the consent page offers.
type User struct {
	ID   string
	Name string
}

// Message is one message a demo LINE user received.
type Message struct {
	At        time.Time
	RequestID string
	Type      string // text, flex, image, ...
	Text      string // the text, or a Flex message's altText
}

// Server is the sandbox. It is safe for concurrent use.
type Server struct {
	ch  Channel
	log *slog.Logger
	now func() time.Time
	mux *http.ServeMux

	mu       sync.Mutex
	codes    map[string]*authCode   // authorization code -> grant
	tokens   map[string]*loginGrant // LINE Login access token -> grant
	friends  map[string]bool        // LINE user id -> friend of the bot
	names    map[string]string      // LINE user id -> display name
	inbox    map[string][]Message   // LINE user id -> messages, oldest first
	retry    map[string]string      // X-Line-Retry-Key -> accepted request id
	discount int64
}

type authCode struct {
	clientID, redirectURI, nonce, challenge string
	user                                    User
	expires                                 time.Time
}

type loginGrant struct {
	clientID string
	user     User
	expires  time.Time
}

// DemoUsers are the LINE users the consent page offers (the page also takes
// any other name).
var DemoUsers = []User{
	UserNamed("Ken (demo)"),
	UserNamed("Aoi (demo)"),
	UserNamed("Sam (demo)"),
}

// UserNamed is the demo LINE user called name: the same name is always the
// same user id ("U" and 32 hex digits, like LINE's).
func UserNamed(name string) User {
	return User{ID: "U" + hex.EncodeToString(hashOf("sandbox-user:" + name)[:16]), Name: name}
}

// New returns the sandbox for ch. now is its clock (nil: time.Now).
func New(ch Channel, log *slog.Logger, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{ch: ch, log: log, now: now, mux: http.NewServeMux(),
		codes: map[string]*authCode{}, tokens: map[string]*loginGrant{}, friends: map[string]bool{},
		names: map[string]string{}, inbox: map[string][]Message{}, retry: map[string]string{}}
	s.lineLoginRoutes()
	s.messagingRoutes()
	s.shopifyRoutes()
	s.mux.HandleFunc("GET "+PhonePath, s.phone)
	return s
}

// ServeHTTP answers the sandbox's paths (all under Prefix).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// Inbox returns the messages userID received, oldest first.
func (s *Server) Inbox(userID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.inbox[userID]...)
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
