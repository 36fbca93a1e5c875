package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// Rich menu audiences: who a menu is for.
const (
	// AudienceDefault is LINE's default menu: everyone without a menu of
	// their own (unlinked friends, and linked customers no other menu
	// targets).
	AudienceDefault = "default"
	// AudienceLinked is every linked customer.
	AudienceLinked = "linked"
	// AudienceSegment is the customers of SegmentID.
	AudienceSegment = "segment"
)

// Rich menu sync states: how far a menu got with LINE.
const (
	RichMenuPending  = "pending"  // saved, not yet at LINE
	RichMenuCreated  = "created"  // LINE has the menu, not yet its image
	RichMenuUploaded = "uploaded" // LINE has menu and image: it can be shown
	RichMenuLinked   = "linked"   // shown to its audience as of SyncedAt
)

// RichMenu is a merchant's LINE rich menu and its sync state.
type RichMenu struct {
	ID     int64 `json:"id"`
	ShopID int64 `json:"-"`
	// ChannelID is the LINE account the menu is published on (migration
	// 0053); nil: the shop's primary (a menu made before any account).
	ChannelID      *int64          `json:"channel_id"`
	Name           string          `json:"name"`
	LineRichMenuID string          `json:"line_rich_menu_id"`
	Definition     json.RawMessage `json:"definition" gorm:"serializer:json;type:text"`
	Audience       string          `json:"audience"`
	SegmentID      *int64          `json:"segment_id"`
	Priority       int             `json:"priority"`
	Image          []byte          `json:"-"`
	ImageType      string          `json:"image_type"`
	ImageUploaded  bool            `json:"image_uploaded"`
	LineDefault    bool            `json:"line_default"`
	SyncState      string          `json:"sync_state"`
	LastError      string          `json:"last_error"`
	SyncedAt       *time.Time      `json:"synced_at"`
	DeletedAt      *time.Time      `json:"-"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
}

// CreateRichMenu stores a new menu for the sync to publish; replaces, when
// not 0, is a menu of the shop the new one takes the place of (deleted in
// the same transaction).
func (db *DB) CreateRichMenu(ctx context.Context, m *RichMenu, replaces int64) error {
	now := time.Now().UTC()
	m.CreatedAt, m.UpdatedAt = now, now
	if m.SyncState == "" {
		m.SyncState = RichMenuPending
	}
	return db.Tx(ctx, func(tx *DB) error {
		if replaces != 0 {
			if err := tx.DeleteRichMenu(ctx, m.ShopID, replaces); err != nil {
				return err
			}
		}
		if m.Audience == AudienceDefault {
			// One default menu per LINE account: the new one takes over.
			primary, err := tx.primaryChannelID(ctx, m.ShopID)
			if err != nil {
				return err
			}
			q := tx.WithContext(ctx).Model(&RichMenu{}).Where("shop_id = ? AND audience = ? AND deleted_at IS NULL", m.ShopID, AudienceDefault)
			if ch := derefID(m.ChannelID); ch == 0 || ch == primary {
				q = q.Where("(channel_id IS NULL OR channel_id = ?)", primary)
			} else {
				q = q.Where("channel_id = ?", ch)
			}
			if err := q.Update("audience", AudienceSegment).Error; err != nil {
				return fmt.Errorf("moving the default rich menu: %w", err)
			}
		}
		if err := tx.WithContext(ctx).Omit("id").Create(m).Error; err != nil {
			return fmt.Errorf("storing rich menu: %w", err)
		}
		return nil
	})
}

// RichMenus lists a shop's menus, highest priority first, without images.
func (db *DB) RichMenus(ctx context.Context, shopID int64) ([]RichMenu, error) {
	out := []RichMenu{}
	if err := db.WithContext(ctx).Omit("image").Where("shop_id = ? AND deleted_at IS NULL", shopID).Order("priority DESC, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("listing rich menus: %w", err)
	}
	return out, nil
}

// RichMenu loads one menu with its image.
func (db *DB) RichMenu(ctx context.Context, shopID, id int64) (*RichMenu, error) {
	var m RichMenu
	if err := db.WithContext(ctx).Where("shop_id = ? AND id = ? AND deleted_at IS NULL", shopID, id).Take(&m).Error; err != nil {
		return nil, fmt.Errorf("loading rich menu %d: %w", id, notFound(err))
	}
	return &m, nil
}

// DeletedRichMenus lists menus deleted in the admin that the sync has not
// yet deleted at LINE.
func (db *DB) DeletedRichMenus(ctx context.Context, shopID int64) ([]RichMenu, error) {
	out := []RichMenu{}
	if err := db.WithContext(ctx).Omit("image").Where("shop_id = ? AND deleted_at IS NOT NULL", shopID).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("listing deleted rich menus: %w", err)
	}
	return out, nil
}

// DeleteRichMenu marks a menu deleted; the next sync moves its users off it
// and deletes it at LINE (PurgeRichMenu).
func (db *DB) DeleteRichMenu(ctx context.Context, shopID, id int64) error {
	res := db.WithContext(ctx).Model(&RichMenu{}).Where("shop_id = ? AND id = ? AND deleted_at IS NULL", shopID, id).
		Update("deleted_at", time.Now().UTC())
	if res.Error != nil {
		return fmt.Errorf("deleting rich menu %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("deleting rich menu %d: %w", id, ErrNotFound)
	}
	return nil
}

// PurgeRichMenu removes a deleted menu's row once LINE no longer has it.
func (db *DB) PurgeRichMenu(ctx context.Context, id int64) error {
	if err := db.WithContext(ctx).Where("id = ? AND deleted_at IS NOT NULL", id).Delete(&RichMenu{}).Error; err != nil {
		return fmt.Errorf("purging rich menu %d: %w", id, err)
	}
	return nil
}

// SaveRichMenuSync records a menu's progress with LINE.
func (db *DB) SaveRichMenuSync(ctx context.Context, m *RichMenu) error {
	m.UpdatedAt = time.Now().UTC()
	err := db.WithContext(ctx).Model(m).Select("channel_id", "line_rich_menu_id", "image_uploaded", "line_default", "sync_state", "last_error", "synced_at", "updated_at").
		Updates(m).Error
	if err != nil {
		return fmt.Errorf("recording sync of rich menu %d: %w", m.ID, err)
	}
	return nil
}

// RichMenuUsers counts the LINE users each menu is linked to now.
func (db *DB) RichMenuUsers(ctx context.Context, shopID int64) (map[int64]int64, error) {
	var rows []struct {
		RichMenuID int64
		N          int64
	}
	if err := db.WithContext(ctx).Model(&RichMenuAssignment{}).Select("rich_menu_id, count(*) AS n").
		Where("shop_id = ? AND rich_menu_id <> 0", shopID).Group("rich_menu_id").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("counting rich menu users: %w", err)
	}
	out := make(map[int64]int64, len(rows))
	for _, r := range rows {
		out[r.RichMenuID] = r.N
	}
	return out, nil
}

// RichMenuAssignment is the menu a customer's LINE user shows now (0: default).
type RichMenuAssignment struct {
	ID         int64
	ShopID     int64
	CustomerID int64
	LineUserID string
	RichMenuID int64
	UpdatedAt  time.Time
}

// RichMenuAssignments loads the shop's current assignments by customer.
func (db *DB) RichMenuAssignments(ctx context.Context, shopID int64) (map[int64]RichMenuAssignment, error) {
	var rows []RichMenuAssignment
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("loading rich menu assignments: %w", err)
	}
	out := make(map[int64]RichMenuAssignment, len(rows))
	for _, r := range rows {
		out[r.CustomerID] = r
	}
	return out, nil
}

// SetRichMenuAssignment records what a customer's LINE user now shows.
func (db *DB) SetRichMenuAssignment(ctx context.Context, a *RichMenuAssignment) error {
	a.UpdatedAt = time.Now().UTC()
	err := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "shop_id"}, {Name: "customer_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"line_user_id", "rich_menu_id", "updated_at"}),
	}).Omit("id").Create(a).Error
	if err != nil {
		return fmt.Errorf("recording rich menu of customer %d: %w", a.CustomerID, err)
	}
	return nil
}

// OnChannel reports whether a menu is published on channel ch of a shop
// whose primary channel is primary (a menu without a channel is the
// primary's).
func (m *RichMenu) OnChannel(ch, primary int64) bool {
	if m.ChannelID == nil {
		return ch == primary
	}
	return *m.ChannelID == ch
}

func derefID(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// LinkedUsers maps the shop's live, unblocked links: customer id → LINE user id.
func (db *DB) LinkedUsers(ctx context.Context, shopID int64) (map[int64]string, error) {
	return db.linkedUsers(ctx, shopID, "", nil)
}

// LinkedUsersOn maps the live, unblocked links made on LINE channel ch of
// the shop (a link without a channel is the primary's): customer id → LINE
// user id.
func (db *DB) LinkedUsersOn(ctx context.Context, shopID, ch, primary int64) (map[int64]string, error) {
	return db.linkedUsers(ctx, shopID, " AND COALESCE(l.channel_id, ?) = ?", []any{primary, ch})
}

func (db *DB) linkedUsers(ctx context.Context, shopID int64, cond string, condArgs []any) (map[int64]string, error) {
	var rows []struct {
		CustomerID int64
		LineUserID string
	}
	if err := db.WithContext(ctx).Raw(`SELECT l.customer_id, l.line_user_id FROM line_links l JOIN customers c ON c.id = l.customer_id
WHERE l.shop_id = ? AND l.unlinked_at IS NULL AND l.blocked = ? AND c.redacted_at IS NULL`+cond, append([]any{shopID, false}, condArgs...)...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing linked users: %w", err)
	}
	out := make(map[int64]string, len(rows))
	for _, r := range rows {
		out[r.CustomerID] = r.LineUserID
	}
	return out, nil
}
