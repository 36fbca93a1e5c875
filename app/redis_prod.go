//go:build prod

package app

import (
	"errors"
	"log/slog"

	"github.com/hibiken/asynq"
)

// EmbeddedRedis reports whether this build contains the development Redis.
const EmbeddedRedis = false

func embeddedRedis(*slog.Logger) (asynq.RedisConnOpt, func(), error) {
	return nil, nil, errors.New("TSUNAGU_REDIS_URL is required: this binary was built with -tags prod, which leaves out the embedded development Redis")
}
