package line

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
)

// blobCall is call for the content (api-data) origin.
func (m *Messenger) blobCall(ctx context.Context, token string, ep Endpoint) (*messaging_api.MessagingApiBlobAPI, error) {
	if token == "" {
		return nil, errors.New("line: missing channel access token")
	}
	key := channelKey(token)
	m.mu.Lock()
	c, ok := m.blobClients[key]
	if !ok {
		var err error
		c, err = messaging_api.NewMessagingApiBlobAPI(token,
			messaging_api.WithBlobHTTPClient(m.hc),
			messaging_api.WithBlobEndpoint(m.dataAPIBase))
		if err != nil {
			m.mu.Unlock()
			return nil, fmt.Errorf("line: creating content client: %w", err)
		}
		m.blobClients[key] = c
	}
	m.mu.Unlock()
	if err := m.limiter.Wait(ctx, key, ep); err != nil {
		return nil, err
	}
	cp := *c
	return cp.WithContext(ctx), nil
}

// CreateRichMenu creates a rich menu from its JSON definition (as in LINE's
// reference) and returns its id. The image must be uploaded with
// UploadRichMenuImage before the menu can be linked.
func (m *Messenger) CreateRichMenu(ctx context.Context, channelToken string, menu json.RawMessage) (string, error) {
	var req messaging_api.RichMenuRequest
	if err := json.Unmarshal(menu, &req); err != nil {
		return "", fmt.Errorf("line: create rich menu: %w: %v", ErrInvalidMessage, err)
	}
	c, err := m.call(ctx, channelToken, EndpointRichMenuCreate)
	if err != nil {
		return "", fmt.Errorf("line: create rich menu: %w", err)
	}
	res, out, err := c.CreateRichMenuWithHttpInfo(&req)
	if err := callError("create rich menu", res, err); err != nil {
		return "", err
	}
	return out.RichMenuId, nil
}

// UploadRichMenuImage uploads the menu's image (image/png or image/jpeg).
func (m *Messenger) UploadRichMenuImage(ctx context.Context, channelToken, richMenuID, contentType string, image []byte) error {
	c, err := m.blobCall(ctx, channelToken, EndpointRichMenuImage)
	if err != nil {
		return fmt.Errorf("line: upload rich menu image: %w", err)
	}
	res, _, err := c.SetRichMenuImageWithHttpInfo(richMenuID, contentType, bytes.NewReader(image))
	return callError("upload rich menu image", res, err)
}

// LinkRichMenu shows richMenuID to one user (e.g. a "member" menu once
// their LINE account is linked to the shop).
func (m *Messenger) LinkRichMenu(ctx context.Context, channelToken, userID, richMenuID string) error {
	c, err := m.call(ctx, channelToken, EndpointRichMenuLink)
	if err != nil {
		return fmt.Errorf("line: link rich menu: %w", err)
	}
	res, _, err := c.LinkRichMenuIdToUserWithHttpInfo(userID, richMenuID)
	return callError("link rich menu", res, err)
}

// UnlinkRichMenu returns the user to the default rich menu.
func (m *Messenger) UnlinkRichMenu(ctx context.Context, channelToken, userID string) error {
	c, err := m.call(ctx, channelToken, EndpointRichMenuUnlink)
	if err != nil {
		return fmt.Errorf("line: unlink rich menu: %w", err)
	}
	res, _, err := c.UnlinkRichMenuIdFromUserWithHttpInfo(userID)
	return callError("unlink rich menu", res, err)
}

// SetDefaultRichMenu makes richMenuID the menu of every user who has no
// menu of their own.
func (m *Messenger) SetDefaultRichMenu(ctx context.Context, channelToken, richMenuID string) error {
	c, err := m.call(ctx, channelToken, EndpointRichMenuDefault)
	if err != nil {
		return fmt.Errorf("line: set default rich menu: %w", err)
	}
	res, _, err := c.SetDefaultRichMenuWithHttpInfo(richMenuID)
	return callError("set default rich menu", res, err)
}

// ClearDefaultRichMenu leaves the channel without a default menu.
func (m *Messenger) ClearDefaultRichMenu(ctx context.Context, channelToken string) error {
	c, err := m.call(ctx, channelToken, EndpointRichMenuDefault)
	if err != nil {
		return fmt.Errorf("line: clear default rich menu: %w", err)
	}
	res, _, err := c.CancelDefaultRichMenuWithHttpInfo()
	return callError("clear default rich menu", res, err)
}

// DeleteRichMenu deletes a menu; LINE takes it off its users and, if it
// was the default, leaves no default.
func (m *Messenger) DeleteRichMenu(ctx context.Context, channelToken, richMenuID string) error {
	c, err := m.call(ctx, channelToken, EndpointRichMenuDelete)
	if err != nil {
		return fmt.Errorf("line: delete rich menu: %w", err)
	}
	res, _, err := c.DeleteRichMenuWithHttpInfo(richMenuID)
	return callError("delete rich menu", res, err)
}

// Batches splits recipients into multicast-sized slices (MaxMulticastTo),
// in order, so that batch i is the same on every retry and can carry
// RetryKey(fmt.Sprintf("%s#%d", dedupeKey, i)).
func Batches(to []string) [][]string {
	var out [][]string
	for len(to) > 0 {
		n := min(len(to), MaxMulticastTo)
		out = append(out, to[:n:n])
		to = to[n:]
	}
	return out
}
