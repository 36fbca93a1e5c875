// Package jobs turns stored events into customer records and planned LINE
// messages, and sends those messages, on Asynq workers.
//
// Two task types carry all the work:
//
//	event:process   one inbound webhook (the events row is the outbox)
//	message:send    one planned message (the messages row is the outbox)
//
// Both are idempotent: the database row, not the task, is the truth, so a
// task delivered twice, a worker killed mid-task or a relay re-enqueue never
// does the work twice.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tsunagu/tsunagu/app/store"
)

// Task types.
const (
	TypeProcessEvent = "event:process"
	TypeSendMessage  = "message:send"
)

// Queues, by priority: inbound events first so planning stays fresh.
const (
	QueueEvents   = "events"
	QueueMessages = "messages"
)

type eventPayload struct {
	EventID int64 `json:"event_id"`
}

type messagePayload struct {
	MessageID int64 `json:"message_id"`
}

// Queue enqueues tasks. It is the only writer to Asynq.
type Queue struct {
	client *asynq.Client
}

// NewQueue wraps an Asynq client.
func NewQueue(client *asynq.Client) *Queue { return &Queue{client: client} }

// EventTaskID is the Asynq task id of an event: one task per event at a time.
func EventTaskID(id int64) string { return "event:" + strconv.FormatInt(id, 10) }

// MessageTaskID is the Asynq task id of a message send. It includes the
// scheduled time so a send deferred by quiet hours gets a task of its own.
func MessageTaskID(m *store.Message) string {
	return "msg:" + m.DedupeKey + "@" + strconv.FormatInt(m.ScheduledFor.Unix(), 10)
}

// EnqueueEvent asks a worker to process an event. An already queued event is fine.
func (q *Queue) EnqueueEvent(ctx context.Context, id int64) error {
	b, _ := json.Marshal(eventPayload{EventID: id})
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeProcessEvent, b),
		asynq.TaskID(EventTaskID(id)), asynq.Queue(QueueEvents), asynq.MaxRetry(10), asynq.Timeout(2*time.Minute))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueueing event %d: %w", id, err)
	}
	return nil
}

// EnqueueMessage schedules a message's send for its ScheduledFor time.
func (q *Queue) EnqueueMessage(ctx context.Context, m *store.Message) error {
	b, _ := json.Marshal(messagePayload{MessageID: m.ID})
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeSendMessage, b),
		asynq.TaskID(MessageTaskID(m)), asynq.Queue(QueueMessages), asynq.ProcessAt(m.ScheduledFor),
		asynq.MaxRetry(8), asynq.Timeout(time.Minute))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueueing message %s: %w", m.DedupeKey, err)
	}
	return nil
}

// Close closes the Asynq client.
func (q *Queue) Close() error { return q.client.Close() }

// Ping checks Redis answers.
func (q *Queue) Ping() error { return q.client.Ping() }
