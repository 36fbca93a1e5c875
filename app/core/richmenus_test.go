package core_test

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/core"
)

func encode(t *testing.T, w, h int, format string, noise bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{6, 199, 85, 255}
			if noise {
				c = color.RGBA{uint8(r.UintN(256)), uint8(r.UintN(256)), uint8(r.UintN(256)), 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, nil)
	case "gif":
		err = gif.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// LINE's image rules: JPEG or PNG, 1 MB, width 800–2500, height ≥ 250,
// width ÷ height ≥ 1.45.
func TestCheckRichMenuImage(t *testing.T) {
	t.Parallel()
	okPNG := encode(t, 2500, 1686, "png", false)
	tests := []struct {
		name, want string // want: "" accepted, else part of the error
		img        []byte
		ct         string
	}{
		{"png 2500×1686", "", okPNG, "image/png"},
		{"jpeg 2500×843", "", encode(t, 2500, 843, "jpeg", false), "image/jpeg"},
		{"smallest 800×270", "", encode(t, 800, 270, "png", false), "image/png"},
		{"aspect exactly 1.45 (1160×800)", "", encode(t, 1160, 800, "png", false), "image/png"},
		{"empty", "choose", nil, ""},
		{"gif", "not a JPEG or PNG", encode(t, 1200, 405, "gif", false), ""},
		{"text", "not a JPEG or PNG", []byte("hello"), ""},
		{"799 wide", "width must be", encode(t, 799, 270, "png", false), ""},
		{"2501 wide", "width must be", encode(t, 2501, 843, "png", false), ""},
		{"249 high", "height must be", encode(t, 800, 249, "png", false), ""},
		{"aspect 1.44 (1152×800)", "width ÷ height", encode(t, 1152, 800, "png", false), ""},
		{"over 1 MB", "at most 1 MB", encode(t, 2500, 843, "png", true), ""},
		{"truncated", "damaged", okPNG[:len(okPNG)/2], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ct, _, _, err := core.CheckRichMenuImage(tt.img)
			if tt.want == "" {
				if err != nil || ct != tt.ct {
					t.Errorf("refused or wrong type: %q %v", ct, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || core.ErrorCode(err) != core.EINVALID {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckRichMenu(t *testing.T) {
	t.Parallel()
	area := func(x, y, w, h int, a core.RichMenuAction) core.RichMenuArea {
		return core.RichMenuArea{Bounds: core.RichMenuBounds{X: x, Y: y, Width: w, Height: h}, Action: a}
	}
	link := core.RichMenuAction{Type: "uri", URI: "https://shop.example/sale"}
	menu := func(edit func(d *core.RichMenuDef)) core.RichMenuDef {
		d := core.RichMenuDef{Size: core.RichMenuSize{Width: 2500, Height: 843}, Name: "main", ChatBarText: "メニュー",
			Areas: []core.RichMenuArea{area(0, 0, 1250, 843, link), area(1250, 0, 1250, 843, core.RichMenuAction{Type: "message", Text: "クーポン"})}}
		if edit != nil {
			edit(&d)
		}
		return d
	}
	many := make([]core.RichMenuArea, 21)
	for i := range many {
		many[i] = area(i*100, 0, 100, 100, link)
	}
	tests := []struct {
		name, want string
		def        core.RichMenuDef
	}{
		{"ok", "", menu(nil)},
		{"postback", "", menu(func(d *core.RichMenuDef) {
			d.Areas[0].Action = core.RichMenuAction{Type: "postback", Data: "action=coupon", DisplayText: "クーポン"}
		})},
		{"twenty areas", "", menu(func(d *core.RichMenuDef) { d.Areas = many[:20] })},
		{"size differs from the image", "size:", menu(func(d *core.RichMenuDef) { d.Size.Height = 1686 })},
		{"no name", "name:", menu(func(d *core.RichMenuDef) { d.Name = "" })},
		{"chat bar 15 characters", "chatBarText:", menu(func(d *core.RichMenuDef) { d.ChatBarText = strings.Repeat("あ", 15) })},
		{"no areas", "areas:", menu(func(d *core.RichMenuDef) { d.Areas = nil })},
		{"21 areas", "areas:", menu(func(d *core.RichMenuDef) { d.Areas = many })},
		{"area past the right edge", "areas[1].bounds", menu(func(d *core.RichMenuDef) { d.Areas[1].Bounds.Width = 1251 })},
		{"negative y", "areas[0].bounds", menu(func(d *core.RichMenuDef) { d.Areas[0].Bounds.Y = -1 })},
		{"zero width", "areas[0].bounds", menu(func(d *core.RichMenuDef) { d.Areas[0].Bounds.Width = 0 })},
		{"javascript link", "areas[0].action.uri", menu(func(d *core.RichMenuDef) { d.Areas[0].Action.URI = "javascript:alert(1)" })},
		{"relative link", "areas[0].action.uri", menu(func(d *core.RichMenuDef) { d.Areas[0].Action.URI = "/sale" })},
		{"empty message", "areas[1].action.text", menu(func(d *core.RichMenuDef) { d.Areas[1].Action.Text = "" })},
		{"postback data 301", "areas[0].action.data", menu(func(d *core.RichMenuDef) {
			d.Areas[0].Action = core.RichMenuAction{Type: "postback", Data: strings.Repeat("x", 301)}
		})},
		{"label 21", "areas[0].action.label", menu(func(d *core.RichMenuDef) { d.Areas[0].Action.Label = strings.Repeat("x", 21) })},
		{"unknown action", "areas[0].action.type", menu(func(d *core.RichMenuDef) { d.Areas[0].Action = core.RichMenuAction{Type: "camera"} })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := core.CheckRichMenu(tt.def, 2500, 843)
			if tt.want == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(core.ErrorMessage(err), tt.want) {
				t.Errorf("err = %v, want it to start with %q", err, tt.want)
			}
		})
	}
}
