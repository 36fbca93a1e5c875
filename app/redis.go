package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
)

// redisConn returns the Asynq connection options for the configured Redis.
// With no Redis URL it starts an embedded, in-memory Redis-compatible server
// (miniredis) so `tsunagu serve` runs with nothing else installed. Asynq's
// Lua scripts run on it (jobs tests exercise enqueue, retry, scheduling and
// task-id conflicts on both). It keeps nothing across restarts, which is
// fine for development because the database is the outbox: the relay
// re-enqueues whatever was pending.
func redisConn(ctx context.Context, url string, log *slog.Logger) (asynq.RedisConnOpt, func(), error) {
	if url != "" {
		opt, err := asynq.ParseRedisURI(url)
		if err != nil {
			return nil, nil, fmt.Errorf("parsing TSUNAGU_REDIS_URL: %w", err)
		}
		return opt, func() {}, nil
	}
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, nil, fmt.Errorf("starting embedded Redis: %w", err)
	}
	// miniredis only expires keys when told time has passed.
	tick := time.NewTicker(time.Second)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-tick.C:
				m.FastForward(time.Second)
			case <-done:
				return
			}
		}
	}()
	log.Info("using embedded Redis (development only)", "addr", m.Addr())
	return asynq.RedisClientOpt{Addr: m.Addr()}, func() { tick.Stop(); close(done); m.Close() }, nil
}
