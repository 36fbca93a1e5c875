package jobs

import "github.com/hibiken/asynq"

func (w *Worker) registerAutomations(mux *asynq.ServeMux) {}
