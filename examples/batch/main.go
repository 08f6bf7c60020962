// Command batch embeds a batch of documents as durable jobs on River (a
// PostgreSQL-backed job queue), with the embedding API's key from a rotate
// credential and degrade's classification deciding what a failure means
// for a job: a rate-limited job snoozes until its Retry-After, an open
// breaker snoozes the queue's jobs until the outage may be over, a quota
// error fails the job for good, a rejected key is refreshed once. A
// document is embedded exactly once in the database, even when the worker
// is killed mid-batch: the vector is stored in the transaction that
// completes the job.
//
// Offline (the default) it starts a throwaway PostgreSQL server and an
// in-process fake of the embeddings API, and runs the whole batch:
//
//	go run .
//
// Against your own database and the real API (the key from a credkit URL):
//
//	DATABASE_URL='postgres://batch@db.internal/batch' \
//	OPENAI_API_KEY_URL='file:///run/secrets/openai' go run . -docs ./docs
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/health/degrade"
	"github.com/credkit/credkit/internal/pgserver"
	"github.com/credkit/credkit/provider"
	"github.com/credkit/credkit/redact"
	"github.com/credkit/credkit/rotate"
)

func main() {
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv(workerEnv) != "" {
		// A worker process of the crash test (see main_test.go).
		if err := runWorker(ctx, os.Getenv("DATABASE_URL"), os.Getenv("EMBEDDINGS_URL"), os.Getenv("KEY_URL"), os.Stderr); err != nil {
			log.Fatal(err)
		}
		return
	}
	docs := flag.String("docs", "", "a folder of .txt documents to embed (with DATABASE_URL)")
	flag.Parse()
	var err error
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		err = runReal(ctx, dsn, os.Getenv("OPENAI_API_KEY_URL"), *docs)
	} else {
		var st Stats
		st, err = Demo(ctx, os.Stdout)
		if err == nil {
			err = st.Check()
		}
	}
	if err != nil {
		log.Fatal(err)
	}
}

// workerEnv marks a process started to be a batch worker.
const workerEnv = "CREDKIT_BATCH_WORKER"

// Service is one worker process's wiring: the key, the policy, the River
// client.
type Service struct {
	Set    *rotate.Set
	Client *river.Client[pgx.Tx]
	Policy *degrade.Policy
	close  []func()
	opened atomic.Int64 // job runs that met the open breaker
}

// Close stops the River client (letting running jobs finish for up to
// 10 s) and releases everything.
func (s *Service) Close() {
	if s.Client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.Client.Stop(ctx)
		cancel()
	}
	for i := len(s.close) - 1; i >= 0; i-- {
		s.close[i]()
	}
}

// ServiceConfig is what [NewService] needs.
type ServiceConfig struct {
	DB     *pgxpool.Pool
	APIURL string // the embeddings API's base URL
	KeyURL string // a credkit URL for its key
	ID     string // the River client's ID: stable across restarts of one replica
	LogOut io.Writer
	// RescueAfter: see [WorkerConfig]. Zero keeps River's default (1 hour).
	RescueAfter time.Duration
	// OnBreakerOpen, when set, is called for each job run the open breaker
	// refused.
	OnBreakerOpen func()
}

// NewService wires a worker: the key from keyURL in a rotate.Set, a logger
// that redacts it, credential.Transport injecting it, one degrade.Policy
// for the API (one attempt per job run: River is the retry loop; the
// breaker and the 401 refresh are the policy's), and a River client.
func NewService(ctx context.Context, c ServiceConfig) (*Service, error) {
	db, apiURL, keyURL, id, logOut, rescueAfter := c.DB, c.APIURL, c.KeyURL, c.ID, c.LogOut, c.RescueAfter
	s := &Service{}
	r := redact.New()
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(logOut, nil), r))
	set, err := rotate.Open(ctx, provider.NewURLMux(), []rotate.Config{{Name: "openai", URL: keyURL,
		Metadata: credential.Metadata{Owner: "search-team@example.com", Purpose: "nightly document embeddings",
			System: "api.openai.com", Scopes: []string{"model.request"}, RotationPeriod: 90 * 24 * time.Hour}}},
		rotate.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	s.Set = set
	s.close = append(s.close, func() { set.Close() }, r.Track(set))
	key, err := set.Credential("openai")
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Policy = degrade.NewPolicy("openai-embeddings",
		degrade.WithMaxAttempts(1), degrade.WithRefresher(key), degrade.WithLogger(logger),
		degrade.WithBreaker(0.5, 4, 10*time.Second), degrade.WithOpenFor(500*time.Millisecond, 1))
	w := &EmbedWorker{DB: db, OnBreakerOpen: func() {
		s.opened.Add(1)
		if c.OnBreakerOpen != nil {
			c.OnBreakerOpen()
		}
	}, Policy: s.Policy, Now: time.Now, Logger: logger,
		API: &Embedder{URL: apiURL, Model: "text-embedding-3-small",
			Client: &http.Client{Timeout: 20 * time.Second, Transport: &credential.Transport{Credential: key}}}}
	rc, err := NewClient(WorkerConfig{DB: db, Worker: w, MaxWorkers: 4, ID: id, Logger: logger, RescueAfter: rescueAfter})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Client = rc
	if err := rc.Start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Migrate creates River's tables and the example's.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	m, err := rivermigrate.New(riverpgxv5.New(db), nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return err
	}
	_, err = db.Exec(ctx, Schema)
	return err
}

// Enqueue stores the documents and inserts one job per document, in one
// transaction.
func Enqueue(ctx context.Context, db *pgxpool.Pool, docs map[string]string) error {
	c, err := NewClient(WorkerConfig{DB: db})
	if err != nil {
		return err
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var params []river.InsertManyParams
	for id, body := range docs {
		if _, err := tx.Exec(ctx, "INSERT INTO documents (id, body) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", id, body); err != nil {
			return err
		}
		params = append(params, river.InsertManyParams{Args: EmbedArgs{DocID: id}})
	}
	if _, err := c.InsertManyTx(ctx, tx, params); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Progress reads how far the batch is: documents embedded, and jobs by
// state.
func Progress(ctx context.Context, db *pgxpool.Pool) (embedded int, states map[rivertype.JobState]int, err error) {
	if err := db.QueryRow(ctx, "SELECT count(*) FROM embeddings").Scan(&embedded); err != nil {
		return 0, nil, err
	}
	rows, err := db.Query(ctx, "SELECT state::text, count(*) FROM river_job GROUP BY state")
	if err != nil {
		return 0, nil, err
	}
	states = map[rivertype.JobState]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return 0, nil, err
		}
		states[rivertype.JobState(s)] = n
	}
	return embedded, states, rows.Err()
}

// WaitDone waits until no job is pending (available, scheduled, running or
// retryable), checking every poll, for at most limit.
func WaitDone(ctx context.Context, db *pgxpool.Pool, poll, limit time.Duration) (embedded int, states map[rivertype.JobState]int, err error) {
	deadline := time.Now().Add(limit)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		embedded, states, err = Progress(ctx, db)
		if err != nil {
			return
		}
		pending := states[rivertype.JobStateAvailable] + states[rivertype.JobStateScheduled] +
			states[rivertype.JobStateRunning] + states[rivertype.JobStateRetryable] + states[rivertype.JobStatePending]
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			return embedded, states, fmt.Errorf("batch not done after %v: %d embedded, jobs %v", limit, embedded, states)
		}
		select {
		case <-ctx.Done():
			return embedded, states, ctx.Err()
		case <-t.C:
		}
	}
}

// runWorker is one worker process: it works until killed or ctx ends.
func runWorker(ctx context.Context, dsn, apiURL, keyURL string, logOut io.Writer) error {
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := NewService(ctx, ServiceConfig{DB: db, APIURL: apiURL, KeyURL: keyURL, ID: "batch-worker-1", LogOut: logOut, RescueAfter: 3 * time.Second})
	if err != nil {
		return err
	}
	defer s.Close()
	<-ctx.Done()
	return nil
}

// runReal embeds the .txt files of dir into the database at dsn with the
// real API.
func runReal(ctx context.Context, dsn, keyURL, dir string) error {
	if keyURL == "" {
		return errors.New("OPENAI_API_KEY_URL is required with DATABASE_URL (for example file:///run/secrets/openai or env://OPENAI_API_KEY)")
	}
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := Migrate(ctx, db); err != nil {
		return err
	}
	if dir != "" {
		docs := map[string]string{}
		files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			docs[strings.TrimSuffix(filepath.Base(f), ".txt")] = string(b)
		}
		if err := Enqueue(ctx, db, docs); err != nil {
			return err
		}
	}
	host, _ := os.Hostname()
	s, err := NewService(ctx, ServiceConfig{DB: db, APIURL: "https://api.openai.com", KeyURL: keyURL, ID: "batch-" + host, LogOut: os.Stderr})
	if err != nil {
		return err
	}
	defer s.Close()
	embedded, states, err := WaitDone(ctx, db, time.Second, 24*time.Hour)
	fmt.Printf("embedded %d; jobs %v\n", embedded, states)
	return err
}

// startDB starts a throwaway PostgreSQL with the example's schema.
func startDB(ctx context.Context) (*pgserver.Server, *pgxpool.Pool, error) {
	srv, err := pgserver.Start(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	db, err := pgxpool.New(ctx, srv.AdminDSN(""))
	if err != nil {
		srv.Stop()
		return nil, nil, err
	}
	if err := Migrate(ctx, db); err != nil {
		db.Close()
		srv.Stop()
		return nil, nil, err
	}
	return srv, db, nil
}
