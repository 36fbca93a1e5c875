package store

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"github.com/tsunagu/tsunagu/app/store/segment"
)

// ExplainAnalyzeGate runs GateBatch's read (not its writes) under EXPLAIN
// ANALYZE on PostgreSQL and returns the plan with what each node did.
func (db *DB) ExplainAnalyzeGate(ctx context.Context, campaignID int64, batch int, cr CapRule) (string, error) {
	sel, args := gateSelect(campaignID, batch, cr, db.capDays(cr))
	var lines []string
	if err := db.WithContext(ctx).Raw("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "+sel, args...).Scan(&lines).Error; err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

// ExplainGateBatch is PostgreSQL's plan for GateBatch's statement.
func (db *DB) ExplainGateBatch(ctx context.Context, campaignID int64, batch int, cr CapRule) (string, error) {
	q, qargs := gateSelect(campaignID, batch, cr, db.capDays(cr))
	var lines []string
	if err := db.WithContext(ctx).Raw("EXPLAIN "+q, qargs...).Scan(&lines).Error; err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

// ExplainGateBatchGeneric is the generic plan PostgreSQL caches for
// GateBatch's statement as scanGated prepares and runs it.
func (db *DB) ExplainGateBatchGeneric(ctx context.Context, campaignID int64, batch int, cr CapRule) (string, error) {
	q, qargs := gateSelect(campaignID, batch, cr, db.capDays(cr))
	stmt := db.G.Session(&gorm.Session{DryRun: true, NewDB: true}).WithContext(ctx).Raw(q, qargs...).Statement
	params := make([]string, len(stmt.Vars))
	for i := range params {
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	explain := db.G.Dialector.Explain("EXPLAIN EXECUTE gate_plan("+strings.Join(params, ", ")+")", stmt.Vars...)
	var lines []string
	err := db.withPGX(ctx, func(c *pgx.Conn) error {
		if _, err := c.Prepare(ctx, "gate_plan", stmt.SQL.String()); err != nil {
			return err
		}
		defer func() { _ = c.Deallocate(context.Background(), "gate_plan") }()
		return queryGeneric(ctx, c, explain, nil, func(rs pgx.Rows) error {
			for rs.Next() {
				var l string
				if err := rs.Scan(&l); err != nil {
					return err
				}
				lines = append(lines, l)
			}
			return nil
		})
	})
	return strings.Join(lines, "\n"), err
}

// ExplainFinishBatch is PostgreSQL's plan for FinishBatch's recipient
// update of ids (sent).
func (db *DB) ExplainFinishBatch(ctx context.Context, campaignID int64, batch int, ids []int64) (string, error) {
	rows, err := db.WithContext(ctx).Statement.ConnPool.QueryContext(ctx, "EXPLAIN "+settleRecipientsSQL, MsgSent, "", time.Now(), "r", time.Now(),
		campaignID, batch, []string{MsgQueued, MsgSending}, ids, false)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return "", err
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n"), rows.Err()
}

// EstimateSegmentSampled is EstimateSegment sampling a fraction rows/table
// size of the customers table whatever its size (rows ≥ the table: all of
// it), estimating for a shop with at least minShop sampled customers.
func (db *DB) EstimateSegmentSampled(ctx context.Context, shop *Shop, n segment.Node, now time.Time, rows float64, minShop int64) (SegmentSize, error) {
	return db.estimateSegment(ctx, shop, n, now, math.Inf(-1), rows, minShop)
}

// AsyncCommitFrom is the FROM item hot counters are updated with.
func (db *DB) AsyncCommitFrom() string { return db.asyncCommitFrom() }

// CopyRoundTrip COPYs vs and ts through pgCopy's binary encoding into a
// temporary table and returns PostgreSQL's text of each stored value.
func (db *DB) CopyRoundTrip(ctx context.Context, vs []decimal.Decimal, ts []time.Time) (nums, times []string, err error) {
	err = db.withPGX(ctx, func(pc *pgx.Conn) error {
		if _, err := pc.Exec(ctx, "CREATE TEMP TABLE copy_rt (i int4, v numeric, t timestamptz) ON COMMIT PRESERVE ROWS"); err != nil {
			return err
		}
		defer pc.Exec(context.WithoutCancel(ctx), "DROP TABLE copy_rt") //nolint:errcheck
		c := newPGCopy(64 * len(vs))
		for i, v := range vs {
			c.row(3)
			c.int4(int32(i))
			c.numeric(v)
			c.timestamptzOrNull(&ts[i])
		}
		if _, err := pc.PgConn().CopyFrom(ctx, bytes.NewReader(c.bytes()), "COPY copy_rt (i, v, t) FROM STDIN (FORMAT binary)"); err != nil {
			return err
		}
		rows, err := pc.Query(ctx, "SELECT v::text, to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') FROM copy_rt ORDER BY i")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n, t string
			if err := rows.Scan(&n, &t); err != nil {
				return err
			}
			nums, times = append(nums, n), append(times, t)
		}
		return rows.Err()
	})
	return nums, times, err
}

// ExplainCountSegment is PostgreSQL's plan for CountSegment's statement,
// planned as CountSegment runs it (segmentQuery's settings).
func (db *DB) ExplainCountSegment(ctx context.Context, shop *Shop, n segment.Node, now time.Time) (string, error) {
	q, args, err := countSegmentQuery(shop, n, now)
	if err != nil {
		return "", err
	}
	var lines []string
	err = db.segmentQuery(ctx, func(g *gorm.DB) error {
		return g.Raw("EXPLAIN "+q, args...).Scan(&lines).Error
	})
	return strings.Join(lines, "\n"), err
}
