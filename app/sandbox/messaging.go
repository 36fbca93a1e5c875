package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"html/template"
	"net/http"
	"sort"
	"strings"
)

// The Messaging API calls linking makes (push of the link coupon, the bot's
// info and a friend's profile, the monthly quota), answered in LINE's
// shapes. A push to a demo user who added the bot lands in that user's
// inbox on the phone page; a retry key already accepted answers 409 with
// X-Line-Accepted-Request-Id, as LINE does.
func (s *Server) messagingRoutes() {
	bot := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if subtle.ConstantTimeCompare([]byte(tok), []byte(s.ch.MessagingToken)) != 1 {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Authentication failed. Confirm that the access token in the authorization header is valid."})
				return
			}
			w.Header().Set("X-Line-Request-Id", randomID(16))
			h(w, r)
		}
	}
	s.mux.HandleFunc("POST "+LINEPath+"/v2/bot/message/push", bot(s.push))
	s.mux.HandleFunc("POST "+LINEPath+"/v2/bot/message/multicast", bot(s.multicast))
	s.mux.HandleFunc("GET "+LINEPath+"/v2/bot/info", bot(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"userId": s.ch.BotUserID, "basicId": "@sandbox",
			"displayName": s.ch.BotName, "chatMode": "bot", "markAsReadMode": "auto"})
	}))
	s.mux.HandleFunc("GET "+LINEPath+"/v2/bot/profile/{userId}", bot(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("userId")
		s.mu.Lock()
		name, friend := s.names[id], s.friends[id]
		s.mu.Unlock()
		if !friend {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not found"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"userId": id, "displayName": name, "language": "ja"})
	}))
	s.mux.HandleFunc("GET "+LINEPath+"/v2/bot/message/quota", bot(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"type": "none"})
	}))
	s.mux.HandleFunc("GET "+LINEPath+"/v2/bot/message/quota/consumption", bot(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := 0
		for _, in := range s.inbox {
			n += len(in)
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]int{"totalUsage": n})
	}))
	// Anything else is said plainly, not faked.
	s.mux.HandleFunc(LINEPath+"/", func(w http.ResponseWriter, r *http.Request) {
		s.log.WarnContext(r.Context(), "the LINE sandbox does not answer this call", "method", r.Method, "path", r.URL.Path)
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "The LINE sandbox does not answer " + r.Method + " " + r.URL.Path})
	})
}

type sendBody struct {
	To       json.RawMessage   `json:"to"`
	Messages []json.RawMessage `json:"messages"`
}

func (s *Server) readSend(w http.ResponseWriter, r *http.Request) (sendBody, []Message, bool) {
	var b sendBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&b); err != nil || len(b.Messages) == 0 || len(b.Messages) > 5 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "The request body has 1 error(s)"})
		return b, nil, false
	}
	msgs := make([]Message, 0, len(b.Messages))
	for _, raw := range b.Messages {
		var m struct {
			Type    string `json:"type"`
			Text    string `json:"text"`
			AltText string `json:"altText"`
		}
		_ = json.Unmarshal(raw, &m)
		text := m.Text
		if text == "" {
			text = m.AltText
		}
		msgs = append(msgs, Message{Type: m.Type, Text: text})
	}
	return b, msgs, true
}

// accept records a retry key; it reports the earlier request id when the
// key was accepted before.
func (s *Server) accept(w http.ResponseWriter, r *http.Request) bool {
	key := r.Header.Get("X-Line-Retry-Key")
	if key == "" {
		return true
	}
	s.mu.Lock()
	prev, seen := s.retry[key]
	if !seen {
		s.retry[key] = w.Header().Get("X-Line-Request-Id")
	}
	s.mu.Unlock()
	if seen {
		w.Header().Set("X-Line-Accepted-Request-Id", prev)
		writeJSON(w, http.StatusConflict, map[string]string{"message": "The retry key is already accepted"})
		return false
	}
	return true
}

// deliver puts msgs in userID's inbox if the user added the bot.
func (s *Server) deliver(userID, requestID string, msgs []Message) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.friends[userID] {
		return false
	}
	for _, m := range msgs {
		m.At, m.RequestID = now, requestID
		s.inbox[userID] = append(s.inbox[userID], m)
	}
	return true
}

func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	b, msgs, ok := s.readSend(w, r)
	if !ok {
		return
	}
	var to string
	if json.Unmarshal(b.To, &to) != nil || to == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "The property, 'to', in the request body is invalid"})
		return
	}
	if !s.accept(w, r) {
		return
	}
	rid := w.Header().Get("X-Line-Request-Id")
	if !s.deliver(to, rid, msgs) {
		s.log.InfoContext(r.Context(), "LINE sandbox: push to a user who has not added the bot", "to", to)
	}
	sent := make([]map[string]string, len(msgs))
	for i := range msgs {
		sent[i] = map[string]string{"id": randomID(8), "quoteToken": randomID(16)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sentMessages": sent})
}

func (s *Server) multicast(w http.ResponseWriter, r *http.Request) {
	b, msgs, ok := s.readSend(w, r)
	if !ok {
		return
	}
	var to []string
	if json.Unmarshal(b.To, &to) != nil || len(to) == 0 || len(to) > 500 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "The property, 'to', in the request body is invalid"})
		return
	}
	if !s.accept(w, r) {
		return
	}
	rid := w.Header().Get("X-Line-Request-Id")
	for _, u := range to {
		s.deliver(u, rid, msgs)
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

var phoneTmpl = template.Must(template.New("phone").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sandbox phone</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}
.banner{background:#fff3cd;border:1px solid #e0c36b;padding:.5rem .75rem;border-radius:6px;font-size:.9rem}
.chat{background:#8cabd9;padding:.75rem;border-radius:12px}.msg{background:#fff;border-radius:12px;padding:.5rem .75rem;margin:.5rem 0;white-space:pre-wrap;list-style:none}
.msg small{display:block;color:#666}ul{padding:0}</style></head>
<body><p class="banner">Tsunagu's <b>LINE sandbox</b>: what each demo LINE user's phone received. Reload to see new messages.</p>
<h1>Sandbox phone</h1>
{{if not .Users}}<p id="empty">No demo LINE user has signed in yet: open a link URL of the demo shop (README, Demo).</p>{{end}}
{{range .Users}}<section class="user" data-user="{{.ID}}"><h2>{{.Name}}{{if not .Friend}} <small>(has not added {{$.BotName}})</small>{{end}}</h2>
<div class="chat"><span>{{$.BotName}}</span><ul>
{{range .Messages}}<li class="msg" data-type="{{.Type}}">{{.Text}}<small>{{.At.Format "2006-01-02 15:04:05"}}{{if ne .Type "text"}} · {{.Type}} message{{end}}</small></li>
{{else}}<li class="msg none">No messages yet.</li>{{end}}</ul></div></section>{{end}}
</body></html>`))

type phoneUser struct {
	ID, Name string
	Friend   bool
	Messages []Message
}

// phone lists each demo LINE user who signed in and the messages they got
// (?user= narrows it to one).
func (s *Server) phone(w http.ResponseWriter, r *http.Request) {
	only := r.URL.Query().Get("user")
	s.mu.Lock()
	var users []phoneUser
	for id, name := range s.names {
		if only == "" || only == id {
			users = append(users, phoneUser{ID: id, Name: name, Friend: s.friends[id], Messages: append([]Message(nil), s.inbox[id]...)})
		}
	}
	s.mu.Unlock()
	sort.Slice(users, func(i, j int) bool { return users[i].Name < users[j].Name })
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = phoneTmpl.Execute(w, map[string]any{"Users": users, "BotName": s.ch.BotName})
}
