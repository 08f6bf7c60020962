package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/credkit/credkit/health/degrade"
)

// Schema is the example's own tables; River's come from rivermigrate.
const Schema = `
CREATE TABLE IF NOT EXISTS documents (
	id   text PRIMARY KEY,
	body text NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
	doc_id      text PRIMARY KEY REFERENCES documents (id),
	model       text NOT NULL,
	vector      real[] NOT NULL,
	embedded_at timestamptz NOT NULL DEFAULT now()
);`

// EmbedArgs is the job: embed one document.
type EmbedArgs struct {
	DocID string `json:"doc_id"`
}

// Kind implements river.JobArgs.
func (EmbedArgs) Kind() string { return "embed_document" }

// InsertOpts makes a document's job unique while it is pending, so a batch
// enqueued twice does not embed a document twice.
func (EmbedArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Embedder calls an OpenAI-style embeddings endpoint with client, whose
// transport injects the key (credential.Transport).
type Embedder struct {
	URL    string // base URL, e.g. https://api.openai.com
	Model  string
	Client *http.Client
}

// Embed returns the embedding of text. A non-2xx answer is a
// *degrade.StatusError, which degrade classifies (429 and its Retry-After,
// insufficient_quota, 401, 5xx).
func (e *Embedder) Embed(ctx context.Context, text string) ([]float32, error) {
	body, _ := json.Marshal(map[string]string{"model": e.Model, "input": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+"/v1/embeddings", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		excerpt := b
		if len(excerpt) > 512 {
			excerpt = excerpt[:512]
		}
		return nil, &degrade.StatusError{StatusCode: resp.StatusCode, Header: resp.Header, Body: string(excerpt)}
	}
	var out struct {
		Data []struct {
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Data) != 1 {
		return nil, fmt.Errorf("embeddings: malformed answer")
	}
	return out.Data[0].Embedding, nil
}

// EmbedWorker embeds one document per job and stores the vector in the same
// transaction that completes the job, so a document is embedded exactly
// once in the database whatever crashes: a job whose worker died before the
// commit runs again (River rescues it), and its second run's insert is the
// only one that lands.
//
// What degrade's classification turns into for River:
//   - 429 with Retry-After: the job snoozes until then (no attempt used);
//   - the breaker is open (an outage): the job snoozes until the breaker
//     lets a probe through, so the queue stops hammering a dead API;
//   - quota exhausted (insufficient_quota): the job is cancelled, failed
//     for good: retrying cannot help and would burn the retry budget;
//   - 401: the policy refreshes the key once and retries; a key still
//     refused fails the attempt and River retries it later;
//   - other failures: River's retry with backoff.
type EmbedWorker struct {
	river.WorkerDefaults[EmbedArgs]
	DB     *pgxpool.Pool
	API    *Embedder
	Policy *degrade.Policy
	Now    func() time.Time
	Logger *slog.Logger
	// OnBreakerOpen, when set, is called for each job run the open breaker
	// refused.
	OnBreakerOpen func()
}

// Timeout bounds one job.
func (w *EmbedWorker) Timeout(*river.Job[EmbedArgs]) time.Duration { return 30 * time.Second }

// Work implements river.Worker.
func (w *EmbedWorker) Work(ctx context.Context, job *river.Job[EmbedArgs]) error {
	var body string
	if err := w.DB.QueryRow(ctx, "SELECT body FROM documents WHERE id = $1", job.Args.DocID).Scan(&body); err != nil {
		return err
	}
	vec, err := degrade.Call(ctx, w.Policy, func(ctx context.Context) ([]float32, error) {
		return w.API.Embed(ctx, body)
	})
	if err != nil {
		return w.outcome(job, err)
	}
	tx, err := w.DB.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "INSERT INTO embeddings (doc_id, model, vector) VALUES ($1, $2, $3) ON CONFLICT (doc_id) DO NOTHING",
		job.Args.DocID, w.API.Model, vec); err != nil {
		return err
	}
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// outcome turns a failed call into River's vocabulary.
func (w *EmbedWorker) outcome(job *river.Job[EmbedArgs], err error) error {
	var de *degrade.Error
	errors.As(err, &de)
	switch {
	case errors.Is(err, degrade.ErrQuotaExhausted):
		w.Logger.Warn("embedding cancelled: quota exhausted", "doc", job.Args.DocID)
		return river.JobCancel(err)
	case errors.Is(err, degrade.ErrCircuitOpen):
		if w.OnBreakerOpen != nil {
			w.OnBreakerOpen()
		}
		d := time.Second
		if at := w.Policy.Breaker().RetryAt(); !at.IsZero() {
			d = max(at.Sub(w.Now()), 10*time.Millisecond)
		}
		w.Logger.Info("embedding snoozed: breaker open", "doc", job.Args.DocID, "for", d)
		return river.JobSnooze(d)
	case de != nil && de.RetryAfter > 0:
		w.Logger.Info("embedding snoozed: rate limited", "doc", job.Args.DocID, "for", de.RetryAfter)
		return river.JobSnooze(de.RetryAfter)
	}
	w.Logger.Warn("embedding failed; River retries it", "doc", job.Args.DocID, "err", err)
	return err
}

// WorkerConfig is what [NewClient] needs.
type WorkerConfig struct {
	DB         *pgxpool.Pool
	Worker     *EmbedWorker // nil for an insert-only client
	MaxWorkers int
	ID         string // the client's ID, stable across restarts of one replica
	Logger     *slog.Logger
	// RescueAfter is how long a job may stay running before River
	// considers its worker dead and runs it again (default 1 hour; the
	// test uses seconds).
	RescueAfter time.Duration
}

// NewClient returns a River client for the embedding jobs.
func NewClient(c WorkerConfig) (*river.Client[pgx.Tx], error) {
	cfg := &river.Config{ID: c.ID, Logger: c.Logger, RescueStuckJobsAfter: c.RescueAfter,
		FetchPollInterval: 50 * time.Millisecond, FetchCooldown: 10 * time.Millisecond}
	if c.RescueAfter > 0 {
		cfg.JobTimeout = c.RescueAfter / 2
	}
	if c.Worker != nil {
		workers := river.NewWorkers()
		river.AddWorker(workers, c.Worker)
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: max(c.MaxWorkers, 1)}}
	}
	return river.NewClient(riverpgxv5.New(c.DB), cfg)
}
