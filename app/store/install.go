package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// InstallShop records an (re)install: it creates the shop or refreshes its
// token, scopes and profile, and clears uninstalled_at. Settings, LINE
// channel and customers of a reinstalled shop are kept.
func (db *DB) InstallShop(ctx context.Context, s *Shop, at time.Time) error {
	err := db.installShop(ctx, s, at)
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		// A concurrent callback created the row first: update it instead.
		err = db.installShop(ctx, s, at)
	}
	return err
}

func (db *DB) installShop(ctx context.Context, s *Shop, at time.Time) error {
	at = at.UTC()
	return db.Tx(ctx, func(tx *DB) error {
		cur, err := tx.ShopByDomain(ctx, s.Domain)
		if errors.Is(err, ErrNotFound) {
			s.InstalledAt, s.UninstalledAt, s.RedactedAt = &at, nil, nil
			s.TokenVersion, s.TokenRefreshedAt, s.NeedsReauthAt, s.ReauthReason = 1, &at, nil, ""
			return tx.CreateShop(ctx, s)
		}
		if err != nil {
			return err
		}
		// A new grant: the whole pair is replaced and the version bumped, so
		// a refresh that read the old pair cannot write over it.
		upd := map[string]any{
			"access_token_enc": s.AccessTokenEnc, "access_token_expires_at": utcPtr(s.AccessTokenExpiresAt),
			"refresh_token_enc": s.RefreshTokenEnc, "refresh_token_expires_at": utcPtr(s.RefreshTokenExpiresAt),
			"token_refreshed_at": at, "token_version": gorm.Expr("token_version + 1"),
			"needs_reauth_at": nil, "reauth_reason": "",
			"scopes": s.Scopes, "installed_at": at,
			"uninstalled_at": nil, "redacted_at": nil, "updated_at": at,
		}
		// Profile fields only when Shopify told us (a failed shop query keeps the old ones).
		for col, v := range map[string]string{"name": s.Name, "email": s.Email, "timezone": s.Timezone, "currency": s.Currency, "locale": s.Locale} {
			if v != "" {
				upd[col] = v
			}
		}
		if err := tx.WithContext(ctx).Model(&Shop{}).Where("id = ?", cur.ID).Updates(upd).Error; err != nil {
			return fmt.Errorf("reinstalling shop %s: %w", s.Domain, err)
		}
		got, err := tx.Shop(ctx, cur.ID)
		if err != nil {
			return err
		}
		*s = *got
		return nil
	})
}

// SkipQueuedMessages marks every queued message of a shop skipped with reason.
func (db *DB) SkipQueuedMessages(ctx context.Context, shopID int64, reason string) (int64, error) {
	res := db.WithContext(ctx).Model(&Message{}).
		Where("shop_id = ? AND status IN ?", shopID, []string{MsgQueued}).
		Updates(map[string]any{"status": MsgSkipped, "reason": reason, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return 0, fmt.Errorf("skipping queued messages of shop %d: %w", shopID, res.Error)
	}
	return res.RowsAffected, nil
}

// SetCustomerFromWebhook records what only customers/* webhooks carry: the
// birthday (when given) and Shopify's updated_at, which orders later
// deliveries. A redacted customer is left alone.
func (db *DB) SetCustomerFromWebhook(ctx context.Context, customerID int64, birthday string, shopifyUpdatedAt *time.Time) error {
	upd := map[string]any{}
	if birthday != "" {
		upd["birthday"] = birthday
	}
	if shopifyUpdatedAt != nil {
		upd["shopify_updated_at"] = shopifyUpdatedAt.UTC()
	}
	if len(upd) == 0 {
		return nil
	}
	err := db.WithContext(ctx).Model(&Customer{}).Where("id = ? AND redacted_at IS NULL", customerID).Updates(upd).Error
	if err != nil {
		return fmt.Errorf("updating customer %d from webhook: %w", customerID, err)
	}
	return nil
}

// CustomerExport is everything Tsunagu holds on one customer (GDPR data request).
type CustomerExport struct {
	Customer  *Customer  `json:"customer"`
	Orders    []Order    `json:"orders"`
	Checkouts []Checkout `json:"checkouts"`
	LineLinks []LineLink `json:"line_links"`
	Messages  []Message  `json:"messages"`
	// CampaignMessages are the campaigns the customer was a recipient of.
	CampaignMessages []CampaignRecipient `json:"campaign_messages"`
	Coupons          []Coupon            `json:"coupons"`
	Activities       []Activity          `json:"activities"`
}

// ExportCustomer gathers every row that belongs to a customer.
func (db *DB) ExportCustomer(ctx context.Context, shopID, customerID int64) (*CustomerExport, error) {
	c, err := db.Customer(ctx, shopID, customerID)
	if err != nil {
		return nil, err
	}
	x := &CustomerExport{Customer: c}
	g := db.WithContext(ctx)
	q := func(dst any, order string) error {
		return g.Session(&gorm.Session{}).Where("shop_id = ? AND customer_id = ?", shopID, customerID).Order(order).Find(dst).Error
	}
	if err := g.Where("shop_id = ? AND customer_id = ?", shopID, customerID).Preload("Items").Order("ordered_at, id").Find(&x.Orders).Error; err != nil {
		return nil, fmt.Errorf("exporting orders of customer %d: %w", customerID, err)
	}
	for what, dst := range map[string]any{"checkouts": &x.Checkouts, "line_links": &x.LineLinks, "messages": &x.Messages, "coupons": &x.Coupons,
		"campaign messages": &x.CampaignMessages} {
		if err := q(dst, "id"); err != nil {
			return nil, fmt.Errorf("exporting %s of customer %d: %w", what, customerID, err)
		}
	}
	// Earlier exports are not part of the data held; leave them out.
	if err := g.Where("shop_id = ? AND customer_id = ? AND kind <> ?", shopID, customerID, ActGDPRDataRequest).
		Order("occurred_at, id").Find(&x.Activities).Error; err != nil {
		return nil, fmt.Errorf("exporting activities of customer %d: %w", customerID, err)
	}
	return x, nil
}

// RedactResult counts what a customer redaction touched.
type RedactResult struct {
	Orders      int64 `json:"orders"`
	Checkouts   int64 `json:"checkouts"`
	Links       int64 `json:"line_links"`
	Messages    int64 `json:"messages"`
	Skipped     int64 `json:"messages_skipped"`
	PixelEvents int64 `json:"pixel_events"`
}

// RedactCustomer erases a customer's personal data and LINE link while
// keeping the anonymous rows (orders' totals, message kinds and statuses) so
// counts stay right. Redacted customers are never refilled by later webhooks
// (UpsertCustomer) and never sent to (the send gate).
func (db *DB) RedactCustomer(ctx context.Context, shopID, customerID int64, reason string, at time.Time) (RedactResult, error) {
	at = at.UTC()
	var r RedactResult
	err := db.Tx(ctx, func(tx *DB) error {
		g := tx.WithContext(ctx)
		err := g.Model(&Customer{}).Where("shop_id = ? AND id = ?", shopID, customerID).Updates(map[string]any{
			"email": "", "first_name": "", "last_name": "", "phone": "", "tags": "", "region": "", "country": "",
			"locale": "", "birthday": "", "accepts_marketing": false, "redacted_at": at, "updated_at": at,
			"email_consent_state": "", "email_consent_at": nil, "sms_marketing": false, "sms_consent_state": "", "sms_consent_at": nil,
		}).Error
		if err != nil {
			return fmt.Errorf("redacting customer %d: %w", customerID, err)
		}
		if err := g.Where("customer_id = ?", customerID).Delete(&CustomerTag{}).Error; err != nil {
			return fmt.Errorf("erasing tags of customer %d: %w", customerID, err)
		}
		// Queued messages first, so none is left that could still go out.
		// A message already being pushed cannot be stopped; it ends as it ends.
		res := g.Model(&Message{}).Where("shop_id = ? AND customer_id = ? AND status = ?", shopID, customerID, MsgQueued).
			Updates(map[string]any{"status": MsgSkipped, "reason": reason, "updated_at": at})
		if res.Error != nil {
			return fmt.Errorf("skipping messages of customer %d: %w", customerID, res.Error)
		}
		r.Skipped = res.RowsAffected
		res = g.Model(&Message{}).Where("shop_id = ? AND customer_id = ?", shopID, customerID).
			Updates(map[string]any{"content": "", "line_user_id": "", "updated_at": at})
		if res.Error != nil {
			return fmt.Errorf("erasing messages of customer %d: %w", customerID, res.Error)
		}
		r.Messages = res.RowsAffected
		// Campaign messages are recipient rows: stop the queued and held, drop the LINE user id.
		if err := g.Model(&CampaignRecipient{}).Where("shop_id = ? AND customer_id = ? AND status IN ?", shopID, customerID, []string{MsgQueued, RecipientHeld}).
			Updates(map[string]any{"status": MsgSkipped, "reason": reason, "updated_at": at}).Error; err != nil {
			return fmt.Errorf("skipping campaign messages of customer %d: %w", customerID, err)
		}
		if err := g.Model(&CampaignRecipient{}).Where("shop_id = ? AND customer_id = ?", shopID, customerID).
			Update("line_user_id", "").Error; err != nil {
			return fmt.Errorf("erasing campaign messages of customer %d: %w", customerID, err)
		}
		// Live links are ended; every link loses the LINE user id and profile.
		if err := g.Model(&LineLink{}).Where("shop_id = ? AND customer_id = ? AND unlinked_at IS NULL", shopID, customerID).
			Updates(map[string]any{"unlinked_at": at, "unlink_reason": reason}).Error; err != nil {
			return fmt.Errorf("unlinking customer %d: %w", customerID, err)
		}
		res = g.Model(&LineLink{}).Where("shop_id = ? AND customer_id = ?", shopID, customerID).
			Updates(map[string]any{"line_user_id": "", "display_name": "", "picture_url": "", "friend": false, "updated_at": at})
		if res.Error != nil {
			return fmt.Errorf("erasing LINE links of customer %d: %w", customerID, res.Error)
		}
		r.Links = res.RowsAffected
		if err := tx.syncLinkState(ctx, "id = ?", customerID); err != nil {
			return err
		}
		res = g.Model(&Order{}).Where("shop_id = ? AND customer_id = ?", shopID, customerID).
			Updates(map[string]any{"email": "", "order_status_url": "", "updated_at": at})
		if res.Error != nil {
			return fmt.Errorf("erasing orders of customer %d: %w", customerID, res.Error)
		}
		r.Orders = res.RowsAffected
		res = g.Model(&Checkout{}).Where("shop_id = ? AND customer_id = ?", shopID, customerID).
			Updates(map[string]any{"email": "", "abandoned_url": "", "updated_at": at})
		if res.Error != nil {
			return fmt.Errorf("erasing checkouts of customer %d: %w", customerID, res.Error)
		}
		r.Checkouts = res.RowsAffected
		// The LINE friend behind the customer: profile and last words go;
		// the user id is replaced so the row can never be matched again.
		if err := g.Exec(`UPDATE line_friends SET line_user_id = 'redacted:' || CAST(id AS TEXT), display_name = '', picture_url = '',
			last_text = '', reply_token_enc = NULL, redacted_at = ?, updated_at = ? WHERE shop_id = ? AND customer_id = ?`, at, at, shopID, customerID).Error; err != nil {
			return fmt.Errorf("erasing LINE friend of customer %d: %w", customerID, err)
		}
		// Storefront browsing (web pixel) is deleted outright.
		res = g.Where("shop_id = ? AND customer_id = ?", shopID, customerID).Delete(&PixelEvent{})
		if res.Error != nil {
			return fmt.Errorf("erasing storefront activity of customer %d: %w", customerID, res.Error)
		}
		r.PixelEvents = res.RowsAffected
		// Activity text can quote the customer (inbound LINE messages, exports).
		if err := g.Model(&Activity{}).Where("shop_id = ? AND customer_id = ?", shopID, customerID).
			Updates(map[string]any{"summary": "", "data": "{}"}).Error; err != nil {
			return fmt.Errorf("erasing activities of customer %d: %w", customerID, err)
		}
		return nil
	})
	return r, err
}

// RedactOrdersByShopifyID erases the contact fields of orders named in a
// redaction request that have no customer row (guest checkouts).
func (db *DB) RedactOrdersByShopifyID(ctx context.Context, shopID int64, shopifyIDs []int64, at time.Time) (int64, error) {
	if len(shopifyIDs) == 0 {
		return 0, nil
	}
	res := db.WithContext(ctx).Model(&Order{}).Where("shop_id = ? AND shopify_id IN ?", shopID, shopifyIDs).
		Updates(map[string]any{"email": "", "order_status_url": "", "updated_at": at.UTC()})
	if res.Error != nil {
		return 0, fmt.Errorf("redacting orders: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// ShopEvents returns a page of a shop's stored webhook events after id afterID.
func (db *DB) ShopEvents(ctx context.Context, shopID int64, domain string, afterID int64, limit int) ([]Event, error) {
	var evs []Event
	err := db.WithContext(ctx).Where("(shop_id = ? OR shop_domain = ?) AND id > ?", shopID, domain, afterID).
		Order("id").Limit(limit).Find(&evs).Error
	if err != nil {
		return nil, fmt.Errorf("listing events of shop %d: %w", shopID, err)
	}
	return evs, nil
}

// ScrubEventPayload replaces a stored webhook body (which may hold personal data).
func (db *DB) ScrubEventPayload(ctx context.Context, id int64, payload []byte) error {
	if err := db.WithContext(ctx).Model(&Event{}).Where("id = ?", id).Update("payload", payload).Error; err != nil {
		return fmt.Errorf("scrubbing event %d: %w", id, err)
	}
	return nil
}

// DeleteShopData erases every row of a shop, the shop row last. The event
// keepEventID (the shop/redact delivery itself, which holds no personal
// data) is kept, detached from the shop, as the record that it was done.
func (db *DB) DeleteShopData(ctx context.Context, shopID int64, domain string, keepEventID int64) error {
	return db.Tx(ctx, func(tx *DB) error {
		g := tx.WithContext(ctx)
		if err := g.Model(&Event{}).Where("id = ?", keepEventID).Update("shop_id", nil).Error; err != nil {
			return fmt.Errorf("detaching event %d: %w", keepEventID, err)
		}
		steps := []struct {
			what string
			sql  string
			args []any
		}{
			{"order items", "DELETE FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE shop_id = ?)", []any{shopID}},
			{"activities", "DELETE FROM activities WHERE shop_id = ?", []any{shopID}},
			{"messages", "DELETE FROM messages WHERE shop_id = ?", []any{shopID}},
			{"coupons", "DELETE FROM coupons WHERE shop_id = ?", []any{shopID}},
			{"fulfillments", "DELETE FROM fulfillments WHERE shop_id = ?", []any{shopID}},
			{"checkouts", "DELETE FROM checkouts WHERE shop_id = ?", []any{shopID}},
			{"orders", "DELETE FROM orders WHERE shop_id = ?", []any{shopID}},
			{"LINE links", "DELETE FROM line_links WHERE shop_id = ?", []any{shopID}},
			{"LINE friends", "DELETE FROM line_friends WHERE shop_id = ?", []any{shopID}},
			{"canned replies", "DELETE FROM canned_replies WHERE shop_id = ?", []any{shopID}},
			{"auto replies", "DELETE FROM auto_replies WHERE shop_id = ?", []any{shopID}},
			{"webhook forwards", "DELETE FROM webhook_forwards WHERE shop_id = ?", []any{shopID}},
			{"scenarios", "DELETE FROM scenarios WHERE shop_id = ?", []any{shopID}},
			{"LINE unit clicks", "DELETE FROM line_unit_clicks WHERE unit_id IN (SELECT id FROM line_units WHERE shop_id = ?)", []any{shopID}},
			{"LINE units", "DELETE FROM line_units WHERE shop_id = ?", []any{shopID}},
			{"customer tags", "DELETE FROM customer_tags WHERE customer_id IN (SELECT id FROM customers WHERE shop_id = ?)", []any{shopID}},
			{"customers", "DELETE FROM customers WHERE shop_id = ?", []any{shopID}},
			{"LINE channel", "DELETE FROM line_channels WHERE shop_id = ?", []any{shopID}},
			{"events", "DELETE FROM events WHERE (shop_id = ? OR shop_domain = ?) AND id <> ?", []any{shopID, domain, keepEventID}},
			{"shop", "DELETE FROM shops WHERE id = ?", []any{shopID}},
		}
		for _, s := range steps {
			if err := g.Exec(s.sql, s.args...).Error; err != nil {
				return fmt.Errorf("deleting %s of shop %d: %w", s.what, shopID, err)
			}
		}
		return nil
	})
}
