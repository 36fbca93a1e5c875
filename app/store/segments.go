package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
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

// segmentRandomPageCost is the planner's random_page_cost in segment
// queries (see segmentQuery).
const segmentRandomPageCost = "1.1"

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
	return db.segmentQueryCost(ctx, segmentRandomPageCost, run)
}

// segmentQueryCost is segmentQuery planning with randomPageCost on
// PostgreSQL ("": the server's own setting).
func (db *DB) segmentQueryCost(ctx context.Context, randomPageCost string, run func(g *gorm.DB) error) error {
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
			// A count over a large shop is costed past jit_above_cost, and
			// compiling it took longer than it saved (docs/BENCHMARKS.md, issue 14).
			if err := tx.Exec("SET LOCAL jit = off").Error; err != nil {
				return err
			}
			// The default random_page_cost (4, for spinning disks) made a
			// rare "bought product" (2,000 buyers of 1M customers) scan all
			// customers rather than probe each buyer by id; on SSDs and a
			// cached working set a random page costs about a sequential one
			// (TestSegmentCountPlans, docs/BENCHMARKS.md issue 14).
			if randomPageCost != "" {
				if err := tx.Exec("SET LOCAL random_page_cost = " + randomPageCost).Error; err != nil {
					return err
				}
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

// countSegmentSQL is CountSegment's statement before its condition.
const countSegmentSQL = "SELECT COUNT(*) FROM customers c WHERE "

// countSegmentQuery is CountSegment's statement.
func countSegmentQuery(shop *Shop, n segment.Node, now time.Time) (string, []any, error) {
	where, args, err := segmentWhere(shop, n, now)
	if err != nil {
		return "", nil, err
	}
	return countSegmentSQL + where, args, nil
}

// CountSegment counts the shop's customers in n.
func (db *DB) CountSegment(ctx context.Context, shop *Shop, n segment.Node, now time.Time) (int64, error) {
	q, args, err := countSegmentQuery(shop, n, now)
	if err != nil {
		return 0, err
	}
	var count int64
	if err := db.segmentQuery(ctx, func(g *gorm.DB) error {
		return g.Raw(q, args...).Scan(&count).Error
	}); err != nil {
		return 0, fmt.Errorf("counting segment: %w", err)
	}
	return count, nil
}

// Estimating a segment's size from a sample (EstimateSegment).
const (
	// estimateFrom is the customers table size (PostgreSQL's own estimate,
	// pg_class.reltuples) from which EstimateSegment samples; below it an
	// exact count is cheap.
	estimateFrom = 200_000
	// estimateRows is about how many customer rows the sample reads.
	estimateRows = 20_000
	// estimateMinShop is how many of the shop's customers the sample must
	// hold for an estimate; fewer (a small shop in a large table) and
	// EstimateSegment counts exactly.
	estimateMinShop = 2_000
)

// SegmentSize is a segment's size, exact or estimated.
type SegmentSize struct {
	Count int64
	// Estimated: Count is from a sample of the customers, rounded to two
	// significant digits; the exact count is CountSegment.
	Estimated bool
	// Under, for an estimate from too few sampled matches to scale up
	// (fewer than estimateFewHits), is a bound the segment is very likely
	// under (Poisson 95 % upper bound on the sampled matches, scaled).
	Under int64
}

// estimateFewHits is how many sampled matches an estimate needs to be
// stated as "about N" rather than "under N".
const estimateFewHits = 10

// EstimateSegment answers about how many of the shop's customers are in n,
// quickly: on PostgreSQL with a large customers table it evaluates n on a
// fixed sample of the table's pages (TABLESAMPLE SYSTEM … REPEATABLE, so
// an edit that changes nothing gives the same figure) and scales up; on
// SQLite, on a small table or for a shop the sample barely holds, it counts
// exactly. Used to show "about N" while the exact count runs.
func (db *DB) EstimateSegment(ctx context.Context, shop *Shop, n segment.Node, now time.Time) (SegmentSize, error) {
	return db.estimateSegment(ctx, shop, n, now, estimateFrom, estimateRows, estimateMinShop)
}

// estimateSegment is EstimateSegment with its thresholds (tests sample small tables).
func (db *DB) estimateSegment(ctx context.Context, shop *Shop, n segment.Node, now time.Time, from, rows float64, minShop int64) (SegmentSize, error) {
	if db.Dialect != migrations.Postgres {
		c, err := db.CountSegment(ctx, shop, n, now)
		return SegmentSize{Count: c}, err
	}
	where, args, err := segmentWhere(shop, n, now)
	if err != nil {
		return SegmentSize{}, err
	}
	var tuples float64
	if err := db.WithContext(ctx).Raw("SELECT reltuples FROM pg_class WHERE oid = 'customers'::regclass").Scan(&tuples).Error; err != nil {
		return SegmentSize{}, fmt.Errorf("estimating segment: reading the table size: %w", err)
	}
	if tuples < from {
		c, err := db.CountSegment(ctx, shop, n, now)
		return SegmentSize{Count: c}, err
	}
	pct := min(100, 100*rows/max(tuples, 1))
	// TABLESAMPLE takes no bind parameter here; pct is a number we computed.
	sample := "customers c TABLESAMPLE SYSTEM (" + strconv.FormatFloat(pct, 'f', 4, 64) + ") REPEATABLE (14)"
	var inShop, hit int64
	err = db.segmentQuery(ctx, func(g *gorm.DB) error {
		if err := g.Raw("SELECT COUNT(*) FROM "+sample+" WHERE c.shop_id = ? AND c.redacted_at IS NULL", shop.ID).Scan(&inShop).Error; err != nil {
			return err
		}
		if inShop < minShop {
			return nil
		}
		return g.Raw("SELECT COUNT(*) FROM "+sample+" WHERE "+where, args...).Scan(&hit).Error
	})
	if err != nil {
		return SegmentSize{}, fmt.Errorf("estimating segment: %w", err)
	}
	if inShop < minShop {
		c, err := db.CountSegment(ctx, shop, n, now)
		return SegmentSize{Count: c}, err
	}
	out := SegmentSize{Count: roundSignificant(float64(hit)*100/pct, 2), Estimated: true}
	if hit < estimateFewHits {
		k := float64(hit)
		out.Under = roundUpSignificant((k+2*math.Sqrt(k)+3)*100/pct, 2)
	}
	return out, nil
}

// roundUpSignificant rounds x up to digits significant digits.
func roundUpSignificant(x float64, digits int) int64 {
	if x < 1 {
		return 1
	}
	scale := math.Pow(10, math.Floor(math.Log10(x))+1-float64(digits))
	if scale < 1 {
		scale = 1
	}
	return int64(math.Ceil(x/scale) * scale)
}

// roundSignificant rounds x to digits significant digits (12,345 → 12,000 for 2).
func roundSignificant(x float64, digits int) int64 {
	if x < 1 {
		return int64(math.Round(x))
	}
	scale := math.Pow(10, math.Floor(math.Log10(x))+1-float64(digits))
	if scale < 1 {
		scale = 1
	}
	return int64(math.Round(x/scale) * scale)
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
