package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/store"
)

// TypeRichMenuSync relinks a shop's LINE users to the menu of their
// segment. Syncs are now the "richmenu_sync:<shop>" schedules
// (RequestRichMenuSync); a leftover task of this type still runs one.
const TypeRichMenuSync = "richmenu:sync"

// RichMenuLinker links and unlinks per-user rich menus (line.Messenger).
type RichMenuLinker interface {
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

// SyncRichMenus gives every linked customer the menu of the highest-priority
// segment they are in (or the default menu) and calls LINE only for
// customers whose menu changed. It returns how many users it relinked.
func (w *Worker) SyncRichMenus(ctx context.Context, shopID int64) (int, error) {
	shop, err := w.DB.Shop(ctx, shopID)
	if err != nil || !shop.Active() {
		return 0, err
	}
	linker, ok := w.LINE.(RichMenuLinker)
	if !ok {
		return 0, fmt.Errorf("the LINE client cannot link rich menus: %w", asynq.SkipRetry)
	}
	token, err := w.channelToken(ctx, shopID)
	if err != nil || token == "" {
		return 0, err
	}
	menus, err := w.DB.RichMenus(ctx, shopID)
	if err != nil {
		return 0, err
	}
	users, err := w.DB.LinkedUsers(ctx, shopID)
	if err != nil {
		return 0, err
	}
	want := make(map[int64]int64, len(users)) // customer → rich_menus.id
	lineIDs := map[int64]string{}
	now := w.now()
	for _, m := range menus { // highest priority first: first match wins
		lineIDs[m.ID] = m.LineRichMenuID
		if m.SegmentID == nil {
			continue
		}
		seg, err := w.DB.SegmentByID(ctx, shopID, *m.SegmentID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		n, err := store.ParseSegment(seg.Definition)
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
	have, err := w.DB.RichMenuAssignments(ctx, shopID)
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
			err = linker.UnlinkRichMenu(ctx, token, userID)
		} else {
			err = linker.LinkRichMenu(ctx, token, userID, lineIDs[target])
		}
		if err != nil {
			return changed, fmt.Errorf("relinking rich menu of customer %d: %w", cust, err)
		}
		if err := w.DB.SetRichMenuAssignment(ctx, &store.RichMenuAssignment{ShopID: shopID, CustomerID: cust, LineUserID: userID, RichMenuID: target}); err != nil {
			return changed, err
		}
		changed++
	}
	return changed, nil
}
