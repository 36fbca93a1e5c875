package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// withPGX runs fn on one pooled connection's pgx.Conn (PostgreSQL only),
// for what database/sql cannot do (a binary COPY body) or does slowly
// (converting thousands of values of one statement one at a time).
func (db *DB) withPGX(ctx context.Context, fn func(*pgx.Conn) error) error {
	sqlDB, err := db.G.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("reserving a connection: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("the PostgreSQL driver connection is a %T, not pgx", dc)
		}
		return fn(pc.Conn())
	})
}
