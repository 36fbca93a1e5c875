// Package testenv gives tests real, isolated infrastructure: a fresh
// PostgreSQL database, a SQLite file, a Redis database of their own, and the
// repository's testdata. It is imported by tests only.
package testenv

import (
	"context"
	"crypto/rand"
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
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	ctx := context.Background()
	admin, err := store.Open(ctx, postgresAdminURL())
	if err != nil {
		t.Fatalf("PostgreSQL is required for this test (set %s): %v", EnvPostgres, err)
	}
	name := randomName("tsunagu_t_")
	if err := admin.G.Exec("CREATE DATABASE " + name).Error; err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	u, _ := url.Parse(postgresAdminURL())
	u.Path = "/" + name
	db, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatalf("opening test database: %v", err)
	}
	t.Cleanup(func() {
		db.Close()
		admin.G.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	})
	if err := db.Migrate(ctx, nil); err != nil {
		t.Fatalf("migrating test database: %v", err)
	}
	return db
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
