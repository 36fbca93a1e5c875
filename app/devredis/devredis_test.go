package devredis

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// The embedded Redis must not be reachable from the network: it has no
// listener, yet Asynq enqueues and reads through it.
func TestEmbeddedRedisHasNoListener(t *testing.T) {
	t.Parallel()
	s, err := Start(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Listening() {
		t.Fatalf("embedded Redis listens on %s", s.m.Addr())
	}
	var opt asynq.RedisConnOpt = s
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	c := asynq.NewClient(opt)
	defer c.Close()
	if _, err := c.Enqueue(asynq.NewTask("t", []byte("x")), asynq.TaskID("one"), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(asynq.NewTask("t", []byte("x")), asynq.TaskID("one")); err == nil {
		t.Fatal("duplicate task id accepted")
	}
	ins := asynq.NewInspector(opt)
	defer ins.Close()
	info, err := ins.GetTaskInfo("default", "one")
	if err != nil || info.State != asynq.TaskStateScheduled {
		t.Fatalf("task: %+v %v", info, err)
	}
}
