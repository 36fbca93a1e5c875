package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/line"
)

// TypeRichMenuSync relinks a shop's LINE users to the menu of their
// segment. Syncs are now the "richmenu_sync:<shop>" schedules
// (RequestRichMenuSync); a leftover task of this type still runs one.
const TypeRichMenuSync = "richmenu:sync"

// RichMenuLINE is what the rich-menu sync asks of LINE (line.Messenger).
type RichMenuLINE interface {
	CreateRichMenu(ctx context.Context, channelToken string, menu json.RawMessage) (string, error)
	UploadRichMenuImage(ctx context.Context, channelToken, richMenuID, contentType string, image []byte) error
	SetDefaultRichMenu(ctx context.Context, channelToken, richMenuID string) error
	ClearDefaultRichMenu(ctx context.Context, channelToken string) error
	DeleteRichMenu(ctx context.Context, channelToken, richMenuID string) error
	LinkRichMenu(ctx context.Context, channelToken, userID, richMenuID string) error
	UnlinkRichMenu(ctx context.Context, channelToken, userID string) error
}

type shopPayload struct {
	ShopID int64 `json:"shop_id"`
}

func (w *Worker) registerRichMenus(mux *asynq.ServeMux) {
	mux.HandleFunc(TypeRichMenuSync, func(ctx context.Context, t *asynq.Task) error {
		var p shopPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("decoding %s payload: %w: %w", t.Type(), err, asynq.SkipRetry)
		}
		_, err := w.SyncRichMenus(ctx, p.ShopID)
		return err
	})
}

// SyncRichMenus brings LINE in line with the shop's rich menus, account by
// account: each LINE account (channel) of the shop gets its own menus,
// created, given their image, set as its default and linked to its users
// with its own token (a rich menu exists only on the account that created
// it). It publishes new menus (create, then upload the image), sets or
// clears each account's default menu, gives every customer linked on an
// account the menu of the highest-priority audience they are in among that
// account's menus (calling LINE only for those whose menu changed), and
// deletes at LINE the menus deleted in the admin. Each menu records how far
// it got and the last error, for the admin page. It returns how many users
// it relinked.
func (w *Worker) SyncRichMenus(ctx context.Context, shopID int64) (int, error) {
	shop, err := w.DB.Shop(ctx, shopID)
	if err != nil || !shop.Active() {
		return 0, err
	}
	api, ok := w.LINE.(RichMenuLINE)
	if !ok {
		return 0, fmt.Errorf("the LINE client cannot manage rich menus: %w", asynq.SkipRetry)
	}
	menus, err := w.DB.RichMenus(ctx, shopID)
	if err != nil {
		return 0, err
	}
	gone, err := w.DB.DeletedRichMenus(ctx, shopID)
	if err != nil {
		return 0, err
	}
	chs, err := w.DB.LineChannels(ctx, shopID)
	if err != nil {
		return 0, err
	}
	var primary int64
	for _, ch := range chs {
		if ch.IsPrimary {
			primary = ch.ID
		}
	}
	if primary == 0 { // no LINE account yet: nothing can be published
		return 0, w.richMenusWithoutChannel(ctx, menus)
	}
	changed := 0
	var errs []error
	for i := range chs {
		ch := &chs[i]
		var mine, mineGone []store.RichMenu
		for _, m := range menus {
			if m.OnChannel(ch.ID, primary) {
				mine = append(mine, m)
			}
		}
		for _, m := range gone {
			if m.OnChannel(ch.ID, primary) {
				mineGone = append(mineGone, m)
			}
		}
		if len(mine) == 0 && len(mineGone) == 0 {
			continue
		}
		token, err := core.MessagingToken(w.Box, ch)
		if err != nil {
			if err := w.richMenusWithoutChannel(ctx, mine); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		n, err := w.syncRichMenusOn(ctx, api, shop, ch.ID, primary, token, mine, mineGone)
		changed += n
		if err != nil {
			errs = append(errs, fmt.Errorf("LINE account %d: %w", ch.ID, err))
		}
	}
	return changed, errors.Join(errs...)
}

// richMenusWithoutChannel tells the admin why unpublished menus wait.
func (w *Worker) richMenusWithoutChannel(ctx context.Context, menus []store.RichMenu) error {
	for i := range menus {
		if m := &menus[i]; !m.ImageUploaded && m.LastError != errNoChannel {
			m.LastError = errNoChannel
			if err := w.DB.SaveRichMenuSync(ctx, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// syncRichMenusOn syncs the menus of one LINE account (channel ch, with
// token) and the menus of it deleted in the admin.
func (w *Worker) syncRichMenusOn(ctx context.Context, api RichMenuLINE, shop *store.Shop, ch, primary int64, token string, menus, gone []store.RichMenu) (int, error) {
	now := w.now()
	failed := map[int64]bool{}
	fail := func(m *store.RichMenu, err error) error {
		failed[m.ID] = true
		m.LastError = err.Error()
		return w.DB.SaveRichMenuSync(ctx, m)
	}
	// Publish: a menu is usable once LINE has it and its image.
	for i := range menus {
		m := &menus[i]
		if m.ImageUploaded {
			continue
		}
		if m.ChannelID == nil { // made before any account: it is published on this one
			m.ChannelID = &ch
		}
		if err := w.publishRichMenu(ctx, api, token, m); err != nil {
			if err := fail(m, err); err != nil {
				return 0, err
			}
		}
	}
	// The default menu: the highest-priority usable one.
	var def *store.RichMenu
	for i := range menus {
		if m := &menus[i]; m.Audience == store.AudienceDefault && m.ImageUploaded && def == nil {
			def = m
		}
	}
	if def != nil && !def.LineDefault {
		if err := api.SetDefaultRichMenu(ctx, token, def.LineRichMenuID); err != nil {
			if err := fail(def, err); err != nil {
				return 0, err
			}
		} else {
			def.LineDefault = true
			if err := w.DB.SaveRichMenuSync(ctx, def); err != nil {
				return 0, err
			}
		}
	}
	for i := range menus {
		m := &menus[i]
		if m.LineDefault && m != def {
			if def == nil || !def.LineDefault { // nothing replaced it at LINE
				if err := api.ClearDefaultRichMenu(ctx, token); err != nil {
					if err := fail(m, err); err != nil {
						return 0, err
					}
					continue
				}
			}
			m.LineDefault = false
			if err := w.DB.SaveRichMenuSync(ctx, m); err != nil {
				return 0, err
			}
		}
	}
	changed, err := w.relinkRichMenus(ctx, api, token, shop, ch, primary, menus, now)
	if err != nil {
		return changed, err
	}
	for i := range menus {
		m := &menus[i]
		if failed[m.ID] || !m.ImageUploaded {
			continue
		}
		m.SyncState, m.LastError, m.SyncedAt = store.RichMenuLinked, "", &now
		if err := w.DB.SaveRichMenuSync(ctx, m); err != nil {
			return changed, err
		}
	}
	// Menus deleted in the admin: their users have just moved off them.
	for _, m := range gone {
		if m.LineRichMenuID != "" {
			var apiErr *line.APIError
			if err := api.DeleteRichMenu(ctx, token, m.LineRichMenuID); err != nil && !(errors.As(err, &apiErr) && apiErr.Status == 404) {
				return changed, fmt.Errorf("deleting rich menu %d at LINE: %w", m.ID, err)
			}
		}
		if err := w.DB.PurgeRichMenu(ctx, m.ID); err != nil {
			return changed, err
		}
	}
	return changed, nil
}

const errNoChannel = "connect a LINE channel first (Settings)"

// publishRichMenu creates m at LINE and uploads its image, recording each
// step, so that a retry resumes where the last attempt stopped.
func (w *Worker) publishRichMenu(ctx context.Context, api RichMenuLINE, token string, m *store.RichMenu) error {
	if m.LineRichMenuID == "" {
		id, err := api.CreateRichMenu(ctx, token, m.Definition)
		if err != nil {
			return err
		}
		m.LineRichMenuID, m.SyncState = id, store.RichMenuCreated
		if err := w.DB.SaveRichMenuSync(ctx, m); err != nil {
			return err
		}
	}
	full, err := w.DB.RichMenu(ctx, m.ShopID, m.ID)
	if err != nil {
		return err
	}
	if err := api.UploadRichMenuImage(ctx, token, m.LineRichMenuID, full.ImageType, full.Image); err != nil {
		return err
	}
	m.ImageUploaded, m.SyncState, m.LastError = true, store.RichMenuUploaded, ""
	return w.DB.SaveRichMenuSync(ctx, m)
}

// relinkRichMenus gives every customer linked on LINE account ch the menu
// of the first (highest-priority) usable menu of that account whose
// audience they are in, or none (the account's default menu), calling LINE
// only where that changed.
func (w *Worker) relinkRichMenus(ctx context.Context, api RichMenuLINE, token string, shop *store.Shop, ch, primary int64, menus []store.RichMenu, now time.Time) (int, error) {
	users, err := w.DB.LinkedUsersOn(ctx, shop.ID, ch, primary)
	if err != nil {
		return 0, err
	}
	want := make(map[int64]int64, len(users)) // customer → rich_menus.id
	lineIDs := map[int64]string{}
	for _, m := range menus { // highest priority first: first match wins
		if !m.ImageUploaded {
			continue
		}
		lineIDs[m.ID] = m.LineRichMenuID
		switch m.Audience {
		case store.AudienceLinked:
			for id := range users {
				if _, taken := want[id]; !taken {
					want[id] = m.ID
				}
			}
			continue
		case store.AudienceSegment:
		default:
			continue
		}
		if m.SegmentID == nil {
			continue
		}
		seg, err := w.DB.SegmentByID(ctx, shop.ID, *m.SegmentID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		n, err := segment.Parse(seg.Definition)
		if err != nil {
			continue
		}
		for after := int64(0); ; {
			ids, err := w.DB.SegmentCustomerIDs(ctx, shop, n, now, after, 5000)
			if err != nil {
				return 0, err
			}
			for _, id := range ids {
				if _, linked := users[id]; linked {
					if _, taken := want[id]; !taken {
						want[id] = m.ID
					}
				}
			}
			if len(ids) < 5000 {
				break
			}
			after = ids[len(ids)-1]
		}
	}
	have, err := w.DB.RichMenuAssignments(ctx, shop.ID)
	if err != nil {
		return 0, err
	}
	changed := 0
	for cust, userID := range users {
		target := want[cust]
		cur, known := have[cust]
		if known && cur.RichMenuID == target && cur.LineUserID == userID {
			continue
		}
		if !known && target == 0 {
			continue // still on the default menu
		}
		if target == 0 {
			err = api.UnlinkRichMenu(ctx, token, userID)
		} else {
			err = api.LinkRichMenu(ctx, token, userID, lineIDs[target])
		}
		if err != nil {
			return changed, fmt.Errorf("relinking rich menu of customer %d: %w", cust, err)
		}
		if err := w.DB.SetRichMenuAssignment(ctx, &store.RichMenuAssignment{ShopID: shop.ID, CustomerID: cust, LineUserID: userID, RichMenuID: target}); err != nil {
			return changed, err
		}
		changed++
	}
	return changed, nil
}
