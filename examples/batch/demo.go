package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// Fake keys in the real format.
const (
	demoKey1 = "sk-proj-FAKEbatchKeyOneFAKEbatchKeyOneFAKEbatch1"
	demoKey2 = "sk-proj-FAKEbatchKeyTwoFAKEbatchKeyTwoFAKEbatch2"
)

// Stats is what a batch run measured.
type Stats struct {
	Documents   int   // documents enqueued
	Embedded    int   // rows in embeddings: one per document that could be embedded
	Cancelled   int   // jobs failed for good (quota)
	Quota       int   // documents the API refuses for quota
	Snoozes     int   // job snoozes (rate limits and the open breaker)
	APICalls    int   // calls to the embeddings API, any answer
	Rejected    int   // 401s (the rotation) absorbed by one refresh each
	Duplicates  int   // documents the API embedded more than once (at-least-once calls)
	Rotations   int   // key rotations during the batch
	Errors      int   // failed job runs River retried with backoff
	BreakerOpen int64 // job runs refused by the open breaker (snoozed)
	KeyInLog    bool
	ServiceLogs []byte
}

// Check returns an error naming what went wrong.
func (s Stats) Check() error {
	var errs []error
	if s.Embedded != s.Documents-s.Quota {
		errs = append(errs, fmt.Errorf("%d of %d documents embedded (%d refused for quota)", s.Embedded, s.Documents, s.Quota))
	}
	if s.Cancelled != s.Quota {
		errs = append(errs, fmt.Errorf("%d jobs cancelled, want the %d quota documents", s.Cancelled, s.Quota))
	}
	if s.KeyInLog {
		errs = append(errs, errors.New("a key appeared in the service's log"))
	}
	return errors.Join(errs...)
}

func (s Stats) String() string {
	return fmt.Sprintf("documents %d, embedded %d, cancelled (quota) %d, snoozes %d (breaker open %d), retried errors %d, API calls %d, 401s absorbed %d, repeated embeddings %d, rotations %d, key in log %v",
		s.Documents, s.Embedded, s.Cancelled, s.Snoozes, s.BreakerOpen, s.Errors, s.APICalls, s.Rejected, s.Duplicates, s.Rotations, s.KeyInLog)
}

// demoDocs returns n documents, a few of which the fake API rate-limits
// once or refuses for quota.
func demoDocs(n int) (docs map[string]string, quota int) {
	docs = map[string]string{}
	for i := 0; i < n; i++ {
		body := fmt.Sprintf("Document %03d: how credkit keeps keys out of logs.", i)
		switch {
		case i%10 == 3:
			body += " [rate-limited]"
		case i == n-1 || i == n/2:
			body += " [quota]"
			quota++
		}
		docs[fmt.Sprintf("doc-%03d", i)] = body
	}
	return docs, quota
}

// writeKey replaces the key file atomically.
func writeKey(path, key string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Demo runs a batch of 60 documents in this process: a key rotation and an
// API outage (the breaker opens, jobs snooze, the API comes back) happen
// along the way.
func Demo(ctx context.Context, out io.Writer) (Stats, error) {
	var st Stats
	srv, db, err := startDB(ctx)
	if err != nil {
		return st, err
	}
	defer srv.Stop()
	defer db.Close()
	api := NewFakeAPI(demoKey1)
	defer api.Close()
	dir, err := os.MkdirTemp("", "credkit-batch-")
	if err != nil {
		return st, err
	}
	defer os.RemoveAll(dir)
	keyFile := filepath.Join(dir, "openai")
	if err := writeKey(keyFile, demoKey1); err != nil {
		return st, err
	}
	docs, quota := demoDocs(60)
	st.Documents, st.Quota = len(docs), quota
	if err := Enqueue(ctx, db, docs); err != nil {
		return st, err
	}

	// After 5 embeddings the key is rotated (the API takes the new key at
	// once; the file follows); after 10 the API goes down until the breaker
	// opens. Early, so that the failures of the jobs still waiting outweigh
	// the successes in the breaker's window whatever the load: the outage
	// must open the breaker in its first round, not depend on River's retry
	// timing (with the outage after 30, a loaded CI run saw 30 successes
	// against 26 failures, under the breaker's 50%).
	var once15, once30 sync.Once
	events := make(chan string, 2)
	n := 0
	var mu sync.Mutex
	api.OnSuccess(func(string) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		if k >= 5 {
			once15.Do(func() { events <- "rotate" })
		}
		if k >= 10 {
			once30.Do(func() { events <- "outage" })
		}
	})
	var logBuf syncBuffer
	var recovered sync.Once
	svc, err := NewService(ctx, ServiceConfig{DB: db, APIURL: api.URL, KeyURL: "file://" + keyFile, ID: "batch-demo", LogOut: &logBuf,
		// The API comes back while the breaker is open: the jobs that met
		// it snooze, and the breaker's probe finds the API up.
		OnBreakerOpen: func() { recovered.Do(func() { api.Outage(0) }) }})
	if err != nil {
		return st, err
	}
	go func() {
		for ev := range events {
			switch ev {
			case "rotate":
				api.SetKey(demoKey2)
				writeKey(keyFile, demoKey2)
			case "outage":
				api.Outage(1 << 20) // until the breaker opens
			}
		}
	}()
	embedded, states, err := WaitDone(ctx, db, 20*time.Millisecond, 2*time.Minute)
	svc.Close()
	close(events)
	if err != nil {
		return st, err
	}
	st.Embedded, st.Cancelled = embedded, states[rivertype.JobStateCancelled]
	if key, err := svc.Set.Credential("openai"); err == nil {
		st.Rotations = key.Status().Rotations
	}
	if err := db.QueryRow(ctx, "SELECT coalesce(sum((metadata->>'snoozes')::int), 0) FROM river_job").Scan(&st.Snoozes); err != nil {
		return st, err
	}
	if err := db.QueryRow(ctx, "SELECT coalesce(sum(coalesce(array_length(errors, 1), 0)), 0) FROM river_job").Scan(&st.Errors); err != nil {
		return st, err
	}
	st.BreakerOpen = svc.opened.Load()
	ok, _, rejected, total := api.Counts()
	st.APICalls, st.Rejected = total, rejected
	for _, c := range ok {
		if c > 1 {
			st.Duplicates++
		}
	}
	st.ServiceLogs = logBuf.Bytes()
	st.KeyInLog = bytes.Contains(st.ServiceLogs, []byte(demoKey1)) || bytes.Contains(st.ServiceLogs, []byte(demoKey2))
	fmt.Fprintln(out, st)
	return st, nil
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}
