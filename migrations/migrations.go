// Package migrations holds the versioned SQL schema, embedded in the binary.
//
// Each file NNNN_name.sql is written once for both databases. A handful of
// placeholders cover the types that differ between PostgreSQL and SQLite, so
// the two schemas cannot drift apart:
//
//	{{pk}}     auto-increment primary key
//	{{ts}}     timestamp with time zone (always stored as UTC)
//	{{bytes}}  binary
//	{{money}}  exact decimal amount
//	{{bool}}   boolean
//	{{text_pattern}} operator class for bytewise prefix ranges on an index
//	           (text_pattern_ops on PostgreSQL, nothing on SQLite)
//	{{random_id}} 32 random hex digits, drawn when the statement runs
//
// Where the two databases need different statements (SQLite cannot drop a
// table constraint and rebuilds the table instead), a line
// "-- dialect: postgres" or "-- dialect: sqlite" starts statements for that
// database only, and "-- dialect: both" ends them. A line
// "-- sqlite: foreign_keys off" makes SQLite apply the migration with
// foreign keys off (needed to drop a table that others reference without
// firing their ON DELETE actions), checking them before it commits.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.sql
var files embed.FS

// Dialects understood by Render.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

var types = map[string]map[string]string{
	Postgres: {
		"{{pk}}":    "BIGSERIAL PRIMARY KEY",
		"{{ts}}":    "TIMESTAMPTZ",
		"{{bytes}}": "BYTEA",
		"{{money}}": "NUMERIC(16,4)",
		"{{bool}}":  "BOOLEAN",
	},
	SQLite: {
		"{{pk}}":    "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{{ts}}":    "DATETIME",
		"{{bytes}}": "BLOB",
		"{{money}}": "NUMERIC",
		"{{bool}}":  "BOOLEAN",
	},
}

// Migration is one versioned schema step.
type Migration struct {
	Version string // "0001"
	Name    string // "0001_init.sql"
	SQL     string // rendered for the dialect
	// ForeignKeysOff asks for the migration to run with foreign keys off
	// (SQLite only; PostgreSQL never needs it).
	ForeignKeysOff bool
}

// List returns every migration rendered for dialect, in version order.
func List(dialect string) ([]Migration, error) {
	if _, ok := types[dialect]; !ok {
		return nil, fmt.Errorf("unknown SQL dialect %q", dialect)
	}
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	sort.Strings(names)
	out := make([]Migration, 0, len(names))
	seen := map[string]string{}
	for _, n := range names {
		v, _, ok := strings.Cut(n, "_")
		if !ok || len(v) != 4 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", n)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %s", prev, n, v)
		}
		seen[v] = n
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", n, err)
		}
		fkOff := dialect == SQLite && strings.Contains(string(b), "\n-- sqlite: foreign_keys off\n")
		out = append(out, Migration{Version: v, Name: n, SQL: Render(string(b), dialect), ForeignKeysOff: fkOff})
	}
	return out, nil
}

// textPattern is {{text_pattern}}, kept apart from types to keep that table stable.
var textPattern = map[string]string{Postgres: "text_pattern_ops", SQLite: ""}

// randomID is {{random_id}}: 128 random bits from the database's own
// generator, so a value is drawn once, when the migration runs.
var randomID = map[string]string{Postgres: "replace(gen_random_uuid()::text, '-', '')", SQLite: "lower(hex(randomblob(16)))"}

// Render replaces the type placeholders for dialect and keeps only the
// statements of its dialect blocks.
func Render(sql, dialect string) string {
	sql = dialectBlocks(sql, dialect)
	for k, v := range types[dialect] {
		sql = strings.ReplaceAll(sql, k, v)
	}
	sql = strings.ReplaceAll(sql, "{{text_pattern}}", textPattern[dialect])
	sql = strings.ReplaceAll(sql, "{{random_id}}", randomID[dialect])
	return sql
}

// dialectBlocks drops the lines of "-- dialect: X" blocks meant for another
// database than dialect.
func dialectBlocks(sql, dialect string) string {
	if !strings.Contains(sql, "-- dialect: ") {
		return sql
	}
	lines := strings.Split(sql, "\n")
	out := lines[:0]
	keep := true
	for _, line := range lines {
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "-- dialect: "); ok {
			keep = d == "both" || d == dialect
			continue
		}
		if keep {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// Statements splits a migration into statements on lines ending in ";".
// Migrations keep one statement per such line group, with no semicolons in
// string literals, which keeps this split exact.
func Statements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
