package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hibiken/asynq"
)

// redisConn returns the Asynq connection options for the configured Redis.
// With no Redis URL it starts the embedded, in-memory development Redis
// (embeddedRedis), which production builds (-tags prod) do not contain.
func redisConn(url string, log *slog.Logger) (asynq.RedisConnOpt, func(), error) {
	if url != "" {
		opt, err := asynq.ParseRedisURI(url)
		if err != nil {
			return nil, nil, fmt.Errorf("parsing TSUNAGU_REDIS_URL: %w", err)
		}
		return opt, func() {}, nil
	}
	return embeddedRedis(log)
}

// RedisLogger adapts slog to go-redis's logger interface, so the Redis
// client's own messages (connection pool failures) are JSON log lines too.
// go-redis keeps one logger per process (redis.SetLogger); cmd/tsunagu
// installs it once at start.
func RedisLogger(log *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return redisLogger{log}
}

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "), "component", "go-redis")
}
