// Package store is Tsunagu's persistence: gorm models and the queries the
// rest of the app needs, on PostgreSQL or SQLite with one schema.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tsunagu/tsunagu/migrations"
)

// ErrNotFound is returned when a row asked for does not exist.
var ErrNotFound = errors.New("not found")

// DB is a handle on the database.
type DB struct {
	G       *gorm.DB
	Dialect string // migrations.Postgres or migrations.SQLite
	// SegmentTimeout bounds each segment query (count, sample, funnel,
	// listing); zero means DefaultSegmentTimeout.
	SegmentTimeout time.Duration
	// HistoryWriters is how many connections write one batch of history
	// orders at once on PostgreSQL; zero means historyWriters.
	HistoryWriters int
}

// Open connects to a database URL: postgres://… or sqlite://path (or a bare path).
func Open(ctx context.Context, rawURL string) (*DB, error) {
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC() },
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
		TranslateError:         true,
	}
	var (
		g       *gorm.DB
		err     error
		dialect string
	)
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		dialect = migrations.Postgres
		g, err = gorm.Open(postgres.New(postgres.Config{DSN: rawURL}), cfg)
		if err == nil {
			sqlDB, _ := g.DB()
			sqlDB.SetMaxOpenConns(32)
			sqlDB.SetMaxIdleConns(32)
			sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		}
	default:
		dialect = migrations.SQLite
		path := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite://"), "sqlite:")
		if path == "" {
			return nil, errors.New("sqlite database URL has no path")
		}
		if path != ":memory:" {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, fmt.Errorf("creating database folder: %w", err)
			}
		}
		q := url.Values{}
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_txlock", "immediate")
		g, err = gorm.Open(sqlite.Open("file:"+path+"?"+q.Encode()), cfg)
		if err == nil {
			// SQLite has one writer; one connection avoids SQLITE_BUSY storms.
			sqlDB, _ := g.DB()
			sqlDB.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s database: %w", dialect, err)
	}
	db := &DB{G: g, Dialect: dialect}
	if err := db.Ping(ctx); err != nil {
		return nil, err
	}
	return db, nil
}

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error {
	sqlDB, err := db.G.DB()
	if err != nil {
		return fmt.Errorf("getting database handle: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("pinging %s database: %w", db.Dialect, err)
	}
	return nil
}

// Close closes the connection pool.
func (db *DB) Close() error {
	sqlDB, err := db.G.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// WithContext returns a gorm session bound to ctx.
func (db *DB) WithContext(ctx context.Context) *gorm.DB { return db.G.WithContext(ctx) }

// asyncCommitFrom is a FROM item that makes a PostgreSQL UPDATE of a
// counter commit without waiting for the WAL flush: synchronous_commit is
// set off for that statement's own transaction only (set_config with
// is_local), in the same round trip. It is for hot counter rows whose value
// can be recomputed or re-read (a campaign's finished batches, the cached
// LINE quota use): with every worker updating one row, each waited for the
// previous holder's flush. The change is visible to others at once; only a
// database crash within wal_writer_delay can lose it. Empty on SQLite and
// inside a transaction, whose other writes must stay durable.
func (db *DB) asyncCommitFrom() string {
	if db.Dialect != migrations.Postgres {
		return ""
	}
	if _, inTx := db.G.Statement.ConnPool.(gorm.TxCommitter); inTx {
		return ""
	}
	return " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
}

// Tx runs fn in a transaction.
func (db *DB) Tx(ctx context.Context, fn func(tx *DB) error) error {
	return db.G.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		tx := *db // every setting, on the transaction's session
		tx.G = g
		return fn(&tx)
	})
}

// Migrate applies every migration not yet applied, each in its own
// transaction. On PostgreSQL an advisory lock keeps concurrent starts apart.
func (db *DB) Migrate(ctx context.Context, log *slog.Logger) error {
	return db.MigrateTo(ctx, log, "")
}

// MigrateTo applies the migrations not yet applied up to version last
// ("" for all): a migration's test builds the schema before it, writes
// data, then migrates the rest.
func (db *DB) MigrateTo(ctx context.Context, log *slog.Logger, last string) error {
	list, err := migrations.List(db.Dialect)
	if err != nil {
		return err
	}
	g := db.G.WithContext(ctx)
	if db.Dialect == migrations.Postgres {
		// A session-level lock needs one connection for lock, work and unlock.
		conn, err := db.G.DB()
		if err != nil {
			return err
		}
		c, err := conn.Conn(ctx)
		if err != nil {
			return fmt.Errorf("reserving a connection for migrations: %w", err)
		}
		defer c.Close()
		if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock(7283041)"); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		defer c.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7283041)") //nolint:errcheck
	}
	if err := g.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, name TEXT NOT NULL, applied_at ` +
		migrations.Render("{{ts}}", db.Dialect) + ` NOT NULL)`).Error; err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	var applied []string
	if err := g.Raw("SELECT version FROM schema_migrations").Scan(&applied).Error; err != nil {
		return fmt.Errorf("reading applied migrations: %w", err)
	}
	done := map[string]bool{}
	for _, v := range applied {
		done[v] = true
	}
	for _, m := range list {
		if done[m.Version] {
			continue
		}
		if last != "" && m.Version > last {
			break
		}
		if m.ForeignKeysOff {
			if err := db.migrateWithoutForeignKeys(ctx, m); err != nil {
				return fmt.Errorf("applying migration %s: %w", m.Name, err)
			}
			if log != nil {
				log.Info("migration applied", "name", m.Name, "dialect", db.Dialect)
			}
			continue
		}
		err := g.Transaction(func(tx *gorm.DB) error {
			for _, stmt := range migrations.Statements(m.SQL) {
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("%w\n%s", err, stmt)
				}
			}
			return tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", m.Version, m.Name, time.Now().UTC()).Error
		})
		if err != nil {
			return fmt.Errorf("applying migration %s: %w", m.Name, err)
		}
		if log != nil {
			log.Info("migration applied", "name", m.Name, "dialect", db.Dialect)
		}
	}
	return nil
}

// migrateWithoutForeignKeys applies a SQLite migration that rebuilds tables
// others reference, the way SQLite documents it: foreign keys off on one
// connection (the pragma is ignored inside a transaction), the statements in
// one transaction, PRAGMA foreign_key_check empty before the commit, foreign
// keys back on before the connection returns to the pool.
func (db *DB) migrateWithoutForeignKeys(ctx context.Context, m migrations.Migration) (err error) {
	sqlDB, err := db.G.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("reserving a connection: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return fmt.Errorf("turning foreign keys off: %w", err)
	}
	defer func() {
		if _, onErr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON"); onErr != nil && err == nil {
			err = fmt.Errorf("turning foreign keys back on: %w", onErr)
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	for _, stmt := range migrations.Statements(m.SQL) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%w\n%s", err, stmt)
		}
	}
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("checking foreign keys: %w", err)
	}
	broken := rows.Next()
	rows.Close()
	if broken {
		return errors.New("the migration leaves rows whose foreign keys point nowhere (PRAGMA foreign_key_check)")
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", m.Version, m.Name, time.Now().UTC()); err != nil {
		return err
	}
	return tx.Commit()
}

func notFound(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}
