package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // rich menu images are JPEG or PNG
	_ "image/png"
	"net/url"
	"unicode/utf8"

	"github.com/tsunagu/tsunagu/app/store"
)

// LINE's rules for rich menus (Messaging API reference, "Rich menu object",
// "Area object" and "Upload rich menu image", as of 2026; the request shape
// is RichMenuRequest in testdata/line/openapi/messaging-api.yml).
const (
	RichMenuMaxImageBytes = 1 << 20 // 1 MB
	RichMenuMinWidth      = 800
	RichMenuMaxWidth      = 2500
	RichMenuMinHeight     = 250
	RichMenuMinAspect     = 1.45 // width ÷ height
	RichMenuMaxAreas      = 20
	RichMenuMaxChatBar    = 14
	RichMenuMaxName       = 300
	richMenuMaxText       = 300 // message text, postback data and display text
	richMenuMaxURI        = 1000
	richMenuMaxLabel      = 20
)

// RichMenuDef is a rich menu as LINE's create call takes it.
type RichMenuDef struct {
	Size        RichMenuSize   `json:"size"`
	Selected    bool           `json:"selected"`
	Name        string         `json:"name"`
	ChatBarText string         `json:"chatBarText"`
	Areas       []RichMenuArea `json:"areas"`
}

// RichMenuSize is the menu's (and its image's) size in pixels.
type RichMenuSize struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// RichMenuArea is one tap area.
type RichMenuArea struct {
	Bounds RichMenuBounds `json:"bounds"`
	Action RichMenuAction `json:"action"`
}

// RichMenuBounds places a tap area on the image, in the image's pixels.
type RichMenuBounds struct {
	X      int `json:"x"`
	Y      int `json:"y"`
	Width  int `json:"width"`
	Height int `json:"height"`
}

// RichMenuAction is what a tap does: open a link (uri), send a message as
// the user (message), or send the bot data (postback).
type RichMenuAction struct {
	Type        string `json:"type"`
	Label       string `json:"label,omitempty"`
	URI         string `json:"uri,omitempty"`
	Text        string `json:"text,omitempty"`
	Data        string `json:"data,omitempty"`
	DisplayText string `json:"displayText,omitempty"`
}

// CheckRichMenuImage checks an image against LINE's rules and returns its
// content type (sniffed, not trusted from the client) and size. The image
// is decoded in full, so a corrupt file is refused here rather than by
// LINE; the size checks come first, so that costs at most 2500×1724 pixels.
func CheckRichMenuImage(img []byte) (contentType string, w, h int, err error) {
	if len(img) == 0 {
		return "", 0, 0, Errorf(EINVALID, "image: choose a JPEG or PNG image")
	}
	if len(img) > RichMenuMaxImageBytes {
		return "", 0, 0, Errorf(EINVALID, "image: %d bytes, at most 1 MB (%d bytes)", len(img), RichMenuMaxImageBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(img))
	if err != nil || (format != "png" && format != "jpeg") {
		return "", 0, 0, Errorf(EINVALID, "image: not a JPEG or PNG image")
	}
	w, h = cfg.Width, cfg.Height
	switch {
	case w < RichMenuMinWidth || w > RichMenuMaxWidth:
		return "", 0, 0, Errorf(EINVALID, "image: %d×%d pixels; the width must be %d to %d (2500×1686 or 2500×843 recommended)", w, h, RichMenuMinWidth, RichMenuMaxWidth)
	case h < RichMenuMinHeight:
		return "", 0, 0, Errorf(EINVALID, "image: %d×%d pixels; the height must be at least %d", w, h, RichMenuMinHeight)
	case float64(w)/float64(h) < RichMenuMinAspect:
		return "", 0, 0, Errorf(EINVALID, "image: %d×%d pixels; width ÷ height must be at least %.2f (2500×1686 or 2500×843 recommended)", w, h, RichMenuMinAspect)
	}
	if _, _, err := image.Decode(bytes.NewReader(img)); err != nil {
		return "", 0, 0, Errorf(EINVALID, "image: the file is damaged (%v)", err)
	}
	return "image/" + format, w, h, nil
}

// CheckRichMenu checks a menu definition for an image of w×h pixels. Its
// messages start with the field they are about ("areas[2].action.uri: …").
func CheckRichMenu(d RichMenuDef, w, h int) error {
	if d.Size.Width != w || d.Size.Height != h {
		return Errorf(EINVALID, "size: the menu is %d×%d but the image %d×%d", d.Size.Width, d.Size.Height, w, h)
	}
	if n := utf8.RuneCountInString(d.Name); n == 0 || n > RichMenuMaxName {
		return Errorf(EINVALID, "name: 1 to %d characters", RichMenuMaxName)
	}
	if n := utf8.RuneCountInString(d.ChatBarText); n == 0 || n > RichMenuMaxChatBar {
		return Errorf(EINVALID, "chatBarText: 1 to %d characters", RichMenuMaxChatBar)
	}
	if len(d.Areas) == 0 || len(d.Areas) > RichMenuMaxAreas {
		return Errorf(EINVALID, "areas: 1 to %d tap areas", RichMenuMaxAreas)
	}
	for i, a := range d.Areas {
		b := a.Bounds
		if b.X < 0 || b.Y < 0 || b.Width < 1 || b.Height < 1 || b.X+b.Width > w || b.Y+b.Height > h {
			return Errorf(EINVALID, "areas[%d].bounds: (%d,%d) %d×%d is not inside the %d×%d image", i, b.X, b.Y, b.Width, b.Height, w, h)
		}
		if err := checkRichMenuAction(a.Action); err != nil {
			return Errorf(EINVALID, "areas[%d].action.%s", i, ErrorMessage(err))
		}
	}
	return nil
}

func checkRichMenuAction(a RichMenuAction) error {
	if utf8.RuneCountInString(a.Label) > richMenuMaxLabel {
		return Errorf(EINVALID, "label: at most %d characters", richMenuMaxLabel)
	}
	text := func(field, v string, required bool) error {
		if n := utf8.RuneCountInString(v); (required && n == 0) || n > richMenuMaxText {
			return Errorf(EINVALID, "%s: 1 to %d characters", field, richMenuMaxText)
		}
		return nil
	}
	switch a.Type {
	case "uri":
		u, err := url.Parse(a.URI)
		if err != nil || len(a.URI) > richMenuMaxURI || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "line" && u.Scheme != "tel") ||
			(u.Scheme != "tel" && u.Host == "" && u.Opaque == "") {
			return Errorf(EINVALID, "uri: an https://, http://, line:// or tel: link of at most %d characters", richMenuMaxURI)
		}
	case "message":
		return text("text", a.Text, true)
	case "postback":
		if err := text("data", a.Data, true); err != nil {
			return err
		}
		return text("displayText", a.DisplayText, false)
	default:
		return Errorf(EINVALID, "type: link (uri), message or postback")
	}
	return nil
}

// RichMenuInput is a menu made on the admin page.
type RichMenuInput struct {
	Definition json.RawMessage
	Image      []byte
	Audience   string // store.AudienceDefault, AudienceLinked or AudienceSegment
	SegmentID  *int64
	Priority   int
	// Replaces is the menu this one replaces (an edit: LINE's menus cannot
	// be changed, so an edit is a new menu); 0 for none. Without a new
	// image the replaced menu's is kept.
	Replaces int64
	// ChannelID is the LINE account the menu is for (0: the replaced
	// menu's account, else the shop's primary).
	ChannelID int64
}

// CreateRichMenu checks a menu against LINE's rules and stores it for the
// rich-menu sync to publish (create, upload, link) and report on.
func CreateRichMenu(ctx context.Context, db *store.DB, shopID int64, in RichMenuInput) (*store.RichMenu, error) {
	img := in.Image
	var channel *int64
	if in.Replaces != 0 {
		old, err := db.RichMenu(ctx, shopID, in.Replaces)
		if errors.Is(err, store.ErrNotFound) {
			return nil, Errorf(ENOTFOUND, "rich menu %d not found", in.Replaces)
		}
		if err != nil {
			return nil, err
		}
		if len(img) == 0 {
			img = old.Image
		}
		channel = old.ChannelID
	}
	// The LINE account: the one chosen, else the replaced menu's, else
	// the primary (none before an account is connected).
	switch ch, err := db.LineChannelFor(ctx, shopID, in.ChannelID); {
	case in.ChannelID != 0 && errors.Is(err, store.ErrNotFound):
		return nil, Errorf(EINVALID, "channel_id: LINE account %d not found", in.ChannelID)
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	case in.ChannelID != 0 || channel == nil:
		channel = &ch.ID
	}
	ct, w, h, err := CheckRichMenuImage(img)
	if err != nil {
		return nil, err
	}
	var def RichMenuDef
	if err := json.Unmarshal(in.Definition, &def); err != nil {
		return nil, Errorf(EINVALID, "menu: not a rich menu object (%v)", err)
	}
	if err := CheckRichMenu(def, w, h); err != nil {
		return nil, err
	}
	switch in.Audience {
	case "":
		in.Audience = store.AudienceSegment
		if in.SegmentID == nil {
			in.Audience = store.AudienceDefault
		}
	case store.AudienceDefault, store.AudienceLinked, store.AudienceSegment:
	default:
		return nil, Errorf(EINVALID, "audience: default, linked or segment")
	}
	if in.Audience != store.AudienceSegment {
		in.SegmentID = nil
	} else if in.SegmentID == nil {
		return nil, Errorf(EINVALID, "segment_id: choose a segment")
	} else if _, err := db.SegmentByID(ctx, shopID, *in.SegmentID); errors.Is(err, store.ErrNotFound) {
		return nil, Errorf(EINVALID, "segment_id: segment %d not found", *in.SegmentID)
	} else if err != nil {
		return nil, err
	}
	if in.Priority < 0 || in.Priority > 1000 {
		return nil, Errorf(EINVALID, "priority: 0 to 1000")
	}
	canon, _ := json.Marshal(def) // what LINE gets: only the fields checked here
	m := &store.RichMenu{ShopID: shopID, Name: def.Name, Definition: canon, Audience: in.Audience, SegmentID: in.SegmentID,
		Priority: in.Priority, Image: img, ImageType: ct, ChannelID: channel}
	if err := db.CreateRichMenu(ctx, m, in.Replaces); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, Errorf(ENOTFOUND, "rich menu %d not found", in.Replaces)
		}
		return nil, fmt.Errorf("creating rich menu: %w", err)
	}
	return m, nil
}
