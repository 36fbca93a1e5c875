package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
	"github.com/tsunagu/tsunagu/line"
	"github.com/tsunagu/tsunagu/shopify"
	"github.com/tsunagu/tsunagu/templates"
)

// Pusher sends LINE push messages (line.Messenger in production).
type Pusher interface {
	Push(ctx context.Context, channelToken, to string, msgs []line.Message, retryKey string) (line.SendResult, error)
}

// Worker holds what the task handlers need.
type Worker struct {
	DB        *store.DB
	Box       *secretbox.Box
	LINE      Pusher
	Templates *templates.Renderer
	Queue     *Queue
	Log       *slog.Logger
	// Now is the clock; tests drive it.
	Now func() time.Time
	// TimeScale divides journey delays (demo and tests only); 0 or 1 is real time.
	TimeScale float64
	// BaseURL is the app's public URL, for links in messages.
	BaseURL string
	// Shopify is the Shopify app (coupons, tags); nil without credentials.
	Shopify *shopify.App
	// Tokens keeps shops' token pairs fresh; built from the fields above when nil.
	Tokens *core.Tokens
	// InstallationID salts LINE retry keys (store.DB.InstallationID); empty
	// leaves them unsalted.
	InstallationID string
	// Signer signs click-tracking tokens; nil leaves links untracked.
	Signer *secretbox.Signer
	// Breaker holds sends on a channel while LINE keeps failing; nil never holds.
	Breaker *core.Breaker
	// Friends keeps LINE friends, greets and auto-replies; nil leaves
	// LINE users who are not linked unrecorded (tests of other parts).
	Friends *core.Friends
	// Forwards delivers forwarded LINE webhooks; nil drops them.
	Forwards *core.Forwards
	// UnitsSeen spares each campaign batch a read of its aggregation
	// unit; nil reads it every time.
	UnitsSeen *core.UnitsSeen
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now().UTC()
	}
	return time.Now().UTC()
}

func (w *Worker) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.Default()
}

// scaled shortens a journey delay by the configured time scale.
func (w *Worker) scaled(d time.Duration) time.Duration {
	if w.TimeScale > 1 {
		return time.Duration(float64(d) / w.TimeScale)
	}
	return d
}

// Mux returns the Asynq handler for every task type.
func (w *Worker) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.HandleFunc(TypeProcessEvent, func(ctx context.Context, t *asynq.Task) error {
		var p eventPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("decoding %s payload: %w: %w", t.Type(), err, asynq.SkipRetry)
		}
		return w.ProcessEvent(ctx, p.EventID)
	})
	mux.HandleFunc(TypeSendMessage, func(ctx context.Context, t *asynq.Task) error {
		var p messagePayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("decoding %s payload: %w: %w", t.Type(), err, asynq.SkipRetry)
		}
		return w.SendMessage(ctx, p.MessageID)
	})
	w.registerCampaigns(mux)
	w.registerSchedules(mux)
	w.registerTokens(mux)
	w.registerForwards(mux)
	return mux
}

// ServerConfig is the Asynq server configuration Tsunagu runs with.
func ServerConfig(concurrency int, log *slog.Logger) asynq.Config {
	if concurrency <= 0 {
		concurrency = 10
	}
	return asynq.Config{
		Concurrency:     concurrency,
		Queues:          map[string]int{QueueEvents: 6, QueueMessages: 4, QueueForwards: 2},
		ShutdownTimeout: 25 * time.Second,
		Logger:          asynqLogger{log},
		LogLevel:        asynq.WarnLevel,
		RetryDelayFunc:  RetryDelay,
	}
}

// asynqLogger sends Asynq's own logs to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) log(level slog.Level, args ...any) {
	l := a.l
	if l == nil {
		l = slog.Default()
	}
	l.Log(context.Background(), level, fmt.Sprint(args...), "component", "asynq")
}
func (a asynqLogger) Debug(args ...any) { a.log(slog.LevelDebug, args...) }
func (a asynqLogger) Info(args ...any)  { a.log(slog.LevelInfo, args...) }
func (a asynqLogger) Warn(args ...any)  { a.log(slog.LevelWarn, args...) }
func (a asynqLogger) Error(args ...any) { a.log(slog.LevelError, args...) }
func (a asynqLogger) Fatal(args ...any) { a.log(slog.LevelError, args...) }
