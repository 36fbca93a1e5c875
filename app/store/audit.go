package store

import (
	"context"
	"fmt"
	"time"
)

// AuditEntry is one action an operator took by hand.
type AuditEntry struct {
	ID        int64     `json:"id"`
	ShopID    int64     `json:"-"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	RefType   string    `json:"ref_type"`
	RefID     int64     `json:"ref_id"`
	Detail    string    `json:"detail"`
	CreatedAt time.Time `json:"created_at"`
}

// TableName is the audit table.
func (AuditEntry) TableName() string { return "audit_log" }

// Audit actions.
const (
	AuditResend = "message.resend"
	AuditReplay = "event.replay"
)

// AddAudit records e.
func (db *DB) AddAudit(ctx context.Context, e *AuditEntry) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC()
	}
	if err := db.WithContext(ctx).Create(e).Error; err != nil {
		return fmt.Errorf("recording %s of %s %d: %w", e.Action, e.RefType, e.RefID, err)
	}
	return nil
}

// AuditLog lists a shop's audit entries, newest first.
func (db *DB) AuditLog(ctx context.Context, shopID int64, limit int) ([]AuditEntry, error) {
	var es []AuditEntry
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Order("id DESC").Limit(limit).Find(&es).Error; err != nil {
		return nil, fmt.Errorf("listing the audit log: %w", err)
	}
	return es, nil
}

// FailedMessages lists a shop's failed messages, newest first.
func (db *DB) FailedMessages(ctx context.Context, shopID int64, limit int) ([]Message, error) {
	var ms []Message
	err := db.WithContext(ctx).Omit("content").Where("shop_id = ? AND status = ?", shopID, MsgFailed).
		Order("id DESC").Limit(limit).Find(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("listing failed messages: %w", err)
	}
	return ms, nil
}

// DeadEventPayloads loads the payloads of a shop's events ids (for summaries).
func (db *DB) DeadEventPayloads(ctx context.Context, shopDomain string, ids []int64) (map[int64][]byte, error) {
	var es []Event
	if len(ids) == 0 {
		return map[int64][]byte{}, nil
	}
	if err := db.WithContext(ctx).Select("id", "payload").Where("shop_domain = ? AND id IN ?", shopDomain, ids).Find(&es).Error; err != nil {
		return nil, fmt.Errorf("loading event payloads: %w", err)
	}
	out := make(map[int64][]byte, len(es))
	for _, e := range es {
		out[e.ID] = e.Payload
	}
	return out, nil
}
