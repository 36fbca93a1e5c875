//go:build !prod

package app

import (
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/devredis"
)

// EmbeddedRedis reports whether this build contains the development Redis.
const EmbeddedRedis = true

func embeddedRedis(log *slog.Logger) (asynq.RedisConnOpt, func(), error) {
	s, err := devredis.Start(log)
	if err != nil {
		return nil, nil, fmt.Errorf("starting the embedded Redis: %w", err)
	}
	return s, s.Close, nil
}
