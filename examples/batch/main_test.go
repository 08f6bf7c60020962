package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" {
		// Re-executed as a worker process by TestKilledMidBatch.
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// TestDemo runs a batch of 60 documents in process: a rate limit on 6 of
// them, 2 refused for quota, a key rotation after 5 embeddings and an
// outage after 10 that lasts until the breaker opens.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	st, err := Demo(ctx, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(st)
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	if st.Snoozes < 6 {
		t.Errorf("%d snoozes: the 6 rate-limited documents (and the outage) should each snooze", st.Snoozes)
	}
	if st.BreakerOpen == 0 {
		t.Errorf("the outage never opened the breaker: the snooze-on-open path was not exercised")
	}
	if st.Rotations != 1 {
		t.Errorf("%d rotations seen, want 1", st.Rotations)
	}
	if st.Rejected == 0 {
		t.Errorf("no 401 after the key rotation: the refresh path was not exercised")
	}
}

// TestKilledMidBatch runs the worker as a separate process against a real
// PostgreSQL, kills it with SIGKILL after 20 embeddings, starts it again,
// and checks that every document ends up embedded exactly once: the jobs
// that were running when the worker died are rescued by River and run
// again, and the transaction that stores a vector completes its job.
func TestKilledMidBatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv, db, err := startDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	defer db.Close()
	api := NewFakeAPI(demoKey1)
	defer api.Close()
	keyFile := filepath.Join(t.TempDir(), "openai")
	if err := writeKey(keyFile, demoKey1); err != nil {
		t.Fatal(err)
	}
	docs, quota := demoDocs(60)
	if err := Enqueue(ctx, db, docs); err != nil {
		t.Fatal(err)
	}
	twenty := make(chan struct{})
	var once sync.Once
	n := 0
	var mu sync.Mutex
	api.OnSuccess(func(string) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		if k == 20 {
			once.Do(func() { close(twenty) })
		}
	})

	start := func() (*exec.Cmd, *bytes.Buffer) {
		var logs bytes.Buffer
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), workerEnv+"=1", "DATABASE_URL="+srv.AdminDSN(""), "EMBEDDINGS_URL="+api.URL, "KEY_URL=file://"+keyFile)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &logs
	}
	first, logs1 := start()
	select {
	case <-twenty:
	case <-ctx.Done():
		t.Fatalf("the first worker did not embed 20 documents: %s", logs1)
	}
	first.Process.Kill() // SIGKILL: no graceful stop, jobs left running
	first.Wait()
	embeddedAtKill, statesAtKill, err := Progress(ctx, db)
	if err != nil {
		t.Fatal(err)
	}

	second, logs2 := start()
	embedded, states, err := WaitDone(ctx, db, 50*time.Millisecond, 3*time.Minute)
	second.Process.Signal(os.Interrupt)
	second.Wait()
	if err != nil {
		t.Fatalf("%v\nworker log: %s", err, logs2)
	}
	ok, _, _, total := api.Counts()
	repeated := 0
	for _, c := range ok {
		if c > 1 {
			repeated++
		}
	}
	var rows, distinct int
	if err := db.QueryRow(ctx, "SELECT count(*), count(DISTINCT doc_id) FROM embeddings").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed after %d embedded (jobs %v); after restart: %d embedded, jobs %v; API calls %d, documents embedded twice by the API %d, rows %d (distinct %d)",
		embeddedAtKill, statesAtKill, embedded, states, total, repeated, rows, distinct)
	if want := len(docs) - quota; embedded != want || rows != distinct {
		t.Errorf("embedded %d rows (%d distinct), want %d, each once", rows, distinct, want)
	}
	if states[rivertype.JobStateCancelled] != quota || states[rivertype.JobStateCompleted] != len(docs)-quota {
		t.Errorf("jobs %v, want %d completed and %d cancelled", states, len(docs)-quota, quota)
	}
	for _, l := range [][]byte{logs1.Bytes(), logs2.Bytes()} {
		if bytes.Contains(l, []byte(demoKey1)) {
			t.Error("the key appeared in a worker's log")
		}
	}
}
