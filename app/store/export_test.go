package store

import (
	"context"
	"strings"
	"time"
)

// ExplainGateBatch is PostgreSQL's plan for GateBatch's statement.
func (db *DB) ExplainGateBatch(ctx context.Context, campaignID int64, batch int, cr CapRule) (string, error) {
	sel, args := gateSelect(campaignID, batch, cr)
	q, qargs := gateStatement(sel, args, time.Now())
	var lines []string
	if err := db.WithContext(ctx).Raw("EXPLAIN "+q, qargs...).Scan(&lines).Error; err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}
