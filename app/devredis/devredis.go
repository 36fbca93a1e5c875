// Package devredis is the embedded, in-memory Redis-compatible server
// (miniredis) that lets `go run ./cmd/tsunagu serve` run with nothing else
// installed. It is for development only: production builds (`-tags prod`)
// do not link it (see app/redis_embedded.go), and it never listens on a
// network port — clients reach it over in-process pipes, so nothing else on
// the machine can talk to it.
package devredis

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Server is a running embedded Redis.
type Server struct {
	m    *miniredis.Miniredis
	stop chan struct{}
}

// Start starts an embedded Redis that accepts in-process connections only.
// Asynq's Lua scripts run on it (jobs tests exercise enqueue, retry,
// scheduling and task-id conflicts on both). It keeps nothing across
// restarts, which is fine for development because the database is the
// outbox: the relay re-enqueues whatever was pending.
func Start(log *slog.Logger) (*Server, error) {
	s := &Server{m: miniredis.NewMiniRedis(), stop: make(chan struct{})}
	// The first Dial starts the server without a listener.
	c, err := s.m.Dial()
	if err != nil {
		return nil, err
	}
	_ = c.Close()
	// miniredis only expires keys when told time has passed.
	tick := time.NewTicker(time.Second)
	go func() {
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				s.m.FastForward(time.Second)
			case <-s.stop:
				return
			}
		}
	}()
	log.Info("using embedded Redis (development only, in-process, no network port)")
	return s, nil
}

// MakeRedisClient makes a go-redis client connected to the embedded server
// (Asynq's RedisConnOpt).
func (s *Server) MakeRedisClient() any {
	return redis.NewClient(&redis.Options{
		Addr:     "embedded",
		Dialer:   func(context.Context, string, string) (net.Conn, error) { return s.m.Dial() },
		PoolSize: 32,
	})
}

// Listening reports whether the server has a network listener (it never has).
func (s *Server) Listening() bool { return s.m.Addr() != "" }

// Close stops the server.
func (s *Server) Close() {
	close(s.stop)
	s.m.Close()
}
