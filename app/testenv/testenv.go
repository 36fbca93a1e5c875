// Package testenv gives tests real, isolated infrastructure: a fresh
// PostgreSQL database, a SQLite file, a Redis database of their own, and the
// repository's testdata. It is imported by tests only.
package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line/linetest"
	"github.com/tsunagu/tsunagu/migrations"
)

// Environment variables that point tests at the services.
const (
	EnvPostgres = "TSUNAGU_TEST_POSTGRES_URL" // default postgres://postgres@127.0.0.1:5432/test?sslmode=disable
	EnvRedis    = "TSUNAGU_TEST_REDIS_ADDR"   // default 127.0.0.1:6379
)

func postgresAdminURL() string {
	if u := os.Getenv(EnvPostgres); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// RedisAddr is the address of the test Redis server.
func RedisAddr() string {
	if a := os.Getenv(EnvRedis); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Postgres creates a fresh, migrated database for the test and drops it after.
// Tests run in parallel (and several test processes share one server), so the
// admin connection is held only while creating and dropping, and the test's
// pool is kept small: a few dozen tests at once stay well under
// max_connections (.ci/run sets 400).
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	ctx := context.Background()
	tpl, err := postgresTemplate(ctx)
	if err != nil {
		t.Fatalf("PostgreSQL is required for this test (set %s): %v", EnvPostgres, err)
	}
	name := randomName("tsunagu_t_")
	if err := adminExec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tpl); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	u, _ := url.Parse(postgresAdminURL())
	u.Path = "/" + name
	db, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatalf("opening test database: %v", err)
	}
	if _, bench := t.(*testing.B); !bench {
		sqlDB, _ := db.G.DB()
		sqlDB.SetMaxOpenConns(testPoolSize)
		sqlDB.SetMaxIdleConns(4)
	}
	t.Cleanup(func() {
		db.Close()
		if err := adminExec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping test database %s: %v", name, err)
		}
	})
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatalf("migrating test database: %v", err)
	}
	return db
}

// testPoolSize bounds each test database's connections: room for the
// workers (concurrency 4) and the concurrent requests a test makes, each of
// which may hold a transaction and one more connection. Benchmarks keep the
// production pool so their numbers mean what docs/BENCHMARKS.md says.
const testPoolSize = 16

// postgresTemplate returns the name of a database holding the current
// migrations, creating it the first time: copying it is much faster than
// migrating every test's database. Its name is a hash of the migrations, so
// branches with different schemas never share one; an advisory lock makes
// concurrent test processes build it once.
func postgresTemplate(ctx context.Context) (string, error) {
	list, err := migrations.List(migrations.Postgres)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, m := range list {
		fmt.Fprintf(h, "%s\x00%s\x00", m.Name, m.SQL)
	}
	tpl := "tsunagu_tpl_" + hex.EncodeToString(h.Sum(nil))[:16]

	admin, err := store.Open(ctx, postgresAdminURL())
	if err != nil {
		return "", err
	}
	defer admin.Close()
	sqlDB, _ := admin.G.DB()
	conn, err := sqlDB.Conn(ctx) // the session lock needs one connection throughout
	if err != nil {
		return "", fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7283042)"); err != nil {
		return "", fmt.Errorf("taking the template lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7283042)") //nolint:errcheck
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", tpl).Scan(&n); err != nil {
		return "", fmt.Errorf("looking for the template database: %w", err)
	}
	if n == 1 {
		return tpl, nil
	}
	// Build under another name and rename when complete, so a crash
	// midway never leaves a half-migrated template behind.
	build := tpl + "_build"
	for _, stmt := range []string{"DROP DATABASE IF EXISTS " + build + " WITH (FORCE)", "CREATE DATABASE " + build} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return "", fmt.Errorf("creating the template database: %w", err)
		}
	}
	u, _ := url.Parse(postgresAdminURL())
	u.Path = "/" + build
	db, err := store.Open(ctx, u.String())
	if err != nil {
		return "", fmt.Errorf("opening the template database: %w", err)
	}
	err = db.Migrate(ctx, nil)
	db.Close()
	if err != nil {
		return "", fmt.Errorf("migrating the template database: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+build+" RENAME TO "+tpl); err != nil {
		return "", fmt.Errorf("naming the template database: %w", err)
	}
	return tpl, nil
}

// adminExec runs one statement on the admin database over a short-lived connection.
func adminExec(ctx context.Context, stmt string) error {
	admin, err := store.Open(ctx, postgresAdminURL())
	if err != nil {
		return err
	}
	defer admin.Close()
	return admin.G.WithContext(ctx).Exec(stmt).Error
}

// SQLite creates a fresh, migrated SQLite database in the test's temp dir.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "tsunagu.db"))
	if err != nil {
		t.Fatalf("opening SQLite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatalf("migrating SQLite: %v", err)
	}
	return db
}

// EmptyPostgres creates a fresh database with no schema, dropped after the
// test: a migration's test migrates it step by step (store.DB.MigrateTo).
func EmptyPostgres(t testing.TB) *store.DB {
	t.Helper()
	ctx := context.Background()
	name := randomName("tsunagu_e_")
	if err := adminExec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("PostgreSQL is required for this test (set %s): %v", EnvPostgres, err)
	}
	u, _ := url.Parse(postgresAdminURL())
	u.Path = "/" + name
	db, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatalf("opening test database: %v", err)
	}
	t.Cleanup(func() {
		db.Close()
		if err := adminExec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping test database %s: %v", name, err)
		}
	})
	return db
}

// EmptySQLite creates a fresh SQLite database with no schema.
func EmptySQLite(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "tsunagu.db"))
	if err != nil {
		t.Fatalf("opening SQLite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// EachEmptyDB runs fn as a subtest on an empty PostgreSQL and SQLite database.
func EachEmptyDB(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for name, open := range map[string]func(testing.TB) *store.DB{"postgres": EmptyPostgres, "sqlite": EmptySQLite} {
		t.Run(name, func(t *testing.T) { fn(t, open(t)) })
	}
}

// databases opens a fresh test database per dialect.
var databases = map[string]func(testing.TB) *store.DB{"postgres": Postgres, "sqlite": SQLite}

// EachDB runs fn as a subtest on PostgreSQL and on SQLite.
func EachDB(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for name, open := range databases {
		t.Run(name, func(t *testing.T) { fn(t, open(t)) })
	}
}

// EachDBBench runs fn as a sub-benchmark on PostgreSQL and on SQLite.
func EachDBBench(b *testing.B, fn func(b *testing.B, db *store.DB)) {
	b.Helper()
	for name, open := range databases {
		b.Run(name, func(b *testing.B) { fn(b, open(b)) })
	}
}

// Redis reserves one of the server's numbered databases (1 and up) for the test,
// flushes it before and after, and returns Asynq options pointing at it.
// Tests in parallel packages each get their own database.
func Redis(t testing.TB) asynq.RedisClientOpt {
	t.Helper()
	ctx := context.Background()
	ctl := redis.NewClient(&redis.Options{Addr: RedisAddr(), DB: 0})
	t.Cleanup(func() { ctl.Close() })
	if err := ctl.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis is required for this test (set %s): %v", EnvRedis, err)
	}
	// A server started with more databases (--databases 64) lets more test
	// processes run side by side; 16 is Redis's default.
	count := 16
	if v, err := ctl.ConfigGet(ctx, "databases").Result(); err == nil {
		if n, err := strconv.Atoi(v["databases"]); err == nil && n > 1 {
			count = n
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for n := 1; n < count; n++ {
			key := "tsunagu:test:db:" + strconv.Itoa(n)
			ok, err := ctl.SetNX(ctx, key, t.Name(), 10*time.Minute).Result()
			if err != nil {
				t.Fatalf("reserving a Redis database: %v", err)
			}
			if !ok {
				continue
			}
			c := redis.NewClient(&redis.Options{Addr: RedisAddr(), DB: n})
			c.FlushDB(ctx)
			t.Cleanup(func() {
				c.FlushDB(context.Background())
				c.Close()
				ctl.Del(context.Background(), key)
			})
			return asynq.RedisClientOpt{Addr: RedisAddr(), DB: n}
		}
		if time.Now().After(deadline) {
			t.Fatal("no free Redis test database")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// RedisServer is a redis-server process of the test's own, which the test
// may stop and start again (for outage tests).
type RedisServer struct {
	Addr string
	t    testing.TB
	cmd  *exec.Cmd
	port int
}

// StartRedisServer runs a private redis-server on a free loopback port.
func StartRedisServer(t testing.TB) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is required for this test: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &RedisServer{Addr: fmt.Sprintf("127.0.0.1:%d", port), t: t, port: port}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server (again) and waits until it answers.
func (s *RedisServer) Start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port), "--save", "", "--appendonly", "no")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	for i := 0; i < 100; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatal("redis-server did not answer")
}

// Stop kills the server; its data is gone, as in a Redis that lost its memory.
func (s *RedisServer) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// FixturesDir returns the absolute path of the repository testdata (see
// linetest.FixturesDir for where it looks).
func FixturesDir(t testing.TB) string {
	t.Helper()
	return linetest.FixturesDir(t)
}

// Fixture reads a fixture file relative to the fixtures dir.
func Fixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(FixturesDir(t), rel))
	if err != nil {
		t.Fatalf("reading fixture %s: %v", rel, err)
	}
	return b
}

// RedisClient is a go-redis client on a Redis database of the test's own
// (see Redis), closed when the test ends.
func RedisClient(t testing.TB) *redis.Client {
	t.Helper()
	opt := Redis(t)
	c := redis.NewClient(&redis.Options{Addr: opt.Addr, DB: opt.DB})
	t.Cleanup(func() { c.Close() })
	return c
}
