package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/tsunagu/tsunagu/app/store/segment"
	"github.com/tsunagu/tsunagu/migrations"
)

// Segment is a saved, named segment definition.
type Segment struct {
	ID         int64           `json:"id"`
	ShopID     int64           `json:"-"`
	Name       string          `json:"name"`
	Definition json.RawMessage `json:"definition" gorm:"serializer:json;type:text"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// SegmentMember is a customer in a segment's sample.
type SegmentMember struct {
	ID          int64   `json:"id"`
	Email       string  `json:"email"`
	FirstName   string  `json:"first_name"`
	LastName    string  `json:"last_name"`
	OrdersCount int     `json:"orders_count"`
	TotalSpent  float64 `json:"total_spent"`
}

// segmentWhere is the full condition for a shop's live customers in n.
func segmentWhere(shop *Shop, n segment.Node, now time.Time) (string, []any, error) {
	cond, args, err := segment.Compile(n, now, shop.Location())
	if err != nil {
		return "", nil, err
	}
	return "c.shop_id = ? AND c.redacted_at IS NULL AND " + cond, append([]any{shop.ID}, args...), nil
}

// DefaultSegmentTimeout bounds a segment query unless DB.SegmentTimeout says otherwise.
const DefaultSegmentTimeout = 10 * time.Second

// ErrSegmentTimeout is a segment query stopped at DB.SegmentTimeout.
var ErrSegmentTimeout = errors.New("the segment took too long to count; narrow it (fewer clicked, received or purchase conditions)")

// segmentQuery runs one read of segment members under the segment timeout:
// on PostgreSQL a statement_timeout local to a read-only transaction (the
// server stops the statement and frees its worker); on SQLite a context
// deadline, which interrupts the running statement. Either way the caller
// gets ErrSegmentTimeout, not a hang.
func (db *DB) segmentQuery(ctx context.Context, run func(g *gorm.DB) error) error {
	limit := db.SegmentTimeout
	if limit <= 0 {
		limit = DefaultSegmentTimeout
	}
	deadline := limit
	if db.Dialect == migrations.Postgres {
		deadline += time.Second // backs up the server's own timeout
	}
	qctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var err error
	if db.Dialect == migrations.Postgres {
		err = db.G.WithContext(qctx).Transaction(func(tx *gorm.DB) error {
			// SET takes no bind parameters; the value is an integer we format.
			if err := tx.Exec(fmt.Sprintf("SET LOCAL statement_timeout = %d", limit.Milliseconds())).Error; err != nil {
				return err
			}
			return run(tx)
		}, &sql.TxOptions{ReadOnly: true})
	} else {
		err = run(db.G.WithContext(qctx))
	}
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pgErr) && pgErr.Code == "57014" && ctx.Err() == nil: // query_canceled
		return fmt.Errorf("%w (%v)", ErrSegmentTimeout, limit)
	case qctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		return fmt.Errorf("%w (%v)", ErrSegmentTimeout, limit)
	}
	return err
}

// fence stops the planner from pushing ORDER BY ... LIMIT into the segment
// query: with a rare segment an id-ordered scan probing every customer is
// far slower than evaluating the whole set with hash joins, as a count does.
func (db *DB) fence() string {
	if db.Dialect == migrations.Postgres {
		return "LIMIT ALL OFFSET 0"
	}
	return "LIMIT -1 OFFSET 0"
}

// CountSegment counts the shop's customers in n.
func (db *DB) CountSegment(ctx context.Context, shop *Shop, n segment.Node, now time.Time) (int64, error) {
	where, args, err := segmentWhere(shop, n, now)
	if err != nil {
		return 0, err
	}
	var count int64
	if err := db.segmentQuery(ctx, func(g *gorm.DB) error {
		return g.Raw("SELECT COUNT(*) FROM customers c WHERE "+where, args...).Scan(&count).Error
	}); err != nil {
		return 0, fmt.Errorf("counting segment: %w", err)
	}
	return count, nil
}

// SegmentCustomerIDs lists the ids in n after afterID, in id order (keyset paging).
func (db *DB) SegmentCustomerIDs(ctx context.Context, shop *Shop, n segment.Node, now time.Time, afterID int64, limit int) ([]int64, error) {
	where, args, err := segmentWhere(shop, n, now)
	if err != nil {
		return nil, err
	}
	var ids []int64
	err = db.segmentQuery(ctx, func(g *gorm.DB) error {
		return g.Raw("SELECT id FROM (SELECT c.id FROM customers c WHERE "+where+" AND c.id > ? "+db.fence()+") s ORDER BY id LIMIT ?",
			append(args, afterID, limit)...).Scan(&ids).Error
	})
	if err != nil {
		return nil, fmt.Errorf("listing segment: %w", err)
	}
	return ids, nil
}

// denseSample is the segment size from which SampleSegment walks customers
// newest first rather than evaluating the whole segment.
const denseSample = 10000

// SampleSegment lists up to limit customers in n, newest first. count is
// n's size when the caller has just counted it, -1 when unknown. A segment
// of denseSample or more is sampled by walking the shop's customers by id
// backwards and stopping at the limit (about limit × customers / count
// probes: a few thousand at most); a smaller or unknown one is evaluated
// whole first (fence), since a walk could probe every customer; an empty
// one is not read.
func (db *DB) SampleSegment(ctx context.Context, shop *Shop, n segment.Node, now time.Time, count int64, limit int) ([]SegmentMember, error) {
	out := []SegmentMember{}
	if count == 0 {
		return out, nil
	}
	where, args, err := segmentWhere(shop, n, now)
	if err != nil {
		return nil, err
	}
	fence := db.fence()
	if count >= denseSample {
		fence = ""
	}
	err = db.segmentQuery(ctx, func(g *gorm.DB) error {
		return g.Raw("SELECT * FROM (SELECT c.id, c.email, c.first_name, c.last_name, c.orders_count, c.total_spent FROM customers c WHERE "+
			where+" "+fence+") s ORDER BY id DESC LIMIT ?", append(args, limit)...).Scan(&out).Error
	})
	if err != nil {
		return nil, fmt.Errorf("sampling segment: %w", err)
	}
	return out, nil
}

// Segments lists a shop's saved segments.
func (db *DB) Segments(ctx context.Context, shopID int64) ([]Segment, error) {
	out := []Segment{}
	if err := db.WithContext(ctx).Where("shop_id = ?", shopID).Order("name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("listing segments: %w", err)
	}
	return out, nil
}

// SegmentByID loads one saved segment.
func (db *DB) SegmentByID(ctx context.Context, shopID, id int64) (*Segment, error) {
	var s Segment
	if err := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Take(&s).Error; err != nil {
		return nil, fmt.Errorf("loading segment %d: %w", id, notFound(err))
	}
	return &s, nil
}

// SaveSegment creates (ID 0) or updates a segment.
func (db *DB) SaveSegment(ctx context.Context, s *Segment) error {
	now := time.Now().UTC()
	s.UpdatedAt = now
	if s.ID == 0 {
		s.CreatedAt = now
		if err := db.WithContext(ctx).Omit("id").Create(s).Error; err != nil {
			return fmt.Errorf("creating segment: %w", err)
		}
		return nil
	}
	res := db.WithContext(ctx).Model(&Segment{}).Where("shop_id = ? AND id = ?", s.ShopID, s.ID).
		Updates(map[string]any{"name": s.Name, "definition": string(s.Definition), "updated_at": now})
	if res.Error != nil {
		return fmt.Errorf("updating segment %d: %w", s.ID, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("updating segment %d: %w", s.ID, ErrNotFound)
	}
	return nil
}

// DeleteSegment deletes a saved segment.
func (db *DB) DeleteSegment(ctx context.Context, shopID, id int64) error {
	res := db.WithContext(ctx).Where("shop_id = ? AND id = ?", shopID, id).Delete(&Segment{})
	if res.Error != nil {
		return fmt.Errorf("deleting segment %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("deleting segment %d: %w", id, ErrNotFound)
	}
	return nil
}

// ResolveSegment returns the definition a reference names: a saved segment
// id, a built-in key, or an inline definition (first non-empty wins).
func (db *DB) ResolveSegment(ctx context.Context, shopID, segmentID int64, builtin string, inline json.RawMessage) (segment.Node, error) {
	switch {
	case segmentID != 0:
		s, err := db.SegmentByID(ctx, shopID, segmentID)
		if err != nil {
			return segment.Node{}, err
		}
		return segment.Parse(s.Definition)
	case builtin != "":
		n, ok := segment.Builtin(builtin)
		if !ok {
			return n, fmt.Errorf("%w: unknown built-in segment %q", segment.ErrInvalid, builtin)
		}
		return n, nil
	case len(inline) > 0 && string(inline) != "null":
		return segment.Parse(inline)
	}
	return segment.Node{}, fmt.Errorf("%w: no segment given", segment.ErrInvalid)
}
