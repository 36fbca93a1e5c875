package core

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
)

// ThreadEntry is one line of a conversation with a LINE friend.
type ThreadEntry struct {
	At       time.Time
	Dir      string // in, out, event
	Kind     string
	Texts    []string
	Status   string
	Reason   string
	Delivery string
	Staff    string
}

// Conversation is what staff see of one friend: the thread (the latest
// activities and messages, oldest first), the shop's canned replies and
// the names of the active staff who may be named as sender.
type Conversation struct {
	Friend *store.LineFriend
	Thread []ThreadEntry
	Canned []store.CannedReply
	Staff  []string
}

// conversationDepth is how many activities and messages a conversation shows.
const conversationDepth = 100

// OpenConversation loads friend friendID of the shop for staff and marks it
// read. An unknown friend (or another shop's) is ErrNotFound.
func OpenConversation(ctx context.Context, db *store.DB, shopID, friendID int64) (*Conversation, error) {
	f, err := db.Friend(ctx, shopID, friendID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errorf(ENOTFOUND, "not found")
	}
	if err != nil {
		return nil, err
	}
	if err := db.MarkFriendRead(ctx, shopID, f.ID); err != nil {
		return nil, err
	}
	acts, msgs, err := db.FriendTimeline(ctx, f.ID, conversationDepth)
	if err != nil {
		return nil, err
	}
	cv := &Conversation{Friend: f}
	for _, ac := range acts {
		e := ThreadEntry{At: ac.OccurredAt, Dir: "event", Kind: ac.Kind}
		if ac.Kind == store.ActLineMessageIn {
			e.Dir, e.Texts = "in", []string{ac.Summary}
		}
		cv.Thread = append(cv.Thread, e)
	}
	for _, m := range msgs {
		at := m.CreatedAt
		if m.SentAt != nil {
			at = *m.SentAt
		}
		cv.Thread = append(cv.Thread, ThreadEntry{At: at, Dir: "out", Kind: m.Kind, Texts: MessageTexts(m.Content), Status: m.Status,
			Reason: m.Reason, Delivery: m.Delivery, Staff: m.StaffName})
	}
	sort.SliceStable(cv.Thread, func(i, j int) bool { return cv.Thread[i].At.Before(cv.Thread[j].At) })
	if cv.Canned, err = db.CannedReplies(ctx, shopID); err != nil {
		return nil, err
	}
	staff, err := db.ListStaff(ctx, shopID)
	if err != nil {
		return nil, err
	}
	for _, s := range staff {
		if s.DisabledAt == nil && s.Name != "" {
			cv.Staff = append(cv.Staff, s.Name)
		}
	}
	return cv, nil
}

// MessageTexts turns a stored message (a JSON array of LINE messages) into
// the lines a person reads: a text's text, otherwise "[type] altText".
func MessageTexts(content string) []string {
	var msgs []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		AltText  string `json:"altText"`
		Contents any    `json:"contents"`
	}
	if json.Unmarshal([]byte(content), &msgs) != nil {
		if content == "" {
			return nil
		}
		return []string{content}
	}
	var out []string
	for _, m := range msgs {
		switch {
		case m.Type == "text":
			out = append(out, m.Text)
		case m.AltText != "":
			out = append(out, "["+m.Type+"] "+m.AltText)
		default:
			out = append(out, "["+m.Type+"]")
		}
	}
	return out
}
