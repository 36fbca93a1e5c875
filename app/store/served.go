package store

import (
	"context"
	"fmt"
)

// RecordServedBaseURL remembers the base URL `tsunagu serve` runs with.
func (db *DB) RecordServedBaseURL(ctx context.Context, url string) error {
	if err := db.WithContext(ctx).Exec("UPDATE installation SET served_base_url = ? WHERE id = 1", url).Error; err != nil {
		return fmt.Errorf("recording the served base URL: %w", err)
	}
	return nil
}

// ServedBaseURL is the base URL `tsunagu serve` last started with ("" if
// it never ran on this database).
func (db *DB) ServedBaseURL(ctx context.Context) (string, error) {
	var u []string
	if err := db.WithContext(ctx).Raw("SELECT served_base_url FROM installation WHERE id = 1").Scan(&u).Error; err != nil {
		return "", fmt.Errorf("reading the served base URL: %w", err)
	}
	if len(u) == 0 {
		return "", nil
	}
	return u[0], nil
}
