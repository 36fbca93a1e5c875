package templates

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// LINE's documented limits checked before a message is sent or saved.
const (
	maxTextRunes    = 5000
	maxAltTextRunes = 1500
	maxURIRunes     = 1000
	maxCarousel     = 12
)

// checkMessage checks one rendered LINE message object: its type and the
// fields LINE requires, walking Flex bubbles component by component. It
// covers what templates produce; LINE's full schema is checked in tests
// against the fake server.
func checkMessage(raw json.RawMessage) error {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	typ, _ := m["type"].(string)
	switch typ {
	case "":
		return errors.New("has no type")
	case "text":
		text, _ := m["text"].(string)
		if strings.TrimSpace(text) == "" {
			return errors.New("is an empty text")
		}
		if utf8.RuneCountInString(text) > maxTextRunes {
			return fmt.Errorf("text is over %d characters", maxTextRunes)
		}
	case "image":
		for _, k := range []string{"originalContentUrl", "previewImageUrl"} {
			if err := checkHTTPS(m[k], k); err != nil {
				return err
			}
		}
	case "sticker":
		if m["packageId"] == nil || m["stickerId"] == nil {
			return errors.New("sticker needs packageId and stickerId")
		}
	case "flex":
		alt, _ := m["altText"].(string)
		if strings.TrimSpace(alt) == "" {
			return errors.New("flex message needs altText")
		}
		if utf8.RuneCountInString(alt) > maxAltTextRunes {
			return fmt.Errorf("altText is over %d characters", maxAltTextRunes)
		}
		c, ok := m["contents"].(map[string]any)
		if !ok {
			return errors.New("flex message needs contents (a bubble or carousel)")
		}
		return checkContainer(c)
	default:
		return fmt.Errorf("message type %q is not supported in templates", typ)
	}
	return nil
}

func checkContainer(c map[string]any) error {
	switch c["type"] {
	case "bubble":
		return checkBubble(c, "contents")
	case "carousel":
		list, ok := c["contents"].([]any)
		if !ok || len(list) == 0 || len(list) > maxCarousel {
			return fmt.Errorf("carousel needs 1 to %d bubbles", maxCarousel)
		}
		for i, b := range list {
			bm, ok := b.(map[string]any)
			if !ok || bm["type"] != "bubble" {
				return fmt.Errorf("carousel item %d is not a bubble", i+1)
			}
			if err := checkBubble(bm, fmt.Sprintf("contents[%d]", i)); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("flex contents type %v is not bubble or carousel", c["type"])
}

func checkBubble(b map[string]any, path string) error {
	found := false
	for _, block := range []string{"header", "hero", "body", "footer"} {
		v, ok := b[block]
		if !ok {
			continue
		}
		found = true
		comp, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s.%s is not an object", path, block)
		}
		if block != "hero" && comp["type"] != "box" {
			return fmt.Errorf("%s.%s must be a box", path, block)
		}
		if err := checkComponent(comp, path+"."+block); err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("%s: bubble has no header, hero, body or footer", path)
	}
	return nil
}

func checkComponent(c map[string]any, path string) error {
	switch c["type"] {
	case "box":
		switch c["layout"] {
		case "horizontal", "vertical", "baseline":
		default:
			return fmt.Errorf("%s: box layout must be horizontal, vertical or baseline", path)
		}
		list, ok := c["contents"].([]any)
		if !ok {
			return fmt.Errorf("%s: box needs a contents array", path)
		}
		for i, v := range list {
			cm, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("%s.contents[%d] is not an object", path, i)
			}
			if err := checkComponent(cm, fmt.Sprintf("%s.contents[%d]", path, i)); err != nil {
				return err
			}
		}
	case "text":
		text, _ := c["text"].(string)
		spans, _ := c["contents"].([]any)
		if text == "" && len(spans) == 0 {
			return fmt.Errorf("%s: text component needs text", path)
		}
	case "button":
		a, ok := c["action"].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: button needs an action", path)
		}
		if l, _ := a["label"].(string); strings.TrimSpace(l) == "" {
			return fmt.Errorf("%s: button action needs a label", path)
		}
		return checkAction(a, path+".action")
	case "image", "icon":
		if err := checkHTTPS(c["url"], path+".url"); err != nil {
			return err
		}
	case "video":
		if err := checkHTTPS(c["url"], path+".url"); err != nil {
			return err
		}
	case "separator", "filler", "span":
	default:
		return fmt.Errorf("%s: unknown component type %v", path, c["type"])
	}
	if a, ok := c["action"].(map[string]any); ok && c["type"] != "button" {
		return checkAction(a, path+".action")
	}
	return nil
}

func checkAction(a map[string]any, path string) error {
	switch a["type"] {
	case "uri":
		s, _ := a["uri"].(string)
		if s == "" {
			return fmt.Errorf("%s: uri action needs a uri", path)
		}
		if utf8.RuneCountInString(s) > maxURIRunes {
			return fmt.Errorf("%s: uri is over %d characters", path, maxURIRunes)
		}
		u, err := url.Parse(s)
		if err != nil || !(u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "line" || u.Scheme == "tel") {
			return fmt.Errorf("%s: uri %q must be http, https, line or tel", path, s)
		}
	case "message":
		if t, _ := a["text"].(string); t == "" {
			return fmt.Errorf("%s: message action needs text", path)
		}
	case "postback":
		if d, _ := a["data"].(string); d == "" {
			return fmt.Errorf("%s: postback action needs data", path)
		}
	case "datetimepicker", "camera", "cameraRoll", "location", "richmenuswitch", "clipboard":
	default:
		return fmt.Errorf("%s: unknown action type %v", path, a["type"])
	}
	return nil
}

func checkHTTPS(v any, what string) error {
	s, _ := v.(string)
	u, err := url.Parse(s)
	if s == "" || err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%s must be an https URL", what)
	}
	return nil
}
