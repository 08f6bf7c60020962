package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemo runs the service end to end against the fake API and checks
// each outage: the markers the answers carry, what /readyz says, how many
// calls reached each model, and that no key reached the output or the
// logs.
func TestDemo(t *testing.T) {
	var out, logs bytes.Buffer
	st, err := Demo(context.Background(), &out, &logs)
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())
	if err := st.Check(); err != nil {
		t.Error(err)
	}
	s := out.String()
	for _, want := range []string{
		// All up.
		`add 8 docs -> 200 fresh`,
		`ask "How do I rotate a key?"           -> 200 embedding=fresh search=fresh chat=fresh (gpt-4.1) sources=[rotation`,
		// Embedding API down: a known question is served from the cache,
		// a new one cannot be, a new document is queued, then stored.
		`ask "How do I rotate a key?"           -> 200 embedding=cached search=fresh chat=fresh (gpt-4.1)`,
		`ask "Who can read the logs?"           -> 503 rag: the embedding API is unavailable`,
		`add 1 docs -> 202 queued`,
		`embedding API back: 1 queued document stored`,
		`"Which key was used from a new place?" -> 200 embedding=fresh search=fresh chat=fresh (gpt-4.1) sources=[audit`,
		// The primary chat model down: the fallback model answers.
		`ask "What does the breaker do?"        -> 200 embedding=fresh search=fresh chat=fallback (gpt-4.1-mini) sources=[breaker`,
		// The vector store down: the last good results, stale; a question
		// never searched cannot be answered.
		`ask "How do I rotate a key?"           -> 200 embedding=cached search=stale chat=fresh (gpt-4.1) sources=[rotation`,
		`ask "Is the cache shared across models?" -> 503 rag: the vector store is unavailable`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if st.Requests != 13 || st.Failed != 2 {
		t.Errorf("requests %d, failed %d; want 13, 2 (the two questions no cache could serve)", st.Requests, st.Failed)
	}
	if st.Queued != 1 || st.Drained != 1 || st.Documents != len(corpus)+1 {
		t.Errorf("queued %d, stored after recovery %d, documents %d; want 1, 1, %d", st.Queued, st.Drained, st.Documents, len(corpus)+1)
	}
	if st.Markers["stale"] != 1 || st.Markers["fallback"] != 3 || st.Markers["queued"] != 1 {
		t.Errorf("markers %v: want stale 1, fallback 3, queued 1", st.Markers)
	}

	// Readiness: a shared model API warns, the replica's own store fails.
	for phase, want := range map[string]int{"up": 200, "embedding down": 200, "chat down": 200, "store down": 503} {
		if got := st.Ready[phase]; got != want {
			t.Errorf("/readyz while %s: %d, want %d (checks %v)", phase, got, want, st.Checks[phase])
		}
	}
	for phase, checks := range map[string]map[string]string{
		"embedding down": {"openai-embeddings:circuit": "warn", "ingest:queue": "warn", "vectorstore:ping": "pass", "openai:credential": "pass"},
		"chat down":      {"openai-chat-gpt-4.1:circuit": "warn", "openai-chat-gpt-4.1-mini:circuit": "pass", "openai-embeddings:circuit": "pass"},
		"store down":     {"vectorstore:ping": "fail", "openai-embeddings:circuit": "pass"},
	} {
		for k, want := range checks {
			if got := st.Checks[phase][k]; got != want {
				t.Errorf("/readyz while %s: %s is %q, want %q", phase, k, got, want)
			}
		}
	}

	// Attempts: the primary model's breaker opened after two questions (2
	// attempts each), so the third went to the fallback without calling
	// it; no call was ever made without the key.
	if c := st.API["chat gpt-4.1"]; c.Failed != 4 {
		t.Errorf("primary model failed %d times, want 4 (2 questions × 2 attempts, then the open breaker)", c.Failed)
	}
	if c := st.API["chat gpt-4.1-mini"]; c.OK != 3 || c.Failed != 0 {
		t.Errorf("fallback model: %+v, want 3 answers", c)
	}
	if c, ok := st.API["unauthorized"]; ok {
		t.Errorf("%d requests without the right key", c.Failed)
	}
	for _, key := range []string{strings.TrimPrefix(fakeKey, "sk-proj-FAKE"), strings.TrimPrefix(fakeHealthToken, "FAKE-")} {
		for i := 0; i+4 <= len(key); i++ {
			if strings.Contains(s, key[i:i+4]) || strings.Contains(logs.String(), key[i:i+4]) {
				t.Fatalf("4 bytes of a key at offset %d in the output or logs", i)
			}
		}
	}
	if logs.Len() == 0 {
		t.Error("nothing was logged: the key check above proves nothing")
	}
}
